"""Rasa's messaging connectors, adjusted only where the stock one would not read well or cannot run.

Each class keeps Rasa's channel name, so the webhook stays `/webhooks/<name>/webhook`; credentials.yml
names them by module path (`channels.connectors.TelegramInput`).

- Quick replies: Twilio and Webex have no buttons, and Rasa would send "1: Partnerships
  (/ask_partnerships)"; here they get the answer with the options listed, to type back. Facebook
  drops every button past 3 (we offer 4): here they become quick replies. Bot Framework cards need
  a card action type. A Rocket.Chat button posts its text as the user's message: the title, not
  the intent payload.
- `api_url` (optional): the platform's API address, for a self-hosted Telegram Bot API server, GovSlack
  or a test's local fake.
- Telegram and Bot Framework call their platform at start-up; when it cannot be reached, Rasa stops.
  Here the channel logs why and the server keeps running.
- Every connector goes through the guard of the web channels (channels.guard): cleaned text, the
  length limit (the user is told it), and the office's contact details instead of silence when a
  custom action fails (action server down or too slow) or a store is unreachable.
"""
import asyncio
import logging
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

import aiohttp
import requests
from aiogram import Bot
from aiogram.bot.api import TELEGRAM_PRODUCTION, TelegramAPIServer
from aiogram.utils.exceptions import TelegramAPIError
from fbmessenger import MessengerClient
from rasa.core.channels import (
    botframework, facebook, hangouts, mattermost, rocketchat, slack, telegram, twilio, webexteams,
)
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from slack_sdk.web.async_client import AsyncWebClient

from channels.guard import guard

logger = logging.getLogger(__name__)

Buttons = List[Dict[Text, Any]]
OnNewMessage = Callable[[UserMessage], Awaitable[Any]]


def text_with_options(text: Text, buttons: Buttons) -> Text:
    """For apps without buttons: the answer, then one option a line (their titles read as questions)."""
    return "\n".join([text, *(f"- {button['title']}" for button in buttons)])


class PlainTextButtons:
    """Output channel mixin: buttons as a list in the text."""

    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: Buttons, **kwargs: Any) -> None:
        await self.send_text_message(recipient_id, text_with_options(text, buttons))  # type: ignore[attr-defined]


class Guarded:
    """Input channel mixin: the connector's messages go through channels.guard."""

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        return super().blueprint(guard(on_new_message))  # type: ignore[misc]


def _with_api_url(channel: InputChannel, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
    channel.api_url = (credentials or {}).get("api_url")  # type: ignore[attr-defined]
    return channel


# Telegram ---------------------------------------------------------------------------------------


class TelegramOutput(telegram.TelegramOutput):
    def __init__(self, access_token: Text, api_url: Optional[Text] = None) -> None:
        server = TelegramAPIServer.from_base(api_url) if api_url else TELEGRAM_PRODUCTION
        Bot.__init__(self, access_token, server=server)


class TelegramInput(Guarded, telegram.TelegramInput):
    api_url: Optional[Text] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return _with_api_url(super().from_credentials(credentials), credentials)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        try:
            asyncio.run(self._set_webhook())
        except (TelegramAPIError, aiohttp.ClientError, asyncio.TimeoutError) as error:
            logger.error(
                "telegram: could not register the webhook %s with Telegram (%s: %s); messages will not "
                "arrive until it is (GET /webhooks/telegram/set_webhook retries)",
                self.webhook_url, type(error).__name__, error,
            )
        return super().blueprint(on_new_message)

    async def _set_webhook(self) -> None:
        bot = self.get_output_channel()
        try:
            await bot.set_webhook(url=self.webhook_url)
            logger.info("telegram: webhook %s registered", self.webhook_url)
        finally:
            await bot.session.close()

    def get_output_channel(self) -> TelegramOutput:
        """Rasa's registers the webhook here too, from within the server's event loop when replying."""
        return TelegramOutput(self.access_token, self.api_url)


# Slack ------------------------------------------------------------------------------------------


class SlackInput(Guarded, slack.SlackInput):
    api_url: Optional[Text] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return _with_api_url(super().from_credentials(credentials), credentials)

    def get_output_channel(self, channel: Optional[Text] = None, thread_id: Optional[Text] = None) -> slack.SlackBot:
        bot = super().get_output_channel(channel, thread_id)
        if self.api_url:
            bot.client = AsyncWebClient(self.slack_token, base_url=self.api_url, proxy=self.proxy)
        return bot


# Facebook Messenger -----------------------------------------------------------------------------


class MessengerBot(facebook.MessengerBot):
    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: Buttons, **kwargs: Any) -> None:
        """The button template takes 3 buttons (Rasa sends none if there are more); quick replies take 13."""
        if len(buttons) <= 3:
            await super().send_text_with_buttons(recipient_id, text, buttons, **kwargs)
        else:
            replies = [{"title": b["title"], "payload": b["payload"]} for b in buttons[:13]]
            await self.send_quick_replies(recipient_id, text, replies)


def _messenger_client(access_token: Text, api_url: Optional[Text]) -> MessengerClient:
    client = MessengerClient(access_token)
    if api_url:
        client.graph_url = api_url.rstrip("/")
    return client


class FacebookInput(facebook.FacebookInput):
    api_url: Optional[Text] = None

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> InputChannel:
        return _with_api_url(super().from_credentials(credentials), credentials)

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        """Rasa's webhook, but with this module's MessengerBot and API address, and 403 when refused."""
        fb_webhook = Blueprint("fb_webhook", __name__)
        guarded = guard(on_new_message)

        async def with_our_bot(message: UserMessage) -> None:
            message.output_channel = MessengerBot(message.output_channel.messenger_client)
            await guarded(message)

        @fb_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @fb_webhook.route("/webhook", methods=["GET"])
        async def token_verification(request: Request) -> HTTPResponse:
            if request.args.get("hub.verify_token") == self.fb_verify:
                return response.text(request.args.get("hub.challenge"))
            logger.warning("facebook: wrong verify token; it must be FACEBOOK_VERIFY_TOKEN, as typed in the app's webhook settings")
            return response.text("failure, invalid token", status=403)

        @fb_webhook.route("/webhook", methods=["POST"])
        async def webhook(request: Request) -> HTTPResponse:
            signature = request.headers.get("X-Hub-Signature") or ""
            if not self.validate_hub_signature(self.fb_secret, request.body, signature):
                logger.warning("facebook: message refused, bad X-Hub-Signature; FACEBOOK_APP_SECRET must be the app's secret")
                return response.text("not validated", status=403)
            messenger = facebook.Messenger(self.fb_access_token, with_our_bot)
            messenger.client = _messenger_client(self.fb_access_token, self.api_url)
            await messenger.handle(request.json, self.get_metadata(request))
            return response.text("success")

        return fb_webhook

    def get_output_channel(self) -> MessengerBot:
        return MessengerBot(_messenger_client(self.fb_access_token, self.api_url))


# Microsoft Bot Framework (Teams) ----------------------------------------------------------------


class BotFramework(botframework.BotFramework):
    async def send_text_with_buttons(self, recipient_id: Text, text: Text, buttons: Buttons, **kwargs: Any) -> None:
        """A hero card whose buttons show their title in the chat and send the payload to the bot."""
        actions = [
            {"type": "messageBack", "title": b["title"], "displayText": b["title"], "text": b["payload"]}
            for b in buttons
        ]
        card = {"contentType": "application/vnd.microsoft.card.hero", "content": {"text": text, "buttons": actions}}
        await self.send(self.prepare_message(recipient_id, {"attachments": [card]}))


class BotFrameworkInput(botframework.BotFrameworkInput):
    def _update_cached_jwk_keys(self) -> None:
        """Rasa's stops the server when Microsoft's keys cannot be fetched; this retries at the next message."""
        try:
            super()._update_cached_jwk_keys()
        except requests.RequestException as error:
            logger.error(
                "botframework: could not fetch Microsoft's signing keys (%s); messages are refused until they can be",
                error,
            )

    def blueprint(self, on_new_message: OnNewMessage) -> Blueprint:
        guarded = guard(on_new_message)

        async def with_our_bot(message: UserMessage) -> None:
            out = message.output_channel
            service_url = out.global_uri[: -len("v3/")]
            message.output_channel = BotFramework(out.app_id, out.app_password, out.conversation, out.bot, service_url)
            await guarded(message)

        return super().blueprint(with_our_bot)


# Apps without buttons ---------------------------------------------------------------------------


class TwilioOutput(PlainTextButtons, twilio.TwilioOutput):
    pass


class TwilioInput(Guarded, twilio.TwilioInput):
    def get_output_channel(self) -> TwilioOutput:
        return TwilioOutput(self.account_sid, self.auth_token, self.twilio_number)


class WebexTeamsBot(PlainTextButtons, webexteams.WebexTeamsBot):
    pass


class WebexTeamsInput(Guarded, webexteams.WebexTeamsInput):
    def get_output_channel(self) -> WebexTeamsBot:
        return WebexTeamsBot(self.token, self.room)


# Rocket.Chat ------------------------------------------------------------------------------------


class RocketChatBot(rocketchat.RocketChatBot):
    @staticmethod
    def _convert_to_rocket_buttons(buttons: Buttons) -> Buttons:
        """The button posts its `msg` as the user's message, so the user sees the title, not "/ask_contact"."""
        return [{"text": b["title"], "msg": b["title"], "type": "button", "msg_in_chat_window": True} for b in buttons]


class RocketChatInput(Guarded, rocketchat.RocketChatInput):
    def get_output_channel(self) -> RocketChatBot:
        return RocketChatBot(self.user, self.password, self.server_url)


# Stock connectors, only guarded ------------------------------------------------------------------


class MattermostInput(Guarded, mattermost.MattermostInput):
    pass


class HangoutsInput(Guarded, hangouts.HangoutsInput):
    pass
