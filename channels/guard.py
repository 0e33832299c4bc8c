"""The checks and fallbacks every public channel puts in front of Rasa (channels.rest, channels.webchat).

- Text is cleaned in one place (`clean_text`): control characters become spaces, broken Unicode
  (lone surrogates) is replaced. An empty message is asked "which topic?"; a message over
  MAX_MESSAGE_CHARS is not read and the user is told the limit. Neither goes through the model.
- The user is never left without a reply. A turn in which the assistant said nothing means a
  custom action failed (action server down, or slower than ACTION_TIMEOUT seconds): the user gets
  `utter_service_unavailable` (the office's e-mail and phone, see rasa_addons.nlg), recorded in
  the conversation. If the conversation store or the lock store is unreachable, the same reply
  comes with HTTP 503 and the log says which store failed.
- These replies come in the message's language, told by the model's own language detector
  (rasa_addons.nlu.LanguageDetector, on the message's first MAX_MESSAGE_CHARS characters), else the
  one the web chat widget says it shows (`metadata.lang`, "en" or "pl"), else, for a message too
  long to read, the conversation's `language` slot so far; English otherwise. (A failed custom
  action's reply is rendered with the conversation itself, so its `language` slot picks the wording.)
"""
import logging
import re
import unicodedata
from typing import Any, Awaitable, Callable, Optional

from rasa.core.channels.channel import CollectingOutputChannel, OutputChannel, UserMessage
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from sanic import Sanic

from rasa_addons import stores

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 1000  # the one limit on a message's length; the user is told it

UNAVAILABLE = "utter_service_unavailable"
TOO_LONG = "utter_message_too_long"
EMPTY = "utter_ask_topic"

Handler = Callable[[UserMessage], Awaitable[Any]]


def clean_text(text: str) -> str:
    """Control characters become spaces, lone surrogates '?', and surrounding space goes."""
    text = text.encode("utf-8", "replace").decode("utf-8")
    return "".join(" " if unicodedata.category(c) == "Cc" else c for c in text).strip()


LANGUAGES = ("en", "pl")
# a text is in a language only if it has this many different words (of two letters or more)
MIN_WORDS = 3
WORD = re.compile(r"[^\W\d_]{2,}")


def message_language(data: Any) -> Optional[str]:
    """The language a client says it shows ("en" or "pl": the web chat widget's `metadata.lang`), if any."""
    metadata = data.get("metadata") if isinstance(data, dict) else getattr(data, "metadata", None)
    lang = metadata.get("lang") if isinstance(metadata, dict) else None
    return lang if lang in LANGUAGES else None


def _detector(agent: Any) -> Any:
    """The trained model's language detector (its LanguageModel), or None when the model has none."""
    processor = getattr(agent, "processor", None)
    if processor is None:
        return None
    cached = getattr(processor, "_umb_language_detector", False)
    if cached is not False:
        return cached
    found = None
    try:
        from rasa_addons.nlu import LanguageDetector

        # Rasa keeps the loaded components in its graph runner (no public accessor in 3.6)
        nodes = getattr(processor.graph_runner, "_instantiated_nodes", {}).values()
        found = next((n._component.model for n in nodes if isinstance(getattr(n, "_component", None), LanguageDetector)), None)
    except Exception as e:  # another model layout: the other signs of the language still work
        logger.warning("No language detector found in the model: %s", e)
    processor._umb_language_detector = found
    return found


def detected_language(agent: Any, text: str) -> Optional[str]:
    """The language of `text` by the model's detector ("en" or "pl"), None when it cannot tell. A text
    of fewer than MIN_WORDS different words ("zzzz…", "bla bla …") is in no language."""
    text = text[:MAX_MESSAGE_CHARS]
    if len({w.lower() for w in WORD.findall(text)}) < MIN_WORDS:
        return None
    model = _detector(agent)
    if model is None:
        return None
    try:
        language = model.detect(text)
    except Exception as e:
        logger.warning("Language detection failed: %s", e)
        return None
    return language if language in LANGUAGES else None


async def _conversation_language(agent: Any, sender: str) -> Optional[str]:
    """The `language` slot of the conversation so far; None when there is none or it cannot be read."""
    try:
        tracker = await agent.tracker_store.retrieve(sender)
    except Exception as e:  # the reply is still given, in English
        logger.warning("Could not read the language of %s's conversation: %s", sender, e)
        return None
    language = tracker.get_slot("language") if tracker is not None and "language" in tracker.slots else None
    return language if language in LANGUAGES else None


async def _say(agent: Any, response_name: str, sender: str, output: OutputChannel, language: Optional[str] = None,
               **values: Any) -> None:
    """Send one response from the domain outside the conversation (nothing is recorded), in `language`."""
    tracker = DialogueStateTracker(sender, agent.domain.slots)
    if language and "language" in tracker.slots:
        tracker.update(SlotSet("language", language))
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

        def language() -> Optional[str]:
            """The language of the guard's own replies: found only when one is needed (not on the hot path)."""
            return detected_language(agent, text) or message_language(message)

        if not text:
            await _say(agent, EMPTY, sender, out, language())
        elif len(text) > MAX_MESSAGE_CHARS:
            logger.warning("Message from %s not read: %d characters, the limit is %d", sender, len(text), MAX_MESSAGE_CHARS)
            await _say(agent, TOO_LONG, sender, out, language() or await _conversation_language(agent, sender),
                       max_chars=MAX_MESSAGE_CHARS)
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
                await _say(agent, UNAVAILABLE, sender, out, language())
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
