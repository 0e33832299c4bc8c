"""The whole assistant in the background: the run command (scripts/serve.py) on free ports.

For what needs a real, running assistant and then stops it: the HTTP tests (tests/), the benchmark
(bench/run.py) and the soak (scripts/soak.py). Each instance has its own ports and tracker database.
"""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Assistant:
    """The assistant on free ports (an action server too, with ACTIONS_MODULE empty), with its own
    tracker database; `env` overrides any setting.
    Rate limits are high and the Rasa server has one worker unless set (see RATE_LIMIT_* and
    RASA_WORKERS in .env.example). `root` is the project directory to run: this one, or a copy of
    it (a deployment checkout whose files the staff console changes and retrains from)."""

    def __init__(self, workdir: Path, root: Path = ROOT, **env: str) -> None:
        self.root = root
        self.rasa_port, self.action_port = free_port(), free_port()
        self.log = workdir / "servers.log"
        self.env = {
            # the tests, bench and soak send far more from one address than a person types:
            # rate limits high unless the environment or `env` sets them (tests/test_limits.py)
            "RATE_LIMIT_MESSAGES": "100000",
            "RATE_LIMIT_BURST": "100000",
            "RATE_LIMIT_CONNECTIONS": "100000",
            # one worker process unless asked (tests/test_workers.py, the benchmark): two would double
            # every start's memory, and socket.io's long-polling (the tests' transport) needs one process
            "RASA_WORKERS": "1",
            **os.environ,
            "STAFF_PORT": "0",  # no staff console unless asked for (tests/test_console.py)
            "RASA_PORT": str(self.rasa_port),
            "ACTION_PORT": str(self.action_port),
            "TRACKER_DB": str(workdir / "tracker.db"),
            **env,
        }
        self.proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def start(self, timeout: float = 180) -> "Assistant":
        """Start the servers and wait until they answer; the log says why when they do not."""
        log = open(self.log, "a")
        self.proc = subprocess.Popen(
            [sys.executable, str(self.root / "scripts" / "serve.py")],
            cwd=self.root, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"servers exited early:\n{self.log.read_text()[-3000:]}")
            try:
                # the model loaded (/health/ready says so even when a test keeps the action server
                # away on purpose) and the custom actions loaded in it, or the action server answers
                checks = requests.get(f"{self.url}/health/ready", timeout=5).json().get("checks", {})
                if checks.get("model") == "ok" and (checks.get("actions") == "ok" or self._action_server_answers()):
                    return self
            except (requests.ConnectionError, requests.Timeout, ValueError):
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"servers not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

    def _action_server_answers(self) -> bool:
        try:
            return requests.get(f"http://127.0.0.1:{self.action_port}/health", timeout=2).ok
        except (requests.ConnectionError, requests.Timeout):
            return False

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def say(self, sender: str, text: str) -> List[Dict]:
        """POST one message to the REST channel; the bot's messages."""
        r = requests.post(f"{self.url}/webhooks/rest/webhook", json={"sender": sender, "message": text}, timeout=30)
        r.raise_for_status()
        return r.json()

    def texts(self, sender: str, text: str) -> List[str]:
        return [m.get("text", "") for m in self.say(sender, text)]
