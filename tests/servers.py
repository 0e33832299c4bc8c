"""An assistant for the messaging-app tests, whose secrets come only from a given .env."""
from pathlib import Path

from channels.settings import FORMATS
from scripts.assistant import Assistant


def with_env_file(workdir: Path, env_text: str) -> Assistant:
    """An assistant whose messaging-app secrets come only from `env_text`, written as its .env:
    none of the machine's own secrets are passed on."""
    (workdir / ".env").write_text(env_text)
    assistant = Assistant(workdir, ENV_FILE=str(workdir / ".env"))
    for variable in FORMATS:
        assistant.env.pop(variable, None)
    return assistant
