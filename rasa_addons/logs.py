"""Log format of the servers (LOG_FORMAT=plain|json) and the one log line per user message.

LOG_FORMAT=json makes every log record one JSON object on one line (`time`, `level`, `logger`,
`message`, plus the record's `fields`), so a log collector (Loki, Elasticsearch, CloudWatch, ...)
reads it without parsing rules; the default stays plain text for people reading a terminal.

Each user message handled by the Rasa server gets one line from the logger `rasa_addons.messages`
(in both formats) with the sender's pseudonym, the intent, its confidence, the actions taken and the
latency. The pseudonym is a keyed hash (HMAC-SHA256) of the sender id, never the id itself: with
LOG_PSEUDONYM_KEY set (.env), one person has the same pseudonym on every instance and across restarts;
unset, a random key per start (pseudonyms then mean something within one process's log only).

Importing this module changes nothing; `configure` and `log_messages` do, when called (by the
entry points: rasa_addons/server.py, actions/server.py, scripts/serve.py).
"""
import contextvars
import datetime
import functools
import hashlib
import hmac
import json
import logging
import os
import secrets
import sys
import time
from typing import Any, Dict, List, Mapping, Optional

FORMATS = ("plain", "json")
PLAIN = "%(asctime)s %(name)s %(levelname)s %(message)s"
messages_logger = logging.getLogger("rasa_addons.messages")


def log_format(env: Mapping[str, str] = os.environ) -> str:
    """LOG_FORMAT, checked: a typo must not silently give the format the collector cannot read."""
    value = (env.get("LOG_FORMAT") or "plain").strip().lower()
    if value not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {env.get('LOG_FORMAT')!r}")
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a traceback goes into `exception`, escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: Dict[str, Any] = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def use_json() -> None:
    """Every handler of every logger writes JSON; the root logger and the non-propagating Sanic
    loggers get a stderr handler if they have none (so nothing falls back to plain text)."""
    formatter = JsonFormatter()
    loggers = [logging.getLogger()] + [
        logger for logger in logging.Logger.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    for logger in loggers:
        for handler in logger.handlers:
            handler.setFormatter(formatter)
    for name in ("", "sanic.root", "sanic.error", "sanic.access"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(formatter)
            logger.addHandler(handler)
            if name:
                logger.propagate = False  # its own handler now: not twice through the root's


def configure(env: Mapping[str, str] = os.environ, level: int = logging.INFO) -> Optional[str]:
    """Set up the process's logging in the chosen format; the format, or None when LOG_FORMAT is
    wrong (logged, in plain text): the server must not start then."""
    logging.basicConfig(level=level, format=PLAIN)
    try:
        fmt = log_format(env)
    except ValueError as e:
        logging.getLogger(__name__).error("%s", e)
        return None
    if fmt == "json":
        logging.captureWarnings(True)  # Python's warnings as log records too, not bare stderr lines
        use_json()
    return fmt


def pseudonymizer(env: Mapping[str, str] = os.environ) -> "functools.partial[str]":
    """sender id -> pseudonym, keyed by LOG_PSEUDONYM_KEY, or by a random key for this start."""
    key = (env.get("LOG_PSEUDONYM_KEY") or "").encode() or secrets.token_bytes(32)
    return functools.partial(pseudonym, key)


def pseudonym(key: bytes, sender_id: str) -> str:
    """A keyed hash of the sender id: the same person, the same pseudonym; not reversible without the key."""
    return hmac.new(key, sender_id.encode("utf-8", "replace"), hashlib.sha256).hexdigest()[:16]


def summary(tracker: Any) -> Dict[str, Any]:
    """Intent, confidence and the actions of the tracker's last turn (action_listen left out)."""
    from rasa.shared.core.events import ActionExecuted, UserUttered

    actions: List[str] = []
    intent: Dict[str, Any] = {}
    for event in reversed(tracker.events):
        if isinstance(event, UserUttered):
            intent = event.intent or {}
            break
        if isinstance(event, ActionExecuted) and event.action_name and event.action_name != "action_listen":
            actions.append(event.action_name)
    confidence = intent.get("confidence")
    return {"intent": intent.get("name"), "confidence": None if confidence is None else round(float(confidence), 4),
            "actions": actions[::-1]}


_turn: contextvars.ContextVar[Optional[Dict[str, Any]]] = contextvars.ContextVar("logged_turn", default=None)


def log_messages(env: Mapping[str, str] = os.environ) -> None:
    """Wrap Rasa's MessageProcessor.handle_message to log one line per user message (see above).

    The tracker of the turn is caught where handle_message saves it (save_tracker, same task), so
    nothing is read again from the store."""
    from rasa.core.processor import MessageProcessor

    hide = pseudonymizer(env)
    handle_message = getattr(MessageProcessor.handle_message, "__wrapped__", MessageProcessor.handle_message)
    save_tracker = getattr(MessageProcessor.save_tracker, "__wrapped__", MessageProcessor.save_tracker)

    @functools.wraps(save_tracker)
    async def saving(self: Any, tracker: Any) -> None:
        turn = _turn.get()
        if turn is not None:
            turn["tracker"] = tracker
        await save_tracker(self, tracker)

    @functools.wraps(handle_message)
    async def handling(self: Any, message: Any) -> Any:
        turn: Dict[str, Any] = {}
        token = _turn.set(turn)
        start = time.perf_counter()
        outcome = "error"
        try:
            result = await handle_message(self, message)
            outcome = "ok"
            return result
        finally:
            _turn.reset(token)
            fields = {"sender": hide(str(message.sender_id)), "channel": message.input_channel,
                      **(summary(turn["tracker"]) if "tracker" in turn else {"intent": None, "confidence": None, "actions": []}),
                      "latency_ms": round((time.perf_counter() - start) * 1000, 1), "outcome": outcome}
            messages_logger.info(
                "message sender=%s intent=%s confidence=%s actions=%s latency_ms=%s outcome=%s",
                fields["sender"], fields["intent"], fields["confidence"], ",".join(fields["actions"]) or "-",
                fields["latency_ms"], outcome, extra={"fields": fields},
            )

    MessageProcessor.save_tracker = saving  # type: ignore[assignment]
    MessageProcessor.handle_message = handling  # type: ignore[assignment]
