"""What the console keeps of its own: staff accounts, sessions, reviewed messages, fact changes
(SQLite, STAFF_DB), and the audit log (STAFF_AUDIT_LOG: one JSON line per change, append only).

Nothing here is written into the assistant's tracker store: the conversations stay as Rasa wrote them.
"""
import datetime
import json
import logging
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Set

logger = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, hash TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (key TEXT PRIMARY KEY, user TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS reviewed (key TEXT PRIMARY KEY, text TEXT NOT NULL, verdict TEXT NOT NULL,
    intent TEXT, by TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS fact_changes (id INTEGER PRIMARY KEY AUTOINCREMENT, field TEXT NOT NULL,
    old TEXT NOT NULL, new TEXT NOT NULL, by TEXT NOT NULL, at REAL NOT NULL, undoes INTEGER, undone_by INTEGER);
"""


class Store:
    """The console's database; one short connection per call (the console is one process)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.executescript(SCHEMA)

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            with db:
                yield db
        finally:
            db.close()

    # --- accounts -----------------------------------------------------------------------------
    def password_hash(self, name: str) -> Optional[str]:
        with self._db() as db:
            row = db.execute("SELECT hash FROM users WHERE name = ?", (name,)).fetchone()
        return row["hash"] if row else None

    def set_user(self, name: str, password_hash: str) -> bool:
        """Create the account or replace its password; True when it is new."""
        with self._db() as db:
            new = db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone() is None
            db.execute("INSERT INTO users (name, hash, created) VALUES (?, ?, ?) "
                       "ON CONFLICT(name) DO UPDATE SET hash = excluded.hash", (name, password_hash, time.time()))
            if not new:  # a new password signs the account out everywhere
                db.execute("DELETE FROM sessions WHERE user = ?", (name,))
        return new

    # --- sessions (stored by a keyed hash of the cookie, never the cookie itself) -------------
    def add_session(self, key: str, user: str, expires: float) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE expires < ?", (time.time(),))
            db.execute("INSERT INTO sessions (key, user, expires) VALUES (?, ?, ?)", (key, user, expires))

    def session_user(self, key: str) -> Optional[str]:
        with self._db() as db:
            row = db.execute("SELECT user FROM sessions WHERE key = ? AND expires > ?", (key, time.time())).fetchone()
        return row["user"] if row else None

    def end_session(self, key: str) -> None:
        with self._db() as db:
            db.execute("DELETE FROM sessions WHERE key = ?", (key,))

    # --- the inbox ----------------------------------------------------------------------------
    def reviewed_keys(self) -> Set[str]:
        with self._db() as db:
            return {row["key"] for row in db.execute("SELECT key FROM reviewed")}

    def mark_reviewed(self, key: str, text: str, verdict: str, intent: Optional[str], by: str) -> None:
        with self._db() as db:
            db.execute("INSERT OR REPLACE INTO reviewed (key, text, verdict, intent, by, at) VALUES (?, ?, ?, ?, ?, ?)",
                       (key, text, verdict, intent, by, time.time()))

    def recently_reviewed(self, limit: int = 20) -> List[Dict[str, Any]]:
        with self._db() as db:
            return [dict(r) for r in db.execute("SELECT * FROM reviewed ORDER BY at DESC LIMIT ?", (limit,))]

    # --- fact changes (the history, with undo) ------------------------------------------------
    def add_fact_change(self, field: str, old: Any, new: Any, by: str, undoes: Optional[int] = None) -> int:
        with self._db() as db:
            cur = db.execute("INSERT INTO fact_changes (field, old, new, by, at, undoes) VALUES (?, ?, ?, ?, ?, ?)",
                             (field, json.dumps(old), json.dumps(new), by, time.time(), undoes))
            if undoes is not None:
                db.execute("UPDATE fact_changes SET undone_by = ? WHERE id = ?", (cur.lastrowid, undoes))
            return int(cur.lastrowid)

    def fact_change(self, change_id: int) -> Optional[Dict[str, Any]]:
        with self._db() as db:
            row = db.execute("SELECT * FROM fact_changes WHERE id = ?", (change_id,)).fetchone()
        return _change(row) if row else None

    def fact_changes(self, limit: int = 100) -> List[Dict[str, Any]]:
        with self._db() as db:
            return [_change(r) for r in db.execute("SELECT * FROM fact_changes ORDER BY id DESC LIMIT ?", (limit,))]


def _change(row: sqlite3.Row) -> Dict[str, Any]:
    change = dict(row)
    change["old"], change["new"] = json.loads(change["old"]), json.loads(change["new"])
    change["when"] = datetime.datetime.fromtimestamp(change["at"]).strftime("%Y-%m-%d %H:%M")
    return change


class Audit:
    """Every change, who made it and when: one JSON object per line, only ever appended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, who: str, what: str, **details: Any) -> None:
        entry = {"at": datetime.datetime.now().astimezone().isoformat(timespec="seconds"), "who": who, "what": what, **details}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        logger.info("%s: %s %s", who, what, json.dumps(details, ensure_ascii=False))
