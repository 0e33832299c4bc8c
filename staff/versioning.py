"""A change saved by the staff console as a git commit of that one file, authored by the staff member.

When the project is a git checkout, every fact, example or wording saved in the console becomes a
commit (author: the staff member's account; committer: the console), so nothing is lost at the next
deploy and developers review the changes like any other. Only the changed file is committed (`git
commit --only -- FILE`): whatever else is staged or edited in the checkout stays as it was. Outside a
git checkout (a deployment from an image or an archive) nothing happens: the audit log still
records every change.
"""
import logging
import os
import subprocess
from pathlib import Path
from typing import List, Optional

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
