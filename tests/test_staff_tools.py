"""The staff commands that work on the running assistant and the trained model.

- `make unanswered`: real conversations through both servers (scripts/assistant.py) into their own
  tracker database, then the command's snippet is loaded with Rasa's own NLU loader; and a
  PostgreSQL store, given by URL, filled through Rasa's own SQLTrackerStore.
- `make train`'s switch-over: the running server takes the model over `PUT /model`, no restart.
- `make test-bot`: its report names the failed question and what was understood instead.

Facts changed while the servers run, answered without retraining: tests/test_server_http.py
(test_changed_facts_are_used_without_retraining_or_restart).
"""
import os
import sqlite3
import uuid
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from scripts.assistant import Assistant
from tests.conftest import MODEL, ROOT, Facts, phone_reply

TOKEN = "staff-tools-test-token"
SCOPE = "Sorry,"  # how both the out-of-scope and the not-understood answers begin
# (sender, message); the senders are unusual words so that a leak into the export is easy to see
CONVERSATIONS = [
    ("sender-zebra-1", "what's your phone number?"),
    ("sender-zebra-2", "what's the weather like tomorrow?"),
    ("sender-zebra-3", "What's the weather like   tomorrow?"),
    ("sender-zebra-4", "xqzv wplk"),
    ("sender-zebra-5", "is there a [canteen] on campus?"),
    ("sender-zebra-6", "tell me a joke about doctors please"),
    ("sender-zebra-6", "when was the euroregional center founded?"),
    ("sender-zebra-7", "/ask_contact"),
]
OLD = ("sender-zebra-old", "how much is the tuition fee?")


def run(args: List[str], env: Dict[str, str]) -> Tuple[int, str]:
    result = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, env=env, capture_output=True, text=True)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    a = Assistant(tmp_path_factory.mktemp("staff"), RASA_AUTH_TOKEN=TOKEN).start()
    yield a
    a.stop()


@pytest.fixture(scope="module")
def answered(assistant: Assistant) -> Dict[str, List[str]]:
    """Each message sent, with the texts the user got back."""
    replies = {text: assistant.texts(sender, text) for sender, text in [*CONVERSATIONS, OLD]}
    # the old conversation happened ten days ago
    with sqlite3.connect(assistant.env["TRACKER_DB"]) as db:
        db.execute("UPDATE events SET timestamp = timestamp - 10 * 86400 WHERE sender_id = ?", (OLD[0],))
    return replies


def test_unanswered_messages_are_exported_as_rasa_nlu_data(assistant: Assistant, answered: Dict[str, List[str]], tmp_path: Path) -> None:
    out = tmp_path / "unanswered.yml"
    # the default: the tracker store of endpoints.yml, with TRACKER_DB as the servers had it
    code, log = run(["staff.unanswered", "--days", "7", "--out", str(out)], assistant.env)
    assert code == 0, log
    text = out.read_text()
    data = load_data(str(out))  # Rasa's own loader: the snippet can be pasted into data/
    exported = {m.get("text") for m in data.intent_examples}

    not_answered = {t for t, replies in answered.items() if any(r.startswith(SCOPE) for r in replies) and t != OLD[1]}
    assert {"what's the weather like tomorrow?", "xqzv wplk"} <= not_answered  # the model did fall back
    expected = {" ".join(t.split()).replace("[", "(").replace("]", ")") for t in not_answered}
    assert expected - {"What's the weather like tomorrow?"} <= exported  # the two spellings are one group
    assert "#   2 x what's the weather like tomorrow?" in text
    assert "what's your phone number?" not in exported
    assert "/ask_contact" not in text  # a button, not a question
    assert OLD[1] not in text  # older than 7 days
    assert "sender-zebra" not in text  # no sender ids, nor anything else about the people
    intents = {m.get("text"): m.get("intent") for m in data.intent_examples}
    assert intents["what's the weather like tomorrow?"] == "out_of_scope"
    assert intents["xqzv wplk"] in {"out_of_scope", "nlu_fallback"}  # gibberish: which of the two is the model's call


def test_unanswered_reads_any_sql_store_by_url(assistant: Assistant, answered: Dict[str, List[str]], tmp_path: Path) -> None:
    out = tmp_path / "unanswered.yml"
    code, log = run(["staff.unanswered", "--days", "30", "--db", f"sqlite:///{assistant.env['TRACKER_DB']}", "--out", str(out)],
                    {**assistant.env, "TRACKER_DB": str(tmp_path / "elsewhere.db")})
    assert code == 0, log
    exported = {m.get("text") for m in load_data(str(out)).intent_examples}
    assert OLD[1] in exported and "xqzv wplk" in exported  # 30 days reach the old conversation
    assert "written to" in log and "sender-zebra" not in out.read_text()


def test_unanswered_messages_go_with_their_language_in_blocks_per_language() -> None:
    """The language entity of a message, else the conversation's language slot at the time (issue 12)."""
    import json

    from staff.unanswered import to_yaml, unanswered

    def user(sender: str, text: str, intent: str, language: str = "") -> Dict:
        entities = [{"entity": "language", "value": language}] if language else []
        data = {"event": "user", "text": text, "parse_data": {"intent": {"name": intent, "confidence": 0.9}, "entities": entities}}
        return {"sender_id": sender, "type_name": "user", "action_name": None, "data": json.dumps(data)}

    def slot(sender: str, value: str) -> Dict:
        return {"sender_id": sender, "type_name": "slot", "action_name": None,
                "data": json.dumps({"event": "slot", "name": "language", "value": value})}

    def action(sender: str) -> Dict:
        return {"sender_id": sender, "type_name": "action", "action_name": "action_explain_scope", "data": "{}"}

    events = [
        user("a", "jaka jest pogoda jutro?", "out_of_scope", "pl"), slot("a", "pl"), action("a"),
        user("a", "ok??", "out_of_scope"), action("a"),  # no language of its own: the conversation's, Polish
        user("b", "what's the weather tomorrow?", "out_of_scope", "en"), action("b"),
        user("c", "ok??", "out_of_scope"), action("c"),  # a new conversation starts in English
    ]
    found = unanswered(events, 0.5, "action_explain_scope")
    assert found["jaka jest pogoda jutro?"].language == "pl"
    assert found["what's the weather tomorrow?"].language == "en"
    assert found["ok??"].languages == {"pl": 1, "en": 1}
    text = to_yaml(found, 7, 0)
    polish_block = text.index("# Polish (pl, into data/nlu/pl/): out of scope")
    assert text.index("# English (en, into data/nlu/): out of scope") < polish_block < text.index("    - jaka jest pogoda jutro?")


def test_unanswered_says_clearly_when_there_is_no_store(tmp_path: Path) -> None:
    code, log = run(["staff.unanswered", "--db", f"sqlite:///{tmp_path / 'none.db'}", "--out", str(tmp_path / "x.yml")], dict(os.environ))
    assert code == 1
    assert f"No conversations stored yet: {tmp_path / 'none.db'} does not exist." in log


def test_training_switches_the_running_assistant_over_without_restart(assistant: Assistant, facts: Facts) -> None:
    env = {**assistant.env, "RASA_URL": assistant.url}
    code, log = run(["staff.train", "--reload-only"], env)
    assert code == 0, log
    assert f"The assistant at {assistant.url} now answers with the new model (switched over without a restart)." in log
    assert assistant.texts("reload-check", "what's your phone number?") == [phone_reply(facts)]
    code, log = run(["staff.train", "--reload-only"], {**env, "RASA_AUTH_TOKEN": "wrong"})
    assert code == 1
    assert "keeps its old model: it refused the token" in log


def test_test_bot_report_names_the_failed_question_and_what_was_understood(tmp_path: Path, facts: Facts) -> None:
    stories = tmp_path / "test_conversations.yml"  # Rasa reads conversation tests only from test_* files
    stories.write_text(
        'version: "3.1"\nstories:\n'
        "- story: phone, labelled wrong on purpose\n  steps:\n"
        "  - user: |\n      what's your phone number?\n    intent: ask_partnerships\n  - action: action_answer_partnerships\n"
        "- story: greeting\n  steps:\n  - user: |\n      hello\n    intent: greet\n  - action: utter_greet\n"
    )
    heldout = tmp_path / "heldout.yml"
    heldout.write_text('version: "3.1"\nnlu:\n- intent: ask_visiting_professors\n  examples: |\n    - fax number please\n'
                       "- intent: goodbye\n  examples: |\n    - bye bye then\n")
    sets = tmp_path / "eval"
    sets.mkdir()
    (sets / "dev.yml").write_text(  # a set with a floor (FLOORS): the ones test-bot plays
        "conversations:\n- id: m1\n  kind: single\n  turns:\n  - user: what's the fax number?\n    must_contain: ['{contact.fax}']\n"
        "- id: m2\n  kind: followup\n  turns:\n  - user: what's the fax number?\n    must_contain: ['{contact.phone}']\n"
    )
    report = tmp_path / "report.txt"
    code, log = run(["staff.test_bot", "--model", str(MODEL), "--report", str(report), "--stories", str(stories),
                     "--heldout", str(heldout), "--conversations", str(sets)], dict(os.environ))
    text = report.read_text()
    assert code == 1, log
    assert "Conversations" in text and "1 of 2 passed." in text
    assert 'FAILED story "phone, labelled wrong on purpose"' in text
    assert '"what\'s your phone number?": should be ask_partnerships, understood as ask_contact' in text
    assert "1 of 2 understood (50.0%; at least 90% needed)" in text
    assert '"fax number please": should be ask_visiting_professors, understood as ask_contact' in text
    assert "dev: conversations 1/2 (50.0%), turns 1/2 (50.0%)" in text and "  kind followup: 0/1 (0.0%)" in text
    assert f"    [m2] \"what's the fax number?\" -> missing ['{facts.contact.phone}']" in text
    assert text.rstrip().endswith("Result: FAILED (see above; docs/STAFF.md explains what to do)")


@pytest.fixture
def postgres_store():
    """A fresh database on the machine's PostgreSQL, filled through Rasa's own SQL tracker store."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.domain import Domain

    name = f"staff_unanswered_{uuid.uuid4().hex[:8]}"
    store = SQLTrackerStore(Domain.empty(), dialect="postgresql", host="127.0.0.1", port=5432, db=name,
                            username="postgres", login_db="test")
    yield store, f"postgresql://postgres@127.0.0.1:5432/{name}"
    store.engine.dispose()
    admin = sa.create_engine("postgresql://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    with admin.connect() as db:
        db.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


async def test_unanswered_reads_a_postgresql_store(postgres_store, tmp_path: Path) -> None:
    from rasa.shared.core.events import ActionExecuted, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    store, url = postgres_store
    turns = [
        ("can i park on campus", "out_of_scope", 0.91, "action_explain_scope"),
        ("fax pls", "ask_contact", 0.95, "action_answer_contact"),
        ("who teaches anatomy maybe", "ask_visiting_professors", 0.41, "action_answer_visiting_professors"),
    ]
    events = []
    for text, intent, confidence, action in turns:
        events += [UserUttered(text, {"name": intent, "confidence": confidence}), ActionExecuted(action), ActionExecuted("action_listen")]
    await store.save(DialogueStateTracker.from_events("pg-sender-42", events))
    out = tmp_path / "unanswered.yml"
    code, log = run(["staff.unanswered", "--days", "1", "--db", url, "--out", str(out)], dict(os.environ))
    assert code == 0, log
    data = load_data(str(out))
    assert {m.get("text"): m.get("intent") for m in data.intent_examples} == {
        "can i park on campus": "out_of_scope",
        "who teaches anatomy maybe": "ask_visiting_professors",  # answered, but with low confidence
    }
    assert "pg-sender-42" not in out.read_text()


def test_conversation_tests_compare_entities_but_the_language() -> None:
    from rasa.core.test import EvaluationStore, WronglyClassifiedUserUtterance
    from rasa.shared.core.events import UserUttered

    from staff.test_bot import _wrong_turns

    def turn(predicted: list) -> WronglyClassifiedUserUtterance:
        target = [{"text": "fax?", "start": 0, "end": 3, "entity": "contact_channel", "value": "fax"}]
        store = EvaluationStore(intent_predictions=["ask_contact"], intent_targets=["ask_contact"],
                                entity_predictions=predicted, entity_targets=target)
        return WronglyClassifiedUserUtterance(UserUttered("fax?", {"name": "ask_contact"}), store)

    language = {"text": "fax?", "start": 0, "end": 4, "entity": "language", "value": "pl"}
    fax = {"text": "fax?", "start": 0, "end": 3, "entity": "contact_channel", "value": "fax"}
    assert _wrong_turns([turn([fax, language])]) == []
    assert _wrong_turns([turn([{**fax, "value": "phone"}, language])]) == [
        "    \"fax?\": should name ['contact_channel=fax'], named ['contact_channel=phone']"]
