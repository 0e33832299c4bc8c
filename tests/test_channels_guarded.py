"""The messaging apps go through the web channels' guard (channels/guard.py): with the action server
down, a user gets the office's contact details, not silence; an over-long message gets the length
reply. Against the local fake platform APIs of tests/test_channels_http.py."""
from typing import Any, Dict

import pytest
import requests

from channels.guard import MAX_MESSAGE_CHARS
from scripts.assistant import Assistant, free_port
from tests.conftest import Facts, unavailable_reply
from tests.servers import with_env_file
from tests.test_channels_http import (  # noqa: F401 (platforms: the fixture)
    FACEBOOK_SECRET, FACEBOOK_VERIFY, SLACK_SECRET, TELEGRAM_TOKEN, FakePlatforms, apps_env, facebook_post, messages_to,
    platforms, posted_to, sent_to, slack_message, slack_post, telegram_update,
)


def too_long_reply(f: Facts) -> str:
    return (f"Sorry, your message is too long for me: please keep it under {MAX_MESSAGE_CHARS} characters. "
            f"You can also write to the {f.contact.office} at {f.contact.email} or call {f.contact.phone}.")


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, platforms: FakePlatforms):
    a = with_env_file(tmp_path_factory.mktemp("apps-guarded"), apps_env(platforms))
    # the action server is down: Rasa calls it (ACTIONS_MODULE empty) on a port where nothing listens
    a.env["ACTIONS_MODULE"] = ""
    a.env["ACTION_SERVER_URL"] = f"http://127.0.0.1:{free_port()}/webhook"
    yield a.start()
    a.stop()


def telegram_text(chat_id: int, text: str) -> Dict[str, Any]:
    return {"message": {"message_id": 1, "date": 0, "chat": {"id": chat_id, "type": "private"},
                        "from": {"id": chat_id, "is_bot": False, "first_name": "Ana"}, "text": text}}


def test_telegram(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    assert telegram_update(telegram_text(5151, "what is your phone number?"), assistant).text == "success"
    assert [c["body"]["text"] for c in platforms.made(sent_to(5151))] == [unavailable_reply(facts)]
    telegram_update(telegram_text(5252, "x" * (MAX_MESSAGE_CHARS + 1)), assistant)
    assert [c["body"]["text"] for c in platforms.made(sent_to(5252))] == [too_long_reply(facts)]


def test_slack(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    assert slack_post(assistant, slack_message("D0DOWN", "what is your phone number?"), "application/json").status_code == 200
    assert platforms.wait_for(posted_to("D0DOWN"))["body"]["text"] == unavailable_reply(facts)
    slack_post(assistant, slack_message("D0LONG", "y " * MAX_MESSAGE_CHARS), "application/json")
    assert platforms.wait_for(posted_to("D0LONG"))["body"]["text"] == too_long_reply(facts)


def test_facebook(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    assert facebook_post(assistant, "fb-down", {"text": "what is your phone number?"}).text == "success"
    assert [c["body"]["message"] for c in platforms.made(messages_to("fb-down"))] == [{"text": unavailable_reply(facts)}]
    facebook_post(assistant, "fb-long", {"text": "z" * (MAX_MESSAGE_CHARS + 1)})
    assert [c["body"]["message"] for c in platforms.made(messages_to("fb-long"))] == [{"text": too_long_reply(facts)}]


def test_mattermost(assistant: Assistant, platforms: FakePlatforms, facts: Facts) -> None:
    def posts(channel: str):
        return [c["body"]["message"] for c in platforms.made(
            lambda c: c["path"] == "/mattermost/api/v4/posts" and c["body"].get("channel_id") == channel)]

    outgoing = {"trigger_word": "@umb", "text": "@umb what is your phone number?", "user_id": "mm-down", "channel_id": "mm-down"}
    assert requests.post(f"{assistant.url}/webhooks/mattermost/webhook", json=outgoing, timeout=60).text == "success"
    assert posts("mm-down") == [unavailable_reply(facts)]
    outgoing = {**outgoing, "text": "@umb " + "w" * (MAX_MESSAGE_CHARS + 1), "channel_id": "mm-long"}
    requests.post(f"{assistant.url}/webhooks/mattermost/webhook", json=outgoing, timeout=60)
    assert posts("mm-long") == [too_long_reply(facts)]


def test_the_failure_is_logged(assistant: Assistant) -> None:
    log = assistant.log.read_text()
    assert "sending the office's contact details" in log
    assert "not read:" in log
