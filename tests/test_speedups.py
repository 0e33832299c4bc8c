"""The speed fixes give exactly Rasa's results: same parses and predictions, same stored rows."""
import copy
import json
import re
from pathlib import Path
from typing import Any, Dict, List, Tuple

import pytest
import sqlalchemy as sa
from rasa.core.channels.channel import UserMessage
from rasa.core.tracker_store import SQLTrackerStore
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, BotUttered, Restarted, SessionStarted, SlotSet,
                                     UserUttered, UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from rasa_addons import lookups, speedups
from rasa_addons.stores import CheckedSQLTrackerStore
from tests.conftest import ROOT

MESSAGES = ["hi", "who are your partners?", "and in Japan?", "what's the fax number", "tell me about the EMC", "zxcv"]


async def _parses_and_predictions(agent) -> List[Tuple[Dict[str, Any], Any]]:
    results = []
    tracker = DialogueStateTracker("speedups", agent.domain.slots)
    for text in MESSAGES:
        parsed = await agent.processor.parse_message(UserMessage(text))
        tracker.update(UserUttered(text, parsed["intent"], parsed["entities"], parsed, timestamp=1))
        prediction = agent.processor.predict_next_with_tracker(tracker)
        results.append((parsed, prediction))
        tracker.update(ActionExecuted("action_listen", timestamp=1))
    return results


async def test_graph_runs_without_dask_give_rasas_results(agent, monkeypatch) -> None:
    monkeypatch.setattr(DaskGraphRunner, "run", speedups._rasa_run_graph)
    with_dask = await _parses_and_predictions(agent)
    monkeypatch.setattr(DaskGraphRunner, "run", speedups._run_graph)
    without = await _parses_and_predictions(agent)
    assert [p["intent"]["name"] for p, _ in with_dask][:2] == ["greet", "ask_partnerships"]
    assert json.dumps(without, sort_keys=True) == json.dumps(with_dask, sort_keys=True)


async def test_logistic_regression_input_is_rasas(agent, monkeypatch) -> None:
    """The same matrix for the classifier (built from the sentence features only), so the same parses."""
    from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier

    built: Dict[str, List[Any]] = {"rasa": [], "ours": []}
    for name, create in (("rasa", speedups._rasa_create_X), ("ours", speedups._create_X)):
        def recording(self: Any, messages: Any, create: Any = create, name: str = name) -> Any:
            built[name].append(create(self, messages))
            return built[name][-1]

        monkeypatch.setattr(LogisticRegressionClassifier, "_create_X", recording)
        built[name + " parses"] = await _parses_and_predictions(agent)
    assert len(built["ours"]) == len(built["rasa"]) >= len(MESSAGES)
    for ours, rasas in zip(built["ours"], built["rasa"]):
        assert ours.shape == rasas.shape and ours.nnz > 0 and (ours != rasas).nnz == 0
    assert json.dumps(built["ours parses"], sort_keys=True) == json.dumps(built["rasa parses"], sort_keys=True)


# Action server responses: what the actions send, every event type Rasa knows, and broken ones.
_SLOT = {"event": "slot", "timestamp": None, "name": "topic", "value": "contact"}
_REPLY = {"text": "Phone: 1", "buttons": [], "elements": [], "custom": {}, "template": None, "response": None, "image": None, "attachment": None}
RESPONSES = [
    {"events": [_SLOT, {**_SLOT, "name": "language", "value": "pl"}], "responses": [_REPLY]},
    {"events": [], "responses": []},
    {"responses": [_REPLY]},
    {"events": [{"event": name} for name in ("action", "restart", "session_started", "undo", "rewind", "pause", "resume", "followup",
                                             "reset_slots", "export", "active_loop", "loop_interrupted", "form", "bot", "agent")]},
    {"events": [{"event": "user", "text": "hi", "parse_data": {"intent": {"name": "greet", "confidence": 1.0}, "entities": []}}]},
    {"events": [{"event": "entities", "entities": [{"entity": "topic", "value": "x"}]}]},
    {"events": [{"event": "reminder", "intent": "x", "date_time": "2026-01-01T00:00:00", "kill_on_user_msg": True}]},
    # broken: each must be rejected, by Rasa's own error
    {"events": [{"event": "slot", "value": "no name"}]},
    {"events": [{"event": "no_such_event"}]},
    {"events": [{"name": "topic"}]},
    {"events": [{"event": "slot", "name": "topic", "timestamp": "yesterday"}]},
    {"events": [{"event": "user", "parse_data": {"entities": [{"start": 0}]}}]},
    {"events": [{"event": "entities", "entities": "none"}]},
    {"events": "slot"},
    {"events": [_SLOT, "slot"]},
    {"events": [_SLOT], "responses": ["text"]},
]


@pytest.mark.parametrize("response", RESPONSES)
def test_action_responses_are_accepted_and_rejected_as_rasa_does(response: Dict[str, Any]) -> None:
    from jsonschema import ValidationError
    from rasa.core.actions.action import RemoteAction

    def verdict(validate) -> bool:
        try:
            return validate(RemoteAction("action_answer_contact", None), response)
        except ValidationError:
            return False

    assert verdict(speedups._validate_action_result) == verdict(speedups._rasa_validate)
    assert speedups._valid(response) == verdict(speedups._rasa_validate)
    assert speedups._validators()[1], "Rasa's schema is no longer split by event name: the fast check is off"


def test_event_types_are_resolved_as_rasa_does() -> None:
    from rasa.shared.core.events import Event
    from rasa.shared.utils.common import all_subclasses

    names = {cls.type_name for cls in all_subclasses(Event)}
    for _ in range(2):  # found, then remembered
        for name in sorted(names):
            assert speedups._resolve_by_type(name) is speedups._rasa_resolve_by_type(name)
    assert speedups._resolve_by_type("no_such_event", SlotSet) is SlotSet
    assert speedups._resolve_by_type("topic") is None
    with pytest.raises(ValueError):
        speedups._resolve_by_type("no_such_event")
    assert "no_such_event" not in speedups._event_types


def _diet(agent) -> Any:
    nodes = agent.processor.graph_runner._instantiated_nodes
    return next(node._component for name, node in nodes.items() if "BackupDIETClassifier" in name)


async def test_diet_loads_the_same_weights_without_the_training_step(agent, monkeypatch) -> None:
    """The weights, by name and value, are those Rasa's load gives; so are the parses."""
    import numpy as np
    from rasa.core.agent import Agent
    from rasa.utils.tensorflow.models import RasaModel

    monkeypatch.setattr(RasaModel, "load", classmethod(speedups._load_model))
    ours = Agent.load(str(ROOT / "models" / "current.tar.gz"))
    theirs, mine = _diet(agent).model.weights, _diet(ours).model.weights
    assert len(mine) > 10 and [w.name for w in mine] == [w.name for w in theirs]
    for a, b in zip(mine, theirs):
        assert np.array_equal(a.numpy(), b.numpy()), a.name
    for text in MESSAGES + ["profesors from where", "what do u do"]:
        assert await ours.parse_message(text) == await agent.parse_message(text)


def test_the_modules_without_debug_copies_copy_only_for_debug_lines() -> None:
    """Each `copy.` use in them is a deep copy given to a structlog debug call (a Rasa upgrade that copies
    for another reason fails here), and with debug logging on, the copy is made."""
    import ast
    import importlib.util
    import logging

    for name in speedups._DEBUG_COPY_MODULES:
        tree = ast.parse(Path(importlib.util.find_spec(name).origin).read_text())
        debug_args = {id(arg) for call in ast.walk(tree) if isinstance(call, ast.Call)
                      and isinstance(call.func, ast.Attribute) and call.func.attr == "debug"
                      for arg in [*call.args, *(k.value for k in call.keywords)]}
        uses = [n for n in ast.walk(tree) if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id == "copy"]
        copies = [c for c in ast.walk(tree) if isinstance(c, ast.Call) and c.func in uses]
        assert uses and len(copies) == len(uses) and all(u.attr == "deepcopy" for u in uses), name
        assert all(id(c) in debug_args for c in copies), name
    events = [{"event": "slot", "value": [1]}]
    assert speedups._debug_copy(events) is events
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.DEBUG)
        copied = speedups._debug_copy(events)
        assert copied == events and copied is not events
    finally:
        root.setLevel(level)


def test_domain_is_empty_as_rasa_says(agent) -> None:
    for domain in (Domain.empty(), agent.domain, Domain.from_dict({"intents": ["greet"]}), Domain.from_dict({"slots": {}})):
        assert speedups._domain_is_empty(domain) == speedups._rasa_domain_is_empty(domain)
    assert speedups._domain_is_empty(Domain.empty()) and not speedups._domain_is_empty(agent.domain)


def _turns() -> List[List[Any]]:
    """Two senders, a second session for one of them; every event with its own fixed timestamp."""
    clock = iter(range(1000, 2000))
    user = lambda text, intent: UserUttered(  # noqa: E731
        text, {"name": intent, "confidence": 0.9}, [], {"intent": {"name": intent, "confidence": 0.9}, "entities": [], "text": text},
        timestamp=next(clock),
    )
    session = lambda: [ActionExecuted("action_session_start", timestamp=next(clock)), SessionStarted(timestamp=next(clock)),  # noqa: E731
                       ActionExecuted("action_listen", timestamp=next(clock))]
    answer = lambda: [ActionExecuted("action_answer_contact", timestamp=next(clock)),  # noqa: E731
                      SlotSet("topic", "contact", timestamp=next(clock)), BotUttered("Phone: ...", timestamp=next(clock)),
                      ActionExecuted("action_listen", timestamp=next(clock))]
    return [
        ["a", *session(), user("phone?", "ask_contact"), *answer()],
        ["b", *session(), user("hi", "greet"), *answer()],
        ["a", user("and the fax?", "ask_followup"), *answer()],
        ["a", *session(), user("e-mail?", "ask_contact"), *answer()],
        ["a", user("thanks", "thank"), *answer()],
    ]


async def _play(store: SQLTrackerStore, domain: Domain) -> Tuple[List[tuple], List[int]]:
    with store.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM events"))
    for sender, *events in _turns():
        tracker = await store.retrieve(sender) or DialogueStateTracker(sender, domain.slots)
        for event in events:
            tracker.update(event)
        await store.save(tracker)
    lengths = [len((await store.retrieve("a")).events), len((await store.retrieve_full_tracker("a")).events)]
    with store.engine.connect() as connection:
        rows = connection.execute(sa.text(
            "SELECT id, sender_id, type_name, timestamp, intent_name, action_name, data FROM events ORDER BY id"
        )).fetchall()
    return [tuple(row) for row in rows], lengths


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_tracker_store_writes_and_reads_what_rasas_does(dialect: str, tmp_path) -> None:
    domain = Domain.load(str(ROOT / "domain.yml"))

    def store(cls: type, name: str) -> SQLTrackerStore:
        if dialect == "sqlite":
            return cls(domain, dialect="sqlite", db=str(tmp_path / f"{name}.db"))
        return cls(domain, dialect="postgresql", host="127.0.0.1", port=5432, db=f"umb_test_{name}",
                   username="postgres", login_db="postgres")

    rasa_rows, rasa_lengths = await _play(store(SQLTrackerStore, "rasa"), domain)
    our_rows, our_lengths = await _play(store(CheckedSQLTrackerStore, "ours"), domain)
    assert rasa_lengths == our_lengths == [12, 26]  # the latest session of "a", and all of it
    assert len(rasa_rows) == 34
    assert our_rows == rasa_rows


def _dialogue() -> List[Any]:
    """Every kind of event the dialogue states depend on: user turns, answers, slots, a form, undo, rewind,
    restart, new session."""
    user = lambda text, intent, entities=(): UserUttered(  # noqa: E731
        text, {"name": intent, "confidence": 0.9}, [{"entity": e, "value": "x", "start": 0, "end": 1} for e in entities])
    turn = lambda message, action, *extra: [message, *extra, ActionExecuted(action), BotUttered("..."),  # noqa: E731
                                            ActionExecuted("action_listen")]
    return [
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        *turn(user("phone?", "ask_contact"), "action_answer", SlotSet("topic", "contact")),
        *turn(user("and in Japan?", "ask_followup", ("country",)), "action_answer", SlotSet("topic", "partnerships")),
        ActiveLoop("some_form"), ActionExecuted("some_form"), ActionExecuted("action_listen"), ActiveLoop(None),
        *turn(user("hi", "greet"), "utter_greet"), UserUtteranceReverted(), ActionReverted(),
        *turn(user("thanks", "thank"), "utter_thank"), Restarted(), ActionExecuted("action_listen"),
        *turn(user("the EMC?", "ask_emc"), "action_answer"),
        ActionExecuted("action_session_start"), SessionStarted(), ActionExecuted("action_listen"),
        *turn(user("who are your partners?", "ask_partnerships"), "action_answer", SlotSet("topic", "partnerships")),
    ]


def test_dialogue_states_replayed_from_where_they_stopped_are_rasas(agent, monkeypatch) -> None:
    """After every event of _dialogue() added, the states given by the continued replay are those Rasa
    replays from the start."""
    domain, replay_from_start = agent.domain, speedups._Replay.__init__
    events = _dialogue()
    replays = []
    monkeypatch.setattr(speedups._Replay, "__init__", lambda self, *a: replays.append(1) or replay_from_start(self, *a))
    for omit_unset_slots in (False, True):
        tracker = DialogueStateTracker("states", domain.slots)
        assert type(tracker) is DialogueStateTracker  # the kind of tracker the replay is kept for
        for number, event in enumerate(events):
            tracker.update(event)
            ours = speedups._states_for_tracker_history(domain, tracker, omit_unset_slots=omit_unset_slots)
            rasas = speedups._rasa_states_for_tracker_history(domain, tracker, omit_unset_slots=omit_unset_slots)
            assert ours == rasas, (number, event)
            for state in ours:  # callers change the states they get (the featurizer does): the next call is not affected
                state.clear()
        assert len(rasas) == 4
    # replayed from the start at the first event, the 2 sessions started, the form's 3 events (activated, run,
    # deactivated), the rewind, the undo and the restart: 9 times for each tracker, else continued
    assert len(replays) == 2 * 9


def _tracker_state(tracker: DialogueStateTracker) -> Dict[str, Any]:
    """Everything a tracker holds: its events (the same objects), slots and the rest of its state."""
    rest = {k: v for k, v in vars(tracker).items() if k not in ("events", "slots", "_umb_replay")}
    slots = {name: (type(slot), vars(slot)) for name, slot in tracker.slots.items()}
    return {"events": [id(event) for event in tracker.events], "slots": slots, **rest,
            "state": tracker.current_state(EventVerbosity.ALL)}


def test_tracker_copies_are_rasas_replays(agent) -> None:
    """After every event of _dialogue(), the copy holds what Rasa's copy (a replay of every event) holds,
    and changing the copy leaves the tracker as it was."""
    tracker = DialogueStateTracker("copies", agent.domain.slots)
    tracker.model_id = "model"  # set by the processor, not by an event: a replay leaves it unset
    for number, event in enumerate(_dialogue()):
        tracker.update(event)
        ours, rasas = speedups._tracker_copy(tracker), speedups._rasa_tracker_copy(tracker)
        assert _tracker_state(ours) == _tracker_state(rasas), (number, event)
        before = _tracker_state(tracker)
        ours.update(SlotSet("topic", "changed"))
        if ours.active_loop is not None:
            ours.active_loop.rejected = True
        assert _tracker_state(tracker) == before and ours.slots["topic"] is not tracker.slots["topic"]
    assert tracker.active_loop is None and tracker.get_slot("topic") == "partnerships"  # the dialogue's end
    short = DialogueStateTracker("short", agent.domain.slots, max_event_history=5)  # events cut: Rasa's replay
    for event in _dialogue()[:9]:
        short.update(event)
    assert _tracker_state(speedups._tracker_copy(short)) == _tracker_state(speedups._rasa_tracker_copy(short))


def test_rules_found_checking_back_only_as_far_as_a_rule_is_long_or_remembered_are_rasas(agent) -> None:
    policy = next(node._component for node in agent.processor.graph_runner._instantiated_nodes.values()
                  if type(node._component).__name__ == "RulePolicy")
    policy.__dict__.pop("_umb_rule_indexes", None)
    found = calls = 0
    for _ in range(2):  # the second time, every view of the states is remembered
        tracker = DialogueStateTracker("rules", agent.domain.slots)
        for event in _dialogue():
            tracker.update(event)
            states = speedups._rasa_states_for_tracker_history(agent.domain, tracker)
            for lookup in policy.lookup.values():
                if isinstance(lookup, dict):
                    ours = speedups._get_possible_keys(policy, lookup, states)
                    assert ours == speedups._rasa_get_possible_keys(policy, lookup, states)
                    found, calls = found + len(ours), calls + 1
    assert found > 40 and max(map(len, map(policy._rule_key_to_state, policy.lookup["rules"]))) < len(states)
    assert sum(len(index.found) for index in policy._umb_rule_indexes.values()) <= calls / 2


def _dicts(tracker: DialogueStateTracker) -> List[Dict[str, Any]]:
    return [event.as_dict() for event in tracker.events]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
async def test_kept_trackers_are_what_a_read_gives_and_changes_elsewhere_are_seen(dialect: str, tmp_path) -> None:
    """A kept tracker is given back only while it equals a read from the database: writes and deletions by
    another store (worker, instance, the console's deletion) and events added but not saved are seen. On
    SQLite the sender's rows are not even counted while no other connection has committed (data_version)."""
    domain = Domain.load(str(ROOT / "domain.yml"))

    def store() -> CheckedSQLTrackerStore:  # two of them: two processes on one database
        if dialect == "sqlite":
            return CheckedSQLTrackerStore(domain, dialect="sqlite", db=str(tmp_path / "kept.db"))
        return CheckedSQLTrackerStore(domain, dialect="postgresql", host="127.0.0.1", port=5432, db="umb_test_kept",
                                      username="postgres", login_db="postgres")

    ours, other = store(), store()
    with ours.engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM events"))

    async def fresh(sender: str) -> List[Dict[str, Any]]:  # what a store that keeps nothing reads
        tracker = await store().retrieve(sender)
        return _dicts(tracker) if tracker else []

    turns = _turns()
    for sender, *events in turns[:3]:
        tracker = await ours.retrieve(sender) or DialogueStateTracker(sender, domain.slots)
        for event in events:
            tracker.update(event)
        await ours.save(tracker)
    kept = await ours.retrieve("a")
    counted: List[str] = []  # the senders whose rows were counted (the key read)
    read_key = ours._read_key
    ours._read_key = lambda connection, sender: counted.append(sender) or read_key(connection, sender)  # type: ignore
    assert await ours.retrieve("a") is kept  # the same turn, nothing changed: kept
    assert counted == ([] if dialect == "sqlite" else ["a"])
    assert _dicts(kept) == await fresh("a") and len(kept.events) == 12

    kept.update(ActionExecuted("action_listen", timestamp=5000))  # a turn that failed before its save
    assert _dicts(await ours.retrieve("a")) == await fresh("a") and len(await fresh("a")) == 12

    elsewhere = await other.retrieve("a")  # another instance answers a turn of the same conversation
    for event in turns[4][1:]:
        elsewhere.update(event)
    await other.save(elsewhere)
    counted.clear()
    seen = await ours.retrieve("a")
    assert len(seen.events) == 17 and _dicts(seen) == await fresh("a")
    assert counted == ["a"]  # another connection committed: counted on SQLite too

    for event in turns[2][1:]:  # our next turn, saved on the tracker read
        seen.update(event)
    counted.clear()
    await ours.save(seen)
    assert await ours.retrieve("a") is seen and _dicts(seen) == await fresh("a") and len(seen.events) == 22
    assert counted == ([] if dialect == "sqlite" else ["a", "a"])  # only our own write since: not counted

    # a new conversation's first turn: action_session_start is logged just before the session starts, so a
    # read leaves it out; the tracker is kept as a read gives it
    first = DialogueStateTracker("c", domain.slots)
    for event in turns[1][1:]:
        first.update(event)
    await ours.save(first)
    counted.clear()
    kept_first = await ours.retrieve("c")
    assert kept_first is not first and _dicts(kept_first) == await fresh("c") == _dicts(first)[1:]
    assert counted == ([] if dialect == "sqlite" else ["c"]) and await ours.retrieve("c") is kept_first
    assert kept_first.current_state() == DialogueStateTracker.from_dict("c", await fresh("c"), domain.slots).current_state()

    with other.engine.begin() as connection:  # deleted at the person's request, then as many rows written anew
        rows = connection.execute(sa.text("SELECT count(*) FROM events WHERE sender_id = 'a'")).scalar()
        connection.execute(sa.text("DELETE FROM events WHERE sender_id = 'a'"))
    assert await ours.retrieve("a") is None and "a" not in ours._kept  # nothing of it left in memory either
    again = DialogueStateTracker("a", domain.slots)
    for number in range(rows):
        again.update(ActionExecuted("action_listen", timestamp=6000 + number))
    await other.save(again)
    assert _dicts(await ours.retrieve("a")) == _dicts(again)


def _lookup_patterns() -> List[str]:
    from rasa.nlu.utils.pattern_utils import extract_patterns
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(ROOT / "data" / "nlu"))
    return [p["pattern"] for p in extract_patterns(data, use_lookup_tables=True, use_regexes=False, use_word_boundaries=True)]


def _texts() -> List[str]:
    from rasa.shared.nlu.training_data.loading import load_data

    texts = sorted(m.get("text") for m in load_data(str(ROOT / "data" / "nlu")).training_examples)  # any file order
    for path in sorted((ROOT / "tests" / "eval").glob("dev*.yml")):
        texts += [turn["user"] for c in yaml_load(path)["conversations"] for turn in c["turns"]]
    return texts + ["", " ", "E-MAIL, e-mail; EMAIL!", "ſtreet STRASSE straße İstanbul KELVIN", "x" * 500, "a_b 3rd-floor"]


def yaml_load(path: Path) -> Any:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(path)


@pytest.mark.parametrize("flags", [0, re.IGNORECASE])
def test_lookup_tables_match_as_rasas_regexes(flags: int) -> None:
    """Same matches, in the same order, for every lookup table of the data and every training and dev text."""
    patterns, texts = _lookup_patterns(), _texts()
    assert len(patterns) >= 5 and all(lookups.lookup_pattern(p, flags) for p in patterns)
    found = 0
    for pattern in patterns:
        for text in texts:
            expected = [(m.start(), m.end()) for m in re.finditer(pattern, text, flags)]
            assert [(m.start(), m.end()) for m in lookups.finditer(pattern, text, flags)] == expected, (pattern[:40], text)
            found += len(expected)
    assert found > 1000


@pytest.mark.parametrize("text", ["New York City, new york and YORK", "the ſtate of K-pop", "Łódź, łódź i LODZ", "i.e. e.g."])
def test_first_listed_name_wins_as_in_rasas_regex(text: str) -> None:
    """At one position the regex takes the first name listed that matches there, not the longest."""
    from rasa.nlu.utils.pattern_utils import _generate_lookup_regex

    for names in (["new york", "new york city", "york", "state", "k", "pop", "łódź", "e.g", "i.e."],
                  ["new york city", "new york", "York", "STATE", "K-pop", "LODZ", "ŁÓDŹ", "e.g.", "i.e"]):
        pattern = _generate_lookup_regex({"name": "t", "elements": names}, use_word_boundaries=True)
        for flags in (0, re.IGNORECASE):
            expected = [(m.start(), m.end()) for m in re.finditer(pattern, text, flags)]
            assert [(m.start(), m.end()) for m in lookups.finditer(pattern, text, flags)] == expected


def test_other_patterns_are_left_to_re() -> None:
    assert lookups.lookup_pattern(r"\d{2}-\d{3}", 0) is None
    assert lookups.lookup_pattern(r"(\bab\b|\b\b)", 0) is None  # an empty name
    assert [m.group() for m in lookups.finditer(r"\d{2}-\d{3}", "15-089 and 12-345")] == ["15-089", "12-345"]


async def test_parses_are_rasas_with_lookups_by_dictionary(agent, monkeypatch) -> None:
    import importlib

    modules = [importlib.import_module(name) for name in speedups._LOOKUP_RE_MODULES]
    for module in modules:
        monkeypatch.setattr(module, "re", re)
    rasas = await _parses_and_predictions(agent)
    for module in modules:
        monkeypatch.setattr(module, "re", speedups._LOOKUP_RE)
    ours = await _parses_and_predictions(agent)
    assert any(e["extractor"] == "RegexEntityExtractor" for parsed, _ in rasas for e in parsed["entities"])
    assert json.dumps(ours, sort_keys=True) == json.dumps(rasas, sort_keys=True)


def _count_vectorizers(agent) -> List[Any]:
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer

    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    return [node._component for node in nodes if isinstance(node._component, CountVectorsFeaturizer)]


def _same_coo(ours: Any, rasas: Any) -> bool:
    if ours is None or rasas is None:
        return ours is rasas
    return (vars(ours).keys() == vars(rasas).keys() and type(ours.shape) is type(rasas.shape)
            and ours.has_canonical_format == rasas.has_canonical_format and ours.maxprint == rasas.maxprint
            and ours.shape == rasas.shape and ours.dtype == rasas.dtype and ours.row.dtype == rasas.row.dtype
            and ours.col.dtype == rasas.col.dtype and (ours.row == rasas.row).all() and (ours.col == rasas.col).all()
            and (ours.data == rasas.data).all())


def test_count_vectors_are_rasas(agent) -> None:
    """Same sequence and sentence matrices (values, order, types) for every training and dev text."""
    from rasa.shared.nlu.constants import TEXT

    featurizers = _count_vectorizers(agent)
    assert sorted(f.analyzer for f in featurizers) == ["char_wb", "word"]
    token_lists = [text.lower().split() for text in _texts()] + [text.split() for text in _texts()[:300]] + [[], ["__NUMBER__"]]
    for featurizer in featurizers:
        for tokens in token_lists:
            (rasa_sequence,), (rasa_sentence,) = speedups._rasa_create_features(featurizer, TEXT, [tokens])
            (sequence,), (sentence,) = speedups._create_count_features(featurizer, TEXT, [tokens])
            assert _same_coo(sequence, rasa_sequence) and _same_coo(sentence, rasa_sentence), (featurizer.analyzer, tokens)


async def test_parses_are_rasas_with_count_vectors_written_straight(agent, monkeypatch) -> None:
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer

    monkeypatch.setattr(CountVectorsFeaturizer, "_create_features", speedups._rasa_create_features)
    rasas = await _parses_and_predictions(agent)
    monkeypatch.setattr(CountVectorsFeaturizer, "_create_features", speedups._create_count_features)
    assert json.dumps(await _parses_and_predictions(agent), sort_keys=True) == json.dumps(rasas, sort_keys=True)


async def test_regex_and_lexical_feature_matrices_are_scipys(agent, monkeypatch) -> None:
    """Every matrix the two featurizers build, for the messages and 200 training texts, equals SciPy's
    (values, order, types); so do the parses."""
    import importlib
    import types

    import scipy.sparse
    from rasa.nlu.featurizers.sparse_featurizer.lexical_syntactic_featurizer import LexicalSyntacticFeaturizer

    monkeypatch.setattr(LexicalSyntacticFeaturizer, "process", speedups._rasa_lexical_process)  # a matrix every message
    calls: List[Tuple[tuple, dict]] = []

    def recorded(*args: Any, **kwargs: Any) -> Any:
        calls.append((args, kwargs))
        return scipy.sparse.coo_matrix(*args, **kwargs)

    modules = [importlib.import_module(name) for name in speedups._FEATURES_SCIPY_MODULES]
    for module in modules:
        monkeypatch.setattr(module, "scipy", types.SimpleNamespace(sparse=types.SimpleNamespace(coo_matrix=recorded)))
    rasas = await _parses_and_predictions(agent)
    for text in _texts()[:200]:
        await agent.processor.parse_message(UserMessage(text))
    assert {type(args[0]).__name__ for args, _ in calls} == {"ndarray", "tuple"} and len(calls) > 3 * 200
    for args, kwargs in calls:
        assert _same_coo(speedups._coo_matrix(*args, **kwargs), scipy.sparse.coo_matrix(*args, **kwargs)), (args, kwargs)
    for module in modules:
        monkeypatch.setattr(module, "scipy", speedups._FEATURES_SCIPY)
    assert json.dumps(await _parses_and_predictions(agent), sort_keys=True) == json.dumps(rasas, sort_keys=True)


async def test_lexical_features_are_worked_out_only_for_diet_and_are_rasas(agent, monkeypatch) -> None:
    """The lexical features are worked out for the messages the backup DIET is asked about, and no other
    (the logistic regression's input is the sentence features: speedups._create_X); each message's equal
    Rasa's, so do the parses."""
    from rasa.nlu.classifiers.diet_classifier import DIETClassifier
    from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
    from rasa.nlu.featurizers.sparse_featurizer.lexical_syntactic_featurizer import LexicalSyntacticFeaturizer
    from rasa.shared.nlu.training_data.message import Message

    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    node = next(n for n in nodes if isinstance(n._component, LexicalSyntacticFeaturizer))
    classifier = next(n for n in nodes if isinstance(n._component, LogisticRegressionClassifier))
    monkeypatch.setattr(classifier, "_fn", speedups._classify)
    monkeypatch.setattr(LogisticRegressionClassifier, "_create_X", speedups._create_X)
    featurized: List[Message] = []
    monkeypatch.setattr(node, "_fn", lambda self, messages: featurized.extend(messages) or speedups._lexical_process(self, messages))
    asked: List[int] = []  # the messages DIET was asked about
    diet_process = DIETClassifier.process
    monkeypatch.setattr(DIETClassifier, "process", lambda self, messages: asked.append(len(messages)) or diet_process(self, messages))
    worked_out: List[int] = []
    features = speedups._lexical_features
    monkeypatch.setattr(speedups, "_lexical_features", lambda self, tokens: worked_out.append(1) or features(self, tokens))

    texts = [t for t in _texts()[::5] if t.strip()]  # a blank message never reaches the graph (channels/guard.py)
    lazily = [await agent.processor.parse_message(UserMessage(text)) for text in texts]
    lazy_features = [m.features for m in featurized]
    assert 0 < sum(asked) == len(worked_out) < len(texts) / 4
    monkeypatch.setattr(node, "_fn", speedups._rasa_lexical_process)
    assert json.dumps([await agent.processor.parse_message(UserMessage(text)) for text in texts], sort_keys=True) == \
        json.dumps(lazily, sort_keys=True)
    for message, lazy in zip(featurized, lazy_features):  # every message's matrix, read now, against Rasa's
        eager = Message(data=dict(message.data))
        speedups._rasa_lexical_process(node._component, [eager])
        [ours], [rasas] = [f for f in lazy if f.origin == node._component._identifier], eager.features
        assert (ours.type, ours.attribute, ours.origin) == (rasas.type, rasas.attribute, rasas.origin)
        assert _same_coo(ours.features, rasas.features) and _same_coo(copy.deepcopy(ours).features, rasas.features)


async def test_logistic_regression_probabilities_are_sklearns_bit_for_bit(agent, monkeypatch) -> None:
    """Rasa's input and sklearn's predict_proba against ours, on every training and dev text; then the parses."""
    from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier

    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    node = next(n for n in nodes if isinstance(n._component, LogisticRegressionClassifier))  # runs its `_fn`
    classifier = node._component
    seen: List[Any] = []

    def recording(self: Any, messages: Any) -> Any:
        seen.extend(messages)
        return speedups._rasa_classify(self, messages)

    monkeypatch.setattr(node, "_fn", recording)
    for text in _texts()[::7]:
        if text.strip():  # a blank message never reaches the graph (channels/guard.py): Rasa's classifier fails on it
            await agent.processor.parse_message(UserMessage(text))
    assert len(seen) > 300
    for message in seen:
        ours = speedups._predict_proba(classifier.clf, speedups._create_X(classifier, [message]))
        assert (ours == classifier.clf.predict_proba(speedups._rasa_create_X(classifier, [message]))).all(), message.get("text")
    monkeypatch.setattr(node, "_fn", speedups._rasa_classify)
    rasas = await _parses_and_predictions(agent)
    monkeypatch.setattr(node, "_fn", speedups._classify)
    assert json.dumps(await _parses_and_predictions(agent), sort_keys=True) == json.dumps(rasas, sort_keys=True)
