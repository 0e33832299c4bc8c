"""Signing in: argon2 password hashes, sessions, CSRF tokens, and the sign-in throttle.

A session is a random token in an HttpOnly, SameSite=Strict cookie; the database keeps only a keyed
hash of it (HMAC with the session secret), so neither a copy of the database nor a change of the
secret gives anyone a live session. The CSRF token of a form is derived from the session's token
with the same secret, so it needs no storage and is worthless without that session.
"""
import hashlib
import hmac
import secrets
import time
from collections import defaultdict, deque
from typing import Callable, Deque, Dict, Iterable, Optional

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

HASHER = PasswordHasher()  # argon2id with the library's current parameters (RFC 9106 low-memory)
# verified when the account does not exist, so that an unknown name takes as long as a wrong password
# (the hash of a random password nobody knows)
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=4$3FHk8y22GBtWE6I4lBjSgA$CjbOq+9Ag6FUjzyWqrsIG74Mx4zeKtXLrHTggQhmsx8"
MIN_PASSWORD = 10


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def check_password(stored: Optional[str], password: str) -> bool:
    """Whether `password` matches the stored hash (None: no such account, still costs a verify)."""
    try:
        return HASHER.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_problem(password: str) -> Optional[str]:
    if len(password) < MIN_PASSWORD:
        return f"the password must have at least {MIN_PASSWORD} characters."
    return None


def new_token() -> str:
    return secrets.token_urlsafe(32)


def keyed(secret: str, purpose: str, token: str) -> str:
    """HMAC-SHA256 of `token` for one purpose ("session", "csrf", "signin")."""
    return hmac.new(secret.encode(), f"{purpose}:{token}".encode(), hashlib.sha256).hexdigest()


def same(a: Optional[str], b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


class Throttle:
    """At most `limit` failed sign-ins per key (an account, an address) within `window` seconds;
    after that the key waits until its oldest failure leaves the window."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: Dict[str, Deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> Deque[float]:
        failures = self._failures[key]
        while failures and failures[0] <= self.clock() - self.window:
            failures.popleft()
        return failures

    def wait(self, key: str, limit: Optional[int] = None) -> float:
        """Seconds until `key` may try again (0: now)."""
        failures = self._recent(key)
        if len(failures) < (limit or self.limit):
            return 0.0
        return failures[-(limit or self.limit)] + self.window - self.clock()

    def fail(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._recent(key).append(self.clock())

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)
