"""Rasa's stores, made safe for several instances: SQL tracker store, Redis lock store.

CheckedSQLTrackerStore: Rasa's SQL tracker store, made to say when it is unreachable.

Rasa wraps every tracker store in a FailSafeTrackerStore: when the database is down it logs a
generic error, starts the user on a blank conversation and keeps the events in memory only, so the
user would get an answer out of context and the turn would never reach the database. This
subclass logs which store failed and records the failure for the message being handled
(`failures()`), so the input channel (rasa_addons.channels) can answer "unavailable" with HTTP 503
instead. Storage itself is Rasa's own SQLTrackerStore, unchanged.
"""
import logging
from contextvars import ContextVar
from typing import Any, List, Optional, Text

from rasa.core.lock_store import DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX, LOCK_LIFETIME, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

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


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's RedisLockStore with its ticket updates made atomic.

    Rasa reads a conversation's ticket lock from Redis, changes it and writes it back (GET then SET)
    with nothing in between to stop another instance doing the same. Two instances receiving the
    first messages of one conversation at the same moment can then both draw ticket 0, both run,
    and the second save finds "nothing new" and drops its turn (seen in tests/test_scale_out.py).
    Here each read-modify-write holds a short Redis mutex (redis-py's lock) for that conversation.
    """

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        super().__init__(host=endpoint_config.url, **endpoint_config.kwargs)

    def _mutex(self, conversation_id: Text) -> Any:
        name = f"{self.key_prefix[: -len(DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX)]}mutex:{conversation_id}"
        return self.red.lock(name, timeout=10, blocking_timeout=10)

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._mutex(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: Text) -> None:
        with self._mutex(conversation_id):
            super().update_lock(conversation_id)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        with self._mutex(conversation_id):
            super().finish_serving(conversation_id, ticket_number)

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        with self._mutex(conversation_id):
            RedisLockStore.finish_serving(self, conversation_id, ticket_number)
            if not self.is_someone_waiting(conversation_id):
                self.delete_lock(conversation_id)
