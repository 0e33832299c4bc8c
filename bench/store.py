"""Tracker store cost on SQLite: Rasa's SQLTrackerStore against rasa_addons' CheckedSQLTrackerStore.

Plays the same conversations (get tracker, add a turn, save) against both, interleaved in rounds so
machine noise hits both alike, and prints the median milliseconds per turn.

    .venv/bin/python bench/store.py
"""
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Type

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasa.core.tracker_store import SQLTrackerStore  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered  # noqa: E402

from rasa_addons.stores import CheckedSQLTrackerStore  # noqa: E402

STORES: Dict[str, Type[SQLTrackerStore]] = {"Rasa SQLTrackerStore": SQLTrackerStore, "CheckedSQLTrackerStore": CheckedSQLTrackerStore}


async def turns(store: SQLTrackerStore, conversations: int = 30, per_conversation: int = 3) -> float:
    """Milliseconds per turn: retrieve the tracker, add a user message and a reply, save."""
    start = time.perf_counter()
    for c in range(conversations):
        for _ in range(per_conversation):
            tracker = await store.get_or_create_tracker(f"bench-{c}")
            for event in (UserUttered("hello", {"name": "greet", "confidence": 1.0}), ActionExecuted("utter_greet"),
                          BotUttered("hi"), ActionExecuted("action_listen")):
                tracker.update(event)
            await store.save(tracker)
    return (time.perf_counter() - start) * 1000 / (conversations * per_conversation)


def main(rounds: int = 5) -> None:
    domain = Domain.load(str(ROOT / "domain.yml"))
    results: Dict[str, List[float]] = {name: [] for name in STORES}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(rounds):
            for name, cls in STORES.items():
                store = cls(domain, dialect="sqlite", db=f"{tmp}/{cls.__name__}-{r}.db")
                results[name].append(asyncio.run(turns(store)))
    base = statistics.median(results["Rasa SQLTrackerStore"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name}: {median:.2f} ms per turn (median of {rounds} rounds), {base / median:.1f}x")


if __name__ == "__main__":
    main()
