"""Which channels run: those whose secrets are set (in `.env` or the environment) and well formed.

`credentials.yml` lists every channel, its secrets as `${VARIABLE}`s. Rasa stops at start-up when
one of them is unset, so the run command writes an effective copy with only the channels that can
run, and logs one line for each channel it leaves out. The copy keeps the `${VARIABLE}`s (Rasa fills
them in when it reads the file), so no secret is ever written to disk.
"""
import logging
import re
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Optional

import yaml

logger = logging.getLogger("channels")

VARIABLE = re.compile(r"\$\{(\w+)\}")

# Variables that may stay unset: the setting that uses them is then left out.
OPTIONAL = {"SLACK_CHANNEL", "WEBEX_ROOM", "TELEGRAM_API_URL", "SLACK_API_URL", "FACEBOOK_API_URL"}

_URL = r"https?://[^\s/]+(/\S*)?"
_HEX32 = r"[0-9a-f]{32}"
# What a well formed value looks like: (regular expression, what to write instead).
FORMATS: Dict[str, tuple] = {
    "TELEGRAM_TOKEN": (r"\d+:[\w-]{20,}", "the token @BotFather gave, digits, a colon, then letters"),
    "TELEGRAM_BOT_USERNAME": (r"[A-Za-z]\w{3,31}", "the bot's username, without the @"),
    "TELEGRAM_WEBHOOK_URL": (r"https://\S+/webhooks/telegram/webhook", "the public https:// address ending in /webhooks/telegram/webhook"),
    "TELEGRAM_API_URL": (_URL, "a URL such as http://127.0.0.1:8081"),
    "SLACK_TOKEN": (r"xox[bp]-[\w-]+", "the bot token, starting with xoxb-"),
    "SLACK_SIGNING_SECRET": (_HEX32, "32 hexadecimal characters (Basic Information > App Credentials)"),
    "SLACK_CHANNEL": (r"[#\w-]+", "a channel ID or name"),
    "SLACK_API_URL": (_URL + "/", "a URL ending in /, such as https://slack.com/api/"),
    "FACEBOOK_VERIFY_TOKEN": (r"\S{8,}", "a phrase you choose, at least 8 characters, no spaces"),
    "FACEBOOK_APP_SECRET": (_HEX32, "32 hexadecimal characters (App settings > Basic > App secret)"),
    "FACEBOOK_PAGE_ACCESS_TOKEN": (r"EAA[A-Za-z0-9]+", "the page access token, starting with EAA"),
    "FACEBOOK_API_URL": (_URL, "a URL such as https://graph.facebook.com/v2.12"),
    "BOTFRAMEWORK_APP_ID": (r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "the Microsoft App ID, a GUID"),
    "BOTFRAMEWORK_APP_PASSWORD": (r"\S+", "the client secret's value, no spaces"),
    "TWILIO_ACCOUNT_SID": (r"AC" + _HEX32, "AC followed by 32 hexadecimal characters"),
    "TWILIO_AUTH_TOKEN": (_HEX32, "32 hexadecimal characters"),
    "TWILIO_NUMBER": (r"(whatsapp:)?\+[1-9]\d{6,14}", "an international number such as +48123456789, or whatsapp:+48123456789"),
    "ROCKETCHAT_USER": (r"\S+", "the bot's user name"),
    "ROCKETCHAT_PASSWORD": (r".+", "the bot's password"),
    "ROCKETCHAT_URL": (_URL, "the server's address, such as https://chat.example.org"),
    "MATTERMOST_URL": (_URL + r"/api/v4", "the server's API address, ending in /api/v4"),
    "MATTERMOST_TOKEN": (r"[a-z0-9]{26}", "the bot's access token, 26 lower-case letters and digits"),
    "MATTERMOST_WEBHOOK_URL": (r"https?://\S+/webhooks/mattermost/webhook", "the public address ending in /webhooks/mattermost/webhook"),
    "WEBEX_ACCESS_TOKEN": (r"\S{20,}", "the bot's access token, no spaces"),
    "WEBEX_ROOM": (r"\S+", "a room ID"),
    "GOOGLE_CHAT_PROJECT_NUMBER": (r"\d+", "the Google Cloud project number (digits)"),
}


def channel_name(key: str) -> str:
    """`telegram` both for Rasa's `telegram` and for `channels.connectors.TelegramInput`."""
    name = key.rsplit(".", 1)[-1].lower()
    return name[: -len("input")] if "." in key and name.endswith("input") else name


def _variables(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from VARIABLE.findall(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _variables(item)
    elif isinstance(value, list):
        for item in value:
            yield from _variables(item)


def _problem(name: str, settings: Any, env: Mapping[str, str]) -> Optional[str]:
    """Why the channel cannot run, or None."""
    variables = list(dict.fromkeys(_variables(settings)))
    required = [v for v in variables if v not in OPTIONAL]
    missing = [v for v in required if not env.get(v)]
    if missing:
        # nothing set: the operator does not use this app; name its first variable only
        shown = missing[:1] if len(missing) == len(required) else missing
        return f"{', '.join(shown)} not set"
    for variable in variables:
        value = env.get(variable)
        if value and variable in FORMATS and not re.fullmatch(FORMATS[variable][0], value):
            return f"{variable} is malformed: expected {FORMATS[variable][1]}"
    return None


def _without_unset(settings: Any, env: Mapping[str, str]) -> Any:
    """The settings minus those that use an unset optional variable."""
    if not isinstance(settings, dict):
        return settings
    return {k: v for k, v in settings.items() if all(env.get(var) for var in _variables(v))}


def active_channels(channels: Mapping[str, Any], env: Mapping[str, str]) -> Dict[str, Any]:
    """The channels that can run; one log line for each one left out."""
    active = {}
    for key, settings in channels.items():
        name = channel_name(key)
        problem = _problem(name, settings, env)
        if problem is None:
            active[key] = _without_unset(settings, env)
            if list(_variables(settings)):
                logger.info("%s: enabled, webhook /webhooks/%s/webhook", name, name)
        elif problem.endswith("not set") and not any(env.get(v) for v in _variables(settings)):
            logger.info("%s: disabled, %s", name, problem)
        else:
            logger.error("%s: disabled, %s", name, problem)
    return active


def write_active_credentials(template: Path, out: Path, env: Mapping[str, str]) -> Path:
    """Write the credentials of the channels that can run to `out` (for `rasa run --credentials`)."""
    channels = yaml.safe_load(template.read_text()) or {}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        f"# Written by scripts/serve.py from {template.name}: the channels whose variables are set.\n"
        + yaml.safe_dump(active_channels(channels, env), sort_keys=False)
    )
    return out



def main(argv: Optional[list] = None) -> int:
    """`python -m channels.settings [TEMPLATE] [OUT]`: write the credentials of the apps whose
    variables are set in the environment (for a container, where scripts/serve.py does not run)."""
    import os
    import sys

    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    template = Path(args[0] if args else "credentials.yml")
    out = Path(args[1] if len(args) > 1 else "build/credentials.active.yml")
    print(write_active_credentials(template, out, os.environ))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
