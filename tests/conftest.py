"""Shared fixtures: the trained model (made by `make test` before pytest runs)."""
import asyncio
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from tests.servers import Assistant

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "current.tar.gz"

os.chdir(ROOT)  # config and endpoints use paths relative to the project


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
    shutil.copy(ROOT / "data" / "facts.yml", path / "facts.yml")
    return path


@pytest.fixture(scope="module")
def assistant(workdir: Path) -> Iterator["Assistant"]:
    """Both servers, started by the run script, for the tests of one module."""
    from tests.servers import Assistant

    a = Assistant(workdir, UMB_FACTS_FILE=str(workdir / "facts.yml")).start()
    yield a
    a.stop()
