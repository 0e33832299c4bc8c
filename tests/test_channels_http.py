"""Messaging apps over HTTP: the real servers, configured by a generated .env, the apps' APIs faked locally.

Each connector's outgoing calls go to `FakePlatforms`, a small HTTP server on 127.0.0.1 that answers
like Telegram, Slack, Facebook's Graph API and Mattermost, and records what the bot would have sent.
"""
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
import requests

from scripts.assistant import Assistant
from tests.conftest import Facts, phone_reply
from tests.servers import with_env_file

TOPICS = ["/ask_contact", "/ask_partnerships", "/ask_euroregional_center", "/ask_visiting_professors"]
TELEGRAM_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
SLACK_SECRET = "8f742231b10e8888abcd99abcdef85a5"
FACEBOOK_SECRET = "0123456789abcdef0123456789abcdef"
FACEBOOK_VERIFY = "umb-verify-2024"


class FakePlatforms(ThreadingHTTPServer):
    """The apps' APIs: records every call (path, body, headers) and answers as the real one would."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.calls: List[Dict[str, Any]] = []
        self.changed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def record(self, call: Dict[str, Any]) -> None:
        with self.changed:
            self.calls.append(call)
            self.changed.notify_all()

    def wait_for(self, predicate: Callable[[Dict[str, Any]], bool], timeout: float = 60) -> Dict[str, Any]:
        """The first call that satisfies `predicate`, once it has been made."""
        def found() -> Optional[Dict[str, Any]]:
            return next((c for c in self.calls if predicate(c)), None)

        with self.changed:
            call = self.changed.wait_for(found, timeout)
        assert call, f"no such call; calls made: {[c['path'] for c in self.calls]}"
        return call

    def made(self, predicate: Callable[[Dict[str, Any]], bool]) -> List[Dict[str, Any]]:
        with self.changed:
            return [c for c in self.calls if predicate(c)]


class _Handler(BaseHTTPRequestHandler):
    server: FakePlatforms

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        kind = self.headers.get("Content-Type", "")
        # Mattermost's client sends JSON without saying so
        body = json.loads(raw or b"{}") if "json" in kind or raw.startswith(b"{") else dict(parse_qsl(raw.decode()))
        path = urlsplit(self.path).path
        self.server.record({"path": path, "body": body, "headers": dict(self.headers)})
        self._answer(path, body)

    do_GET = do_POST

    def _answer(self, path: str, body: Dict[str, Any]) -> None:
        method = path.rsplit("/", 1)[-1]
        if method == "getMe":
            answer = {"ok": True, "result": {"id": 1, "is_bot": True, "first_name": "UMB", "username": "umb_test_bot"}}
        elif method == "sendMessage":
            chat = {"id": int(body["chat_id"]), "type": "private"}
            answer = {"ok": True, "result": {"message_id": 7, "date": 0, "chat": chat, "text": body.get("text", "")}}
        elif method == "setWebhook":
            answer = {"ok": True, "result": True}
        elif method == "messages":  # Facebook's Send API
            answer = {"recipient_id": body.get("recipient", {}).get("id"), "message_id": "m_1"}
        elif method == "posts":  # Mattermost
            answer = {"id": "post1"}
        else:
            answer = {"ok": True, "ts": "1.0"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def platforms():
    fake = FakePlatforms()
    threading.Thread(target=fake.serve_forever, daemon=True).start()
    yield fake
    fake.shutdown()


def apps_env(platforms: "FakePlatforms") -> str:
    """The .env of four messaging apps, each pointed at the fake platform APIs."""
    return f"""\
TELEGRAM_TOKEN={TELEGRAM_TOKEN}
TELEGRAM_BOT_USERNAME=umb_test_bot
TELEGRAM_WEBHOOK_URL=https://assistant.example.org/webhooks/telegram/webhook
TELEGRAM_API_URL={platforms.url}/telegram
SLACK_TOKEN=xoxb-1234-5678-test
SLACK_SIGNING_SECRET="{SLACK_SECRET}"
SLACK_API_URL={platforms.url}/slack/api/
FACEBOOK_VERIFY_TOKEN={FACEBOOK_VERIFY}
FACEBOOK_APP_SECRET={FACEBOOK_SECRET}
FACEBOOK_PAGE_ACCESS_TOKEN=EAAtestpagetoken
FACEBOOK_API_URL={platforms.url}/facebook
MATTERMOST_URL={platforms.url}/mattermost/api/v4
MATTERMOST_TOKEN=9xuqwrwgstrb3mzrxb83nb357a
MATTERMOST_WEBHOOK_URL=https://assistant.example.org/webhooks/mattermost/webhook
"""


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, platforms: FakePlatforms):
    a = with_env_file(tmp_path_factory.mktemp("apps"), apps_env(platforms) + """\
# malformed: reported, left out, and the rest still runs
TWILIO_ACCOUNT_SID=SK0123456789abcdef0123456789abcdef
TWILIO_AUTH_TOKEN=0123456789abcdef0123456789abcdef
TWILIO_NUMBER=+48123456789
""")
    yield a.start()
    a.stop()


def test_enabled_and_malformed_apps_are_logged(assistant: Assistant) -> None:
    log = assistant.log.read_text()
    for app in ("telegram", "slack", "facebook", "mattermost"):
        assert f"{app}: enabled, webhook /webhooks/{app}/webhook" in log
    assert "twilio: disabled, TWILIO_ACCOUNT_SID is malformed: expected AC followed by 32 hexadecimal characters" in log
    assert requests.get(f"{assistant.url}/webhooks/twilio/", timeout=10).status_code == 404
    assert "botframework: disabled, BOTFRAMEWORK_APP_ID not set" in log


# Telegram ---------------------------------------------------------------------------------------


def telegram_update(update: Dict[str, Any], assistant: Assistant) -> requests.Response:
    return requests.post(f"{assistant.url}/webhooks/telegram/webhook", json={"update_id": 1, **update}, timeout=60)


def sent_to(chat_id: int) -> Callable[[Dict[str, Any]], bool]:
    return lambda c: c["path"].endswith("/sendMessage") and c["body"].get("chat_id") == str(chat_id)


def test_telegram_registers_its_webhook_at_start(assistant: Assistant, platforms: FakePlatforms) -> None:
    call = platforms.wait_for(lambda c: c["path"] == f"/telegram/bot{TELEGRAM_TOKEN}/setWebhook")
    assert call["body"]["url"] == "https://assistant.example.org/webhooks/telegram/webhook"


def test_telegram_message_gets_the_answer(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    chat = {"id": 4242, "type": "private"}
    message = {"message_id": 1, "date": 0, "chat": chat, "from": {"id": 4242, "is_bot": False, "first_name": "Ana"},
               "text": "what is your phone number?"}
    assert telegram_update({"message": message}, assistant).text == "success"
    [reply] = platforms.made(sent_to(4242))
    assert reply["path"] == f"/telegram/bot{TELEGRAM_TOKEN}/sendMessage"
    assert reply["body"]["text"] == phone_reply(facts)


def test_telegram_quick_replies_are_inline_buttons(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    chat = {"id": 4343, "type": "private"}
    message = {"message_id": 1, "date": 0, "chat": chat, "text": "what can you do?"}
    telegram_update({"message": message}, assistant)
    [offer] = platforms.made(sent_to(4343))
    [row] = json.loads(offer["body"]["reply_markup"])["inline_keyboard"]
    assert [b["callback_data"] for b in row] == TOPICS
    assert [b["text"] for b in row][0] == "Contact the office"
    # pressing a button sends its payload back
    press = {"id": "cb1", "from": {"id": 4343, "is_bot": False, "first_name": "Ana"}, "chat_instance": "c",
             "data": "/ask_contact", "message": {**message, "message_id": 2}}
    telegram_update({"callback_query": press}, assistant)
    assert platforms.made(sent_to(4343))[-1]["body"]["text"].startswith(f"You can reach the {facts.contact.office}")


# Slack ------------------------------------------------------------------------------------------


def slack_post(assistant: Assistant, body: bytes, content_type: str, timestamp: Optional[int] = None,
               secret: str = SLACK_SECRET) -> requests.Response:
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}
    return requests.post(f"{assistant.url}/webhooks/slack/webhook", data=body, headers=headers, timeout=60)


def slack_message(channel: str, text: str) -> bytes:
    event = {"type": "message", "channel": channel, "channel_type": "im", "user": "U0USER", "text": text, "ts": "1.1"}
    return json.dumps({"type": "event_callback", "event": event, "authorizations": [{"user_id": "U0BOT"}]}).encode()


def posted_to(channel: str) -> Callable[[Dict[str, Any]], bool]:
    return lambda c: c["path"] == "/slack/api/chat.postMessage" and c["body"].get("channel") == channel


def test_slack_signed_event_is_answered(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    response = slack_post(assistant, slack_message("D0SIGNED", "what is your phone number?"), "application/json")
    assert response.status_code == 200
    reply = platforms.wait_for(posted_to("D0SIGNED"))
    assert reply["body"]["text"] == phone_reply(facts)
    assert reply["headers"]["Authorization"] == "Bearer xoxb-1234-5678-test"


def test_slack_bad_signature_or_stale_timestamp_is_refused(assistant: Assistant, platforms: FakePlatforms) -> None:
    forged = slack_post(assistant, slack_message("D0FORGED", "what is your phone number?"), "application/json",
                        secret="0" * 32)
    stale = slack_post(assistant, slack_message("D0STALE", "what is your phone number?"), "application/json",
                       timestamp=int(time.time()) - 10 * 60)
    for response in (forged, stale):
        assert response.status_code == 400
        assert "not properly signed" in response.text
    # a signed message sent after them is answered, and they are not
    slack_post(assistant, slack_message("D0AFTER", "what is your phone number?"), "application/json")
    platforms.wait_for(posted_to("D0AFTER"))
    assert not platforms.made(posted_to("D0FORGED")) and not platforms.made(posted_to("D0STALE"))


def test_slack_quick_replies_are_buttons(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    slack_post(assistant, slack_message("D0BUTTONS", "what can you do?"), "application/json")
    offer = platforms.wait_for(posted_to("D0BUTTONS"))
    [_, actions] = offer["body"]["blocks"]
    assert [b["value"] for b in actions["elements"]] == TOPICS
    # a click arrives as a signed form with the button's value
    click = {"type": "block_actions", "user": {"id": "U0USER"}, "channel": {"id": "D0BUTTONS"},
             "message": {"ts": "1.2"}, "actions": [{"type": "button", "value": "/ask_contact"}]}
    form = urlencode({"payload": json.dumps(click)}).encode()
    assert slack_post(assistant, form, "application/x-www-form-urlencoded").status_code == 200
    answer = platforms.wait_for(lambda c: posted_to("D0BUTTONS")(c) and "blocks" not in c["body"])
    assert answer["body"]["text"].startswith(f"You can reach the {facts.contact.office}")


# Facebook Messenger -----------------------------------------------------------------------------


def test_facebook_verification_answers_the_challenge_only_with_the_right_token(assistant: Assistant) -> None:
    url = f"{assistant.url}/webhooks/facebook/webhook"
    right = requests.get(url, params={"hub.mode": "subscribe", "hub.verify_token": FACEBOOK_VERIFY,
                                      "hub.challenge": "1158201444"}, timeout=10)
    assert (right.status_code, right.text) == (200, "1158201444")
    wrong = requests.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                      "hub.challenge": "1158201444"}, timeout=10)
    assert wrong.status_code == 403 and "1158201444" not in wrong.text


def facebook_post(assistant: Assistant, sender: str, message: Dict[str, Any], secret: str = FACEBOOK_SECRET) -> requests.Response:
    event = {"sender": {"id": sender}, "recipient": {"id": "PAGE"}, "timestamp": 0, "message": {"mid": "m", **message}}
    body = json.dumps({"object": "page", "entry": [{"id": "PAGE", "time": 0, "messaging": [event]}]}).encode()
    signature = "sha1=" + hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()
    return requests.post(f"{assistant.url}/webhooks/facebook/webhook", data=body, timeout=60,
                         headers={"Content-Type": "application/json", "X-Hub-Signature": signature})


def messages_to(sender: str) -> Callable[[Dict[str, Any]], bool]:
    return lambda c: c["path"].startswith("/facebook/me/messages") and c["body"]["recipient"]["id"] == sender \
        and "message" in c["body"]


def test_facebook_bad_signature_is_refused_and_a_signed_message_answered(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    refused = facebook_post(assistant, "fb-forged", {"text": "what is your phone number?"}, secret="f" * 32)
    assert (refused.status_code, refused.text) == (403, "not validated")
    assert facebook_post(assistant, "fb-signed", {"text": "what is your phone number?"}).text == "success"
    [reply] = platforms.made(messages_to("fb-signed"))
    assert reply["body"]["message"] == {"text": phone_reply(facts)}
    assert not platforms.made(lambda c: c["path"].startswith("/facebook") and "fb-forged" in json.dumps(c["body"]))


def test_facebook_four_topics_become_quick_replies(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    facebook_post(assistant, "fb-help", {"text": "what can you do?"})
    [offer] = platforms.made(messages_to("fb-help"))
    assert [q["payload"] for q in offer["body"]["message"]["quick_replies"]] == TOPICS
    facebook_post(assistant, "fb-help", {"text": "Contact the office", "quick_reply": {"payload": "/ask_contact"}})
    answer = platforms.made(messages_to("fb-help"))[-1]
    assert answer["body"]["message"]["text"].startswith(f"You can reach the {facts.contact.office}")


# Mattermost -------------------------------------------------------------------------------------


def test_mattermost_message_gets_the_answer(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    outgoing = {"trigger_word": "@umb", "text": "@umb what is your phone number?", "user_id": "mm-user", "channel_id": "mm-chan"}
    assert requests.post(f"{assistant.url}/webhooks/mattermost/webhook", json=outgoing, timeout=60).text == "success"
    [post] = platforms.made(lambda c: c["path"] == "/mattermost/api/v4/posts" and c["body"].get("channel_id") == "mm-chan")
    assert post["body"]["message"] == phone_reply(facts)
    assert post["headers"]["Authorization"] == "Bearer 9xuqwrwgstrb3mzrxb83nb357a"
