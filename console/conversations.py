"""Conversations and insights, read from the assistant's tracker store with the inbox's code.

The events come from staff.unanswered.read_events (console.inbox.stored_events), the same reading
code as the inbox and `make unanswered`: SQLite by default, PostgreSQL when scaled out. Each
conversation is named by a pseudonym (rasa_addons.logs.pseudonym: a keyed hash of the sender id,
the same as in the servers' logs when LOG_PSEUDONYM_KEY is set), never by the sender id itself,
which stays in this module: only `sender_of` turns a pseudonym back into an id, to delete a
conversation (staff.retention.delete).
"""
import datetime
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import sqlalchemy as sa

from console.inbox import collect, nothing_stored
from staff.unanswered import HOUSEKEEPING, NOT_UNDERSTOOD, OUT_OF_SCOPE

Pseudonym = Callable[[str], str]


@dataclass
class Turn:
    """A user message and what the assistant made of it and did."""

    at: float
    text: str
    intent: Optional[str]
    confidence: Optional[float]
    actions: List[str] = field(default_factory=list)
    replies: List[str] = field(default_factory=list)

    @property
    def when(self) -> str:
        return datetime.datetime.fromtimestamp(self.at).strftime("%Y-%m-%d %H:%M")

    @property
    def day(self) -> str:
        return datetime.date.fromtimestamp(self.at).isoformat()

    def fell_back(self, fallback: str) -> bool:
        """Not understood, or answered by the fallback action: what the inbox counts as not understood."""
        return self.intent in (None, NOT_UNDERSTOOD) or fallback in self.actions


@dataclass
class Conversation:
    pseudonym: str
    channel: str
    turns: List[Turn]

    @property
    def started(self) -> str:
        return self.turns[0].when

    @property
    def last(self) -> str:
        return self.turns[-1].when


def conversations(events: Iterable[Dict[str, Any]], pseudonym: Pseudonym) -> List[Conversation]:
    """Events (per sender, in order) as conversations of turns, most recent first; a sender with no
    user message (only a session start) is left out."""
    found: Dict[str, Conversation] = {}
    for event in events:
        kind = event["type_name"]
        if kind not in ("user", "action", "bot"):
            continue
        data = json.loads(event["data"])
        sender = event["sender_id"]
        if kind == "user":
            intent = (data.get("parse_data") or {}).get("intent") or {}
            conversation = found.setdefault(sender, Conversation(pseudonym(sender), data.get("input_channel") or "unknown", []))
            conversation.turns.append(Turn(float(data.get("timestamp") or 0), str(data.get("text") or ""),
                                           intent.get("name"), intent.get("confidence")))
        elif sender in found:  # what the assistant did after the last message
            turn = found[sender].turns[-1]
            if kind == "action" and event["action_name"] not in HOUSEKEEPING:
                turn.actions.append(event["action_name"])
            elif kind == "bot" and data.get("text"):
                turn.replies.append(str(data["text"]))
    return sorted(found.values(), key=lambda c: -c.turns[-1].at)


def search(found: List[Conversation], text: str = "", channel: str = "", first_day: str = "", last_day: str = "") -> List[Conversation]:
    """The conversations with a turn on those days (ISO dates, inclusive; empty: any) whose
    messages or replies contain `text` (any case), on `channel` (empty: any)."""
    words = text.strip().lower()
    result = []
    for conversation in found:
        if channel and conversation.channel != channel:
            continue
        turns = [t for t in conversation.turns if (not first_day or t.day >= first_day) and (not last_day or t.day <= last_day)]
        if turns and (not words or any(words in t.text.lower() or any(words in r.lower() for r in t.replies) for t in turns)):
            result.append(conversation)
    return result


def sender_of(url: str, pseudonym: Pseudonym, wanted: str) -> Optional[str]:
    """The sender id whose pseudonym is `wanted` (None: no such conversation stored)."""
    if nothing_stored(url):
        return None
    engine = sa.create_engine(url)
    try:
        with engine.connect() as db:
            for (sender,) in db.execute(sa.text("SELECT DISTINCT sender_id FROM events")):
                if pseudonym(sender) == wanted:
                    return str(sender)
    except sa.exc.OperationalError:  # no events table: nothing stored yet
        return None
    finally:
        engine.dispose()
    return None


# --- insights ------------------------------------------------------------------------------------

@dataclass
class Day:
    day: str
    questions: int
    fell_back: int
    out_of_scope: int

    @property
    def fallback_rate(self) -> float:
        return self.fell_back / self.questions if self.questions else 0.0

    @property
    def out_of_scope_rate(self) -> float:
        return self.out_of_scope / self.questions if self.questions else 0.0


@dataclass
class Insights:
    days: List[Day]
    topics: List[Tuple[str, int]]
    unanswered: List[Any]  # console.inbox.Item, most asked first

    @property
    def questions(self) -> int:
        return sum(d.questions for d in self.days)


def insights(events: List[Dict[str, Any]], pseudonym: Pseudonym, fallback: str, min_confidence: float, top: int = 20) -> Insights:
    """Questions per day and per topic (intent), fallback and out-of-scope rates per day, and the
    most frequent unanswered questions (the inbox's items, reviewed or not)."""
    per_day: Dict[str, Day] = {}
    topics: Counter = Counter()
    for conversation in conversations(events, pseudonym):
        for turn in conversation.turns:
            day = per_day.setdefault(turn.day, Day(turn.day, 0, 0, 0))
            day.questions += 1
            day.fell_back += turn.fell_back(fallback)
            day.out_of_scope += turn.intent == OUT_OF_SCOPE
            topics[turn.intent or NOT_UNDERSTOOD] += 1
    return Insights(sorted(per_day.values(), key=lambda d: d.day), sorted(topics.items(), key=lambda kv: (-kv[1], kv[0])),
                    collect(events, min_confidence, fallback)[:top])


def channels(found: Iterable[Conversation]) -> List[str]:
    return sorted({c.channel for c in found})


def find(found: Iterable[Conversation], pseudonym: str) -> Optional[Conversation]:
    return next((c for c in found if c.pseudonym == pseudonym), None)
