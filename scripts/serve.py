"""Run the assistant: the Rasa server (the custom actions inside it) and the staff console, in the foreground.

The custom actions run inside the Rasa server (ACTIONS_MODULE, rasa_addons/inprocess.py); with
ACTIONS_MODULE empty, an action server is started beside it and Rasa calls it, as in the scaled
setup. Settings come from the environment, loaded from `.env` (see .env.example). Ctrl-C (or SIGTERM)
stops them all: the console, the Rasa server, which finishes the requests it holds (up to GRACEFUL_TIMEOUT
seconds; they may still need the action server), then the action server. A server that dies (crash, `kill -9`, out of memory) is restarted on its own, after
1, 2, 4 ... up to 30 seconds (the wait starts again at 1 s once a server has run for 60 s); the log
says which one died, how (exit code or signal) and when it came back. A server that cannot start at
all (an error exit within a minute of the first start: a setting to fix) stops the run, exit code 1. While the action server is
down, Rasa answers with the office's contact details (utter_service_unavailable); conversations are
kept in the tracker store, so they go on in context after a restart.
"""
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import List, Optional

from dotenv import load_dotenv

from channels.settings import write_active_credentials
from rasa_addons import inprocess, logs
from rasa_addons.server import file_lock_store, redis_answers, with_lock_store, worker_plan

logger = logging.getLogger("serve")

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = {
    "RASA_PORT": "5005",
    # the package of custom actions the Rasa server runs itself (rasa_addons/inprocess.py); empty: an
    # action server is started on ACTION_PORT and Rasa calls it
    "ACTIONS_MODULE": inprocess.PACKAGE,
    "ACTION_PORT": "5055",
    "RASA_MODEL": "models/current.tar.gz",
    "RASA_ENDPOINTS": "endpoints.yml",
    "RASA_CREDENTIALS": "credentials.yml",
    "TRACKER_DB": "build/tracker.db",
    # seconds Rasa waits for a custom action before answering with the office's contact details
    "ACTION_TIMEOUT": "10",
    # seconds a stopping Rasa server finishes the requests it holds (rasa_addons/server.py)
    "GRACEFUL_TIMEOUT": "15",
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
    # worker processes of the Rasa server: auto = one per core, only with LOCK_STORE=redis (or a lock
    # store in the endpoints file); otherwise 1 (rasa_addons.server.worker_plan, docs/DEPLOY.md "Workers")
    "RASA_WORKERS": "auto",
    "LOCK_STORE": "memory",
    # the staff console (console/, docs/STAFF.md); 0: not started
    "STAFF_PORT": "5006",
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


def action_server_command() -> List[str]:
    """The action server (loopback only, token required: actions/server.py), started unless the
    endpoints file runs the custom actions inside the Rasa server."""
    return [sys.executable, "-m", "actions.server", "--port", os.environ["ACTION_PORT"]]


def rasa_command() -> List[str]:
    env = os.environ
    return [
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
    ]


def console_command() -> Optional[List[str]]:
    """The staff console (loopback unless STAFF_HOST says otherwise), or None when STAFF_PORT is 0."""
    if os.environ["STAFF_PORT"] in ("", "0"):
        return None
    return [sys.executable, "-m", "console", "--port", os.environ["STAFF_PORT"]]


def use_workers() -> None:
    """The Rasa server's worker processes (SANIC_WORKERS, which Rasa reads) by the rule of
    rasa_addons.server.worker_plan; with LOCK_STORE=redis and an endpoints file without a lock store,
    Rasa gets a copy of it with the Redis lock store added (build/endpoints.<port>.yml)."""
    endpoints = Path(os.environ["RASA_ENDPOINTS"])
    plan = worker_plan(os.environ, file_lock_store(endpoints), lambda: redis_answers(os.environ))
    if plan.add_lock_store:
        os.environ["RASA_ENDPOINTS"] = str(with_lock_store(endpoints, ROOT / "build" / f"endpoints.{os.environ['RASA_PORT']}.yml"))
    os.environ["SANIC_WORKERS"] = str(plan.workers)
    logger.info("Rasa server: %d worker process%s (%s)", plan.workers, "es" if plan.workers > 1 else "", plan.why)


BACKOFF_MAX = 30.0
# a server that has run this long is considered healthy again: the next restart waits 1 s
STABLE_AFTER = 60.0


def how(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"


class Supervised:
    """One server process, restarted with backoff when it dies."""

    def __init__(self, name: str, cmd: List[str], stop_timeout: float = 20.0) -> None:
        self.name, self.cmd, self.stop_timeout = name, cmd, stop_timeout
        self.proc: Optional[subprocess.Popen] = None
        self.started = 0.0
        self.backoff = 1.0
        self.restart_at: Optional[float] = None
        self.restarts = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd)
        self.started = time.monotonic()
        self.restart_at = None
        if self.restarts:
            logger.warning("%s restarted (pid %s, restart %d)", self.name, self.proc.pid, self.restarts)
        else:
            logger.info("%s started (pid %s)", self.name, self.proc.pid)

    def check(self) -> bool:
        """Called every half second: notice a death, restart when the backoff has passed. False when
        the server could not start at all (an error exit soon after the first start: a setting to
        fix, which restarting would only repeat)."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.restarts += 1
                self.start()
            return True
        if self.proc is None or self.proc.poll() is None:
            return True
        if self.restarts == 0 and self.proc.returncode > 0 and now - self.started < STABLE_AFTER:
            logger.error("%s could not start (%s): see the messages above", self.name, how(self.proc.returncode))
            return False
        if now - self.started >= STABLE_AFTER:
            self.backoff = 1.0
        logger.error("%s died (pid %s, %s); restarting in %.0f s", self.name, self.proc.pid, how(self.proc.returncode), self.backoff)
        self.restart_at = now + self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        return True

    def terminate(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()

    def wait(self) -> None:
        if not self.proc:
            return
        try:
            self.proc.wait(timeout=self.stop_timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def main() -> int:
    os.chdir(ROOT)
    load_settings()
    log_format = logs.configure()
    if log_format is None:
        return 1
    if log_format == "json":
        # TensorFlow's native info lines are printed, not logged: off, as in the image
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # only the messaging apps whose secrets are set (channels/settings.py); one file per port
    os.environ["RASA_CREDENTIALS"] = str(write_active_credentials(
        Path(os.environ["RASA_CREDENTIALS"]), ROOT / "build" / f"credentials.{os.environ['RASA_PORT']}.yml", os.environ
    ))
    try:
        use_workers()
    except ValueError as e:
        logger.error("%s", e)
        return 1
    # a stopping Rasa server may take GRACEFUL_TIMEOUT to finish its requests: killed only after that
    stop_timeout = float(os.environ["GRACEFUL_TIMEOUT"]) + float(os.environ.get("STOP_NOTICE") or 0) + 5
    # the action server (if any) first and stopped last: the requests a stopping Rasa server finishes may call it
    in_process = inprocess.configured(Path(os.environ["RASA_ENDPOINTS"]))
    servers = [] if in_process else [Supervised("action server", action_server_command(), stop_timeout)]
    servers.append(Supervised("Rasa server", rasa_command(), stop_timeout))
    if console_command():
        servers.append(Supervised("staff console", console_command()))
    stopping: List[int] = []

    def stop(signum: int, _frame: object) -> None:
        logger.info("Stopping (signal %s)", signum)
        stopping.append(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    for server in servers:
        server.start()
    logger.info("Rasa server on http://127.0.0.1:%s; custom actions %s", os.environ["RASA_PORT"],
                f"inside it ({in_process})" if in_process else f"in an action server on port {os.environ['ACTION_PORT']}")
    failed = False
    while not stopping and not failed:
        failed = not all([server.check() for server in servers])
        time.sleep(0.5)
    for server in reversed(servers):
        server.terminate()
        server.wait()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
