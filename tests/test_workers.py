"""Both cores: how many worker processes `make run` starts (rasa_addons.server.worker_plan), and one
real assistant with 2 workers on SQLite and Redis's lock store (LOCK_STORE=redis, as `make run`).

The rule is tested on its own in milliseconds. The server (one start, about 20 s) shows that a
conversation goes on in context when its follow-up is answered by the other worker (each turn is
sent while the other worker is paused with SIGSTOP, so the kernel gives the connection to the one
left), that readiness and the rate limits work across workers, that a worker that dies is replaced
while the other serves, and that a stop leaves no worker behind.
"""
import json
import os
import re
import shutil
import signal
import sqlite3
import time
import uuid
from pathlib import Path
from typing import Any, Iterator, List, Optional

import pytest
import redis
import requests

from channels.limits import Limits, workers
from rasa_addons.gc_freeze import CHECK_SECONDS
from rasa_addons.server import REDIS_LOCK_STORE, file_lock_store, with_lock_store, worker_plan
from scripts.assistant import Assistant
from tests.conftest import ROOT, Facts, phone_reply, redis_prefix


# --- the rule -------------------------------------------------------------------------------------

def plan(env: dict, in_file: Any = None, redis_up: bool = True, cpus: int = 2) -> Any:
    asked: List[bool] = []

    def answers() -> bool:
        asked.append(True)
        return redis_up

    result = worker_plan(env, in_file, answers, cpu_count=cpus)
    result.asked_redis = bool(asked)
    return result


def test_without_redis_one_worker_whatever_is_asked() -> None:
    for env in ({}, {"RASA_WORKERS": "auto"}, {"RASA_WORKERS": "4"}, {"LOCK_STORE": "memory", "RASA_WORKERS": "2"}):
        p = plan(env)
        assert (p.workers, p.add_lock_store, p.asked_redis) == (1, False, False), env
    assert "needs LOCK_STORE=redis" in plan({"RASA_WORKERS": "4"}).why


def test_lock_store_redis_gives_one_worker_per_core_or_the_number_asked() -> None:
    assert (plan({"LOCK_STORE": "redis"}).workers, plan({"LOCK_STORE": "redis"}).add_lock_store) == (2, True)
    assert plan({"LOCK_STORE": "redis"}, cpus=8).workers == 8
    assert plan({"LOCK_STORE": "Redis", "RASA_WORKERS": "3"}).workers == 3
    assert plan({"LOCK_STORE": "redis", "RASA_WORKERS": "1"}).workers == 1


def test_redis_not_answering_falls_back_to_one_worker_without_lock_store() -> None:
    p = plan({"LOCK_STORE": "redis", "RASA_WORKERS": "2"}, redis_up=False)
    assert (p.workers, p.add_lock_store, p.asked_redis) == (1, False, True)
    assert "does not answer" in p.why


def test_a_lock_store_in_the_endpoints_file_counts_as_redis() -> None:
    """endpoints.scaled.yml: its lock store is used as it is (nothing added, Redis not asked here:
    the scaled setup needs it anyway and readiness says when it is down)."""
    assert file_lock_store(ROOT / "endpoints.scaled.yml") == "rasa_addons.stores.AtomicRedisLockStore"
    assert file_lock_store(ROOT / "endpoints.yml") is None
    p = plan({}, in_file="rasa_addons.stores.AtomicRedisLockStore")
    assert (p.workers, p.add_lock_store, p.asked_redis) == (2, False, False)


def test_bad_settings_are_named() -> None:
    for env, name in (({"RASA_WORKERS": "two"}, "RASA_WORKERS"), ({"RASA_WORKERS": "0"}, "RASA_WORKERS"),
                      ({"LOCK_STORE": "postgres"}, "LOCK_STORE")):
        with pytest.raises(ValueError, match=name):
            plan(env)


def test_the_written_endpoints_are_the_file_plus_the_redis_lock_store(tmp_path: Path, monkeypatch: Any) -> None:
    from rasa.core.utils import number_of_sanic_workers
    from rasa.utils.endpoints import read_endpoint_config

    out = with_lock_store(ROOT / "endpoints.yml", tmp_path / "endpoints.yml")
    assert out.read_text().startswith((ROOT / "endpoints.yml").read_text().rstrip("\n"))
    assert out.read_text().endswith(REDIS_LOCK_STORE) and file_lock_store(out) == "rasa_addons.stores.AtomicRedisLockStore"
    for name, value in {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379", "REDIS_DB": "0", "REDIS_KEY_PREFIX": "umb",
                        "ACTIONS_MODULE": "actions", "ACTION_SERVER_URL": "http://127.0.0.1:5055/webhook", "ACTION_SERVER_TOKEN": "t",
                        "TRACKER_DB": str(tmp_path / "tracker.db"), "SANIC_WORKERS": "2"}.items():
        monkeypatch.setenv(name, value)
    # Rasa's own rule then allows the workers
    assert number_of_sanic_workers(read_endpoint_config(str(out), "lock_store")) == 2
    assert number_of_sanic_workers(read_endpoint_config(str(ROOT / "endpoints.yml"), "lock_store")) == 1


def test_rate_limit_counters_know_the_workers() -> None:
    assert [workers(env) for env in ({}, {"SANIC_WORKERS": "2"}, {"SANIC_WORKERS": "x"})] == [1, 2, 1]
    assert Limits({"SANIC_WORKERS": "2"}).store_kind == "auto"  # auto: Redis with several workers


# --- one real server with 2 workers ---------------------------------------------------------------

prefix = pytest.fixture(name="prefix", scope="module")(redis_prefix)
TOKEN = "workers-token-" + "z" * 20


@pytest.fixture(scope="module")
def two(tmp_path_factory, prefix: str) -> Iterator[Assistant]:
    a = Assistant(tmp_path_factory.mktemp("workers"), LOCK_STORE="redis", RASA_WORKERS="2", REDIS_KEY_PREFIX=prefix,
                  RATE_LIMIT_MESSAGES="3", RATE_LIMIT_BURST="3", TRUSTED_PROXIES="127.0.0.1", RASA_AUTH_TOKEN=TOKEN)
    a.start()
    deadline = time.monotonic() + 120
    while a.log.read_text().count("Rasa server up: model loaded") < 2:  # the second may still be loading
        assert time.monotonic() < deadline, a.log.read_text()[-3000:]
        time.sleep(0.5)
    yield a
    a.stop()


def worker_pids(a: Assistant) -> List[int]:
    found = re.findall(r"Serving with 2 worker processes \(pids (\d+) (\d+)\)", a.log.read_text())
    assert found, a.log.read_text()[-3000:]
    return [int(pid) for pid in found[-1]]


def say(a: Assistant, sender: str, text: str, client: str) -> requests.Response:
    """One message on a new connection (requests opens one per call), from `client` by the proxy."""
    return requests.post(f"{a.url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                         headers={"X-Forwarded-For": client}, timeout=30)


def test_two_workers_serve_on_the_redis_lock_store(two: Assistant) -> None:
    log = two.log.read_text()
    assert "Rasa server: 2 worker processes (LOCK_STORE=redis: Redis lock store added; RASA_WORKERS=2)" in log
    assert "Rasa server up: model loaded" in log and log.count("Rasa server up: model loaded") == 2
    ready = requests.get(f"{two.url}/health/ready", timeout=10)
    assert ready.status_code == 200 and ready.json()["checks"]["lock_store"] == "ok"
    assert "database is locked" not in log and "Could not create tables" not in log


def test_a_follow_up_answered_by_the_other_worker_is_in_context(two: Assistant, facts: Facts) -> None:
    first, second = worker_pids(two)
    sender = f"workers-{uuid.uuid4().hex}"
    os.kill(first, signal.SIGSTOP)  # only the second takes connections
    try:
        topic = say(two, sender, "tell me about the Euroregional Medical Center", "198.18.1.1")
    finally:
        os.kill(first, signal.SIGCONT)
    os.kill(second, signal.SIGSTOP)  # now only the first
    try:
        follow_up = say(two, sender, "when was it founded?", "198.18.1.1")
        contact = say(two, sender, "what is your phone number?", "198.18.1.1")
    finally:
        os.kill(second, signal.SIGCONT)
    assert topic.status_code == follow_up.status_code == contact.status_code == 200
    about = " ".join(m.get("text", "") for m in follow_up.json())
    # in context: the founding of the center, not "I did not understand" nor a question back
    assert str(facts.euroregional_center.founded) in about, about
    assert [m.get("text") for m in contact.json()] == [phone_reply(facts)]
    # both workers wrote the one conversation in the SQLite file, each turn once, in order
    with sqlite3.connect(two.env["TRACKER_DB"]) as db:
        said = [json.loads(data)["text"] for (data,) in db.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'user' ORDER BY id", (sender,))]
    assert said == ["tell me about the Euroregional Medical Center", "when was it founded?", "what is your phone number?"]


def test_the_rate_limit_counts_across_workers(two: Assistant, prefix: str) -> None:
    """3 messages a minute per address: the 4th is refused whichever worker takes it, and the
    counter is in Redis."""
    first, second = worker_pids(two)
    codes = []
    for pause in (first, second, first, second):
        os.kill(pause, signal.SIGSTOP)
        try:
            codes.append(say(two, uuid.uuid4().hex, "hello", "198.18.2.2").status_code)
        finally:
            os.kill(pause, signal.SIGCONT)
    assert codes == [200, 200, 200, 429]
    assert redis.Redis(host="127.0.0.1", port=6379).exists(f"{prefix}:ratelimit:message:198.18.2.2")


def model_of_each_worker(a: Assistant) -> List[str]:
    """The model file each worker answers with (Rasa's GET /status, asked of one while the other is paused)."""
    pids, models = worker_pids(a), []
    for serving, paused in (pids, pids[::-1]):
        os.kill(paused, signal.SIGSTOP)
        try:
            models.append(requests.get(f"{a.url}/status", params={"token": TOKEN}, timeout=30).json()["model_file"])
        finally:
            os.kill(paused, signal.SIGCONT)
    return models


def test_a_model_switch_reaches_both_workers(two: Assistant, tmp_path: Path, facts: Facts) -> None:
    """Rasa's PUT /model is taken by one worker; the other follows it (rasa_addons.model_sync)."""
    model = tmp_path / f"switched-{uuid.uuid4().hex[:8]}.tar.gz"
    shutil.copy(ROOT / "models" / "current.tar.gz", model)
    first, second = worker_pids(two)
    os.kill(second, signal.SIGSTOP)  # the first takes the switch
    try:
        r = requests.put(f"{two.url}/model", params={"token": TOKEN}, json={"model_file": str(model)}, timeout=120)
    finally:
        os.kill(second, signal.SIGCONT)
    assert r.status_code == 204, r.text
    deadline = time.monotonic() + 60  # the second loads it beside its old model, answering meanwhile
    while model_of_each_worker(two) != [model.name, model.name]:
        assert time.monotonic() < deadline, (model_of_each_worker(two), two.log.read_text()[-3000:])
        time.sleep(1)
    assert f"Worker pid {second} switched to {model}, as worker pid {first} did" in two.log.read_text()
    assert say(two, uuid.uuid4().hex, "what is your phone number?", "198.18.4.4").json()[0]["text"] == phone_reply(facts)
    # each worker froze its first model when it came up, then the switched one (rasa_addons.gc_freeze)
    frozen = [f"Worker pid {pid} keeps its model out of full garbage collections" for pid in (first, second)]
    deadline = time.monotonic() + 2 * CHECK_SECONDS
    while [two.log.read_text().count(line) for line in frozen] != [2, 2]:
        assert time.monotonic() < deadline, [two.log.read_text().count(line) for line in frozen]
        time.sleep(0.5)


def test_a_dead_worker_is_replaced_while_the_other_serves(two: Assistant, facts: Facts) -> None:
    first, second = worker_pids(two)
    os.kill(first, signal.SIGKILL)
    assert say(two, uuid.uuid4().hex, "what is your phone number?", "198.18.3.3").json()[0]["text"] == phone_reply(facts)
    deadline = time.monotonic() + 10
    while f"Worker pid {first} died (killed by signal SIGKILL); started worker pid" not in two.log.read_text():
        assert time.monotonic() < deadline, two.log.read_text()[-3000:]
        time.sleep(0.2)
    replacement = int(re.search(rf"Worker pid {first} died .*? started worker pid (\d+)", two.log.read_text()).group(1))
    assert os.path.exists(f"/proc/{replacement}")


def test_a_stop_leaves_no_worker_behind(two: Assistant) -> None:
    pids = worker_pids(two) + [int(p) for p in re.findall(r"started worker pid (\d+)", two.log.read_text())]
    # each worker alive now, by its start time: a worker killed earlier may have left its pid to another process
    workers = {pid: started for pid in pids if (started := _start_time(pid))}
    two.stop()
    assert two.proc.returncode == 0
    time.sleep(0.5)
    alive = [pid for pid, started in workers.items() if _start_time(pid) == started]
    assert not alive


def _start_time(pid: int) -> Optional[str]:
    """When a live (not zombie) process started (/proc/PID/stat), None when there is none."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]
