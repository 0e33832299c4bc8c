"""Start the real assistant (scripts/serve.py: action server + Rasa server) for HTTP tests."""
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

import requests

from tests.conftest import ROOT


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Assistant:
    """Both servers on free ports, with their own tracker database and facts file."""

    def __init__(self, workdir: Path, **env: str) -> None:
        self.rasa_port, self.action_port = free_port(), free_port()
        self.log = workdir / "servers.log"
        self.env = {
            **os.environ,
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
        log = open(self.log, "a")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "serve.py")],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"servers exited early:\n{self.log.read_text()[-3000:]}"
            try:
                if requests.get(self.url, timeout=2).ok and requests.get(
                    f"http://127.0.0.1:{self.action_port}/health", timeout=2
                ).ok:
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.5)
        self.stop()
        raise AssertionError(f"servers not ready after {timeout}s:\n{self.log.read_text()[-3000:]}")

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


def with_env_file(workdir: Path, env_text: str) -> Assistant:
    """An assistant whose messaging-app secrets come only from `env_text`, written as its .env:
    none of the machine's own secrets are passed on."""
    from channels.settings import FORMATS

    (workdir / ".env").write_text(env_text)
    assistant = Assistant(workdir, ENV_FILE=str(workdir / ".env"))
    for variable in FORMATS:
        assistant.env.pop(variable, None)
    return assistant
