"""`make staff-user NAME=...`: create a staff account of the console, or give it a new password.

The password is asked at the prompt (twice, not echoed), never taken from the command line (it
would stay in the shell's history and be visible to other users in the process list), and only its
argon2 hash is stored (STAFF_DB).

Usage: python -m console.users NAME
"""
import argparse
import getpass
import logging
import re
import sys
from typing import List, Optional

from console.auth import hash_password, password_problem
from console.settings import Settings, load_env
from console.store import Audit, Store

logger = logging.getLogger("console.users")

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


def add_user(settings: Settings, name: str, password: str, by: str) -> bool:
    """Create the account (or set its password); True when it is new. Raises ValueError if refused."""
    if not NAME.fullmatch(name):
        raise ValueError("a name is letters, digits and . _ @ - (at most 64), e.g. anna.nowak")
    problem = password_problem(password)
    if problem:
        raise ValueError(problem)
    new = Store(settings.db).set_user(name, hash_password(password))
    Audit(settings.audit_log).record(by, "account created" if new else "password changed", account=name)
    return new


def main(argv: Optional[List[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the staff member's sign-in name, e.g. anna.nowak")
    args = parser.parse_args(argv)
    load_env()
    settings = Settings.from_env()
    password = getpass.getpass(f"Password for {args.name} (at least 10 characters): ")
    if password != getpass.getpass("The same password again: "):
        logger.error("The two passwords differ; nothing was changed.")
        return 1
    try:
        new = add_user(settings, args.name, password, by=f"{getpass.getuser()} (terminal)")
    except ValueError as e:
        logger.error("Refused: %s", e)
        return 1
    logger.info("%s %s; sign in at http://%s:%s/", "Account created:" if new else "New password set for", args.name,
                settings.host, settings.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
