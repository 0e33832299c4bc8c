"""Two Rasa instances on the same PostgreSQL (conversations) and Redis (locks): endpoints.scaled.yml.

Real services, as on every machine and in CI (.ci/run fails when they are missing). Each run uses
its own database and Redis key prefix, dropped afterwards. PostgreSQL is reached through a proxy
that the last test cuts, to see the assistant report an unreachable store and recover.
"""
import concurrent.futures
import json
import shutil
import threading
import uuid
from typing import List

import psycopg2
import pytest
import redis
import requests

from scripts.assistant import Assistant
from tests.conftest import ROOT, Facts, center_founded_reply, center_location_reply, fax_reply, unavailable_reply
from tests.proxy import Proxy



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
    for name in ("a", "b"):
        workdir = tmp_path_factory.mktemp(f"scaled-{name}")
        shutil.copy(ROOT / "data" / "facts.yml", workdir / "facts.yml")
        instances.append(Assistant(
            workdir,
            UMB_FACTS_FILE=str(workdir / "facts.yml"),
            RASA_ENDPOINTS="endpoints.scaled.yml",
            PG_PORT=str(pg_proxy.port), PG_DB=database, PG_LOGIN_DB="test", PG_USER="postgres",
            REDIS_KEY_PREFIX=prefix,
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
