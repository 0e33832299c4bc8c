"""A change saved by the staff console as a git commit of that one file, authored by the staff member.

When the project is a git checkout, every fact, example or wording saved in the console becomes a
commit (author: the staff member's account; committer: the console), so nothing is lost at the next
deploy and developers review the changes like any other. Only the changed file is committed (`git
commit --only -- FILE`): whatever else is staged or edited in the checkout stays as it was. Outside a
git checkout (a deployment from an image or an archive) no commit is made; either way each change is
also kept as a patch (a unified diff made at save time, paths as in the repository, e.g.
`data/facts.yml`), which the console offers for download: a developer applies it to the repository
with `git am`, `git apply` or `patch -p1`, so a change made where there is no git is not lost either.
"""
import datetime
import difflib
import email.utils
import logging
import os
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path
from typing import Any, Dict, List, Optional

logger = logging.getLogger(__name__)

COMMITTER = ("UMB staff console", "staff-console@localhost")
TIMEOUT = 30  # seconds for one git command


def _git(cwd: Path, args: List[str], env: Optional[dict] = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def author_of(account: str) -> str:
    """`Name <e-mail>` for git: the account's name, and the account itself as address when it is one."""
    return f"{account} <{account if '@' in account else account + '@staff-console'}>"


def commit_file(path: Path, account: str, message: str) -> Optional[str]:
    """Commit `path` alone as `account`'s change; the commit's id, or None when `path` is not in a git
    checkout, git is missing, or the commit failed (logged: the change itself is saved either way)."""
    folder = path.resolve().parent
    try:
        inside = _git(folder, ["rev-parse", "--is-inside-work-tree"])
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        env = {**os.environ, "GIT_COMMITTER_NAME": COMMITTER[0], "GIT_COMMITTER_EMAIL": COMMITTER[1]}
        added = _git(folder, ["add", "--", path.name], env)  # a new file must be known to git first
        done = added if added.returncode else _git(
            folder, ["-c", "commit.gpgsign=false", "commit", "--no-verify", "--quiet", "--only", f"--author={author_of(account)}",
                     "-m", message, "--", path.name], env)
        if done.returncode != 0:
            logger.warning("Saved, but not committed to git (%s): %s", path.name, (done.stderr or done.stdout).strip()[:300])
            return None
        return _git(folder, ["rev-parse", "--short", "HEAD"]).stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired) as e:
        logger.warning("Saved, but not committed to git (%s): %s", path.name, e)
        return None


def patch_of(before: Optional[str], after: str, name: str, account: str, message: str, when: datetime.datetime) -> str:
    """`before` -> `after` of the repository's file `name` as a patch in the form of `git format-patch`
    (author, date and message first, so `git am` makes it a commit by `account`; `git apply` and
    `patch -p1` skip that header). `before` None: a new file."""
    old, new = (before or "").splitlines(keepends=True), after.splitlines(keepends=True)
    lines = difflib.unified_diff(old, new, "/dev/null" if before is None else f"a/{name}", f"b/{name}")
    # a last line without its newline must say so, or the diff would join it to the next line
    body = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
    return (f"From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n"
            f"From: {author_of(account)}\nDate: {email.utils.format_datetime(when)}\nSubject: [PATCH] {message}\n\n---\n"
            f"diff --git a/{name} b/{name}\n{'new file mode 100644' + chr(10) if before is None else ''}{body}")


class Changes:
    """The patch of every change saved in the console, in the staff database (STAFF_DB), oldest first:
    what the Changes page lists and serves."""

    def __init__(self, db: Path) -> None:
        self.db = db
        with closing(self._connect()) as conn, conn:
            conn.execute("CREATE TABLE IF NOT EXISTS changes (id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, "
                         "by TEXT NOT NULL, what TEXT NOT NULL, file TEXT NOT NULL, patch TEXT NOT NULL, git_commit TEXT)")

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.db, timeout=10)
        conn.row_factory = sqlite3.Row
        return conn

    def add(self, before: Optional[str], after: str, name: str, account: str, message: str) -> int:
        """Keep the patch of one saved file; its id."""
        at = time.time()
        patch = patch_of(before, after, name, account, message, datetime.datetime.fromtimestamp(at).astimezone())
        with closing(self._connect()) as conn, conn:
            return int(conn.execute("INSERT INTO changes (at, by, what, file, patch) VALUES (?, ?, ?, ?, ?)",
                                    (at, account, message, name, patch)).lastrowid)

    def set_commit(self, change_id: int, commit: str) -> None:
        with closing(self._connect()) as conn, conn:
            conn.execute("UPDATE changes SET git_commit = ? WHERE id = ?", (commit, change_id))

    def listed(self, since: float = 0.0, change_id: Optional[int] = None) -> List[Dict[str, Any]]:
        """The changes saved from `since` (Unix time) on, or the one `change_id`; oldest first."""
        query, args = ("id = ?", (change_id,)) if change_id is not None else ("at >= ?", (since,))
        with closing(self._connect()) as conn:
            rows = conn.execute(f"SELECT * FROM changes WHERE {query} ORDER BY id", args).fetchall()
        return [{**dict(row), "when": datetime.datetime.fromtimestamp(row["at"]).strftime("%Y-%m-%d %H:%M")} for row in rows]
