"""Rasa's SQL tracker store, made to say when it is unreachable.

Rasa wraps every tracker store in a FailSafeTrackerStore: when the database is down it logs a
generic error, starts the user on a blank conversation and keeps the events in memory only, so the
user would get an answer out of context and the turn would never reach the database. This
subclass logs which store failed and records the failure for the message being handled
(`failures()`), so the input channel (rasa_addons.channels) can answer "unavailable" with HTTP 503
instead. Storage itself is Rasa's own SQLTrackerStore, unchanged.
"""
import logging
from contextvars import ContextVar
from typing import List, Optional, Text

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker

logger = logging.getLogger(__name__)

_failures: ContextVar[List[str]] = ContextVar("store_failures")


def watch() -> List[str]:
    """Start collecting store failures for the message handled in the current task."""
    failures: List[str] = []
    _failures.set(failures)
    return failures


def _report(what: str, error: Exception) -> None:
    message = f"Conversation store unreachable ({what}): {type(error).__name__}: {error}".strip()
    logger.error(message)
    failures = _failures.get(None)
    if failures is not None:
        failures.append(message)


class CheckedSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore whose failures are logged clearly and reported to the input channel."""

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        try:
            return await super().retrieve(sender_id)
        except Exception as e:
            _report(f"reading {self.engine.url.database}", e)
            raise

    async def save(self, tracker: DialogueStateTracker) -> None:
        try:
            await super().save(tracker)
        except Exception as e:
            _report(f"writing {self.engine.url.database}", e)
            raise
