"""Retention (staff/retention.py): conversations older than the retention period, and one person's
conversation, deleted from the tracker store, on SQLite (endpoints.yml) and PostgreSQL."""
import os
import time
from pathlib import Path
from typing import Dict, List

import pytest
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from tests.test_staff_tools import postgres_store, run  # noqa: F401 (postgres_store: the fixture)

DAY = 86400


def turn(text: str, days_ago: float) -> List:
    at = time.time() - days_ago * DAY
    return [UserUttered(text, {"name": "ask_contact", "confidence": 0.9}, timestamp=at),
            ActionExecuted("action_answer_contact", timestamp=at), ActionExecuted("action_listen", timestamp=at)]


async def fill(store: SQLTrackerStore) -> None:
    conversations: Dict[str, List] = {
        "old-sender": turn("phone?", 200),
        "mixed-sender": turn("fax?", 200) + turn("e-mail?", 2),
        "new-sender": turn("where are you?", 1),
        "forget-me-7": turn("my name is Ana Kowalska", 1),
    }
    for sender, events in conversations.items():
        await store.save(DialogueStateTracker.from_events(sender, events))


async def texts(store: SQLTrackerStore) -> Dict[str, List[str]]:
    out = {}
    for sender in await store.keys():
        tracker = await store.retrieve(sender)
        out[sender] = [e.text for e in tracker.events if isinstance(e, UserUttered)]
    return out


EXPECTED_AFTER = {"mixed-sender": ["e-mail?"], "new-sender": ["where are you?"]}


async def test_sqlite_store_of_endpoints_yml(tmp_path: Path) -> None:
    db = tmp_path / "tracker.db"
    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(db))
    await fill(store)
    # the store and the period come from the settings, as for `make run` (endpoints.yml, RETENTION_DAYS)
    env = {**os.environ, "TRACKER_DB": str(db), "RETENTION_DAYS": "180", "ENV_FILE": str(tmp_path / "none.env"),
           "RASA_ENDPOINTS": "endpoints.yml"}
    code, log = run(["staff.retention"], env)
    assert code == 0, log
    assert "Retention 180 days: 6 events deleted" in log and "1 conversations had nothing newer" in log, log
    assert (await texts(store)) == {**EXPECTED_AFTER, "forget-me-7": ["my name is Ana Kowalska"]}
    code, log = run(["staff.retention", "--sender", "forget-me-7"], env)
    assert code == 0, log
    assert "Forgotten: 3 events" in log and "forget-me-7" not in log, log
    assert (await texts(store)) == EXPECTED_AFTER
    store.engine.dispose()


async def test_postgresql_store(postgres_store) -> None:  # noqa: F811
    store, url = postgres_store
    await fill(store)
    code, log = run(["staff.retention", "--db", url, "--days", "30", "--dry-run"], dict(os.environ))
    assert code == 0 and "6 events would be deleted" in log, log
    assert len(await texts(store)) == 4
    code, log = run(["staff.retention", "--db", url, "--days", "30"], dict(os.environ))
    assert code == 0 and "6 events deleted" in log, log
    code, log = run(["staff.retention", "--db", url, "--sender", "forget-me-7"], dict(os.environ))
    assert code == 0 and "forget-me-7" not in log, log
    assert (await texts(store)) == EXPECTED_AFTER


def test_a_store_without_conversations_is_no_error(tmp_path: Path) -> None:
    from staff.retention import delete

    assert delete(f"sqlite:///{tmp_path / 'empty.db'}", older_than_days=1) == (0, 0)
