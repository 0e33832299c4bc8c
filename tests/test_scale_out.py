"""Two Rasa instances on the same PostgreSQL (conversations) and Redis (locks): endpoints.scaled.yml.

Real services, as on every machine and in CI (.ci/run fails when they are missing). Each run uses
its own database and Redis key prefix, dropped afterwards. PostgreSQL is reached through a proxy
that the last test cuts, to see the assistant report an unreachable store and recover. The second
instance logs in JSON (LOG_FORMAT=json). One test restarts the first instance while clients talk
through a balancer (issue 14's rolling update). Both run Rasa's HTTP API (RASA_AUTH_TOKEN), so that
the staff's model switch (staff.train, the console's button) is tested to reach every instance.
"""
import concurrent.futures
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from typing import Callable, Dict, List, Tuple

import psycopg2
import pytest
import redis
import requests

from rasa.utils.endpoints import EndpointConfig

from rasa_addons.stores import AtomicRedisLockStore
from scripts.assistant import Assistant
from tests.balancer import Balancer
from tests.conftest import ROOT, Facts, center_founded_reply, center_location_reply, fax_reply, phone_reply, unavailable_reply
from tests.proxy import Proxy

PSEUDONYM_KEY = "test-pseudonym-key"
TOKEN = "test-scaled-api-token"


def admin() -> "psycopg2.extensions.connection":
    conn = psycopg2.connect(host="127.0.0.1", port=5432, dbname="test", user="postgres")
    conn.autocommit = True
    return conn


@pytest.fixture(scope="module")
def database() -> str:
    name = f"umb_test_{uuid.uuid4().hex[:12]}"
    yield name
    conn = admin()
    try:
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        conn.close()


@pytest.fixture(scope="module")
def pg_proxy() -> Proxy:
    proxy = Proxy(5432).start()
    yield proxy
    proxy.stop()


@pytest.fixture(scope="module")
def prefix() -> str:
    return f"umbtest{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def pair(tmp_path_factory, database: str, pg_proxy: Proxy, prefix: str) -> List[Assistant]:
    instances = []
    # the first one gives a balancer 1 s notice of its stop (the restart test); the second one logs
    # in JSON, as a log collector reads it
    for name, log_env in (("a", {"STOP_NOTICE": "1"}), ("b", {"LOG_FORMAT": "json", "LOG_PSEUDONYM_KEY": PSEUDONYM_KEY})):
        workdir = tmp_path_factory.mktemp(f"scaled-{name}")
        shutil.copy(ROOT / "data" / "facts.yml", workdir / "facts.yml")
        instances.append(Assistant(
            workdir,
            UMB_FACTS_FILE=str(workdir / "facts.yml"),
            RASA_ENDPOINTS="endpoints.scaled.yml",
            PG_PORT=str(pg_proxy.port), PG_DB=database, PG_LOGIN_DB="test", PG_USER="postgres",
            REDIS_KEY_PREFIX=prefix,
            RASA_AUTH_TOKEN=TOKEN,
            **log_env,
        ))
    for a in instances:
        a.start()
    yield instances
    for a in instances:
        a.stop()
    r = redis.Redis(host="127.0.0.1", port=6379)
    for key in r.scan_iter(f"{prefix}*"):
        r.delete(key)


def stored_events(database: str, sender: str) -> List[dict]:
    with psycopg2.connect(host="127.0.0.1", port=5432, dbname=database, user="postgres") as conn, conn.cursor() as cur:
        cur.execute("SELECT data FROM events WHERE sender_id = %s ORDER BY id", (sender,))
        return [json.loads(row[0]) for row in cur.fetchall()]


def conversation(pair: List[Assistant], sender: str) -> List[List[str]]:
    """One conversation's turns, alternately to each instance; the answers."""
    turns = ["tell me about the Euroregional center", "where is it?", "when was it founded?", "what's your phone number?", "and the fax?", "/ask_euroregional_center", "where is it?"]
    return [pair[i % 2].texts(sender, text) for i, text in enumerate(turns)]


def check(answers: List[List[str]], facts: Facts) -> None:
    assert answers[1] == answers[6] == [center_location_reply(facts)]
    assert answers[2] == [center_founded_reply(facts)]
    assert answers[4] == [fax_reply(facts)]


def test_each_instance_takes_its_locks_in_redis(pair: List[Assistant], prefix: str) -> None:
    for i, a in enumerate(pair):
        sender = f"lock-{i}-{uuid.uuid4().hex[:6]}"
        with redis.Redis(host="127.0.0.1", port=6379, socket_timeout=60).monitor() as monitor:
            threading.Thread(target=a.texts, args=(sender, "hi"), daemon=True).start()
            while True:  # a timeout here fails the test
                command = monitor.next_command()["command"]
                if f"{prefix}" in command and sender in command:
                    break
    assert "InMemoryTrackerStore" not in pair[0].log.read_text()


def test_ready_when_model_action_server_and_both_stores_answer(pair: List[Assistant]) -> None:
    for a in pair:
        assert requests.get(f"{a.url}/health/live", timeout=5).status_code == 200
        r = requests.get(f"{a.url}/health/ready", timeout=5)
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ready", "checks": {
            "server": "ok", "model": "ok", "action_server": "ok", "tracker_store": "ok", "lock_store": "ok"}}


def test_json_logs_one_object_per_line_and_one_line_per_message_without_the_sender_id(pair: List[Assistant]) -> None:
    b = pair[1]  # LOG_FORMAT=json
    sender = f"json-{uuid.uuid4().hex[:6]}"
    assert b.texts(sender, "what's your phone number?")
    pseudonym = hmac.new(PSEUDONYM_KEY.encode(), sender.encode(), hashlib.sha256).hexdigest()[:16]
    text = b.log.read_text()
    not_json = [line for line in text.splitlines() if not line.startswith("{")]
    assert not not_json, f"lines that are not JSON objects: {not_json[:5]}"
    records = [json.loads(line) for line in text.splitlines()]  # every line, of all three processes
    assert {r["logger"] for r in records} >= {"serve", "actions.server", "rasa_addons.server"}
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    [line] = [r for r in records if r["logger"] == "rasa_addons.messages" and r.get("sender") == pseudonym]
    assert line["intent"] == "ask_contact" and 0.5 < line["confidence"] <= 1
    assert line["actions"] == ["action_answer_contact"]
    assert 0 < line["latency_ms"] < 30000 and line["outcome"] == "ok" and line["channel"] == "rest"
    assert sender not in text  # the pseudonym only, never the id


def test_turns_alternating_between_instances_keep_context(pair: List[Assistant], database: str, facts: Facts) -> None:
    sender = f"alt-{uuid.uuid4().hex[:6]}"
    check(conversation(pair, sender), facts)
    events = stored_events(database, sender)
    user = [e["text"] for e in events if e["event"] == "user"]
    assert user == ["tell me about the Euroregional center", "where is it?", "when was it founded?", "what's your phone number?", "and the fax?", "/ask_euroregional_center", "where is it?"]
    bot = [e["text"] for e in events if e["event"] == "bot"]
    assert bot.count(center_location_reply(facts)) == 2 and bot.count(center_founded_reply(facts)) == 1
    stamps = [e["timestamp"] for e in events]
    assert stamps == sorted(stamps)  # stored in the order they happened
    assert len({json.dumps(e, sort_keys=True) for e in events}) == len(events)  # none twice


def test_many_concurrent_senders_and_concurrent_turns_of_one_sender(pair: List[Assistant], database: str, facts: Facts) -> None:
    senders = [f"conc-{i}-{uuid.uuid4().hex[:6]}" for i in range(8)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for answers in pool.map(lambda s: conversation(pair, s), senders):
            check(answers, facts)
    # one sender, two messages at once on both instances: the Redis lock serialises them
    sender = f"same-{uuid.uuid4().hex[:6]}"
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda i: pair[i].texts(sender, "what's your phone number?"), range(2)))
    events = stored_events(database, sender)
    assert [e["event"] for e in events].count("user") == 2
    assert [e.get("name") for e in events].count("action_answer_contact") == 2
    for s in senders:
        assert [e["event"] for e in stored_events(database, s)].count("user") == 7


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not {what} after {timeout} s"
        time.sleep(0.05)


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


TALK = ["tell me about the Euroregional center", "where is it?", "when was it founded?", "what's your phone number?", "and the fax?"]


def talk(url: str, sender: str, facts: Facts, stop: threading.Event, sent: List[str], failures: List[str]) -> None:
    """One client: TALK over and over, one request per connection (as nginx), until `stop`."""
    expected = {1: center_location_reply(facts), 2: center_founded_reply(facts), 3: phone_reply(facts), 4: fax_reply(facts)}
    for i in range(10_000):
        if stop.is_set():
            return
        text = TALK[i % len(TALK)]
        sent.append(text)
        try:
            r = requests.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                              headers={"Connection": "close"}, timeout=60)
            replies = [m.get("text") for m in r.json()] if r.status_code == 200 else []
        except (requests.RequestException, ValueError) as e:
            failures.append(f"{time.time():.3f} {sender} {text!r}: {type(e).__name__}: {e}")
            continue
        if r.status_code != 200 or not replies or unavailable_reply(facts) in replies or (
                i % len(TALK) in expected and replies != [expected[i % len(TALK)]]):
            failures.append(f"{time.time():.3f} {sender} {text!r}: HTTP {r.status_code} {replies}")


def turns(events: List[dict]) -> List[Tuple[str, List[str]]]:
    """The stored conversation as (user message, bot replies) pairs."""
    pairs: List[Tuple[str, List[str]]] = []
    for e in events:
        if e["event"] == "user":
            pairs.append((e["text"], []))
        elif e["event"] == "bot" and pairs:
            pairs[-1][1].append(e["text"])
    return pairs


def test_rolling_restart_while_8_clients_talk_loses_and_duplicates_nothing(
        pair: List[Assistant], database: str, prefix: str, facts: Facts) -> None:
    """Issue 14's goal: one instance restarted (SIGTERM, then started again) while 8 clients talk
    through a balancer over both: no failed request, every message stored once with its reply. The
    balancer follows /health/ready, which says 503 from the SIGTERM on, while the instance serves on
    for its STOP_NOTICE; a connection it refuses goes to the other one. A request in flight on the
    instance when SIGTERM comes still gets its full answer: it waits for its conversation's lock,
    which the test holds until the instance has stopped listening."""
    a, b = pair
    balancer = Balancer([a.rasa_port, b.rasa_port], ready_path="/health/ready").start()
    stop, failures = threading.Event(), []
    sent: Dict[str, List[str]] = {f"roll-{i}-{uuid.uuid4().hex[:6]}": [] for i in range(8)}
    clients = [threading.Thread(target=talk, args=(balancer.url, sender, facts, stop, texts, failures))
               for sender, texts in sent.items()]
    for client in clients:
        client.start()
    try:
        wait_for(lambda: min(balancer.served.values(), default=0) >= 8, "talking to both instances")
        locks = AtomicRedisLockStore(EndpointConfig(url="127.0.0.1", port=6379, db=0, key_prefix=prefix))
        held_sender = f"inflight-{uuid.uuid4().hex[:6]}"
        held = locks.issue_ticket(held_sender)
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
            in_flight = pool.submit(a.texts, held_sender, "what's your phone number?")
            wait_for(lambda: len(locks.get_lock(held_sender).tickets) == 2, "waiting for the lock")
            os.kill(a.proc.pid, signal.SIGTERM)  # the run command (scripts/serve.py): Rasa server first
            wait_for(lambda: not balancer.ready[a.rasa_port], "reported not ready")
            wait_for(lambda: refuses(a.rasa_port), "refusing new connections")
            assert not in_flight.done()
            locks.cleanup(held_sender, held)
            assert in_flight.result(timeout=30) == [phone_reply(facts)]
        assert a.proc.wait(timeout=30) == 0
        assert "Stopping: no new connections; finishing the requests in progress" in a.log.read_text()
        served_before = balancer.served[a.rasa_port]
        a.start()
        wait_for(lambda: balancer.served[a.rasa_port] >= served_before + 8, "talking to the restarted instance")
    finally:
        stop.set()
        for client in clients:
            client.join(timeout=90)
        balancer.stop()
    assert not failures, "\n".join(failures[:5])
    assert balancer.served[b.rasa_port] > served_before  # the clients went on talking during the restart
    for sender, texts in sent.items():
        stored = turns(stored_events(database, sender))
        assert [text for text, _ in stored] == texts, sender  # each message once, in order
        assert all(replies for _, replies in stored), sender  # each with its reply
    assert [replies for _, replies in turns(stored_events(database, held_sender))] == [[phone_reply(facts)]]


def test_database_down_gives_503_with_contact_details_and_recovers(pair: List[Assistant], pg_proxy: Proxy, database: str, facts: Facts) -> None:
    a = pair[0]
    sender = f"pgdown-{uuid.uuid4().hex[:6]}"
    assert a.texts(sender, "tell me about the Euroregional center")
    pg_proxy.set("down")
    try:
        r = requests.post(f"{a.url}/webhooks/rest/webhook", json={"sender": sender, "message": "where is it?"}, timeout=60)
        assert r.status_code == 503
        assert [m["text"] for m in r.json()] == [unavailable_reply(facts)]
        assert "Conversation store unreachable" in a.log.read_text()
        r = requests.get(f"{a.url}/health/ready", timeout=10)  # bounded: a probe never hangs
        assert r.status_code == 503 and r.json()["checks"]["tracker_store"] in ("down", "timeout"), r.text
        assert r.json()["checks"]["lock_store"] == "ok" and "127.0.0.1" not in r.text and database not in r.text
    finally:
        pg_proxy.set("up")
    # recovers by itself: stale pooled connections may fail a first attempt, no restart needed
    statuses = []
    for _ in range(5):
        r = requests.post(f"{a.url}/webhooks/rest/webhook", json={"sender": sender, "message": "where is it?"}, timeout=60)
        statuses.append(r.status_code)
        if r.status_code == 200:
            break
    assert statuses[-1] == 200, statuses
    assert [m["text"] for m in r.json()] == [center_location_reply(facts)]  # and the earlier context is still there


def test_model_switch_reaches_every_instance(pair: List[Assistant], tmp_path, facts: Facts) -> None:
    """staff.train --reload-only (as the console's switch) with RASA_URLS naming both instances: each
    one now runs the given model (GET /status), and answers with it."""
    model = tmp_path / "switched-model.tar.gz"
    shutil.copy(ROOT / "models" / "current.tar.gz", model)
    before = [requests.get(f"{a.url}/status", params={"token": TOKEN}, timeout=10).json() for a in pair]
    assert [status["model_file"] for status in before] == ["current.tar.gz"] * 2
    env = {**os.environ, "RASA_URLS": " ".join(a.url for a in pair), "RASA_AUTH_TOKEN": TOKEN}
    done = subprocess.run([sys.executable, "-m", "staff.train", "--reload-only", "--model", str(model)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "All 2 assistants now answer with the new model." in done.stdout
    for a, old in zip(pair, before):
        status = requests.get(f"{a.url}/status", params={"token": TOKEN}, timeout=10).json()
        assert (status["model_file"], status["model_id"]) == (model.name, old["model_id"])  # the copy: same fingerprint
        assert a.texts(f"switched-{uuid.uuid4().hex[:6]}", "what's your phone number?") == [phone_reply(facts)]
