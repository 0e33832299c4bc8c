"""Shared fixtures: the trained model (made by `make test` before pytest runs)."""
import asyncio
import os
from pathlib import Path

import pytest

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
