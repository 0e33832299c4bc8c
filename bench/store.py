"""Tracker store: Rasa's SQLTrackerStore against this project's (rasa_addons/stores.py), in one run.

Each plays the same turns (read the conversation, add a user message and the bot's answer, save)
for 100 senders on its own SQLite file, and reports milliseconds per read and per save.

    .venv/bin/python bench/store.py [--turns N]
"""
import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Tuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rasa.core.tracker_store import SQLTrackerStore  # noqa: E402
from rasa.shared.core.domain import Domain  # noqa: E402
from rasa.shared.core.events import ActionExecuted, BotUttered, SessionStarted, UserUttered  # noqa: E402
from rasa.shared.core.trackers import DialogueStateTracker  # noqa: E402

from rasa_addons.stores import CheckedSQLTrackerStore  # noqa: E402


async def play(store: SQLTrackerStore, domain: Domain, turns: int) -> Tuple[float, float]:
    """Milliseconds per retrieve and per save."""
    reading = saving = 0.0
    for i in range(turns):
        start = time.perf_counter()
        tracker = await store.retrieve(f"s{i % 100}") or DialogueStateTracker(f"s{i % 100}", domain.slots)
        read = time.perf_counter()
        if not tracker.events:
            for event in (ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen")):
                tracker.update(event)
        parse = {"intent": {"name": "greet", "confidence": 0.9}, "entities": [], "text": "hello there"}
        for event in (UserUttered("hello there", parse["intent"], parse_data=parse), ActionExecuted("utter_greet"),
                      BotUttered("Hi! How can I help?"), ActionExecuted("action_listen")):
            tracker.update(event)
        await store.save(tracker)
        reading, saving = reading + read - start, saving + time.perf_counter() - read
    return 1000 * reading / turns, 1000 * saving / turns


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=400)
    args = parser.parse_args()
    domain = Domain.load(str(ROOT / "domain.yml"))
    print("| tracker store | read (ms) | save (ms) | turn (ms) |\n| --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp:
        for cls in (SQLTrackerStore, CheckedSQLTrackerStore):
            store = cls(domain, dialect="sqlite", db=f"{tmp}/{cls.__name__}.db")
            read, save = asyncio.run(play(store, domain, args.turns))
            print(f"| {cls.__name__} | {read:.2f} | {save:.2f} | {read + save:.2f} |")


if __name__ == "__main__":
    main()
