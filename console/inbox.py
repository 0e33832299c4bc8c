"""The inbox: what people asked that the assistant did not answer well, to be labelled by staff.

Read from the assistant's tracker store with the code of `make unanswered` (staff/unanswered.py):
messages that fell back, were out of scope or unsure (with the model's best guess); plus the
messages whose answer a visitor rated 👎 in the web chat (an `agent` event with the rating, stored
by channels/webchat.py). Equal messages are one item, keyed like `make unanswered` groups them.
"""
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Set, Tuple

from staff.unanswered import NOT_UNDERSTOOD, OUT_OF_SCOPE, read_events, unanswered

REASONS = {NOT_UNDERSTOOD: "not understood", OUT_OF_SCOPE: "out of scope"}
RATED_DOWN = "rated 👎"


@dataclass
class Item:
    key: str
    text: str
    count: int
    reasons: List[str] = field(default_factory=list)
    guess: Optional[str] = None  # the model's best intent
    confidence: Optional[float] = None
    language: Optional[str] = None  # the language it was asked in, where the tracker says


def key_of(text: str) -> str:
    """How `make unanswered` groups equal messages: spaces collapsed, case ignored."""
    return " ".join(text.split()).lower()


def rated_down(events: Iterable[Dict[str, Any]]) -> Dict[str, str]:
    """Messages whose answer was rated 👎 (the visitor's last rating of it): key -> text."""
    texts: Dict[Tuple[str, str], str] = {}
    ratings: Dict[Tuple[str, str], str] = {}
    for event in events:
        if event["type_name"] not in ("user", "agent"):
            continue
        data = json.loads(event["data"])
        if event["type_name"] == "user":
            message_id = (data.get("metadata") or {}).get("message_id")
            if message_id:
                texts[(event["sender_id"], str(message_id))] = str(data.get("text") or "")
        else:
            rating = data.get("data")
            if isinstance(rating, dict) and "feedback" in rating and "message_id" in rating:
                ratings[(event["sender_id"], str(rating["message_id"]))] = rating["feedback"]
    return {key_of(texts[k]): " ".join(texts[k].split()) for k, value in ratings.items() if value == "down" and texts.get(k, "").strip()}


def collect(events: List[Dict[str, Any]], min_confidence: float, fallback: str) -> List[Item]:
    """The inbox's items, most asked first."""
    items: Dict[str, Item] = {}
    for key, asked in unanswered(events, min_confidence, fallback).items():
        understood = asked.understood.most_common(1)[0][0]
        item = Item(key, asked.texts.most_common(1)[0][0], asked.count, [REASONS.get(understood, "unsure")],
                    language=asked.language)
        if asked.guesses:
            name, confidence = asked.guesses.most_common(1)[0][0].rsplit(" ", 1)
            item.guess, item.confidence = name, float(confidence)
        items[key] = item
    for key, text in rated_down(events).items():
        items.setdefault(key, Item(key, text, 1)).reasons.append(RATED_DOWN)
    return sorted(items.values(), key=lambda i: (-i.count, i.key))


def stored_events(url: str, since: float) -> List[Dict[str, Any]]:
    """The events since `since` (unix time) in the tracker store at `url` (staff.unanswered.tracker_db_url:
    the store of the endpoints file, as the assistant uses it); none before anybody talked to it."""
    return [] if nothing_stored(url) else read_events(url, since)


def nothing_stored(url: str) -> bool:
    """True when the store is a SQLite file not created yet: nobody has talked to the assistant
    (opening it would create an empty file where Rasa expects its own)."""
    database = url.split("///", 1)[1] if url.startswith("sqlite") and "///" in url else None
    return bool(database) and not Path(database).exists()


def load(url: str, fallback: str, days: float, min_confidence: float, reviewed: Set[str]) -> List[Item]:
    """The items of the last `days` days not reviewed yet."""
    events = stored_events(url, time.time() - days * 86400)
    return [item for item in collect(events, min_confidence, fallback) if item.key not in reviewed]
