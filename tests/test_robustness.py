"""Faults, bad input and security, end to end: both servers started by the run script.

The action server is reached through a proxy the tests can cut or hang (tests/proxy.py); the
public channels are those of channels/rest.py and channels/webchat.py; Rasa's HTTP API is on behind a token.
(A restart mid-conversation: tests/test_server_http.py::test_conversation_survives_a_restart.)
"""
import asyncio
import json
import re
import shutil
import time
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest
import requests
import socketio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rasa.shared.core.domain import Domain

from channels.guard import MAX_MESSAGE_CHARS, clean_text
from channels.rest import MAX_BODY_BYTES, MAX_SENDER_CHARS
from scripts.assistant import Assistant
from tests.conftest import ROOT, Facts, center_location_reply, email_reply, phone_reply, unavailable_reply
from tests.proxy import Proxy

TOKEN = "test-api-token"
ACTION_TOKEN = "test-action-token"
ORIGIN = "http://localhost:5005"


@pytest.fixture(scope="module")
def actions_proxy() -> Proxy:
    return Proxy(0)  # its target (the action server's port) is known once the assistant is set up


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, actions_proxy: Proxy):
    workdir = tmp_path_factory.mktemp("robust")
    shutil.copy(ROOT / "data" / "facts.yml", workdir / "facts.yml")
    a = Assistant(
        workdir,
        UMB_FACTS_FILE=str(workdir / "facts.yml"),
        RASA_AUTH_TOKEN=TOKEN,
        ACTION_SERVER_TOKEN=ACTION_TOKEN,
        ACTION_TIMEOUT="3",
        ACTIONS_MODULE="",  # Rasa calls the action server, through the proxy
        ACTION_SERVER_URL=f"http://127.0.0.1:{actions_proxy.port}/webhook",
        CORS_ORIGINS=ORIGIN,
    )
    actions_proxy.target_port = a.action_port
    actions_proxy.start()
    a.start()
    yield a
    a.stop()
    actions_proxy.stop()


def post(a: Assistant, body: Any, raw: bool = False) -> requests.Response:
    kwargs = {"data": body} if raw else {"json": body}
    return requests.post(f"{a.url}/webhooks/rest/webhook", timeout=60, **kwargs)


@lru_cache(maxsize=1)
def _wordings() -> List[Tuple[str, "re.Pattern[str]"]]:
    """Each response of domain.yml as a pattern: its wording, any text where a placeholder is."""
    patterns = []
    for name, variants in Domain.load(str(ROOT / "domain.yml")).responses.items():
        for variant in variants:
            parts = re.split(r"\{\w+\}", variant.get("text") or "")
            patterns.append((name, re.compile(".+?".join(map(re.escape, parts)), re.S)))
    return patterns


def answered_by(text: str) -> Optional[str]:
    """The response of domain.yml that `text` is, or None: a real answer, not made up or garbled."""
    return next((name for name, pattern in _wordings() if pattern.fullmatch(text)), None)


def real_answers(replies: List[Dict[str, Any]]) -> bool:
    """At least one reply, each one of the assistant's answers, and none the "unavailable" reply
    that a failure behind the channel gets."""
    names = [answered_by(m.get("text") or "") for m in replies]
    return bool(names) and None not in names and "utter_service_unavailable" not in names


# --- faults -------------------------------------------------------------------------------------

@pytest.mark.parametrize("fault", ["down", "hang"])
def test_action_server_down_or_hung_gets_contact_details_then_recovers(
    assistant: Assistant, actions_proxy: Proxy, facts: Facts, fault: str
) -> None:
    sender = f"fault-{fault}"
    actions_proxy.set(fault)
    try:
        started = time.monotonic()
        r = post(assistant, {"sender": sender, "message": "what's your phone number?"})
        assert time.monotonic() - started < 3 + 5  # ACTION_TIMEOUT (3 s here) bounds the wait, not Rasa's 5 minutes
        assert r.status_code == 200
        assert [m["text"] for m in r.json()] == [unavailable_reply(facts)]
    finally:
        actions_proxy.set("up")
    assert assistant.texts(sender, "what's your phone number?") == [phone_reply(facts)]
    log = assistant.log.read_text()
    assert "Encountered an exception while running action 'action_answer_contact'" in log
    assert f"No reply for {sender}" in log


def test_action_calls_reuse_one_connection(assistant: Assistant, actions_proxy: Proxy) -> None:
    """Keep-alive to the action server (rasa_addons/speedups.py): three turns, one connection."""
    assistant.texts("keep-alive", "hello")  # opens the connection, if none is open yet
    before = actions_proxy.accepted
    answers = [assistant.say("keep-alive", q) for q in ("what's your phone number?", "who are the visiting professors?", "and where do they come from?")]
    assert [[answered_by(m["text"]) for m in a] for a in answers] == [
        ["utter_contact_phone"], ["utter_visiting_professors_description"], ["utter_visiting_professors_origin"]
    ]
    assert actions_proxy.accepted - before <= 1


def test_action_calls_after_the_action_server_closed_an_idle_connection(assistant: Assistant, facts: Facts) -> None:
    """Sanic closes idle connections after 5 s: the turn after that still gets its answer."""
    assert assistant.texts("idle", "what's your e-mail address?") == [email_reply(facts)]
    time.sleep(5.5)
    assert assistant.texts("idle", "what's your e-mail address?") == [email_reply(facts)]


def test_the_unavailable_reply_is_in_the_conversation(assistant: Assistant, actions_proxy: Proxy, facts: Facts) -> None:
    actions_proxy.set("down")
    try:
        post(assistant, {"sender": "fault-recorded", "message": "where is the euroregional center?"})
    finally:
        actions_proxy.set("up")
    events = requests.get(f"{assistant.url}/conversations/fault-recorded/tracker", params={"token": TOKEN}, timeout=30).json()["events"]
    assert [e["text"] for e in events if e["event"] == "bot"] == [unavailable_reply(facts)]


# --- bad input over REST ------------------------------------------------------------------------

def test_empty_and_blank_messages_are_asked_for_a_topic(assistant: Assistant) -> None:
    for text in ["", "   \n\t ", "\u0000\u0007"]:
        r = post(assistant, {"sender": "bad-empty", "message": text})
        assert r.status_code == 200
        assert [m["text"] for m in r.json()] == ["Which topic would you like to know more about?"]


def test_a_100_kb_message_is_refused_with_the_limit(assistant: Assistant, facts: Facts) -> None:
    r = post(assistant, {"sender": "bad-long", "message": "where is the center? " * 5000})
    assert r.status_code == 200
    assert [m["text"] for m in r.json()] == [
        f"Sorry, your message is too long for me: please keep it under {MAX_MESSAGE_CHARS} characters. "
        f"You can also write to the {facts.contact.office} at {facts.contact.email} or call {facts.contact.phone}."
    ]


@pytest.mark.parametrize("text", [
    "where is it? 😀🇵🇱",
    "Gdzie jest centrum? Zażółć gęślą jaźń",
    "Где находится центр?",
    "Kur yra Vilniaus universitetas? ąčęėįšųūž",
    "'; DROP TABLE events; --",
    "<script>alert('x')</script><b>phone</b>",
    "phone\u0000number\u001b[31m?",
])
def test_unusual_text_gets_a_proper_answer(assistant: Assistant, text: str) -> None:
    """Reaches the assistant as sent (cleaned of control characters only), is answered with one of
    its answers, and is stored as text, whatever it contains."""
    sender = f"unusual-{abs(hash(text))}"
    r = post(assistant, {"sender": sender, "message": text})
    assert r.status_code == 200
    assert real_answers(r.json()), r.json()
    events = requests.get(f"{assistant.url}/conversations/{sender}/tracker", params={"token": TOKEN}, timeout=30).json()["events"]
    assert [e["text"] for e in events if e["event"] == "user"] == [clean_text(text)]


@pytest.mark.parametrize("text", ["<script>alert('x')</script><b>phone</b>", "phone\u0000number\u001b[31m?"])
def test_markup_and_control_characters_do_not_hide_the_question(assistant: Assistant, facts: Facts, text: str) -> None:
    assert assistant.texts(f"hidden-{abs(hash(text))}", text) == [phone_reply(facts)]


@pytest.mark.parametrize("body, status, error", [
    (b"\xff\xfe\x00not utf-8", 400, "The body must be JSON in UTF-8"),
    (b"{not json", 400, "The body must be JSON in UTF-8"),
    (b"[1, 2]", 400, "The body must be a JSON object"),
    (b'{"sender": "x"}', 400, "'message' is missing"),
    (b'{"sender": "x", "message": 42}', 400, "'message' must be a string."),
    (b'{"sender": "x", "message": null}', 400, "'message' must be a string."),
    (b'{"sender": ["x"], "message": "hi"}', 400, "'sender' must be a non-empty string."),
    (b'{"sender": "a\\u0000b", "message": "hi"}', 400, "without control characters"),
    pytest.param(b'{"sender": "x", "message": "' + b"a" * 2_000_000 + b'"}', 413, "larger than", id="2 MB body"),
])
def test_malformed_requests_get_a_clear_4xx(assistant: Assistant, body: bytes, status: int, error: str) -> None:
    r = post(assistant, body, raw=True)
    assert r.status_code == status
    assert error in r.json()["error"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)
rest_payloads = st.one_of(
    st.fixed_dictionaries({"sender": st.text(min_size=1, max_size=40), "message": st.text(max_size=200)}),
    st.fixed_dictionaries({}, optional={"sender": json_values, "message": json_values, "metadata": json_values}),
    json_values,
)


def rest_refusal(body: bytes) -> Optional[Tuple[int, str]]:
    """The channel's contract, restated: (status, what the error says) for a body it must refuse,
    None for a chat message (a JSON object with a sender string and a message string)."""
    if len(body) > MAX_BODY_BYTES:
        return 413, "larger than"
    try:
        payload = json.loads(body)
    except ValueError:
        return 400, "The body must be JSON in UTF-8"
    if not isinstance(payload, dict):
        return 400, "The body must be a JSON object"
    sender = payload.get("sender", "default")
    if not isinstance(sender, str) or not sender.strip():
        return 400, "'sender' must be a non-empty string."
    if len(sender) > MAX_SENDER_CHARS or sender != clean_text(sender):
        return 400, "without control characters"
    if "message" not in payload:
        return 400, "'message' is missing"
    if not isinstance(payload["message"], str):
        return 400, "'message' must be a string."
    return None


def check_rest(assistant: Assistant, body: bytes) -> None:
    r = post(assistant, body, raw=True)
    refusal = rest_refusal(body)
    if refusal is None:
        assert r.status_code == 200, r.text
        assert real_answers(r.json()), r.json()
    else:
        assert (r.status_code, refusal[1] in r.json()["error"]) == (refusal[0], True), r.text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=rest_payloads)
def test_rest_payloads_property(assistant: Assistant, payload: Any) -> None:
    check_rest(assistant, json.dumps(payload).encode())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=300))
def test_rest_raw_bytes_property(assistant: Assistant, body: bytes) -> None:
    check_rest(assistant, body)


# --- socket.io ----------------------------------------------------------------------------------

class Chat:
    """A socket.io client like the widget: asks for a session, then sends and collects replies."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.replies: asyncio.Queue = asyncio.Queue()
        self.session: asyncio.Future = asyncio.get_running_loop().create_future()
        self.sio.on("bot_uttered", lambda data: self.replies.put_nowait(data))
        self.sio.on("session_confirm", lambda sid: self.session.done() or self.session.set_result(sid))

    async def __aenter__(self) -> "Chat":
        await self.sio.connect(self.url, transports=["polling"], headers={"Origin": ORIGIN})  # aiohttp 3.9 cannot do its websocket
        await self.sio.emit("session_request", {"session_id": None})
        self.session_id = await asyncio.wait_for(self.session, 30)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.sio.eio.disconnect(abort=True)  # a polite polling disconnect can hang (aiohttp 3.9)

    async def send(self, payload: Any) -> List[Dict[str, Any]]:
        """Emit one payload; the replies to it (the channel sends a turn's replies together)."""
        await self.sio.emit("user_uttered", payload)
        return await turn_replies(self.replies)


async def turn_replies(queue: "asyncio.Queue[Dict[str, Any]]") -> List[Dict[str, Any]]:
    """The replies of one turn: the first within 60 s, then any that follow within half a second."""
    replies = [await asyncio.wait_for(queue.get(), 60)]
    while True:
        try:
            replies.append(await asyncio.wait_for(queue.get(), 0.5))
        except asyncio.TimeoutError:
            return replies


async def test_socketio_conversation_in_context(assistant: Assistant, facts: Facts) -> None:
    async with Chat(assistant.url) as chat:
        await chat.send({"message": "tell me about the Euroregional center", "session_id": chat.session_id})
        assert [m["text"] for m in await chat.send({"message": "where is it?", "session_id": chat.session_id})] == [
            center_location_reply(facts)
        ]


socket_payloads = st.one_of(
    st.fixed_dictionaries({"message": st.text(max_size=200)}),
    st.fixed_dictionaries({}, optional={"message": json_values, "metadata": json_values}),
    json_values,
)


def socket_refusal(payload: Any) -> Optional[str]:
    """What the channel must answer to a `user_uttered` payload it cannot read, None for a message
    (the test gives every object payload its session id)."""
    refusal = "Sorry, I could not read that message: "
    if not isinstance(payload, dict):
        return refusal + 'send an object like {"message": "...", "session_id": "..."}.'
    wrong = [f"'{key}' must be {kind}." for key, cls, kind in (("message", str, "a string"), ("metadata", dict, "an object"))
             if key in payload and not isinstance(payload[key], cls)]
    return refusal + wrong[0] if wrong else None


def test_socketio_payloads_property(assistant: Assistant) -> None:
    """A payload it cannot read gets a bot message saying what is wrong; any message gets answers."""

    @settings(max_examples=40, deadline=None)
    @given(payload=socket_payloads)
    def check(payload: Any) -> None:
        async def run() -> None:
            async with Chat(assistant.url) as chat:
                if isinstance(payload, dict):
                    payload["session_id"] = chat.session_id
                replies = await chat.send(payload)
                refusal = socket_refusal(payload)
                if refusal is None:
                    assert real_answers(replies), replies
                else:
                    assert [m.get("text") for m in replies] == [refusal]

        asyncio.run(run())

    check()


async def test_socketio_session_ids_cannot_be_guessed_or_borrowed(assistant: Assistant) -> None:
    async with Chat(assistant.url) as alice, Chat(assistant.url) as mallory:
        # a made-up id is not granted: a fresh random one is confirmed instead
        await mallory.sio.emit("session_request", {"session_id": "alice"})
        await asyncio.sleep(0.5)
        assert mallory.session_id != "alice"
        # writing into someone else's session is refused, and alice hears nothing of it
        [refusal] = await mallory.send({"message": "where is it?", "session_id": alice.session_id})
        assert refusal["text"].startswith("Sorry, I could not read that message: send 'session_request' first")
        assert alice.replies.empty()


# --- security -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method, path", [
    ("PUT", "/model"),
    ("POST", "/model/parse"),
    ("DELETE", "/model"),
    ("GET", "/conversations/bad-text/tracker"),
    ("POST", "/conversations/bad-text/messages"),
    ("POST", "/conversations/bad-text/tracker/events"),
    ("GET", "/status"),
])
def test_rasa_api_refuses_requests_without_the_token(assistant: Assistant, method: str, path: str) -> None:
    for params in ({}, {"token": "wrong"}):
        r = requests.request(method, assistant.url + path, params=params, json={"text": "hi", "sender": "user"}, timeout=30)
        assert r.status_code == 401, (method, path, r.status_code)


def test_rasa_api_works_with_the_token(assistant: Assistant) -> None:
    assistant.texts("api-ok", "what's your phone number?")
    r = requests.get(f"{assistant.url}/conversations/api-ok/tracker", params={"token": TOKEN}, timeout=30)
    assert r.status_code == 200 and r.json()["sender_id"] == "api-ok"


def test_a_sender_never_sees_another_senders_conversation(assistant: Assistant) -> None:
    secret = "my passport number is AB1234567"
    post(assistant, {"sender": "private-a", "message": secret})
    for sender, text in [("private-b", "what did I say?"), ("private-b", "/ask_contact"), ("private-b", "where is it?")]:
        assert secret not in post(assistant, {"sender": sender, "message": text}).text
    # no public route gives out a tracker
    for path, status in [("/conversations/private-a/tracker", 401), ("/webhooks/rest/webhook/private-a", 404),
                         ("/conversations/private-a/story", 401)]:
        r = requests.get(assistant.url + path, timeout=30)
        assert (r.status_code, secret in r.text) == (status, False), path


def test_cors_allows_only_the_configured_origins(assistant: Assistant) -> None:
    def preflight(origin: str) -> requests.Response:
        return requests.options(f"{assistant.url}/webhooks/rest/webhook", timeout=30, headers={
            "Origin": origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type",
        })

    assert preflight(ORIGIN).headers.get("Access-Control-Allow-Origin") == ORIGIN
    assert "Access-Control-Allow-Origin" not in preflight("http://evil.example").headers
    # websockets are not covered by CORS in browsers: the socket.io server checks the Origin itself
    r = requests.get(f"{assistant.url}/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": "http://evil.example"}, timeout=30)
    assert r.status_code == 400
    # the site's editor finds in the log which origin was refused and which setting lets it in
    assert "Web chat refused: http://evil.example is not an accepted origin. Add the site's origin to CORS_ORIGINS" in assistant.log.read_text()
    r = requests.get(f"{assistant.url}/socket.io/", params={"EIO": "4", "transport": "polling"}, headers={"Origin": ORIGIN}, timeout=30)
    assert r.status_code == 200


def test_action_server_needs_the_token_and_listens_on_loopback_only(assistant: Assistant) -> None:
    url = f"http://127.0.0.1:{assistant.action_port}/webhook"
    call = {"next_action": "action_answer_contact", "sender_id": "x", "tracker": {"sender_id": "x", "slots": {}, "latest_message": {}, "events": []}, "domain": {}}
    assert requests.post(url, json=call, timeout=30).status_code == 401
    assert requests.post(url, json=call, headers={"Authorization": "Bearer wrong"}, timeout=30).status_code == 401
    assert requests.post(url, json=call, headers={"Authorization": f"Bearer {ACTION_TOKEN}"}, timeout=30).status_code == 200
    listening = {
        line.split()[1] for line in Path("/proc/net/tcp").read_text().splitlines()[1:] if line.split()[3] == "0A"
    }
    assert f"0100007F:{assistant.action_port:04X}" in listening  # 127.0.0.1
    assert f"00000000:{assistant.action_port:04X}" not in listening  # not 0.0.0.0
