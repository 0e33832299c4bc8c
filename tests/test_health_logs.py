"""The readiness checks (rasa_addons/health.py) and the log format (rasa_addons/logs.py) on their own,
in milliseconds: stand-in stores and a closed port instead of servers. The running servers are
tested in tests/test_scale_out.py (readiness, JSON logs, the stop)."""
import asyncio
import json
import logging
import os
import subprocess
import sys
import threading
import time
from types import SimpleNamespace
from typing import Any, Dict, List

import pytest

from rasa_addons import health, logs
from scripts.assistant import free_port


class Store:
    """A Redis-like store whose ping blocks until released, counting the calls."""

    def __init__(self) -> None:
        self.calls, self.release = 0, threading.Event()
        self.red = self

    def ping(self) -> None:
        self.calls += 1
        self.release.wait(5)


def agent(lock_store: Any, action_url: str) -> Any:
    return SimpleNamespace(is_ready=lambda: True, action_endpoint=SimpleNamespace(url=action_url, kwargs={}),
                           tracker_store=SimpleNamespace(), lock_store=lock_store)


def test_health_url_is_beside_the_webhook() -> None:
    assert health.health_url("http://actions:5055/webhook") == "http://actions:5055/health"
    assert health.health_url("http://127.0.0.1:5055/webhook/") == "http://127.0.0.1:5055/health"


def test_no_model_is_not_ready_and_a_stopping_server_says_so() -> None:
    readiness = health.Readiness()
    assert asyncio.run(readiness.states(None, stopping=False)) == {"server": "ok", "model": "not loaded"}
    assert asyncio.run(readiness.states(None, stopping=True))["server"] == "stopping"


def test_custom_actions_in_process_are_checked_instead_of_an_action_server(caplog) -> None:
    from rasa.utils.endpoints import EndpointConfig

    def ready(module: str) -> Dict[str, str]:
        return asyncio.run(health.Readiness().states(SimpleNamespace(
            is_ready=lambda: True, action_endpoint=EndpointConfig(url="http://unused/webhook", actions_module=module),
            tracker_store=SimpleNamespace(), lock_store=SimpleNamespace()), stopping=False))

    assert ready("actions") == {"server": "ok", "model": "ok", "actions": "ok"}
    assert ready("no_such_actions") == {"server": "ok", "model": "ok", "actions": "down"}
    assert "Readiness: actions down (RuntimeError: actions_module 'no_such_actions' does not import" in caplog.text


def test_a_down_service_and_a_hung_store_answer_within_the_timeout(caplog) -> None:
    """An in-memory tracker store has no check; the hung lock store is 'timeout' after 0.3 s, and a
    second probe waits for the same check instead of starting another one."""
    store = Store()
    readiness = health.Readiness(timeout=0.3)
    closed = f"http://127.0.0.1:{free_port()}/webhook"

    async def twice() -> List[Any]:
        started = time.monotonic()
        try:
            states = [await readiness.states(agent(store, closed), stopping=False) for _ in range(2)]
            return [*states, time.monotonic() - started]
        finally:
            store.release.set()  # lets the hung check's thread end

    first, second, seconds = asyncio.run(twice())
    assert seconds < 2
    assert first == second == {"server": "ok", "model": "ok", "action_server": "down", "lock_store": "timeout"}
    assert store.calls == 1
    assert caplog.text.count("Readiness: lock_store timeout") == 1  # logged once per change
    assert "127.0.0.1" not in json.dumps(first)


def test_json_lines_carry_the_fields_and_a_traceback_stays_on_one_line() -> None:
    formatter = logs.JsonFormatter()
    record = logging.LogRecord("rasa_addons.messages", logging.INFO, __file__, 1, "message %s", ("x",), None)
    record.fields = {"sender": "abc", "latency_ms": 12.5}
    entry = json.loads(formatter.format(record))
    assert entry["message"] == "message x" and entry["sender"] == "abc" and entry["latency_ms"] == 12.5
    assert {"time", "level", "logger"} <= set(entry)
    try:
        raise ValueError("broken\nacross lines")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    line = formatter.format(record)
    assert "\n" not in line and "ValueError" in json.loads(line)["exception"]


def test_pseudonym_is_keyed_and_stable_and_a_typo_in_the_format_is_refused() -> None:
    keyed = logs.pseudonymizer({"LOG_PSEUDONYM_KEY": "k"})
    assert keyed("user-1") == keyed("user-1") == logs.pseudonym(b"k", "user-1")
    assert keyed("user-1") != logs.pseudonymizer({"LOG_PSEUDONYM_KEY": "other"})("user-1")
    assert "user-1" not in keyed("user-1") and len(keyed("user-1")) == 16
    unkeyed = logs.pseudonymizer({})  # a random key per start
    assert unkeyed("user-1") != logs.pseudonymizer({})("user-1")
    assert logs.log_format({}) == "plain" and logs.log_format({"LOG_FORMAT": "JSON"}) == "json"
    with pytest.raises(ValueError, match="LOG_FORMAT must be one of plain, json"):
        logs.log_format({"LOG_FORMAT": "jsno"})


def test_a_wrong_log_format_is_named_and_every_server_refuses_to_start(caplog) -> None:
    assert logs.configure({"LOG_FORMAT": "jsno"}) is None
    assert "LOG_FORMAT must be one of plain, json, not 'jsno'" in caplog.text
    for module in ("rasa_addons.server", "actions.server", "console"):
        done = subprocess.run([sys.executable, "-m", module, *(["run"] if module == "rasa_addons.server" else [])],
                              env={**os.environ, "LOG_FORMAT": "jsno"}, capture_output=True, text=True, timeout=120)
        assert done.returncode != 0 and "LOG_FORMAT must be one of plain, json" in done.stderr, module
