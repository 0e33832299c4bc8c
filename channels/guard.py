"""The public chat channels: Rasa's REST and socket.io channels, made safe for the open web.

What they add to Rasa's own channels (same URLs, same message formats):
- A payload is checked before anything else: not a JSON object, missing or wrong-typed fields,
  a body over MAX_BODY_BYTES -> HTTP 400/413 (socket.io: a bot message) saying what is wrong.
- Text is cleaned in one place (`clean_text`): control characters become spaces, broken Unicode
  (lone surrogates) is replaced. An empty message is asked "which topic?"; a message over
  MAX_MESSAGE_CHARS is not read and the user is told the limit. Neither goes through the model.
- The user is never left without a reply. A turn in which the assistant said nothing means a
  custom action failed (action server down, or slower than ACTION_TIMEOUT seconds): the user gets
  `utter_service_unavailable` (the office's e-mail and phone, see rasa_addons.nlg), recorded in
  the conversation. If the conversation store or the lock store is unreachable, the same reply
  comes with HTTP 503 and the log says which store failed.
- socket.io (GuardedSocketIO, used by channels.webchat.SocketIOChannel): a client may only send
  messages in the session it joined; the channel issues session ids of 128 random bits, so nobody
  can guess their way into, or listen to, another person's conversation.
"""
import json
import logging
import os
import unicodedata
from typing import Any, Awaitable, Callable, Optional, Text

import rasa.core.actions.action
from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa_addons import speedups, stores

speedups.apply()  # every Rasa server loads this channel, so the fix is in place before any message

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1000  # the one limit on a message's length; the user is told it
MAX_BODY_BYTES = 1_000_000
MAX_SENDER_CHARS = 128

UNAVAILABLE = "utter_service_unavailable"
TOO_LONG = "utter_message_too_long"
EMPTY = "utter_ask_topic"

Handler = Callable[[UserMessage], Awaitable[Any]]


def bound_action_calls() -> None:
    """Rasa 3.6 waits up to 5 minutes for a custom action (a constant, not a setting): cut that to
    ACTION_TIMEOUT seconds, so a hung action server costs the user seconds, not minutes."""
    rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT = float(os.environ.get("ACTION_TIMEOUT", "10"))


class BadMessage(ValueError):
    """A payload that cannot be a chat message; the text tells the client what is wrong."""


def clean_text(text: str) -> str:
    """Control characters become spaces, lone surrogates '?', and surrounding space goes."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text).strip()


def check_sender(sender: Any) -> str:
    if not isinstance(sender, str) or not sender.strip():
        raise BadMessage("'sender' must be a non-empty string.")
    if len(sender) > MAX_SENDER_CHARS or sender != clean_text(sender):
        raise BadMessage(f"'sender' must be at most {MAX_SENDER_CHARS} characters, without control characters.")
    return sender


def socket_payload_problem(data: Any) -> Optional[str]:
    """What is wrong with a socket.io `user_uttered` payload, or None."""
    if not isinstance(data, dict):
        return "send an object like {\"message\": \"...\", \"session_id\": \"...\"}."
    if not isinstance(data.get("message", ""), str):
        return "'message' must be a string."
    if not isinstance(data.get("session_id", ""), str):
        return "'session_id' must be a string."
    if not isinstance(data.get("metadata", {}), dict):
        return "'metadata' must be an object."
    return None


async def _say(agent: Any, response_name: str, sender: str, output: OutputChannel, **values: Any) -> None:
    """Send one response from the domain outside the conversation (nothing is recorded)."""
    tracker = DialogueStateTracker(sender, agent.domain.slots)
    message = await agent.nlg.generate(response_name, tracker, output.name(), **values)
    if message:
        await output.send_response(sender, message)


def _which_store(error: Exception) -> str:
    module = type(error).__module__
    if module.startswith("redis") or type(error).__name__ == "LockError":
        return "the lock store (Redis)"
    if module.startswith(("sqlalchemy", "psycopg2")):
        return "the conversation store (SQL)"
    return "handling it"


def guard(on_new_message: Handler) -> Handler:
    """Wrap a channel's message handler with the checks and fallbacks above; for any channel.

    The wrapped handler returns the HTTP status that fits the outcome (200, or 503 when a store
    is down). The bot's messages are collected and sent when the turn is complete, so that a
    turn whose conversation could not be stored is answered "unavailable" and nothing else.
    """

    async def guarded(message: UserMessage) -> int:
        agent = Sanic.get_app().ctx.agent
        sender, output = message.sender_id, message.output_channel
        out = CollectingOutputChannel()
        status = 200
        if not isinstance(message.text, str):
            logger.info("Message from %s refused: 'message' is a %s", sender, type(message.text).__name__)
            await output.send_response(sender, {"text": "Sorry, I could not read that message: 'message' must be a string."})
            return 400
        text = clean_text(message.text)
        if not text:
            await _say(agent, EMPTY, sender, out)
        elif len(text) > MAX_MESSAGE_CHARS:
            logger.warning("Message from %s not read: %d characters, the limit is %d", sender, len(text), MAX_MESSAGE_CHARS)
            await _say(agent, TOO_LONG, sender, out, max_chars=MAX_MESSAGE_CHARS)
        else:
            message.text, message.output_channel = text, out
            failures = stores.watch()
            try:
                await on_new_message(message)
            except Exception as e:
                logger.exception("Could not handle the message from %s: %s failed: %s", sender, _which_store(e), e)
                failures.append(str(e))
            if failures:
                out.messages.clear()
                await _say(agent, UNAVAILABLE, sender, out)
                status = 503
            elif not out.messages:
                logger.error("No reply for %s (a custom action failed, see above): sending the office's contact details", sender)
                await agent.execute_action(sender, UNAVAILABLE, out, None, None)
                # back to listening, as after any answer, so the next turn's rules match
                await agent.execute_action(sender, "action_listen", out, None, None)
        for reply in out.messages:
            await output.send_response(sender, {k: v for k, v in reply.items() if k != "recipient_id"})
        return status

    return guarded


class SafeRestInput(RestInput):
    """POST /webhooks/rest/webhook {"sender": "...", "message": "..."} -> the bot's messages."""

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        bound_action_calls()
        handle = guard(on_new_message)
        bp = Blueprint("safe_rest_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if len(request.body) > MAX_BODY_BYTES:
                return response.json({"error": f"The request body is larger than {MAX_BODY_BYTES} bytes."}, status=413)
            try:
                data = json.loads(request.body)
            except ValueError:
                return response.json({"error": "The body must be JSON in UTF-8: {\"sender\": \"...\", \"message\": \"...\"}."}, status=400)
            try:
                if not isinstance(data, dict):
                    raise BadMessage("The body must be a JSON object: {\"sender\": \"...\", \"message\": \"...\"}.")
                sender = check_sender(data.get("sender", "default"))
                if "message" not in data:
                    raise BadMessage("'message' is missing: send your question as \"message\".")
                if not isinstance(data["message"], str):
                    raise BadMessage("'message' must be a string.")
            except BadMessage as e:
                logger.info("Bad REST payload refused: %s", e)
                return response.json({"error": str(e)}, status=400)
            out = CollectingOutputChannel()
            status = await handle(UserMessage(data["message"], out, sender, input_channel=self.name()))
            return response.json(out.messages, status=status)

        return bp


class GuardedSocketIO:
    """Mixin for a socket.io channel (a SocketIOInput subclass): the guard, and a clear answer to
    a payload that is not an object. Usage: `class MyChannel(GuardedSocketIO, SocketIOInput)`."""

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        bound_action_calls()
        bp = super().blueprint(guard(on_new_message))  # type: ignore[misc]
        sio, namespace = self.sio, self.namespace or "/"  # type: ignore[attr-defined]
        inner = sio.handlers[namespace][self.user_message_evt]  # type: ignore[attr-defined]
        origins = os.environ.get("CORS_ORIGINS", "").split()
        if origins:
            sio.eio.cors_allowed_origins = origins  # browsers apply no CORS to websockets: check Origin here

        @sio.on(self.user_message_evt, namespace=namespace)  # type: ignore[attr-defined]
        async def handle_message(sid: Text, data: Any = None) -> None:
            problem = socket_payload_problem(data)
            if not problem and self.session_persistence:  # type: ignore[attr-defined]
                if data.get("session_id") not in sio.rooms(sid, namespace=namespace):
                    problem = "send 'session_request' first, then the 'session_id' it confirms with each message."
            if problem:
                logger.info("Bad socket.io payload from %s refused: %s", sid, problem)
                text = f"Sorry, I could not read that message: {problem}"
                await sio.emit(self.bot_message_evt, {"text": text}, room=sid, namespace=namespace)  # type: ignore[attr-defined]
                return
            await inner(sid, data)

        return bp

