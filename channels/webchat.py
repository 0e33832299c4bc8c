"""The website's chat: Rasa's socket.io channel, plus the page, the widget and its history.

Two channels, both listed in credentials.yml:

- `SocketIOChannel` is Rasa's socket.io channel with the checks every public channel has
  (channels.guard: length, replies when a service is down), its own (a payload that is not an
  object gets a bot message saying what is wrong; the Origin is checked against CORS_ORIGINS, as
  browsers apply no CORS to websockets; a client may only send messages in the session it
  joined, and session ids are 128 random bits, so nobody can guess their way into, or listen to,
  another person's conversation), and one fix: with python-socketio 5.10+,
  `enter_room` is a coroutine that Rasa 3.6 does not await, so with `session_persistence` the
  browser never joined its session's room and received no answer (RasaHQ/rasa#13027). It also
  only accepts session ids that look like the ones it hands out, so a browser cannot take over
  the conversation of a REST or messaging-app user by naming their sender id. A visitor's rating
  of an answer (the widget's 👍/👎, socket.io event `feedback`) is kept in the conversation.
  Rate limits per client address (channels.limits): a connection over the limit is refused
  (`connect_error` saying when to retry), a message over the limit is answered with a bot message
  saying to slow down and when to send it again.
- `WebChatPage` serves `web/` (the demo page, the widget and the vendored socket.io client) from
  the Rasa server itself, so page and socket share one origin, and the history of a session, so
  that a reloaded page shows the conversation so far.
"""
import logging
import os
import re
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.core.channels.socketio import SocketIOInput
from rasa.shared.core.events import AgentUttered
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
import socketio

from channels.guard import MAX_MESSAGE_CHARS, guard, message_language
from channels.limits import Limits, slow_down_text

logger = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# What `uuid.uuid4().hex` gives: the only session ids handed out, and the only ones accepted.
SESSION_ID = re.compile(r"[0-9a-f]{32}")
HISTORY_LIMIT = 200
FEEDBACK_VALUES = ("up", "down", "none")  # "none": the visitor took the rating back
MAX_ID_CHARS = 64
RECENT_IDS = 10_000  # message ids remembered, to drop a message sent again after a lost connection


def valid_session_id(session_id: Any) -> bool:
    return isinstance(session_id, str) and SESSION_ID.fullmatch(session_id) is not None


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


def feedback_problem(data: Any) -> Optional[str]:
    """What is wrong with a `feedback` payload ({session_id, message_id, answer, value}), or None."""
    if not isinstance(data, dict) or data.get("value") not in FEEDBACK_VALUES:
        return f"send an object with 'value' one of {', '.join(FEEDBACK_VALUES)}."
    if not isinstance(data.get("message_id"), str) or not 0 < len(data["message_id"]) <= MAX_ID_CHARS:
        return f"'message_id' must be the id of the visitor's message (at most {MAX_ID_CHARS} characters)."
    if not isinstance(data.get("answer"), str) or len(data["answer"]) > 10 * MAX_MESSAGE_CHARS:
        return "'answer' must be the text of the rated answer."
    return None


def _name_the_setting(eio: Any, origins: List[str]) -> None:
    """A site refused for its origin shows in the log with the setting that lets it in (engine.io
    itself says only "... is not an accepted origin.", once, and only with its own logging on)."""
    log_once = eio._log_error_once

    def log(message: str, key: str) -> None:
        if key != "bad-origin":
            return log_once(message, key)
        logger.warning("Web chat refused: %s Add the site's origin to CORS_ORIGINS in .env to let its "
                       "widget connect (now: %s).", message, " ".join(origins))

    eio._log_error_once = log


class RecentIds:
    """The last `size` keys seen (an LRU set)."""

    def __init__(self, size: int = RECENT_IDS) -> None:
        self.size = size
        self._keys: "OrderedDict[Any, None]" = OrderedDict()

    def seen(self, key: Any) -> bool:
        """Whether `key` was seen before; remembers it."""
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self._keys[key] = None
        if len(self._keys) > self.size:
            self._keys.popitem(last=False)
        return False


class SocketIOChannel(SocketIOInput):
    """Rasa's socket.io channel, guarded, with the browser really joining its session's room."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = super().blueprint(guard(on_new_message))
        sio = self.sio
        namespace = self.namespace or "/"
        inner = sio.handlers[namespace][self.user_message_evt]
        received = RecentIds()
        limits = Limits()
        logger.info("Web chat: %s", limits.describe())
        addresses: Dict[Text, Text] = {}  # sid -> the client's address
        rasa_connect = sio.handlers[namespace]["connect"]
        rasa_disconnect = sio.handlers[namespace]["disconnect"]
        origins = os.environ.get("CORS_ORIGINS", "").split()
        if origins:
            sio.eio.cors_allowed_origins = origins  # browsers apply no CORS to websockets: check Origin here
            _name_the_setting(sio.eio, origins)

        @sio.on("connect", namespace=namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            request = environ.get("sanic.request")
            peer = request.ip if request is not None else environ.get("REMOTE_ADDR", "")
            address = limits.address(peer, environ.get("HTTP_X_FORWARDED_FOR"))
            decision = await limits.check("connect", address)
            if not decision.allowed:
                seconds = decision.retry_after_seconds
                raise socketio.exceptions.ConnectionRefusedError(
                    f"Too many connections from your address: please try again in {seconds} s.",
                    {"retry_after": seconds})
            accepted = await rasa_connect(sid, environ, auth)
            if accepted is not False:
                addresses[sid] = address
            return accepted

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: Text) -> None:
            addresses.pop(sid, None)
            await rasa_disconnect(sid)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: Text, data: Any = None) -> None:
            decision = await limits.check("message", addresses.get(sid, sid))
            if not decision.allowed:
                # refused clearly, never dropped: the visitor is told to send it again later
                reply = {"text": slow_down_text(decision, message_language(data)), "retry_after": decision.retry_after_seconds}
                await sio.emit(self.bot_message_evt, reply, room=sid, namespace=namespace)
                return
            problem = socket_payload_problem(data)
            if not problem and self.session_persistence:
                if data.get("session_id") not in sio.rooms(sid, namespace=namespace):
                    problem = "send 'session_request' first, then the 'session_id' it confirms with each message."
            if problem:
                logger.info("Bad socket.io payload from %s refused: %s", sid, problem)
                text = f"Sorry, I could not read that message: {problem}"
                await sio.emit(self.bot_message_evt, {"text": text}, room=sid, namespace=namespace)
                return
            message_id = data.get("metadata", {}).get("message_id")
            if isinstance(message_id, str) and received.seen((data.get("session_id"), message_id)):
                # the widget sends a message again when it could not tell whether it arrived
                logger.info("Message %s of %s received again (sent again after a lost connection): ignored",
                            message_id, data.get("session_id"))
                return
            await inner(sid, data)

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: Text, data: Any) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if not valid_session_id(session_id):
                if session_id:
                    logger.warning("socket.io %s asked for a malformed session id, giving it a new one", sid)
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)

        @sio.on("feedback", namespace=self.namespace)
        async def feedback(sid: Text, data: Any = None) -> Dict[Text, Any]:
            """A rating of an answer, kept in the conversation as an `agent` event (Rasa's one event
            with free data that changes nothing in the dialogue). The ack says whether it was stored."""
            problem = feedback_problem(data)
            if not problem and data.get("session_id") not in sio.rooms(sid, namespace=namespace):
                problem = "send 'session_request' first, then the 'session_id' it confirms with each rating."
            if problem:
                logger.info("Bad socket.io feedback from %s refused: %s", sid, problem)
                return {"stored": False, "error": problem}
            session_id = data["session_id"]
            rating = {"feedback": data["value"], "message_id": data["message_id"], "answer": data["answer"]}
            agent = Sanic.get_app().ctx.agent
            try:
                async with agent.lock_store.lock(session_id):
                    tracker = await agent.processor.get_tracker(session_id)
                    tracker.update(AgentUttered(data=rating, metadata={"input_channel": self.name()}))
                    await agent.processor.save_tracker(tracker)
            except Exception as e:
                logger.exception("Could not store the feedback of %s: %s", session_id, e)
                return {"stored": False, "error": "it could not be stored, please try again later."}
            logger.info("Feedback in %s: %s on the answer to %s", session_id, data["value"], data["message_id"])
            return {"stored": True}

        return bp


class WebChatPage(InputChannel):
    """Serves web/ under /web/ and GET /web/history/<session_id>; receives no messages itself."""

    @classmethod
    def name(cls) -> Text:
        return "webchat"

    def url_prefix(self) -> Text:
        return "/web"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        bp = Blueprint("webchat_page", __name__)

        @bp.route("/history/<session_id>", methods=["GET"])
        async def history(request: Request, session_id: Text) -> HTTPResponse:
            if not valid_session_id(session_id):
                return response.json({"error": "malformed session id"}, status=400)
            tracker = await request.app.ctx.agent.tracker_store.retrieve(session_id)
            events = [e.as_dict() for e in tracker.events] if tracker else []
            if any(e["event"] == "user" and e.get("input_channel") != SocketIOInput.name() for e in events):
                # not a web chat conversation: never show it to a browser
                logger.warning("History of %s refused: it is not a web chat conversation", session_id)
                return response.json({"error": "unknown session"}, status=404)
            return response.json({"session_id": session_id, "messages": chat_messages(events)})

        @bp.route("", methods=["GET"], strict_slashes=True)
        async def to_index(_: Request) -> HTTPResponse:
            # the page's relative links (widget.js) need the trailing slash
            return response.redirect(f"{self.url_prefix()}/")

        bp.static("/", str(WEB_DIR / "index.html"), name="webchat_index", strict_slashes=True)
        bp.static("", str(WEB_DIR), name="webchat_files")
        return bp


def chat_messages(events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    """What the chat showed: user and bot messages, a quick reply shown by its title."""
    titles: Dict[Text, Text] = {}
    messages: List[Dict[Text, Any]] = []
    for event in events:
        if event["event"] == "bot":
            buttons = [
                {"title": b["title"], "payload": b["payload"]} for b in (event.get("data") or {}).get("buttons") or []
            ]
            titles.update((b["payload"], b["title"]) for b in buttons)
            messages.append({"from": "bot", "text": event.get("text") or "", "buttons": buttons})
        elif event["event"] == "user":
            text = event.get("text") or ""
            message_id = (event.get("metadata") or {}).get("message_id")
            messages.append({"from": "user", "text": text, "label": titles.get(text, text), "id": message_id})
    return messages[-HISTORY_LIMIT:]
