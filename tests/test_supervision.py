"""Supervision under the run command (scripts/serve.py): a server killed with `kill -9` comes back on
its own, and the conversation goes on in context (the tracker store keeps it). Run here with an
action server (ACTIONS_MODULE empty), so that it too can be killed."""
import os
import re
import signal
import time
from pathlib import Path
from typing import Iterator

import pytest

from scripts.assistant import Assistant
from tests.conftest import Facts, center_founded_reply, center_location_reply, unavailable_reply

# seconds until answers resume: the action server starts in a few seconds; the Rasa server loads the
# model again (about 30-45 s on a shared 2-core machine), so it gets more
ACTIONS_BACK_WITHIN = 30
RASA_BACK_WITHIN = 90


@pytest.fixture(scope="module")
def assistant(workdir: Path) -> Iterator[Assistant]:
    a = Assistant(workdir, UMB_FACTS_FILE=str(workdir / "facts.yml"), ACTIONS_MODULE="").start()
    yield a
    a.stop()


def server_pid(assistant: Assistant, name: str) -> int:
    """The pid of the server's current process, as the run command logged it."""
    pids = re.findall(rf"{name} (?:started|restarted) \(pid (\d+)", assistant.log.read_text())
    assert pids, assistant.log.read_text()[-2000:]
    return int(pids[-1])


def wait_for_reply(assistant: Assistant, sender: str, text: str, expected: str, within: float) -> float:
    """Seconds until `text` is answered with `expected` (asked once a second)."""
    start = time.monotonic()
    while time.monotonic() - start < within:
        try:
            if assistant.texts(sender, text) == [expected]:
                return time.monotonic() - start
        except Exception:  # the Rasa server is still starting
            pass
        time.sleep(1)
    pytest.fail(f"no answer within {within}s:\n{assistant.log.read_text()[-3000:]}")


def test_action_server_killed(assistant: Assistant, facts: Facts) -> None:
    sender = "supervised-actions"
    assistant.texts(sender, "tell me about the Euroregional center")
    pid = server_pid(assistant, "action server")
    os.kill(pid, signal.SIGKILL)
    time.sleep(0.3)
    # while it is down: the office's contact details, not silence
    assert assistant.texts(sender, "when was it founded?") == [unavailable_reply(facts)]
    # back on its own, and the conversation is still about the center
    wait_for_reply(assistant, sender, "where is it?", center_location_reply(facts), ACTIONS_BACK_WITHIN)
    log = assistant.log.read_text()
    assert f"action server died (pid {pid}, killed by signal SIGKILL)" in log
    assert server_pid(assistant, "action server") != pid
    assert "action server restarted" in log


def test_rasa_server_killed(assistant: Assistant, facts: Facts) -> None:
    sender = "supervised-rasa"
    assistant.texts(sender, "tell me about the Euroregional center")
    pid = server_pid(assistant, "Rasa server")
    os.kill(pid, signal.SIGKILL)
    # asked once a second while it starts again (all but the answer are refused: it is not listening)
    wait_for_reply(assistant, sender, "when was it founded?", center_founded_reply(facts), RASA_BACK_WITHIN)
    log = assistant.log.read_text()
    assert f"Rasa server died (pid {pid}, killed by signal SIGKILL)" in log
    assert "Rasa server restarted" in log
    assert assistant.proc.poll() is None  # the run command itself kept running


def test_sigterm_still_stops_everything(assistant: Assistant) -> None:
    pids = [server_pid(assistant, "action server"), server_pid(assistant, "Rasa server")]
    assistant.stop()
    assert assistant.proc.returncode == 0
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_server_that_cannot_start_stops_the_run_and_a_killed_one_is_restarted() -> None:
    """Supervised on its own, with small commands instead of the servers (seconds, no model)."""
    import importlib.util
    import sys

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("serve", ROOT / "scripts" / "serve.py")
    serve = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(serve)

    broken = serve.Supervised("broken", [sys.executable, "-c", "raise SystemExit(3)"])
    broken.start()
    broken.proc.wait()
    assert broken.check() is False  # a setting to fix: no restart loop

    sleeper = serve.Supervised("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
    sleeper.start()
    first = sleeper.proc.pid
    sleeper.proc.kill()
    sleeper.proc.wait()
    assert sleeper.check() is True and sleeper.restart_at is not None and sleeper.backoff == 2
    deadline = time.monotonic() + 5
    while sleeper.proc.pid == first and time.monotonic() < deadline:
        sleeper.check()
        time.sleep(0.1)
    assert sleeper.proc.pid != first and sleeper.proc.poll() is None and sleeper.restarts == 1
    sleeper.terminate()
    sleeper.wait()
    assert sleeper.proc.returncode == -signal.SIGTERM
