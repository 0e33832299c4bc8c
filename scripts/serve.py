"""Run the assistant: the action server and the Rasa server together, in the foreground.

Settings come from the environment, loaded from `.env` (see .env.example). Ctrl-C (or SIGTERM)
stops both; if either server dies, the other is stopped too and the exit code says so.
"""
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List

from dotenv import load_dotenv

from channels.settings import write_active_credentials

logger = logging.getLogger("serve")

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {
    "RASA_PORT": "5005",
    "ACTION_PORT": "5055",
    "RASA_MODEL": "models/current.tar.gz",
    "RASA_ENDPOINTS": "endpoints.yml",
    "RASA_CREDENTIALS": "credentials.yml",
    "TRACKER_DB": "build/tracker.db",
    # seconds Rasa waits for a custom action before answering with the office's contact details
    "ACTION_TIMEOUT": "10",
    # the stores of endpoints.scaled.yml (RASA_ENDPOINTS=endpoints.scaled.yml), see .env.example
    "PG_HOST": "127.0.0.1",
    "PG_PORT": "5432",
    "PG_DB": "umb_assistant",
    "PG_LOGIN_DB": "postgres",
    "PG_USER": "postgres",
    "PG_PASSWORD": "",
    "REDIS_HOST": "127.0.0.1",
    "REDIS_PORT": "6379",
    "REDIS_DB": "0",
    "REDIS_KEY_PREFIX": "umb",
}


def load_settings() -> None:
    """`.env` (or the file ENV_FILE names) first, then the defaults for whatever is still unset."""
    load_dotenv(os.environ.get("ENV_FILE") or ROOT / ".env")
    for key, value in DEFAULTS.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("ACTION_SERVER_URL", f"http://127.0.0.1:{os.environ['ACTION_PORT']}/webhook")
    # by default only the server's own pages (the web chat at /web/) may talk to it from a browser
    port = os.environ["RASA_PORT"]
    os.environ.setdefault("CORS_ORIGINS", f"http://localhost:{port} http://127.0.0.1:{port}")
    if not os.environ.get("ACTION_SERVER_TOKEN"):
        # both servers are started here, so a fresh shared secret per start is enough
        os.environ["ACTION_SERVER_TOKEN"] = secrets.token_urlsafe(32)


def api_args() -> List[str]:
    """Rasa's HTTP API (/model, /conversations/...) only behind RASA_AUTH_TOKEN; off without it."""
    token = os.environ.get("RASA_AUTH_TOKEN")
    if not token:
        logger.info("Rasa HTTP API off (set RASA_AUTH_TOKEN in .env to enable it behind that token)")
        return []
    return ["--enable-api", "--auth-token", token]


def commands() -> List[List[str]]:
    env = os.environ
    return [
        # loopback only, token required (actions/server.py)
        [sys.executable, "-m", "actions.server", "--port", env["ACTION_PORT"]],
        [
            # Rasa's `rasa run`, with the pinned version checked and the speed fixes and the action
            # timeout applied first (rasa_addons/server.py)
            sys.executable, "-m", "rasa_addons.server", "run",
            "--model", env["RASA_MODEL"],
            "--endpoints", env["RASA_ENDPOINTS"],
            "--credentials", env["RASA_CREDENTIALS"],
            "--interface", "127.0.0.1",
            "--port", env["RASA_PORT"],
            "--cors", *env["CORS_ORIGINS"].split(),
            *api_args(),
        ],
    ]


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    os.chdir(ROOT)
    load_settings()
    # only the messaging apps whose secrets are set (channels/settings.py); one file per port
    os.environ["RASA_CREDENTIALS"] = str(write_active_credentials(
        Path(os.environ["RASA_CREDENTIALS"]), ROOT / "build" / f"credentials.{os.environ['RASA_PORT']}.yml", os.environ
    ))
    procs = [subprocess.Popen(cmd) for cmd in commands()]
    logger.info("Action server on port %s, Rasa server on http://127.0.0.1:%s", os.environ["ACTION_PORT"], os.environ["RASA_PORT"])

    stopping = []

    def stop(signum: int, _frame: object) -> None:
        logger.info("Stopping (signal %s)", signum)
        stopping.append(signum)
        for p in procs:
            if p.poll() is None:
                p.terminate()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while all(p.poll() is None for p in procs):
        time.sleep(0.5)
    failed = [] if stopping else [p for p in procs if p.poll() is not None]
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
    if failed:
        logger.error("A server stopped unexpectedly: %s (exit code %s)", " ".join(failed[0].args[:3]), failed[0].returncode)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
