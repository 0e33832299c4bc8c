"""Rasa's stores, made safe for several instances: SQL tracker store, Redis lock store.

CheckedSQLTrackerStore: Rasa's SQL tracker store, made to say when it is unreachable.

Rasa wraps every tracker store in a FailSafeTrackerStore: when the database is down it logs a
generic error, starts the user on a blank conversation and keeps the events in memory only, so the
user would get an answer out of context and the turn would never reach the database. This
subclass logs which store failed and records the failure for the message being handled
(`failures()`), so the input channel (channels.guard) can answer "unavailable" with HTTP 503
instead. Storage is Rasa's own SQLTrackerStore (same table, same rows, same queries), with its
ORM queries replaced by the same SQL prebuilt as SQLAlchemy Core statements: reading and writing a
turn took about half the time (bench/store.py; README, "Speed"), where it had been 40 % of the
server's CPU. On SQLite (the embedded default) it also keeps its connection and commits to a
write-ahead log (`sqlite_engine`), which halved a turn again.

It also keeps the trackers of the conversations it saved last (`KEPT_CONVERSATIONS`): reading one back
asks the database only for the count and latest timestamp of the sender's rows, and gives the tracker
saved, unless something changed since: a row written or deleted by any process (another worker or
instance, the staff console's deletion, retention), or an event added to the tracker and not saved
(a turn that failed half-way). Decoding the rows and replaying the events into a new tracker was
most of a read. A tracker is kept only when it holds what a read of the latest session gives. On
SQLite even the count is skipped while no other connection has committed since it was read (PRAGMA
data_version, which changes at another connection's commit).
"""
import itertools
import json
import logging
from collections import OrderedDict
from contextvars import ContextVar
from typing import Any, Callable, List, NamedTuple, Optional, Text, Tuple

import sqlalchemy as sa
from sqlalchemy.orm import sessionmaker

from rasa.core.lock import TicketLock
from rasa.core.lock_store import DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX, LOCK_LIFETIME, LockError, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY
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


def sqlite_engine(url: Any) -> sa.engine.Engine:
    """SQLAlchemy's SQLite defaults cost most of a turn: a new connection for every query (NullPool:
    the schema read again each time) and a commit that syncs a rollback journal to disk several
    times. Here each thread keeps its connection, and commits go to a write-ahead log synced at
    checkpoints (WAL, synchronous=NORMAL): a commit survives a crash or kill of the server; only
    an operating-system crash or power cut can lose the last ones. Readers (the staff console, `make
    unanswered`) no longer wait for a writer."""
    engine = sa.create_engine(url, poolclass=sa.pool.SingletonThreadPool)

    @sa.event.listens_for(engine, "connect")
    def _wal(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


KEPT_CONVERSATIONS = 256


# A sender's rows: how many, and the latest timestamp. Any row written or deleted changes it: rows
# deleted and as many written again carry later timestamps.
Key = Tuple[int, Optional[float]]
# On SQLite, the connection and its PRAGMA data_version, which changes when any other connection (another
# worker or process) commits: while it stays the same, only this store's own writes changed the rows.
Version = Optional[Tuple[Any, int]]


class _Kept(NamedTuple):
    key: Key  # the sender's rows when the tracker was read or saved
    tracker: DialogueStateTracker
    length: int  # its events when saved, and the last of them
    last: Optional[Event]
    version: Version  # the database's version when the key was last known to be the sender's


class CheckedSQLTrackerStore(SQLTrackerStore):
    """SQLTrackerStore whose failures are logged clearly and reported to the input channel."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            self.engine.dispose()
            self.engine = sqlite_engine(self.engine.url)
            self.sessionmaker = sessionmaker(bind=self.engine)
        events = self.SQLEvent.__table__
        sender = sa.bindparam("sender_id")
        # Rasa's _event_query: the events of the latest session (since the last SessionStarted)
        session_start = sa.select(sa.func.max(events.c.timestamp)).where(
            events.c.sender_id == sender, events.c.type_name == SessionStarted.type_name
        ).scalar_subquery()
        latest = events.c.sender_id == sender, sa.or_(events.c.timestamp >= session_start, session_start.is_(None))
        self._latest_session = sa.select(events.c.data).where(*latest).order_by(events.c.id)
        self._all_sessions = sa.select(events.c.data).where(events.c.sender_id == sender).order_by(events.c.id)
        self._stored_count = sa.select(sa.func.count()).select_from(events).where(*latest)
        self._key = sa.select(sa.func.count(), sa.func.max(events.c.timestamp)).where(events.c.sender_id == sender)
        self._insert = events.insert()
        self._kept: "OrderedDict[Text, _Kept]" = OrderedDict()

    async def _retrieve(self, sender_id: Text, fetch_events_from_all_sessions: bool) -> Optional[DialogueStateTracker]:
        query = self._all_sessions if fetch_events_from_all_sessions else self._latest_session
        key = None
        try:
            with self.engine.begin() as connection:
                if not fetch_events_from_all_sessions:
                    kept = self._kept.pop(sender_id, None)  # kept again below only if still what a read gives
                    key, version = self._current_key(connection, sender_id, kept)
                    if kept is not None and kept.key == key and _intact(kept, kept.tracker) and len(kept.tracker.events) == kept.length:
                        self._kept[sender_id] = kept
                        return kept.tracker
                events = [json.loads(data) for data in connection.execute(query, {"sender_id": sender_id}).scalars()]
        except Exception as e:
            _report(f"reading {self.engine.url.database}", e)
            raise
        if not (self.domain and events):
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, events, self.domain.slots)
        if key is not None:
            self._keep(key, version, tracker)
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Rasa's save: stream the events, then store those not stored yet in this session."""
        await self.stream_events(tracker)
        sender_id = tracker.sender_id
        kept = self._kept.pop(sender_id, None)
        try:
            with self.engine.begin() as connection:
                (count, newest), version = self._current_key(connection, sender_id, kept)
                if kept is not None and kept.key == (count, newest) and _intact(kept, tracker):
                    stored = kept.length  # the kept tracker's events are what a read of its session gives
                else:
                    stored = connection.execute(self._stored_count, {"sender_id": sender_id}).scalar()
                rows = [self._row(sender_id, event.as_dict()) for event in itertools.islice(tracker.events, stored, None)]
                if rows:
                    connection.execute(self._insert, rows)
        except Exception as e:
            _report(f"writing {self.engine.url.database}", e)
            raise
        timestamps = [t for t in (newest, *(row["timestamp"] for row in rows)) if t is not None]
        self._keep((count + len(rows), max(timestamps, default=None)), version, tracker)

    def _current_key(self, connection: Any, sender_id: Text, kept: Optional[_Kept]) -> Tuple[Key, Version]:
        """The sender's key, and the database's version. The kept key, without reading the rows, when no
        other connection has committed since it was read (SQLite's data_version, on the same connection)."""
        version = None
        if self.engine.dialect.name == "sqlite":
            raw = connection.connection.dbapi_connection
            version = raw, raw.execute("PRAGMA data_version").fetchone()[0]
            if kept is not None and kept.version == version:
                return kept.key, version
        return self._read_key(connection, sender_id), version

    def _read_key(self, connection: Any, sender_id: Text) -> Key:
        count, newest = connection.execute(self._key, {"sender_id": sender_id}).one()
        return count, newest

    def _keep(self, key: Key, version: Version, tracker: DialogueStateTracker) -> None:
        """Keep the tracker if it holds what a read of the latest session gives: no session started
        after its first event (a read starts at the latest SessionStarted); else keep what a read would
        give, when that is known without one (`_as_read`). Both callers have taken the sender's entry
        out already."""
        if any(isinstance(event, SessionStarted) for event in itertools.islice(tracker.events, 1, None)):
            tracker = self._as_read(key, tracker)
            if tracker is None:
                return
        self._kept[tracker.sender_id] = _Kept(key, tracker, len(tracker.events), tracker.events[-1] if tracker.events else None,
                                              version)
        if len(self._kept) > KEPT_CONVERSATIONS:
            self._kept.popitem(last=False)

    def _as_read(self, key: Key, tracker: DialogueStateTracker) -> Optional[DialogueStateTracker]:
        """A new tracker of what a read of the latest session gives, when the tracker holds every row of
        the sender and a read would leave out only the events before its last session started: a new
        conversation's first turn (Rasa logs action_session_start just before the session starts, so a
        read leaves it out). The events replayed as a read replays them; else None."""
        events = list(tracker.events)
        start = max(i for i, event in enumerate(events) if isinstance(event, SessionStarted))
        session = max(event.timestamp for event in events if isinstance(event, SessionStarted))
        # the read's condition (from the latest session's timestamp on), on every row: all of them are here
        if (key[0] != len(events) or not self.domain or any(event.timestamp >= session for event in events[:start])
                or any(event.timestamp < session for event in events[start:])):
            return None
        return DialogueStateTracker.from_events(tracker.sender_id, events[start:], self.domain.slots)

    @staticmethod
    def _row(sender_id: Text, data: dict) -> dict:
        return {
            "sender_id": sender_id, "type_name": data["event"], "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get(INTENT_NAME_KEY),
            "action_name": data.get("name"), "data": json.dumps(data),
        }


def _intact(kept: _Kept, tracker: DialogueStateTracker) -> bool:
    """The kept tracker, still holding the events it held when kept (maybe more after them)."""
    events = tracker.events
    if tracker is not kept.tracker or len(events) < kept.length:
        return False
    return kept.length == 0 or events[kept.length - 1] is kept.last


def own_prefix(store: RedisLockStore) -> str:
    """The key prefix the endpoints file gives (REDIS_KEY_PREFIX), without Rasa's "lock:" after it:
    where this project's other keys for the same Redis go."""
    return store.key_prefix[: -len(DEFAULT_REDIS_LOCK_STORE_KEY_PREFIX)]


# Writes a conversation's lock only if it is still what the writer read (else nothing: it reads again).
_COMPARE_AND_SET = """
if (redis.call('GET', KEYS[1]) or '') ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2]) end
return 1
"""
# Tries at one change before giving up: each failed try means another process changed the lock.
CHANGE_TRIES = 100


class AtomicRedisLockStore(RedisLockStore):
    """Rasa's RedisLockStore with its ticket updates made atomic.

    Rasa reads a conversation's ticket lock from Redis, changes it and writes it back (GET then SET)
    with nothing in between to stop another instance doing the same. Two instances receiving the
    first messages of one conversation at the same moment can then both draw ticket 0, both run,
    and the second save finds "nothing new" and drops its turn (seen in tests/test_scale_out.py).
    Here each change is written only if the lock is still what was read (a compare-and-set script
    in Redis), else read and made again: Rasa's own lock code and format, two round trips a change
    where a mutex around it took four to six.
    """

    def __init__(self, endpoint_config: EndpointConfig) -> None:
        super().__init__(host=endpoint_config.url, **endpoint_config.kwargs)
        self._compare_and_set = self.red.register_script(_COMPARE_AND_SET)

    def _change(self, conversation_id: Text, change: Callable[[Optional[TicketLock]], Optional[TicketLock]]) -> None:
        """Apply `change` to the stored lock (None: there is none; it returns None to delete it)."""
        key = self.key_prefix + conversation_id
        for _ in range(CHANGE_TRIES):
            read = self.red.get(key) or b""
            lock = change(TicketLock.from_dict(json.loads(read)) if read else None)
            written = lock.dumps().encode() if lock else b""
            if written == read or self._compare_and_set(keys=[key], args=[read, written]):
                return
        raise LockError(f"The lock of conversation '{conversation_id}' kept changing: {CHANGE_TRIES} tries.")

    def issue_ticket(self, conversation_id: Text, lock_lifetime: float = LOCK_LIFETIME) -> int:
        issued: List[int] = []

        def issue(lock: Optional[TicketLock]) -> TicketLock:
            lock = lock or self.create_lock(conversation_id)
            issued[:] = [lock.issue_ticket(lock_lifetime)]
            return lock

        self._change(conversation_id, issue)
        return issued[0]

    def update_lock(self, conversation_id: Text) -> None:
        def without_expired(lock: Optional[TicketLock]) -> Optional[TicketLock]:
            if lock:
                lock.remove_expired_tickets()
            return lock

        self._change(conversation_id, without_expired)

    def finish_serving(self, conversation_id: Text, ticket_number: int) -> None:
        self._change(conversation_id, lambda lock: _without_ticket(lock, ticket_number, delete_if_empty=False))

    def cleanup(self, conversation_id: Text, ticket_number: int) -> None:
        """Finish serving and delete the lock if nobody waits, in one change."""
        self._change(conversation_id, lambda lock: _without_ticket(lock, ticket_number, delete_if_empty=True))


def _without_ticket(lock: Optional[TicketLock], ticket_number: int, delete_if_empty: bool) -> Optional[TicketLock]:
    if lock:
        lock.remove_ticket_for(ticket_number)
        if delete_if_empty and not lock.is_someone_waiting():
            return None
    return lock
