"""The REST channel: Rasa's, with its payload checked and the guard of every public channel.

POST /webhooks/rest/webhook {"sender": "...", "message": "..."} (same URL and format as Rasa's).
A payload that is not a JSON object in UTF-8, has missing or wrong-typed fields, or a body over
MAX_BODY_BYTES gets HTTP 400/413 saying what is wrong, before anything else reads it; a message then
goes through channels.guard (cleaned text, length limit, a reply even when a server behind fails).
A client over its rate limit (channels.limits) gets HTTP 429 with `Retry-After` and a JSON error
saying when to send again; nothing else reads its request.
"""
import json
import logging
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels.guard import Handler, clean_text, guard
from channels.limits import Limits, accepted_language, slow_down_text

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000
MAX_SENDER_CHARS = 128


class BadMessage(ValueError):
    """A payload that cannot be a chat message; the text tells the client what is wrong."""


def check_sender(sender: Any) -> str:
    if not isinstance(sender, str) or not sender.strip():
        raise BadMessage("'sender' must be a non-empty string.")
    if len(sender) > MAX_SENDER_CHARS or sender != clean_text(sender):
        raise BadMessage(f"'sender' must be at most {MAX_SENDER_CHARS} characters, without control characters.")
    return sender


class SafeRestInput(RestInput):
    """POST /webhooks/rest/webhook {"sender": "...", "message": "..."} -> the bot's messages."""

    def blueprint(self, on_new_message: Handler) -> Blueprint:
        handle = guard(on_new_message)
        limits = Limits()
        logger.info("REST channel: %s", limits.describe())
        bp = Blueprint("safe_rest_webhook", __name__)

        @bp.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @bp.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            decision = await limits.check("message", limits.address(request.ip, request.headers.get("x-forwarded-for")))
            if not decision.allowed:
                seconds = decision.retry_after_seconds
                return response.json(
                    {"error": slow_down_text(decision, accepted_language(request.headers.get("accept-language"))),
                     "retry_after": seconds}, status=429,
                    headers={"Retry-After": str(seconds)},
                )
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
