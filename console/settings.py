"""The console's settings, from the environment (`.env`, see .env.example), with their defaults."""
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import List, Mapping, Optional

from dotenv import load_dotenv

from channels.limits import Network, parse_proxies
from staff.train import rasa_urls

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
MIN_SECRET = 32


def load_env() -> None:
    """`.env` (or the file ENV_FILE names), as the other tools read it; set variables win."""
    load_dotenv(os.environ.get("ENV_FILE") or ROOT / ".env")


def _path(env: Mapping[str, str], name: str, default: str) -> Path:
    path = Path(env.get(name) or default)
    return path if path.is_absolute() else ROOT / path


@dataclass
class Settings:
    host: str
    port: int
    db: Path
    audit_log: Path
    facts: Path
    nlu_dir: Path
    domain: Path
    git_commits: bool
    secure_cookies: bool
    session_hours: float
    login_limit: int
    login_window: float
    inbox_days: float
    min_confidence: float
    proxies: List[Network]
    rasa_url: str
    rasa_token: Optional[str]
    rasa_urls: List[str]  # every Rasa server the switch reaches (RASA_URLS; default: rasa_url alone)
    secret: str = ""  # session_secret(), read only by the console itself

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> "Settings":
        """Raises ValueError (saying which setting and why) for a setting that cannot be used."""
        return cls(
            host=env.get("STAFF_HOST") or "127.0.0.1",
            port=int(env.get("STAFF_PORT") or 5006),
            db=_path(env, "STAFF_DB", "build/staff.db"),
            audit_log=_path(env, "STAFF_AUDIT_LOG", "build/staff-audit.log"),
            facts=_path(env, "UMB_FACTS_FILE", "data/facts.yml"),
            nlu_dir=_path(env, "STAFF_NLU_DIR", "data/nlu"),
            domain=_path(env, "STAFF_DOMAIN", "domain.yml"),
            git_commits=(env.get("STAFF_GIT_COMMITS") or "true").lower() in ("1", "true", "yes"),
            secure_cookies=(env.get("STAFF_SECURE_COOKIES") or "false").lower() in ("1", "true", "yes"),
            session_hours=float(env.get("STAFF_SESSION_HOURS") or 8),
            login_limit=int(env.get("STAFF_LOGIN_LIMIT") or 5),
            login_window=float(env.get("STAFF_LOGIN_WINDOW") or 900),
            inbox_days=float(env.get("STAFF_INBOX_DAYS") or 30),
            min_confidence=float(env.get("STAFF_MIN_CONFIDENCE") or 0.5),
            proxies=parse_proxies(env.get("TRUSTED_PROXIES") or ""),
            rasa_url=env.get("RASA_URL") or f"http://127.0.0.1:{env.get('RASA_PORT') or 5005}",
            rasa_token=env.get("RASA_AUTH_TOKEN") or None,
            rasa_urls=rasa_urls(env),
        )


def session_secret(env: Mapping[str, str] = os.environ) -> str:
    """STAFF_SESSION_SECRET from .env; unset: a random one for this start (logged), too short: ValueError."""
    secret = env.get("STAFF_SESSION_SECRET") or ""
    if not secret:
        # the console works, but every restart signs everyone out
        logger.warning("STAFF_SESSION_SECRET is not set in .env: using a random secret for this start only, "
                       "so staff must sign in again after every restart. Set it to a long random string "
                       "(python -c 'import secrets; print(secrets.token_urlsafe(32))').")
        return secrets.token_urlsafe(32)
    if len(secret) < MIN_SECRET:
        raise ValueError(f"STAFF_SESSION_SECRET must have at least {MIN_SECRET} characters "
                         "(python -c 'import secrets; print(secrets.token_urlsafe(32))').")
    return secret
