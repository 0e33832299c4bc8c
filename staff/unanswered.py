"""`make unanswered DAYS=7`: what users asked lately that the assistant could not answer well.

Reads the conversations Rasa keeps (its SQL tracker store: the SQLite file of endpoints.yml by
default, or any database SQLAlchemy can open, given by URL) and lists the messages of the last N
days that were not understood (nlu_fallback), out of scope, answered by the fallback action, or
understood with low confidence. Equal messages are grouped and counted. The result is a snippet of
Rasa NLU training data that staff label and paste into data/nlu/ (docs/STAFF.md). It holds the
message texts only: no sender ids, times or channels, so nothing points back to a person. Each
message goes with its language ("en" or "pl": the `language` entity the assistant found in it, else
the conversation's `language` slot at the time), in blocks per language: Polish examples go to
data/nlu/pl/.

Usage: python -m staff.unanswered [--days 7] [--db URL] [--min-confidence 0.5] [--out FILE|-]
"""
import argparse
import importlib.util
import json
import logging
import os
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.utils.io import read_config_file
from rasa.utils.endpoints import read_endpoint_config

from staff import setup_logging

logger = logging.getLogger("staff.unanswered")

ROOT = Path(__file__).resolve().parent.parent
NOT_UNDERSTOOD = "nlu_fallback"
OUT_OF_SCOPE = "out_of_scope"
DEFAULT_FALLBACK_ACTION = "action_default_fallback"
# Actions Rasa runs on its own; they say nothing about the answer.
HOUSEKEEPING = {"action_listen", "action_session_start", "action_extract_slots"}
# The replies that say a message was not understood or is not covered (domain.yml): a follow-up that
# could not be placed gets them under a topic's intent, with any confidence.
NOT_ANSWERED = {"utter_not_understood", "utter_out_of_scope"}
LANGUAGE = "language"  # the slot and the entity (domain.yml)
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "pl": "Polish"}


@dataclass
class Asked:
    """One distinct message: how often, how it was written, what the assistant made of it."""

    texts: Counter = field(default_factory=Counter)
    understood: Counter = field(default_factory=Counter)
    guesses: Counter = field(default_factory=Counter)
    languages: Counter = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.texts.values())

    @property
    def language(self) -> str:
        """The language it was asked in (most often, if in several)."""
        return self.languages.most_common(1)[0][0] if self.languages else DEFAULT_LANGUAGE


def tracker_db_url(endpoints: Path) -> str:
    """The database of the tracker store the assistant uses, with the settings `make run` uses."""
    spec = importlib.util.spec_from_file_location("serve", ROOT / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)
    serve.load_settings()  # .env and the defaults (TRACKER_DB, ...), as for the running servers
    config = read_endpoint_config(str(endpoints), "tracker_store")
    if config is None or "dialect" not in config.kwargs and config.type not in ("sql", "SQL"):
        raise SystemExit(f"{endpoints} has no SQL tracker store; give the database with --db URL.")
    kw = config.kwargs
    return str(SQLTrackerStore.get_db_url(
        dialect=kw.get("dialect", "sqlite"), host=config.url, port=kw.get("port"), db=kw.get("db", "rasa.db"),
        username=kw.get("username"), password=kw.get("password"), query=kw.get("query"),
    ))


def fallback_action(config: Path) -> str:
    """The action the dialogue policies run when they do not know what to do (config.yml)."""
    for policy in read_config_file(str(config)).get("policies") or []:
        if policy.get("name") == "RulePolicy":
            return policy.get("core_fallback_action_name", DEFAULT_FALLBACK_ACTION)
    return DEFAULT_FALLBACK_ACTION


def read_events(url: str, since: float) -> List[Dict[str, Any]]:
    """The events since `since` (unix time), per conversation in order."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as db:
            rows = db.execute(
                sa.text("SELECT sender_id, type_name, action_name, data FROM events WHERE timestamp >= :since ORDER BY sender_id, id"),
                {"since": since},
            )
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def message_language(message: Dict[str, Any], slot: str) -> str:
    """The language of a user message: the `language` entity found in it, else the conversation's."""
    entities = (message.get("parse_data") or {}).get("entities") or message.get("entities") or []
    found = [e.get("value") for e in entities if e.get("entity") == LANGUAGE and e.get("value") in LANGUAGE_NAMES]
    return found[-1] if found else slot


def unanswered(events: Iterable[Dict[str, Any]], min_confidence: float, fallback: str) -> Dict[str, Asked]:
    """Messages that ended in fallback or out of scope, were understood with low confidence, or got
    a reply saying they were not understood or not covered."""
    found: Dict[str, Asked] = defaultdict(Asked)
    pending: Optional[Dict[str, Any]] = None  # the last user message, until its answer is known
    action: Optional[str] = None  # the first action taken for it
    refused = False  # it got one of the NOT_ANSWERED replies
    sender = None
    slot = DEFAULT_LANGUAGE  # the conversation's language slot

    def settle(message: Optional[Dict[str, Any]], action: Optional[str], refused: bool) -> None:
        if message is None:
            return
        parse = message.get("parse_data") or {}
        intent = (parse.get("intent") or {}).get("name") or NOT_UNDERSTOOD
        confidence = (parse.get("intent") or {}).get("confidence") or 0.0
        text = " ".join(str(message.get("text") or "").split())
        if not text or text.startswith("/"):  # a button's payload, not something typed
            return
        if intent in (NOT_UNDERSTOOD, OUT_OF_SCOPE) or confidence < min_confidence or action == fallback or refused:
            asked = found[text.lower()]
            asked.texts[text] += 1
            asked.languages[message.get(LANGUAGE) or DEFAULT_LANGUAGE] += 1
            asked.understood[intent] += 1
            ranking = [r for r in parse.get("intent_ranking") or [] if r.get("name") != NOT_UNDERSTOOD]
            if ranking:
                asked.guesses[f"{ranking[0]['name']} {ranking[0].get('confidence', 0):.2f}"] += 1

    for event in events:
        if event["sender_id"] != sender:
            settle(pending, action, refused)
            pending, sender, slot = None, event["sender_id"], DEFAULT_LANGUAGE
        if event["type_name"] == "user":
            settle(pending, action, refused)
            pending, action, refused = json.loads(event["data"]), None, False
            pending[LANGUAGE] = message_language(pending, slot)
        elif event["type_name"] == "slot":
            data = json.loads(event["data"])
            if data.get("name") == LANGUAGE and data.get("value") in LANGUAGE_NAMES:
                slot = data["value"]
        elif event["type_name"] == "action" and pending is not None and action is None and event["action_name"] not in HOUSEKEEPING:
            action = event["action_name"]
        elif event["type_name"] == "bot" and pending is not None:
            refused = refused or (json.loads(event["data"]).get("metadata") or {}).get("utter_action") in NOT_ANSWERED
    settle(pending, action, refused)
    return found


def _example(text: str) -> str:
    """A message as one line of an `examples: |` block: brackets would read as entity marks."""
    return text.replace("[", "(").replace("]", ")")


def to_yaml(found: Dict[str, Asked], days: float, since: float) -> str:
    """A Rasa NLU snippet: one block per intent the assistant settled on, most asked first."""
    total = sum(a.count for a in found.values())
    lines = [
        'version: "3.1"',
        f"# What users asked in the last {days:g} days (since {datetime.fromtimestamp(since):%Y-%m-%d %H:%M}) that the assistant",
        f"# could not answer well: {total} messages, {len(found)} different. Message texts only, nothing else.",
        "#",
        "# To teach the assistant: in each block, change `intent:` to the intent the questions mean (the",
        "# list is under `intents:` in domain.yml), move a question to the block it belongs to, delete the",
        "# ones it should not answer, then paste the blocks into the matching file in data/nlu/ (English)",
        "# or data/nlu/pl/ (Polish: each block says its language) and run `make check`, `make train` and",
        "# `make test-bot`. `nlu_fallback` must never keep examples.",
        "nlu:",
    ]
    by_intent: Dict[tuple, List[Asked]] = defaultdict(list)
    for asked in found.values():
        by_intent[(asked.understood.most_common(1)[0][0], asked.language)].append(asked)
    labels = {NOT_UNDERSTOOD: "not understood", OUT_OF_SCOPE: "out of scope"}
    for key in sorted(by_intent, key=lambda k: (k[1] != DEFAULT_LANGUAGE, -sum(a.count for a in by_intent[k]), k)):
        intent, language = key
        group = sorted(by_intent[key], key=lambda a: (-a.count, a.texts.most_common(1)[0][0]))
        folder = "data/nlu/pl/" if language == "pl" else "data/nlu/"
        lines.append(f"# {LANGUAGE_NAMES.get(language, language)} ({language}, into {folder}): "
                     f"{labels.get(intent, f'understood as {intent}, with low confidence')}; times asked and the best guess:")
        for asked in group:
            guess = f"  (best guess: {asked.guesses.most_common(1)[0][0]})" if asked.guesses else ""
            lines.append(f"#   {asked.count} x {asked.texts.most_common(1)[0][0]}{guess}")
        lines += [f"- intent: {intent}", "  examples: |"]
        lines += [f"    - {_example(asked.texts.most_common(1)[0][0])}" for asked in group]
    if not found:
        lines.append("# (nothing: every message in this period was understood)")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7, help="how far back to look (default 7)")
    parser.add_argument("--db", help="the tracker store's database URL (default: from the endpoints file)")
    parser.add_argument("--endpoints", type=Path, help="endpoints file (default: RASA_ENDPOINTS or endpoints.yml)")
    parser.add_argument("--min-confidence", type=float, default=0.5, help="below this, a message counts as not understood well")
    parser.add_argument("--out", default="reports/unanswered.yml", help="where to write the snippet ('-': the screen)")
    args = parser.parse_args(argv)
    out = None if args.out == "-" else Path(args.out).resolve()
    os.chdir(ROOT)  # the endpoints file and the SQLite path are relative to the project
    url = args.db or tracker_db_url(args.endpoints or Path(os.environ.get("RASA_ENDPOINTS", "endpoints.yml")))
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    database = sa.engine.make_url(url).database
    if url.startswith("sqlite") and database and not Path(database).exists():
        logger.error("No conversations stored yet: %s does not exist.", database)
        return 1
    since = time.time() - args.days * 86400
    try:
        events = read_events(url, since)
    except sa.exc.SQLAlchemyError as e:
        logger.error("Cannot read the conversations from %s: %s", shown, str(e).splitlines()[0])
        return 1
    found = unanswered(events, args.min_confidence, fallback_action(Path("config.yml")))
    snippet = to_yaml(found, args.days, since)
    if out is None:
        sys.stdout.write(snippet)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(snippet, encoding="utf-8")
        logger.info("%d messages (%d different) from the last %g days not answered well, read from %s; written to %s",
                    sum(a.count for a in found.values()), len(found), args.days, shown, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
