"""Delete stored conversations: those older than the retention period, or one person's.

The assistant keeps conversations in its tracker store (endpoints.yml: a SQLite file by default;
endpoints.scaled.yml: PostgreSQL). A university in the EU keeps them no longer than it needs them
(GDPR art. 5(1)(e)) and deletes a person's data on request (art. 17). This command does both, on
whichever SQL tracker store the endpoints file configures (or the database given with --db):

  python -m staff.retention                  # every event older than RETENTION_DAYS (.env, default 180)
  python -m staff.retention --days 30        # ... older than 30 days
  python -m staff.retention --sender ID      # the whole conversation of one sender id (make forget SENDER=ID)
  python -m staff.retention --daily          # the first, then again every 24 hours (a container's loop)
  add --dry-run to count without deleting.

Older than N days: every message and event recorded more than N days ago is deleted; a conversation
with nothing newer disappears entirely, one still going on keeps only its recent part. Rasa reads the
conversation from the store at every message, so a running server needs no restart. The log names
counts, never sender ids or texts.
"""
import argparse
import logging
import os
import time
from pathlib import Path
from typing import List, Optional, Tuple

import sqlalchemy as sa
from dotenv import load_dotenv

from staff import setup_logging
from staff.unanswered import tracker_db_url

logger = logging.getLogger("staff.retention")

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_RETENTION_DAYS = "180"
EVENTS = "events"  # the table of Rasa's SQLTrackerStore


def _events(engine: sa.engine.Engine) -> Optional[sa.Table]:
    """Rasa's events table, or None when no conversation was ever stored."""
    if not sa.inspect(engine).has_table(EVENTS):
        return None
    return sa.Table(EVENTS, sa.MetaData(), autoload_with=engine)


def delete(url: str, *, older_than_days: Optional[float] = None, sender: Optional[str] = None,
           dry_run: bool = False) -> Tuple[int, int]:
    """Delete the events older than `older_than_days`, or all of `sender`'s: (events, conversations)
    deleted (with `dry_run`: what would be, conversations counted as those touched)."""
    engine = sa.create_engine(url)
    try:
        table = _events(engine)
        if table is None:
            return 0, 0
        if sender is not None:
            condition = table.c.sender_id == sender
        else:
            assert older_than_days is not None
            condition = table.c.timestamp < time.time() - older_than_days * 86400
        with engine.begin() as db:
            events = db.execute(sa.select(sa.func.count()).select_from(table).where(condition)).scalar() or 0
            senders = {row[0] for row in db.execute(sa.select(table.c.sender_id).where(condition).distinct())}
            if dry_run:
                return events, len(senders)
            db.execute(table.delete().where(condition))
            # conversations deleted entirely: the affected senders with no event left
            left = set()
            for chunk in [sorted(senders)[i:i + 500] for i in range(0, len(senders), 500)]:
                left |= {row[0] for row in db.execute(sa.select(table.c.sender_id).where(table.c.sender_id.in_(chunk)).distinct())}
            return events, len(senders - left)
    finally:
        engine.dispose()


def main(argv: Optional[List[str]] = None) -> int:
    setup_logging()
    os.chdir(ROOT)  # the endpoints file and the SQLite path are relative to the project
    load_dotenv(os.environ.get("ENV_FILE") or ROOT / ".env")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--days", type=float, default=float(os.environ.get("RETENTION_DAYS") or DEFAULT_RETENTION_DAYS),
                       help="delete what is older than this many days (default: RETENTION_DAYS, or 180)")
    which.add_argument("--sender", help="delete this sender id's whole conversation")
    parser.add_argument("--db", help="the tracker store's database URL (default: from the endpoints file)")
    parser.add_argument("--endpoints", type=Path, help="endpoints file (default: RASA_ENDPOINTS or endpoints.yml)")
    parser.add_argument("--dry-run", action="store_true", help="count what would be deleted, delete nothing")
    parser.add_argument("--daily", action="store_true", help="run again every 24 hours (until stopped)")
    args = parser.parse_args(argv)
    if args.sender is None and args.days <= 0:
        parser.error("--days must be more than 0")
    url = args.db or tracker_db_url(args.endpoints or Path(os.environ.get("RASA_ENDPOINTS", "endpoints.yml")))
    shown = sa.engine.make_url(url).render_as_string(hide_password=True)
    verb = "would be deleted" if args.dry_run else "deleted"  # for one sender's
    while True:
        try:
            if args.sender is not None:
                events, conversations = delete(url, sender=args.sender, dry_run=args.dry_run)
                logger.info("%s: %d events of the given sender %s (%d conversation) from %s",
                            "Found" if args.dry_run else "Forgotten", events, verb, conversations, shown)
            else:
                events, conversations = delete(url, older_than_days=args.days, dry_run=args.dry_run)
                if args.dry_run:
                    logger.info("Retention %g days: %d events would be deleted from %s, in %d conversations",
                                args.days, events, shown, conversations)
                else:
                    logger.info("Retention %g days: %d events deleted from %s; %d conversations had nothing newer and are gone",
                                args.days, events, shown, conversations)
        except sa.exc.SQLAlchemyError as e:
            logger.error("Cannot delete from %s: %s", shown, str(e).splitlines()[0])
            if not args.daily:
                return 1
        if not args.daily:
            return 0
        time.sleep(86400)


if __name__ == "__main__":
    raise SystemExit(main())
