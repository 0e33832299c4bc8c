"""Custom actions inside the Rasa server (rasa_addons/inprocess.py): Rasa's own RemoteAction runs them
through the action endpoint of endpoints.yml, and a failure comes back as the action server would
answer it. The whole assistant served this way: tests/test_server_http.py."""
import asyncio
from pathlib import Path
from typing import Any, Dict, Iterator, List, Text

import pytest
import rasa.core.actions.action
from rasa.core.actions.action import ActionExecutionRejection, RemoteAction
from rasa.core.channels import CollectingOutputChannel
from rasa.core.utils import AvailableEndpoints
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Action
from rasa_sdk import interfaces as sdk

from rasa_addons import inprocess
from rasa_addons.nlg import OfficeNLG
from tests.conftest import ROOT, Facts, phone_reply

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
ENV = {"ACTION_SERVER_URL": "http://127.0.0.1:5055/webhook", "ACTION_SERVER_TOKEN": "t", "TRACKER_DB": "unused.db"}


class ActionTestRaises(Action):
    def name(self) -> Text:
        return "action_test_raises"

    def run(self, dispatcher: Any, tracker: Any, domain: Any) -> List[Dict[Text, Any]]:
        raise ValueError("a bug in an action")


class ActionTestRejects(Action):
    def name(self) -> Text:
        return "action_test_rejects"

    def run(self, dispatcher: Any, tracker: Any, domain: Any) -> List[Dict[Text, Any]]:
        raise sdk.ActionExecutionRejection(self.name(), "not now")


class ActionTestSlow(Action):
    def name(self) -> Text:
        return "action_test_slow"

    async def run(self, dispatcher: Any, tracker: Any, domain: Any) -> List[Dict[Text, Any]]:
        await asyncio.sleep(5)
        return []


@pytest.fixture(autouse=True)
def in_process() -> Iterator[None]:
    """The patch of the Rasa server's entry point, undone after each test."""
    rasa_request = EndpointConfig.request
    inprocess.apply()
    yield
    EndpointConfig.request = rasa_request


def phone_question() -> DialogueStateTracker:
    message = UserUttered("what is your phone number?", intent={"name": "ask_contact", "confidence": 1.0},
                          entities=[{"entity": "contact_channel", "value": "phone"}])
    return DialogueStateTracker.from_events("in-process", [ActionExecuted("action_listen"), message], slots=DOMAIN.slots)


def endpoint_of(path: Path, monkeypatch: pytest.MonkeyPatch, actions_module: str) -> EndpointConfig:
    """The action endpoint Rasa reads from that endpoints file, with ACTIONS_MODULE set so."""
    for name, value in {**ENV, "ACTIONS_MODULE": actions_module}.items():
        monkeypatch.setenv(name, value)
    return AvailableEndpoints.read_endpoints(str(path)).action


async def test_the_endpoints_file_runs_the_actions_in_process(monkeypatch: pytest.MonkeyPatch, facts: Facts) -> None:
    endpoint = endpoint_of(ROOT / "endpoints.yml", monkeypatch, "actions")
    assert inprocess.module(endpoint) == "actions"
    events = await RemoteAction("action_answer_contact", endpoint).run(
        CollectingOutputChannel(), OfficeNLG(domain=DOMAIN), phone_question(), DOMAIN)
    assert [e.text for e in events if isinstance(e, BotUttered)] == [phone_reply(facts)]
    assert [e for e in events if isinstance(e, SlotSet)] == [SlotSet("topic", "contact")]


def test_which_setups_run_the_actions_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """make run's default, ACTIONS_MODULE empty (an action server), the scaled setup (always one)."""
    assert inprocess.configured(ROOT / "endpoints.yml", {"ACTIONS_MODULE": "actions"}) == "actions"
    assert inprocess.configured(ROOT / "endpoints.yml", {"ACTIONS_MODULE": ""}) is None
    assert inprocess.configured(ROOT / "endpoints.yml", {}) is None
    assert inprocess.configured(ROOT / "endpoints.scaled.yml", {"ACTIONS_MODULE": "actions"}) is None
    assert inprocess.module(endpoint_of(ROOT / "endpoints.yml", monkeypatch, "")) is None


def test_an_endpoint_with_a_url_still_calls_the_action_server() -> None:
    endpoint = EndpointConfig(url="http://127.0.0.1:1/webhook", actions_module="")
    with pytest.raises(RasaException, match="Couldn't connect"):
        asyncio.run(RemoteAction("action_answer_contact", endpoint).run(
            CollectingOutputChannel(), OfficeNLG(domain=DOMAIN), phone_question(), DOMAIN))


async def run_test_action(name: str) -> None:
    endpoint = EndpointConfig(actions_module="tests.test_inprocess")
    await RemoteAction(name, endpoint).run(CollectingOutputChannel(), OfficeNLG(domain=DOMAIN), phone_question(), DOMAIN)


async def test_an_action_that_raises_fails_as_with_an_action_server(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RasaException, match="Failed to execute custom action 'action_test_raises'") as failed:
        await run_test_action("action_test_raises")
    assert failed.value.__cause__.status == 500
    assert "Custom action 'action_test_raises' failed" in caplog.text and "ValueError: a bug in an action" in caplog.text


async def test_a_rejected_or_unknown_action() -> None:
    with pytest.raises(ActionExecutionRejection, match="not now"):
        await run_test_action("action_test_rejects")
    with pytest.raises(RasaException, match="Failed to execute custom action 'action_nobody_wrote'") as failed:
        await run_test_action("action_nobody_wrote")
    assert failed.value.__cause__.status == 404


async def test_a_slow_action_is_given_up_after_the_action_timeout(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(rasa.core.actions.action, "DEFAULT_REQUEST_TIMEOUT", 0.2)
    with pytest.raises(asyncio.TimeoutError):
        await run_test_action("action_test_slow")
    assert "Custom action 'action_test_slow' still running after 0.2 s: given up" in caplog.text


def test_a_package_that_does_not_import_is_named(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="actions_module 'no_such_actions' does not import"):
        inprocess.executor(EndpointConfig(actions_module="no_such_actions"))
    assert "No module named 'no_such_actions'" in caplog.text
