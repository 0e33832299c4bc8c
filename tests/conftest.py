"""Shared fixtures: the trained model (made by `make test` before pytest runs) and the facts.

Tests build every fact they expect from `facts` (data/facts.yml, read by the assistant's own
parser) and write only the wording out, so that a fact changed as docs/STAFF.md describes keeps
them green while a wrong answer still fails them (tests/test_fact_change.py).
"""
import asyncio
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List

import pytest

from actions.facts import parse

if TYPE_CHECKING:
    from scripts.assistant import Assistant

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "current.tar.gz"
FACTS_FILE = ROOT / "data" / "facts.yml"

os.chdir(ROOT)  # config and endpoints use paths relative to the project


def pytest_configure(config: pytest.Config) -> None:
    """skops before Rasa and TensorFlow: each in-process model loads seconds faster (rasa_addons/server.py)."""
    from rasa_addons.server import import_skops_first

    import_skops_first()


# `make test` runs the modules on three xdist workers (`--dist loadgroup`; the tests wait on servers and
# browsers much of the time, so a third keeps both cores busy), each module whole on one worker so that
# its servers start once. These share the machine's PostgreSQL and Redis (tables, the lock store, a test
# that cuts a database connection): they run on one worker, one after the other.
ONE_WORKER = frozenset({"test_deploy", "test_limits", "test_retention", "test_scale_out", "test_speedups",
                        "test_staff_tools", "test_workers"})
# xdist hands out the groups with the most tests first. The staff loop (one test that retrains a model for
# minutes) rides with the module of the most (quick) tests, so it starts at once on a worker of its own.
STARTS_FIRST = {"test_console_retrain": "test_answers"}


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups into the test ids
def pytest_collection_modifyitems(items: List[pytest.Item]) -> None:
    for item in items:
        module = Path(str(item.fspath)).stem
        item.add_marker(pytest.mark.xdist_group("services" if module in ONE_WORKER else STARTS_FIRST.get(module, module)))


class Facts:
    """The facts as attributes (`facts.contact.phone`); lists stay lists."""

    def __init__(self, values: Dict[str, Any]) -> None:
        self._values = values

    @classmethod
    def load(cls, path: Path = FACTS_FILE) -> "Facts":
        return cls(parse(path))

    def __getattr__(self, name: str) -> Any:
        try:
            value = self._values[name]
        except KeyError:
            raise AttributeError(f"no fact '{name}' here") from None
        return Facts(value) if isinstance(value, dict) else value


def record_change(path: Path, field: str) -> int:
    """Record in a facts file that staff changed `field`, as docs/STAFF.md (worked example 1) shows,
    after any change recorded already; the line of its `- field:`."""
    lines = path.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("  changed_by_staff:"))
    entry = [f"    - field: {field}\n", "      by: International Cooperation Office\n", "      on: 2026-12-01\n"]
    if lines[start].strip() == "changed_by_staff: []":
        lines[start], at = "  changed_by_staff:\n", start + 1
    else:
        at = next((i for i in range(start + 1, len(lines)) if lines[i].strip() and not lines[i].startswith("    ")), len(lines))
    path.write_text("".join(lines[:at] + entry + lines[at:]))
    return at + 1


def listing(items: Iterable[str]) -> str:
    """'a', 'a and b', 'a, b and c': how the answers list things."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def listing_pl(items: Iterable[str]) -> str:
    """'a', 'a i b', 'a, b i c': how the Polish answers list things."""
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " i " + items[-1]


def address(f: Facts) -> str:
    a = f.contact.address
    return f"{a.street}, {a.postcode} {a.city}, {a.country}"


# Answers several test files expect, wording as in domain.yml, facts from the facts file.
def phone_reply(f: Facts) -> str:
    return f"The {f.contact.office}'s phone number is {f.contact.phone}."


def fax_reply(f: Facts) -> str:
    return f"The {f.contact.office}'s fax number is {f.contact.fax}."


def email_reply(f: Facts) -> str:
    return f"You can write to the {f.contact.office} at {f.contact.email}."


def center_location_reply(f: Facts) -> str:
    return f"The {f.euroregional_center.name} is located {f.euroregional_center.location}."


def center_founded_reply(f: Facts) -> str:
    c = f.euroregional_center
    return f"The {c.name} was formed in {c.founded}, as a result of an agreement between {listing(c.founding_partners)}."


# The same in Polish (domain.yml's variations for `language: pl`), from the facts' Polish forms.
def phone_reply_pl(f: Facts) -> str:
    return f"{f.contact.office_pl} – numer telefonu: {f.contact.phone}."


def unavailable_reply_pl(f: Facts) -> str:
    return (f"Przepraszam, nie mogę teraz odpowiedzieć. Proszę spróbować ponownie za chwilę lub skontaktować się "
            f"bezpośrednio – {f.contact.office_pl}: {f.contact.email}, tel. {f.contact.phone}.")


def unavailable_reply(f: Facts) -> str:
    return (f"Sorry, I can't answer that right now. Please try again in a moment, or contact the "
            f"{f.contact.office}: {f.contact.email}, tel. {f.contact.phone}.")


def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of one's own (for a fixture); its keys are deleted afterwards."""
    import uuid

    import redis

    prefix = f"umbtest{uuid.uuid4().hex[:8]}"
    yield prefix
    r = redis.Redis(host="127.0.0.1", port=6379)
    for key in r.scan_iter(f"{prefix}*"):
        r.delete(key)


@pytest.fixture(scope="session")
def facts() -> Facts:
    """data/facts.yml as the assistant reads it."""
    return Facts.load()


@pytest.fixture(scope="session")
def event_loop():
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


@pytest.fixture(scope="session")
def agent():
    """The trained assistant, loaded in-process (NLU + dialogue policies)."""
    from rasa.core.agent import Agent

    assert MODEL.exists(), f"no trained model at {MODEL}: run `make test`, which trains it"
    return Agent.load(str(MODEL))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """A test module's own folder, with its own copy of the facts (tests may edit it)."""
    path = tmp_path_factory.mktemp("assistant")
    shutil.copy(FACTS_FILE, path / "facts.yml")
    return path


@pytest.fixture(scope="session")
def _default_assistant(tmp_path_factory) -> Iterator["Assistant"]:
    from scripts.assistant import Assistant

    path = tmp_path_factory.mktemp("assistant")
    shutil.copy(FACTS_FILE, path / "facts.yml")
    a = Assistant(path, UMB_FACTS_FILE=str(path / "facts.yml"))
    yield a
    a.stop()


@pytest.fixture(scope="module")
def assistant(_default_assistant: "Assistant") -> "Assistant":
    """Both servers, started by the run script with the default settings and a facts file of their
    own (`assistant_facts`). The modules that need nothing else share them, since each start costs
    about 10 s; a module that stopped them (to test a restart or a stop) gets them started again."""
    if _default_assistant.proc is None or _default_assistant.proc.poll() is not None:
        _default_assistant.start()
    return _default_assistant


@pytest.fixture
def assistant_facts(assistant: "Assistant") -> Path:
    """The facts file the `assistant` fixture's servers read: a test that edits it puts it back."""
    return Path(assistant.env["UMB_FACTS_FILE"])
