"""Rate limits per client (channels/limits.py): REST 429 with Retry-After, a bot message on socket.io,
connections refused, the trusted-proxy rule, counters shared by instances on Redis, server timeouts.

The HTTP tests run one real assistant with a burst of 2 messages and 3 connections per address,
behind a "proxy" (127.0.0.1 is trusted): each test is its own client by X-Forwarded-For.
No test waits for a window of a minute: the one refill test uses a window of a fraction of a second.
"""
import asyncio
import re
import shutil
import time
import uuid
from typing import Any, Dict, List

import pytest
import redis
import requests
import socketio

from channels.limits import (
    Decision, Limits, MemoryBuckets, RedisBuckets, accepted_language, client_address, parse_proxies, slow_down_text, store_from_lock_store,
)
from rasa_addons.server import server_timeouts
from scripts.assistant import Assistant
from tests.conftest import ROOT, Facts, phone_reply, redis_prefix
from tests.test_robustness import turn_replies

PROXIES = parse_proxies("127.0.0.1 10.0.0.0/8")


def limits(**env: str) -> Limits:
    return Limits({"RATE_LIMIT_STORE": "memory", **env}, store=MemoryBuckets())


# --- the client address ---------------------------------------------------------------------------

def test_forwarded_for_is_ignored_from_an_untrusted_peer() -> None:
    assert client_address("198.51.100.7", "203.0.113.1", PROXIES) == "198.51.100.7"
    assert client_address("198.51.100.7", None, PROXIES) == "198.51.100.7"
    assert client_address("127.0.0.1", "203.0.113.1", []) == "127.0.0.1"  # no trusted proxy configured


def test_forwarded_for_is_used_from_a_trusted_peer() -> None:
    assert client_address("127.0.0.1", "203.0.113.1", PROXIES) == "203.0.113.1"
    # what a client writes itself stands left of what the proxies add: the right-most untrusted counts
    assert client_address("127.0.0.1", "1.2.3.4, 203.0.113.1, 10.1.2.3", PROXIES) == "203.0.113.1"
    assert client_address("10.0.0.5", "2001:db8::1", PROXIES) == "2001:db8::1"
    assert client_address("127.0.0.1", "not-an-address", PROXIES) == "127.0.0.1"
    assert client_address("127.0.0.1", None, PROXIES) == "127.0.0.1"


def test_a_bad_trusted_proxy_setting_is_named() -> None:
    with pytest.raises(ValueError, match="TRUSTED_PROXIES: 'proxy.example' is not an IP address"):
        parse_proxies("127.0.0.1 proxy.example")


# --- the buckets ----------------------------------------------------------------------------------

async def test_a_burst_then_refused_with_when_to_retry() -> None:
    l = limits(RATE_LIMIT_MESSAGES="10", RATE_LIMIT_BURST="5", RATE_LIMIT_WINDOW="60")
    assert [(await l.check("message", "a")).allowed for _ in range(6)] == [True] * 5 + [False]
    refused = await l.check("message", "a")
    assert 5 < refused.retry_after <= 6 and refused.retry_after_seconds == 6  # 10 a minute: one per 6 s
    assert "wait 6 seconds" in slow_down_text(refused)
    # in Polish for a Polish client (the widget's metadata.lang, REST's Accept-Language), with Polish plurals
    assert "odczekać 6 sekund i wysłać" in slow_down_text(refused, "pl")
    assert [slow_down_text(Decision(False, s), "pl").split("odczekać ")[1].split(" i ")[0] for s in (1, 3, 12, 22)] == [
        "1 sekundę", "3 sekundy", "12 sekund", "22 sekundy"]
    assert [accepted_language(h) for h in ("pl-PL,pl;q=0.9,en;q=0.8", "en-GB,pl;q=0.5", "de", None)] == ["pl", "en", "en", "en"]
    assert (await l.check("message", "b")).allowed  # another client is not affected
    assert (await l.check("connect", "a")).allowed  # nor are connections


async def test_the_bucket_refills_with_the_window() -> None:
    l = limits(RATE_LIMIT_MESSAGES="2", RATE_LIMIT_BURST="1", RATE_LIMIT_WINDOW="0.2")
    assert (await l.check("message", "a")).allowed
    assert not (await l.check("message", "a")).allowed
    time.sleep(0.11)  # one message per 0.1 s
    assert (await l.check("message", "a")).allowed


async def test_a_refused_client_sending_on_is_refused_without_asking_the_store_until_its_wait_is_over() -> None:
    class Counted(MemoryBuckets):
        asked = 0

        async def take(self, key: str, capacity: float, rate: float) -> float:
            self.asked += 1
            return await super().take(key, capacity, rate)

    store = Counted()
    l = Limits({"RATE_LIMIT_STORE": "memory", "RATE_LIMIT_MESSAGES": "2", "RATE_LIMIT_BURST": "1", "RATE_LIMIT_WINDOW": "0.4"}, store=store)
    assert [(await l.check("message", "a")).allowed for _ in range(2)] == [True, False]  # one per 0.2 s
    refusals = [await l.check("message", "a") for _ in range(50)]
    assert store.asked == 2 and not any(d.allowed for d in refusals)
    assert 0 < refusals[-1].retry_after <= refusals[0].retry_after <= 0.2
    assert (await l.check("message", "b")).allowed and store.asked == 3  # another client is asked for
    time.sleep(0.21)
    assert (await l.check("message", "a")).allowed and store.asked == 4


async def test_zero_turns_a_limit_off() -> None:
    l = limits(RATE_LIMIT_MESSAGES="0", RATE_LIMIT_CONNECTIONS="0")
    assert all([(await l.check(kind, "a")).allowed for kind in ("message", "connect") for _ in range(100)])


async def test_defaults_are_for_people_typing() -> None:
    l = Limits({})
    assert l.limits == {"message": (5.0, 10 / 60), "connect": (20.0, 20 / 60)}
    assert l.proxies == [] and l.store_kind == "auto"


async def test_rest_and_socketio_count_together_in_one_process() -> None:
    rest, webchat = Limits({"RATE_LIMIT_STORE": "memory"}), Limits({"RATE_LIMIT_STORE": "memory"})
    client = f"198.51.100.{uuid.uuid4().int % 250}-{uuid.uuid4().hex}"
    assert [(await l.check("message", client)).allowed for l in (rest, webchat) * 3] == [True] * 5 + [False]


# --- Redis: one limit across instances ------------------------------------------------------------

prefix = pytest.fixture(name="prefix")(redis_prefix)


def redis_limits(prefix: str, **env: str) -> Limits:
    return Limits({"RATE_LIMIT_STORE": "redis", "REDIS_HOST": "127.0.0.1", "REDIS_PORT": "6379",
                   "REDIS_KEY_PREFIX": prefix, "RATE_LIMIT_MESSAGES": "3", "RATE_LIMIT_BURST": "3", **env})


async def test_two_instances_on_redis_share_one_limit(prefix: str) -> None:
    a, b = redis_limits(prefix), redis_limits(prefix)
    assert [(await l.check("message", "203.0.113.5")).allowed for l in (a, b, a)] == [True] * 3
    refused = [await l.check("message", "203.0.113.5") for l in (b, a)]
    assert [d.allowed for d in refused] == [False, False]
    assert all(19 < d.retry_after <= 20 for d in refused)  # 3 a minute: one per 20 s
    assert (await b.check("message", "203.0.113.6")).allowed
    assert redis.Redis(host="127.0.0.1", port=6379).exists(f"{prefix}:ratelimit:message:203.0.113.5")


def test_auto_uses_redis_when_the_lock_store_is_redis(prefix: str) -> None:
    from rasa.core.lock_store import InMemoryLockStore, RedisLockStore

    store = store_from_lock_store(RedisLockStore(host="127.0.0.1", port=6379), {"REDIS_KEY_PREFIX": prefix})
    assert isinstance(store, RedisBuckets) and store.prefix == f"{prefix}:ratelimit:"
    assert store_from_lock_store(InMemoryLockStore(), {}) is None


async def test_redis_down_lets_messages_through() -> None:
    down = redis_limits("umbtest", REDIS_PORT="1", RATE_LIMIT_BURST="1")
    assert all([(await down.check("message", "a")).allowed for _ in range(3)])


# --- server timeouts ------------------------------------------------------------------------------

def test_server_timeouts_defaults_and_settings() -> None:
    assert server_timeouts({}) == {"REQUEST_TIMEOUT": 10, "RESPONSE_TIMEOUT": 60, "KEEP_ALIVE_TIMEOUT": 5}
    assert server_timeouts({"REQUEST_TIMEOUT": "3"})["REQUEST_TIMEOUT"] == 3
    with pytest.raises(ValueError, match="KEEP_ALIVE_TIMEOUT"):
        server_timeouts({"KEEP_ALIVE_TIMEOUT": "0"})


# --- through the real server ----------------------------------------------------------------------

server_prefix = pytest.fixture(name="server_prefix", scope="module")(redis_prefix)


@pytest.fixture(scope="module")
def limited(tmp_path_factory, server_prefix: str) -> Any:
    workdir = tmp_path_factory.mktemp("limits")
    shutil.copy(ROOT / "data" / "facts.yml", workdir / "facts.yml")
    a = Assistant(
        workdir,
        UMB_FACTS_FILE=str(workdir / "facts.yml"),
        RATE_LIMIT_MESSAGES="2", RATE_LIMIT_BURST="2", RATE_LIMIT_CONNECTIONS="3", RATE_LIMIT_WINDOW="60",
        TRUSTED_PROXIES="127.0.0.1", RATE_LIMIT_STORE="redis", REDIS_KEY_PREFIX=server_prefix,
        REQUEST_TIMEOUT="2",
    )
    a.start()
    yield a
    a.stop()


def post(a: Assistant, client: str, text: str) -> requests.Response:
    return requests.post(f"{a.url}/webhooks/rest/webhook", json={"sender": uuid.uuid4().hex, "message": text},
                         headers={"X-Forwarded-For": client}, timeout=30)


def test_rest_answers_429_with_retry_after_after_the_burst(limited: Assistant, facts: Facts) -> None:
    answers = [post(limited, "203.0.113.10", "what is the phone number?") for _ in range(2)]
    assert [r.status_code for r in answers] == [200, 200]
    assert answers[0].json()[0]["text"] == phone_reply(facts)
    refused = post(limited, "203.0.113.10", "what is the phone number?")
    assert refused.status_code == 429
    seconds = int(refused.headers["Retry-After"])
    assert 1 <= seconds <= 30  # 2 a minute: one per 30 s
    assert refused.json() == {"error": slow_down_text_for(seconds), "retry_after": seconds}
    # a client behind the same proxy is another client
    assert post(limited, "203.0.113.11", "what is the phone number?").status_code == 200


def slow_down_text_for(seconds: int) -> str:
    from channels.limits import Decision

    return slow_down_text(Decision(False, seconds))


async def test_the_server_shares_its_counters_in_redis(limited: Assistant, server_prefix: str) -> None:
    """Another instance on the same Redis (here a limiter in the test) uses up the client's burst:
    the server refuses that client's next message."""
    other = redis_limits(server_prefix, RATE_LIMIT_MESSAGES="2", RATE_LIMIT_BURST="2")
    assert [(await other.check("message", "203.0.113.20")).allowed for _ in range(2)] == [True, True]
    assert post(limited, "203.0.113.20", "hello").status_code == 429


class Chat:
    """A socket.io client that comes through the trusted proxy as `client`."""

    def __init__(self, a: Assistant, client: str) -> None:
        self.url, self.client = a.url, client
        self.origin = f"http://127.0.0.1:{a.rasa_port}"
        self.sio = socketio.AsyncClient(reconnection=False)
        self.replies: asyncio.Queue = asyncio.Queue()
        self.sio.on("bot_uttered", lambda data: self.replies.put_nowait(data))
        self.session: asyncio.Future = asyncio.get_running_loop().create_future()
        self.sio.on("session_confirm", lambda sid: self.session.done() or self.session.set_result(sid))
        self.refusal: asyncio.Future = asyncio.get_running_loop().create_future()
        self.sio.on("connect_error", lambda data: self.refusal.done() or self.refusal.set_result(data))

    async def open(self, wait: bool = True) -> None:
        # polling: aiohttp 3.9 cannot do its websocket (as in tests/test_robustness.py)
        await self.sio.connect(self.url, transports=["polling"], wait=wait,
                               headers={"Origin": self.origin, "X-Forwarded-For": self.client})

    async def connect(self) -> "Chat":
        await self.open()
        await self.sio.emit("session_request", {"session_id": None})
        self.session_id = await asyncio.wait_for(self.session, 30)
        return self

    async def close(self) -> None:
        await self.sio.eio.disconnect(abort=True)

    async def send(self, text: str) -> List[Dict[str, Any]]:
        await self.sio.emit("user_uttered", {"message": text, "session_id": self.session_id})
        return await turn_replies(self.replies)


async def test_socketio_message_over_the_limit_gets_a_bot_message(limited: Assistant, facts: Facts) -> None:
    chat = await Chat(limited, "203.0.113.30").connect()
    try:
        for _ in range(2):
            assert [m.get("text") for m in await chat.send("what is the phone number?")] == [phone_reply(facts)]
        refused = await chat.send("what is the phone number?")
        assert len(refused) == 1 and 1 <= refused[0]["retry_after"] <= 30
        assert refused[0]["text"] == slow_down_text_for(refused[0]["retry_after"])
    finally:
        await chat.close()


async def test_socketio_connections_over_the_limit_are_refused(limited: Assistant) -> None:
    chats = [await Chat(limited, "203.0.113.40").connect() for _ in range(3)]
    try:
        refused = Chat(limited, "203.0.113.40")
        # not waiting for the namespace: the client's polite goodbye after a refusal waits out a
        # whole long-poll (25 s); the refusal itself comes at once
        await refused.open(wait=False)
        error = await asyncio.wait_for(refused.refusal, 10)
        chats.append(refused)
        assert not refused.sio.connected
        assert 1 <= error["data"]["retry_after"] <= 20  # 3 a minute: one per 20 s
        assert error["message"] == f"Too many connections from your address: please try again in {error['data']['retry_after']} s."
        other = await Chat(limited, "203.0.113.41").connect()
        chats.append(other)
    finally:
        for chat in chats:
            await chat.close()


def test_a_silent_client_is_cut_off_by_the_request_timeout(limited: Assistant) -> None:
    """A client that sends half a request's headers and goes silent gets 408 after REQUEST_TIMEOUT
    (2 s here), not Sanic's 60 s."""
    import socket

    with socket.create_connection(("127.0.0.1", limited.rasa_port), timeout=20) as s:
        s.sendall(b"POST /webhooks/rest/webhook HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        data = s.recv(4096)
        assert time.monotonic() - started < 10
        assert data.startswith(b"HTTP/1.1 408")


def test_the_widget_says_when_it_tries_again_after_too_many_connections(limited: Assistant, server_prefix: str) -> None:
    """Another instance (here a limiter in the test) used up this visitor's connections: the widget
    tells the visitor when it connects again, instead of "cannot reach the assistant"."""
    from playwright.sync_api import expect, sync_playwright

    from tests.test_widget import CHROMIUM, CHROMIUM_ARGS

    async def use_up() -> None:
        other = redis_limits(server_prefix, RATE_LIMIT_CONNECTIONS="3")
        for _ in range(3):
            await other.check("connect", "203.0.113.60")

    asyncio.run(use_up())
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(extra_http_headers={"X-Forwarded-For": "203.0.113.60"})
            page = context.new_page()
            page.goto(f"{limited.url}/web/")
            page.get_by_role("button", name="Chat with us").click()
            expect(page.get_by_text(re.compile(r"Too many connections from your address: trying again in \d+ s\."))
                   ).to_be_visible(timeout=30_000)
        finally:
            browser.close()
