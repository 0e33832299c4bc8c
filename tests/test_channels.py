"""Messaging apps: which channels run for which settings, and a server started with no secrets at all."""
import logging
import re
import socket
import threading
from pathlib import Path

import pytest
import requests
import yaml

from channels.connectors import text_with_options
from channels.settings import FORMATS, active_channels, channel_name, write_active_credentials
from scripts.assistant import Assistant
from tests.conftest import ROOT, Facts, phone_reply
from tests.servers import with_env_file

APPS = {
    "telegram": "TELEGRAM_TOKEN", "slack": "SLACK_TOKEN", "facebook": "FACEBOOK_VERIFY_TOKEN",
    "botframework": "BOTFRAMEWORK_APP_ID", "twilio": "TWILIO_ACCOUNT_SID", "rocketchat": "ROCKETCHAT_USER",
    "mattermost": "MATTERMOST_URL", "webexteams": "WEBEX_ACCESS_TOKEN", "hangouts": "GOOGLE_CHAT_PROJECT_NUMBER",
}
TELEGRAM = {
    "TELEGRAM_TOKEN": "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
    "TELEGRAM_BOT_USERNAME": "umb_cooperation_bot",
    "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/webhooks/telegram/webhook",
}


def load_template() -> dict:
    return yaml.safe_load((ROOT / "credentials.yml").read_text())


def test_every_app_of_credentials_yml_is_known() -> None:
    apps = {channel_name(key) for key, value in load_template().items() if "${" in str(value)}
    assert apps == set(APPS)


def test_nothing_set_leaves_every_app_out_with_one_line_each(caplog) -> None:
    caplog.set_level(logging.INFO, logger="channels")
    template = load_template()
    active = active_channels(template, {})
    # REST, socket.io and the web chat need no secret: they stay
    assert set(active) == {key for key, value in template.items() if "${" not in str(value)}
    assert {channel_name(key) for key in active}.isdisjoint(APPS)
    lines = [r.getMessage() for r in caplog.records if r.name == "channels"]
    assert sorted(lines) == sorted(f"{app}: disabled, {var} not set" for app, var in APPS.items())
    assert "telegram: disabled, TELEGRAM_TOKEN not set" in lines


def test_an_app_with_its_variables_set_runs_and_keeps_them_as_variables(caplog) -> None:
    caplog.set_level(logging.INFO, logger="channels")
    active = active_channels(load_template(), TELEGRAM)
    # the optional API address is unset, so it is left out; the secrets stay ${...} for Rasa to fill in
    assert active["channels.connectors.TelegramInput"] == {
        "access_token": "${TELEGRAM_TOKEN}", "verify": "${TELEGRAM_BOT_USERNAME}", "webhook_url": "${TELEGRAM_WEBHOOK_URL}",
    }
    assert "telegram: enabled, webhook /webhooks/telegram/webhook" in caplog.messages


def test_half_configured_app_names_what_is_missing(caplog) -> None:
    env = {k: v for k, v in TELEGRAM.items() if k != "TELEGRAM_WEBHOOK_URL"}
    active = active_channels(load_template(), env)
    assert "channels.connectors.TelegramInput" not in active
    [record] = [r for r in caplog.records if r.getMessage().startswith("telegram:")]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "telegram: disabled, TELEGRAM_WEBHOOK_URL not set"


@pytest.mark.parametrize("variable, value, expected", [
    ("TELEGRAM_TOKEN", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "the token @BotFather gave"),
    ("TELEGRAM_BOT_USERNAME", "@umb_cooperation_bot", "without the @"),
    ("TELEGRAM_WEBHOOK_URL", "http://bot.example.org/webhooks/telegram/webhook", "https://"),
])
def test_malformed_secret_is_reported_without_its_value(caplog, variable: str, value: str, expected: str) -> None:
    active = active_channels(load_template(), {**TELEGRAM, variable: value})
    assert "channels.connectors.TelegramInput" not in active
    [message] = [m for m in caplog.messages if m.startswith("telegram:")]
    assert message.startswith(f"telegram: disabled, {variable} is malformed: expected ")
    assert expected in message
    assert value not in message


@pytest.mark.parametrize("variable, good, bad", [
    ("SLACK_TOKEN", "xoxb-1234-5678-abcdEFGH", "1234-5678"),
    ("SLACK_SIGNING_SECRET", "8f742231b10e8888abcd99abcdef85a5", "secret"),
    ("FACEBOOK_APP_SECRET", "0123456789abcdef0123456789abcdef", "0123456789abcdef"),
    ("FACEBOOK_PAGE_ACCESS_TOKEN", "EAAGm0PX4ZCpsBAKZB", "'EAAGm0PX4ZCpsBAKZB'"),
    ("BOTFRAMEWORK_APP_ID", "2b6d7b5e-4f0c-4c0a-9a77-123456789abc", "my-bot"),
    ("TWILIO_ACCOUNT_SID", "AC" + "0123456789abcdef" * 2, "SK" + "0123456789abcdef" * 2),
    ("TWILIO_NUMBER", "whatsapp:+14155238886", "0048 85 123 45 67"),
    ("MATTERMOST_URL", "https://chat.example.org/api/v4", "https://chat.example.org"),
    ("MATTERMOST_TOKEN", "9xuqwrwgstrb3mzrxb83nb357a", "9xuqwrwg strb3mzrxb83nb357a"),
    ("GOOGLE_CHAT_PROJECT_NUMBER", "123456789012", "umb-assistant"),
])
def test_formats(variable: str, good: str, bad: str) -> None:
    pattern = FORMATS[variable][0]
    assert re.fullmatch(pattern, good) and not re.fullmatch(pattern, bad)


def test_channel_of_another_kind_needs_all_its_variables(caplog) -> None:
    template = {"rest": None, "my.Widget": {"token": "${WIDGET_TOKEN}", "plain": 1}}
    assert list(active_channels(template, {})) == ["rest"]
    assert "widget: disabled, WIDGET_TOKEN not set" in caplog.messages
    assert active_channels(template, {"WIDGET_TOKEN": "x"})["my.Widget"] == template["my.Widget"]


def test_written_file_is_read_by_rasa_with_the_secrets_filled_in(tmp_path: Path, monkeypatch) -> None:
    from rasa.shared.utils.io import read_config_file

    for key, value in TELEGRAM.items():
        monkeypatch.setenv(key, value)
    out = write_active_credentials(ROOT / "credentials.yml", tmp_path / "credentials.yml", TELEGRAM)
    assert "access_token: ${TELEGRAM_TOKEN}" in out.read_text()  # unquoted: Rasa expands only those
    assert TELEGRAM["TELEGRAM_TOKEN"] not in out.read_text()
    credentials = read_config_file(str(out))
    assert credentials["channels.connectors.TelegramInput"]["access_token"] == TELEGRAM["TELEGRAM_TOKEN"]
    assert "channels.connectors.SlackInput" not in credentials


def test_apps_without_buttons_get_the_options_as_lines() -> None:
    buttons = [{"title": "Contact the office", "payload": "/ask_contact"}, {"title": "Partnerships", "payload": "/ask_partnerships"}]
    assert text_with_options("What would you like to know?", buttons) == (
        "What would you like to know?\n- Contact the office\n- Partnerships"
    )


def test_unreachable_telegram_is_logged_and_the_server_goes_on(caplog, platform_down: str) -> None:
    from channels.connectors import TelegramInput

    channel = TelegramInput.from_credentials({
        "access_token": TELEGRAM["TELEGRAM_TOKEN"], "verify": "umb_cooperation_bot",
        "webhook_url": TELEGRAM["TELEGRAM_WEBHOOK_URL"], "api_url": platform_down,
    })
    blueprints = []
    # in a thread of its own, as at server start: no event loop is running there
    worker = threading.Thread(target=lambda: blueprints.append(channel.blueprint(lambda message: None)))
    worker.start()
    worker.join(60)
    assert blueprints and blueprints[0].name == "telegram_webhook"
    assert any(m.startswith("telegram: could not register the webhook https://bot.example.org/webhooks/telegram/webhook")
               for m in caplog.messages)


def test_unreachable_microsoft_keys_are_logged_and_the_server_goes_on(caplog, monkeypatch, platform_down: str) -> None:
    from rasa.core.channels import botframework

    from channels.connectors import BotFrameworkInput

    monkeypatch.setattr(botframework, "MICROSOFT_OPEN_ID_URI", platform_down)
    channel = BotFrameworkInput("2b6d7b5e-4f0c-4c0a-9a77-123456789abc", "secret")
    assert channel.jwt_keys == {}
    assert any(m.startswith("botframework: could not fetch Microsoft's signing keys") for m in caplog.messages)


async def test_bot_framework_buttons_show_their_title_and_send_their_payload() -> None:
    from channels.connectors import BotFramework

    sent = []
    bot = BotFramework("app", "pw", {"id": "conv"}, {"id": "bot"}, "https://smba.example.org/emea")

    async def send(message: dict) -> None:
        sent.append(message)

    bot.send = send
    await bot.send_text_with_buttons("user", "Which topic?", [{"title": "Partnerships", "payload": "/ask_partnerships"}])
    [card] = sent[0]["attachments"]
    assert card["content"] == {"text": "Which topic?", "buttons": [
        {"type": "messageBack", "title": "Partnerships", "displayText": "Partnerships", "text": "/ask_partnerships"}
    ]}


def test_rocketchat_buttons_post_their_title() -> None:
    from channels.connectors import RocketChatBot

    [button] = RocketChatBot._convert_to_rocket_buttons([{"title": "Partnerships", "payload": "/ask_partnerships"}])
    assert button["msg"] == button["text"] == "Partnerships"


@pytest.fixture
def platform_down() -> str:
    """The address of a port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


# A real server started with no messaging-app secret at all -------------------------------------


@pytest.fixture(scope="module")
def bare(tmp_path_factory):
    assistant = with_env_file(tmp_path_factory.mktemp("no-secrets"), "# nothing but the defaults\n")
    yield assistant.start()
    assistant.stop()


def test_no_secrets_gives_rest_and_socketio_only(bare: Assistant, facts: Facts) -> None:
    log = bare.log.read_text()
    for app, variable in APPS.items():
        assert f"channels INFO {app}: disabled, {variable} not set" in log
    for app in APPS:
        assert requests.get(f"{bare.url}/webhooks/{app}/", timeout=10).status_code == 404, app
    assert requests.get(f"{bare.url}/webhooks/rest/", timeout=10).json() == {"status": "ok"}
    assert requests.get(f"{bare.url}/socket.io/?EIO=4&transport=polling", timeout=10).status_code == 200
    assert bare.texts("no-secrets", "what is your phone number?") == [phone_reply(facts)]
