"""The staff console (console/, issue 13): its logic on its own, then the running console.

Unit tests first (no servers): an example added to its intent's block with the file otherwise
unchanged, duplicates refused, facts saved keeping comments and recorded as docs/STAFF.md shows,
wrong facts refused with nothing written, passwords hashed, the sign-in throttle, the inbox,
conversations and insights from events, wordings saved or refused as `make check` would, a saved
file committed alone to git, a patch that recreates a saved file, a switch that names the instance
it did not reach.
Then one assistant with its console (started by the run script, as `make run` does, on free ports,
on copies of the facts, data/nlu/ and domain.yml in a git checkout of their own): every URL refuses
without a session, a POST without its CSRF token is refused, a conversation is searched, shown with
markup inert and deleted, insights and an answer's wording over HTTP, and a staff member in Debian's
chromium signs in, labels a question people asked, changes the phone number and the assistant
answers with it. Last, a console alone on copies outside git: its changes downloaded as patches
recreate the saved files in the repository.
"""
import datetime
import http.server
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, Iterator, List

import pytest
import requests
from playwright.sync_api import Page, expect, sync_playwright

from actions.facts import FactsError, parse
from console.auth import Throttle, check_password
from console.conversations import conversations, insights, search
from console.inbox import RATED_DOWN, collect
from console.pipeline import Pipeline
from console.settings import Settings, session_secret
from console.app import Console
from console.users import add_user
from scripts.assistant import Assistant, free_port
from staff.answers_edit import WordingRefused, save_wording, wordings
from staff.check import check
from staff.examples import ExampleRefused, add_example
from staff.facts_edit import save
from staff.train import MODEL as MODEL_FILE, Switch, reload_all
from staff.versioning import Changes, commit_file
from tests.conftest import FACTS_FILE, ROOT, Facts, phone_reply, record_change
from tests.test_widget import CHROMIUM, CHROMIUM_ARGS

NLU = ROOT / "data" / "nlu"
STAFF, PASSWORD = "anna.nowak", "correct horse battery staple"
SECRET = "test-secret-" + "x" * 32
MARKUP = "<script>alert(1)</script><b>bold</b> is the canteen open?"
UNANSWERED = "wat number do i dial 4 u"  # out of scope for the trained model: a contact question
NEW_PHONE = "+48 85 686 51 99"


def comments(text: str) -> List[str]:
    return [line for line in text.splitlines() if line.lstrip().startswith("#")]


# --- the logic, no servers ---------------------------------------------------------------------

def test_example_added_at_the_end_of_its_block_and_nothing_else_changes(tmp_path: Path) -> None:
    shutil.copytree(NLU, tmp_path / "nlu")
    before = (NLU / "contact.yml").read_text().splitlines(keepends=True)
    path, line = add_example(tmp_path / "nlu", "ask_contact", "how  2 reach u [now]")
    after = path.read_text().splitlines(keepends=True)
    assert path.name == "contact.yml"
    # one line more, indented as its neighbours, brackets that would read as entity marks made plain
    assert after[:line - 1] + after[line:] == before
    assert after[line - 1] == after[line - 2][:after[line - 2].index("-")] + "- how 2 reach u (now)\n"
    assert after[line - 2].lstrip().startswith("- ")  # right after the block's last example
    for other in NLU.glob("*.yml"):
        if other.name != "contact.yml":
            assert (tmp_path / "nlu" / other.name).read_text() == other.read_text()


def test_duplicate_example_refused_with_where_it_is(tmp_path: Path) -> None:
    shutil.copytree(NLU, tmp_path / "nlu")
    add_example(tmp_path / "nlu", "ask_contact", "how 2 reach u")
    text = (tmp_path / "nlu" / "contact.yml").read_text()
    with pytest.raises(ExampleRefused, match=r"already an example of 'ask_contact' \(contact.yml, line \d+\)"):
        add_example(tmp_path / "nlu", "ask_contact", "How  2 REACH u")
    with pytest.raises(ExampleRefused, match="cannot learn two meanings"):
        add_example(tmp_path / "nlu", "out_of_scope", "how 2 reach u")
    with pytest.raises(ExampleRefused, match="not an intent"):
        add_example(tmp_path / "nlu", "nlu_fallback", "anything")
    assert (tmp_path / "nlu" / "contact.yml").read_text() == text
    assert sorted(p.name for p in (tmp_path / "nlu").iterdir()) == sorted(p.name for p in NLU.iterdir())


def test_a_polish_example_goes_to_the_polish_file_and_duplicates_are_found_across_languages(tmp_path: Path) -> None:
    """Issue 12: data/nlu/pl/ holds the Polish examples (the language detector learns Polish from them)."""
    shutil.copytree(NLU, tmp_path / "nlu")
    path, _ = add_example(tmp_path / "nlu", "ask_contact", "jak się do was dodzwonić?")  # Polish letters
    assert path == tmp_path / "nlu" / "pl" / "contact.yml"
    path, _ = add_example(tmp_path / "nlu", "ask_contact", "jak sie do was dodzwonic", language="pl")  # the inbox's language
    assert path == tmp_path / "nlu" / "pl" / "contact.yml"
    with pytest.raises(ExampleRefused, match=r"already an example of 'ask_contact' \(pl/contact.yml, line \d+\)"):
        add_example(tmp_path / "nlu", "ask_contact", "Jak się do was dodzwonić?")
    assert add_example(tmp_path / "nlu", "ask_contact", "how 2 reach u")[0] == tmp_path / "nlu" / "contact.yml"


def test_fact_saved_as_docs_staff_md_says(tmp_path: Path) -> None:
    """The console's change is the one worked example 1 makes by hand (conftest's record_change),
    byte for byte: comments, quotes and layout kept."""
    by_hand, by_console = tmp_path / "by_hand.yml", tmp_path / "by_console.yml"
    original = FACTS_FILE.read_text()
    old_phone = parse(FACTS_FILE)["contact"]["phone"]
    by_hand.write_text(original.replace(f'phone: "{old_phone}"', f'phone: "{NEW_PHONE}"'))
    record_change(by_hand, "contact.phone")
    by_console.write_text(original)
    changed = save(by_console, {"contact.phone": NEW_PHONE, "contact.fax": parse(FACTS_FILE)["contact"]["fax"]},
                   "International Cooperation Office", datetime.date(2026, 12, 1))
    assert changed == ["contact.phone"]  # an unchanged value is not recorded
    assert by_console.read_text() == by_hand.read_text()
    assert comments(by_console.read_text()) == comments(original)
    assert parse(by_console)["contact"]["phone"] == NEW_PHONE


def test_list_fact_saved_and_recorded_once_per_fact(tmp_path: Path) -> None:
    path = tmp_path / "facts.yml"
    shutil.copy(FACTS_FILE, path)
    regions, polish = parse(FACTS_FILE)["partnerships"]["regions"], parse(FACTS_FILE)["partnerships"]["regions_pl"]
    with pytest.raises(FactsError, match="each item needs its Polish form"):  # a region and its Polish form go together
        save(path, {"partnerships.regions": regions + ["Canada"]}, "anna", datetime.date(2026, 12, 1))
    save(path, {"partnerships.regions": regions + ["Canada"], "partnerships.regions_pl": polish + ["w Kanadzie"]}, "anna", datetime.date(2026, 12, 1))
    save(path, {"partnerships.regions": regions[:1], "partnerships.regions_pl": polish[:1]}, "piotr", datetime.date(2026, 12, 2))
    facts = parse(path)
    assert (facts["partnerships"]["regions"], facts["partnerships"]["regions_pl"]) == (regions[:1], polish[:1])
    assert facts["source"]["changed_by_staff"] == [{"field": f"partnerships.{name}", "by": "piotr", "on": "2026-12-02"}
                                                   for name in ("regions", "regions_pl")]
    assert comments(path.read_text()) == comments(FACTS_FILE.read_text())


@pytest.mark.parametrize("field, value, kind", [
    ("contact.email", "not an address", "malformed"),
    ("contact.phone", "call us", "malformed"),
    ("contact.office", "", "empty"),
    ("visiting_professors.funders", [], "empty"),
])
def test_wrong_fact_refused_with_field_and_nothing_written(tmp_path: Path, field: str, value: object, kind: str) -> None:
    path = tmp_path / "facts.yml"
    shutil.copy(FACTS_FILE, path)
    with pytest.raises(FactsError) as refused:
        save(path, {field: value}, "anna", datetime.date(2026, 12, 1))
    assert (refused.value.field, refused.value.kind) == (field, kind)
    assert path.read_text() == FACTS_FILE.read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["facts.yml"]  # no temporary file left


def test_password_stored_only_as_argon2_hash(tmp_path: Path) -> None:
    settings = Settings.from_env({"STAFF_DB": str(tmp_path / "staff.db"), "STAFF_AUDIT_LOG": str(tmp_path / "audit.log")})
    assert add_user(settings, STAFF, PASSWORD, by="test") is True
    for stored in (tmp_path / "staff.db", tmp_path / "audit.log"):
        assert PASSWORD.encode() not in stored.read_bytes()
    from console.store import Store
    stored_hash = Store(settings.db).password_hash(STAFF)
    assert stored_hash.startswith("$argon2id$")
    assert check_password(stored_hash, PASSWORD) and not check_password(stored_hash, PASSWORD + "!")
    assert not check_password(None, PASSWORD)  # no such account
    with pytest.raises(ValueError, match="at least 10"):
        add_user(settings, "piotr", "short", by="test")
    with pytest.raises(ValueError, match="a name is"):
        add_user(settings, "<b>x</b>", PASSWORD, by="test")
    assert json.loads((tmp_path / "audit.log").read_text().splitlines()[0])["what"] == "account created"


def test_throttle_per_key_and_window() -> None:
    now = [0.0]
    throttle = Throttle(limit=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.wait("account:anna") == 0
        throttle.fail(["account:anna", "address:1.2.3.4"])
    assert throttle.wait("account:anna") == 60
    assert throttle.wait("account:piotr") == 0
    assert throttle.wait("address:1.2.3.4", limit=12) == 0  # an address may fail more often
    now[0] = 30
    assert throttle.wait("account:anna") == 30
    now[0] = 60.5
    assert throttle.wait("account:anna") == 0


def test_session_secret_missing_or_short(caplog: pytest.LogCaptureFixture) -> None:
    first, second = session_secret({}), session_secret({})
    assert first != second and len(first) >= 32
    assert "STAFF_SESSION_SECRET is not set" in caplog.text
    with pytest.raises(ValueError, match="at least 32"):
        session_secret({"STAFF_SESSION_SECRET": "short"})
    assert session_secret({"STAFF_SESSION_SECRET": SECRET}) == SECRET


def event(sender: str, kind: str, action: str = None, **data: object) -> dict:
    """A row of Rasa's events table, as staff.unanswered.read_events gives it."""
    return {"sender_id": sender, "type_name": kind, "action_name": action, "data": json.dumps(data)}


def user(sender: str, text: str, intent: str, confidence: float, message_id: str = None, **data: object) -> dict:
    ranking = [{"name": intent, "confidence": confidence}]
    return event(sender, "user", text=text, parse_data={"intent": ranking[0], "intent_ranking": ranking},
                 metadata={"message_id": message_id} if message_id else {}, **data)


def test_inbox_items_from_events() -> None:
    events = [
        user("a", "what's the weather", "out_of_scope", 0.9), event("a", "action", "action_explain_scope"),
        user("a", "phone?", "ask_contact", 0.95, "m1"), event("a", "action", "utter_phone"),
        event("a", "agent", data={"feedback": "down", "message_id": "m1", "answer": "..."}),
        user("b", "Phone?", "ask_contact", 0.4), event("b", "action", "utter_phone"),
        user("b", "fax?", "ask_contact", 0.97, "m2"), event("b", "action", "utter_fax"),
        event("b", "agent", data={"feedback": "down", "message_id": "m2", "answer": "..."}),
        event("b", "agent", data={"feedback": "none", "message_id": "m2", "answer": "..."}),  # taken back
    ]
    polish = {"name": "out_of_scope", "confidence": 0.9}
    events += [event("c", "user", text="jaka jest pogoda", metadata={},
                     parse_data={"intent": polish, "intent_ranking": [polish], "entities": [{"entity": "language", "value": "pl"}]}),
               event("c", "action", "action_explain_scope")]
    items = {item.key: item for item in collect(events, 0.5, "action_default_fallback")}
    # the language it was asked in goes with it, so a labelled example lands in its language's file
    assert items.pop("jaka jest pogoda").language == "pl" and items["what's the weather"].language == "en"
    assert set(items) == {"what's the weather", "phone?"}
    assert items["what's the weather"].reasons == ["out of scope"]
    assert items["phone?"].reasons == ["unsure", RATED_DOWN]
    assert (items["phone?"].guess, items["phone?"].confidence) == ("ask_contact", 0.4)


async def test_model_switched_only_when_every_step_passes() -> None:
    switched: List[bool] = []
    ok, fail = ["python3", "-c", "print('fine')"], ["python3", "-c", "print('2 problems found'); raise SystemExit(1)"]
    failing = Pipeline(lambda: switched.append(True) or True, [("Check", ok), ("Train", fail), ("Test", ok)])
    assert failing.start("anna") and not failing.start("piotr")  # one run at a time
    await failing.task
    assert [(step.state, step.output) for step in failing.run.steps] == [
        ("passed", ["fine"]), ("failed", ["2 problems found"]), ("waiting", [])]
    assert failing.run.state == "failed" and switched == []
    passing = Pipeline(lambda: switched.append(True) or True, [("Check", ok), ("Test", ok)])
    passing.start("anna")
    await passing.task
    assert passing.run.state == "switched" and switched == [True]


DAY1, DAY2 = datetime.datetime(2026, 11, 2, 10).timestamp(), datetime.datetime(2026, 11, 3, 9).timestamp()
TALK = [  # two people: one on the web chat over two days, one on Telegram
    event("web-1", "action", "action_session_start"), event("web-1", "action", "action_listen"),
    user("web-1", "phone?", "ask_contact", 0.93, timestamp=DAY1, input_channel="webchat"),
    event("web-1", "action", "action_answer"), event("web-1", "bot", text="The office's phone number is +48 1."),
    event("web-1", "action", "action_listen"),
    user("web-1", "what's the weather", "out_of_scope", 0.88, timestamp=DAY2, input_channel="webchat"),
    event("web-1", "action", "action_explain_scope"), event("web-1", "bot", text="I don't know that."),
    user("tg-2", "asdf qwer", "nlu_fallback", 0.31, timestamp=DAY2 + 60, input_channel="telegram"),
    event("tg-2", "action", "action_default_fallback"), event("tg-2", "bot", text="Sorry, I didn't get that."),
    user("tg-2", "Phone?", "ask_contact", 0.97, timestamp=DAY2 + 120, input_channel="telegram"),
    event("tg-2", "action", "action_answer"),
]


def test_conversations_from_events_pseudonymous_with_each_turn() -> None:
    found = conversations(TALK, lambda sender: f"p{len(sender)}")
    assert [(c.pseudonym, c.channel, len(c.turns)) for c in found] == [("p4", "telegram", 2), ("p5", "webchat", 2)]  # newest first
    web = found[1]
    assert [(t.day, t.text, t.intent, t.confidence, t.actions, t.replies) for t in web.turns] == [
        ("2026-11-02", "phone?", "ask_contact", 0.93, ["action_answer"], ["The office's phone number is +48 1."]),
        ("2026-11-03", "what's the weather", "out_of_scope", 0.88, ["action_explain_scope"], ["I don't know that."])]
    assert "web-1" not in repr(found) and "tg-2" not in repr(found)  # the sender ids stay out
    assert [c.pseudonym for c in search(found, text="PHONE")] == ["p4", "p5"]
    assert [c.pseudonym for c in search(found, text="didn't get")] == ["p4"]  # the replies too
    assert [c.pseudonym for c in search(found, channel="webchat")] == ["p5"]
    assert [c.pseudonym for c in search(found, first_day="2026-11-01", last_day="2026-11-02")] == ["p5"]
    assert search(found, text="phone", first_day="2026-11-03", channel="webchat") == []  # its phone turn is earlier


def test_insights_per_day_and_topic_with_rates_and_unanswered() -> None:
    found = insights(TALK, str, "action_default_fallback", 0.5)
    assert [(d.day, d.questions, d.fell_back, d.out_of_scope) for d in found.days] == [
        ("2026-11-02", 1, 0, 0), ("2026-11-03", 3, 1, 1)]
    assert (found.days[1].fallback_rate, found.days[1].out_of_scope_rate, found.questions) == (1 / 3, 1 / 3, 4)
    assert found.topics == [("ask_contact", 2), ("nlu_fallback", 1), ("out_of_scope", 1)]
    assert [(i.text, i.reasons) for i in found.unanswered] == [("asdf qwer", ["not understood"]), ("what's the weather", ["out of scope"])]


def test_wording_saved_keeping_the_rest_of_domain_yml(tmp_path: Path) -> None:
    domain = tmp_path / "domain.yml"
    shutil.copy(ROOT / "domain.yml", domain)
    before = domain.read_text().splitlines(keepends=True)
    new = "Glad to help!\nAnything else you'd like to know?"
    polish = dict(dict(wordings(domain))["utter_thank"])["language = pl"]
    assert save_wording(domain, "utter_thank", [new, polish], ROOT, FACTS_FILE) == [
        ("You're welcome! Is there anything else you'd like to know?", new)]
    after = domain.read_text().splitlines(keepends=True)
    changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
    assert len(after) == len(before) and len(changed) == 1  # comments, anchors, quotes, the other answers: as they were
    assert after[changed[0]] == '    - text: "Glad to help!\\nAnything else you\'d like to know?"\n'
    assert dict(wordings(domain))["utter_thank"] == [("", new), ("language = pl", polish)]
    assert save_wording(domain, "utter_thank", [new + "  \r\n", polish], ROOT, FACTS_FILE) == []  # nothing changed


@pytest.mark.parametrize("text, message", [
    ("Call us on {phnoe}.", "uses {phnoe}, which is not a placeholder the assistant fills in. Did you mean 'phone'?"),
    ("Call us on <phone>.", "contains '<phone>', a fact from data/facts.yml (line"),
    ("  ", "cannot be empty"),
])
def test_wrong_wording_refused_with_the_problem_and_nothing_written(tmp_path: Path, facts: Facts, text: str, message: str) -> None:
    text, message = (x.replace("<phone>", facts.contact.phone) for x in (text, message))
    domain = tmp_path / "domain.yml"
    shutil.copy(ROOT / "domain.yml", domain)
    polish = dict(dict(wordings(domain))["utter_thank"])["language = pl"]
    with pytest.raises(WordingRefused, match=re.escape(message)):
        save_wording(domain, "utter_thank", [text, polish], ROOT, FACTS_FILE)
    assert domain.read_text() == (ROOT / "domain.yml").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["domain.yml"]


def test_make_check_reports_an_unknown_placeholder(tmp_path: Path) -> None:
    """The editor's placeholder check is `make check`'s: a wording written by hand is held to it too."""
    for name in ("domain.yml", "data"):
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, tmp_path / name)
    domain = tmp_path / "domain.yml"
    domain.write_text(domain.read_text().replace("The {office}'s fax number is {fax}.", "The {office}'s fax number is {fax_number}."))
    assert [p.what for p in check(tmp_path) if "placeholder" in p.what] == [
        "the response 'utter_contact_fax' uses {fax_number}, which is not a placeholder the assistant fills in."]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false", *args],
                          cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def test_saved_file_committed_alone_as_the_staff_member(tmp_path: Path) -> None:
    """Only the file saved goes into the commit: what else is staged or edited stays so; outside a
    checkout, nothing happens."""
    (tmp_path / "facts.yml").write_text("a: 1\n")
    (tmp_path / "other.yml").write_text("b: 1\n")
    assert commit_file(tmp_path / "facts.yml", STAFF, "facts changed") is None  # not a git checkout (yet)
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "start")
    (tmp_path / "facts.yml").write_text("a: 2\n")
    (tmp_path / "other.yml").write_text("b: 2\n")
    git(tmp_path, "add", "other.yml")  # someone's work in progress
    commit = commit_file(tmp_path / "facts.yml", STAFF, "Staff console: contact.phone changed")
    assert commit == git(tmp_path, "rev-parse", "--short", "HEAD")
    assert git(tmp_path, "log", "-1", "--format=%an <%ae>|%cn|%s") == \
        f"{STAFF} <{STAFF}@staff-console>|UMB staff console|Staff console: contact.phone changed"
    assert git(tmp_path, "show", "--name-only", "--format=", "HEAD") == "facts.yml"
    assert git(tmp_path, "diff", "--cached", "--name-only") == "other.yml"


def test_patch_recreates_the_file_even_without_a_last_newline_or_as_a_new_file(tmp_path: Path) -> None:
    """What `git apply` and `patch -p1` need: the repository's path, a marked missing last newline,
    a new file from /dev/null; several patches in one file apply one after the other."""
    changes = Changes(tmp_path / "staff.db")
    original = FACTS_FILE.read_text()
    steps = [original.replace("\n", "\r\n", 3), original + "# no newline at the end", original + "# a comment\n"]
    for before, after in zip([original] + steps, steps):
        changes.add(before, after, "data/facts.yml", STAFF, "Staff console: a change")
    changes.add(None, "nlu:\n", "data/nlu/new.yml", "piotr", "Staff console: a new file")
    for tool in (["git", "apply"], ["patch", "-p1", "--quiet"]):
        repo = tmp_path / tool[0]
        (repo / "data").mkdir(parents=True)
        shutil.copy(FACTS_FILE, repo / "data" / "facts.yml")
        patch = "".join(change["patch"] for change in changes.listed())
        subprocess.run(tool, cwd=repo, input=patch.encode(), check=True)
        assert (repo / "data" / "facts.yml").read_bytes() == steps[-1].encode() and (repo / "data" / "nlu" / "new.yml").read_text() == "nlu:\n"
    one = changes.listed(change_id=2)[0]
    assert (one["by"], one["file"]) == (STAFF, "data/facts.yml") and f"From: {STAFF} <{STAFF}@staff-console>" in one["patch"]
    assert "\n\\ No newline at end of file\n" in one["patch"]


class FakeRasa(http.server.BaseHTTPRequestHandler):
    """A Rasa server's PUT /model: 204 with the right token."""
    token = "fake-token"

    def do_PUT(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(204 if f"token={self.token}" in self.path else 401)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


async def test_switch_not_done_when_one_instance_is_unreachable_and_the_page_names_it(tmp_path: Path) -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeRasa)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    up, down = f"http://127.0.0.1:{server.server_address[1]}", f"http://127.0.0.1:{free_port()}"
    try:
        assert reload_all([up], FakeRasa.token, MODEL_FILE)
        switch = reload_all([up, down], FakeRasa.token, MODEL_FILE)
        assert not switch and switch.switched == [up] and list(switch.failed) == [down]
        assert switch.failed[down].startswith("no assistant answers there")
        assert not reload_all([up], "wrong", MODEL_FILE) and not reload_all([up], None, MODEL_FILE)
        env = {"STAFF_DB": str(tmp_path / "staff.db"), "STAFF_AUDIT_LOG": str(tmp_path / "audit.log"),
               "RASA_URLS": f"{up} {down}/", "RASA_AUTH_TOKEN": FakeRasa.token}
        console = Console(Settings.from_env(env), "sqlite://", "action_default_fallback")
        assert console.settings.rasa_urls == [up, down]
        pipeline = Pipeline(console.switch, [("Check", ["python3", "-c", r"print('\x1b[93mcoloured\x1b[0m')"])])
        pipeline.start(STAFF)
        await pipeline.task
    finally:
        server.shutdown()
    assert pipeline.run.state == "not switched" and console.switched.failed.keys() == {down}
    page = console.templates.get_template("model.html").render(run=pipeline.run, can_switch=True,
                                                                 switch=console.switched, instances=[up, down])
    status = page.split('role="status"', 1)[1].split("</p>", 1)[0]
    assert f"not every assistant server was switched:\n{down} keeps its old model" in status
    assert f"<li>{up}: switched to the new model</li>" in page and f"<li>{down}: <strong>not switched</strong>: no assistant" in page
    assert "<pre>coloured</pre>" in page  # a tool's terminal colours left out


# --- the running console -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def assistant(workdir: Path) -> Iterator[Assistant]:
    """Both servers and the console (run script), on copies of the facts, data/nlu/ and domain.yml
    in a git checkout of their own."""
    shutil.copytree(NLU, workdir / "nlu")
    shutil.copy(ROOT / "domain.yml", workdir / "domain.yml")
    for args in (["init", "-q"], ["add", "facts.yml", "nlu", "domain.yml"], ["commit", "-q", "-m", "copies"]):
        git(workdir, *args)  # a git checkout, as a deployment may be: saved changes become commits
    env = {
        "STAFF_DOMAIN": str(workdir / "domain.yml"),
        "UMB_FACTS_FILE": str(workdir / "facts.yml"), "STAFF_NLU_DIR": str(workdir / "nlu"),
        "STAFF_DB": str(workdir / "staff.db"), "STAFF_AUDIT_LOG": str(workdir / "audit.log"),
        "STAFF_SESSION_SECRET": SECRET, "STAFF_PORT": str(free_port()),
    }
    add_user(Settings.from_env(env), STAFF, PASSWORD, by="test")
    a = Assistant(workdir, **env).start()
    a.console = f"http://127.0.0.1:{env['STAFF_PORT']}"
    deadline = time.monotonic() + 60
    while True:  # the console starts faster than Rasa: normally up at the first try
        try:
            requests.get(f"{a.console}/login", timeout=2).raise_for_status()
            break
        except requests.RequestException:
            if time.monotonic() > deadline:
                a.stop()
                raise
            time.sleep(0.2)
    yield a
    a.stop()


def signed_in(console: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{console}/login").text
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    r = session.post(f"{console}/login", data={"csrf": csrf, "name": STAFF, "password": PASSWORD}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/inbox"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie  # plain http on loopback
    return session


def csrf_of(html: str) -> str:
    return html.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_every_console_url_refuses_without_a_session(assistant: Assistant, workdir: Path) -> None:
    from console.app import PUBLIC, Console, create_app

    app = create_app(Console(Settings.from_env({"STAFF_DB": str(workdir / "routes.db"), "STAFF_AUDIT_LOG": str(workdir / "r.log")}),
                             "sqlite://", "action_default_fallback"), name="console_routes")
    routes = {("/" + route.path, method) for route in app.router.routes for method in route.methods}
    assert {("/inbox", "GET"), ("/facts", "POST"), ("/inbox/review", "POST"), ("/conversations", "GET"),
            ("/conversations/view", "GET"), ("/conversations/delete", "POST"), ("/answers", "GET"), ("/answers", "POST"),
            ("/insights", "GET"), ("/changes", "GET"), ("/changes/patch", "GET")} <= routes
    facts = (workdir / "facts.yml").read_text()
    for path, method in sorted(routes):
        if path in PUBLIC:
            continue
        r = requests.request(method, f"{assistant.console}{path}", data={"text": "x", "verdict": "ignore"}, allow_redirects=False)
        if method in ("GET", "HEAD"):
            assert (r.status_code, r.headers["location"]) == (303, "/login"), path
        else:
            assert r.status_code == 403, (method, path)
        assert "<table" not in r.text and "<form" not in r.text, path
    assert (workdir / "facts.yml").read_text() == facts


def test_post_without_csrf_token_refused(assistant: Assistant, workdir: Path) -> None:
    session = signed_in(assistant.console)
    facts = (workdir / "facts.yml").read_text()
    form = session.get(f"{assistant.console}/facts").text
    base = form.split('name="base" value="', 1)[1].split('"', 1)[0]
    for csrf in (None, "", "0" * 64, csrf_of(signed_in(assistant.console).get(f"{assistant.console}/facts").text)):
        data = {"base": base, "contact.phone": "+48 1 111 111", **({"csrf": csrf} if csrf is not None else {})}
        assert session.post(f"{assistant.console}/facts", data=data, allow_redirects=False).status_code == 403
        assert session.post(f"{assistant.console}/model/run", data=data, allow_redirects=False).status_code == 403
    assert (workdir / "facts.yml").read_text() == facts
    assert "Check, train, test, switch" in session.get(f"{assistant.console}/model").text
    assert "started by" not in session.get(f"{assistant.console}/model").text  # no training was started


def test_sign_in_throttled_per_account(assistant: Assistant) -> None:
    session = requests.Session()
    for attempt in range(6):
        csrf = csrf_of(session.get(f"{assistant.console}/login").text)
        r = session.post(f"{assistant.console}/login", data={"csrf": csrf, "name": "piotr", "password": f"wrong {attempt}"})
        assert r.status_code == (401 if attempt < 5 else 429)
    assert "Too many failed sign-ins" in r.text
    audit = [json.loads(line) for line in (Path(assistant.env["STAFF_AUDIT_LOG"])).read_text().splitlines()]
    assert [e["what"] for e in audit if e["who"] == "piotr"] == ["sign-in refused"] * 5 + ["sign-in throttled"]


def test_conversation_found_shown_as_text_and_deleted_on_request(assistant: Assistant, workdir: Path) -> None:
    """Search by text and channel, each turn with intent, confidence, actions and reply, markup inert,
    the sender id nowhere; deleted (a person's request) only when confirmed, recorded in the audit log."""
    sender = "gdpr-person-4711"
    assistant.say("someone-else", "hello")
    assistant.say(sender, "<img src=x onerror=alert(2)> who signed the agreement? zebra")
    assistant.say(sender, "what is your phone number?")
    session = signed_in(assistant.console)
    listing = session.get(f"{assistant.console}/conversations", params={"q": "ZEBRA", "channel": "rest"}).text
    assert listing.count("/conversations/view?") == 1 and sender not in listing
    assert "<img" not in listing and "&lt;img src=x onerror=alert(2)&gt;" in listing
    assert "/conversations/view?" not in session.get(f"{assistant.console}/conversations", params={"q": "zebra", "channel": "telegram"}).text
    link = listing.split('href="/conversations/view?', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    pseudonym = link.split("c=", 1)[1].split("&", 1)[0]
    view = session.get(f"{assistant.console}/conversations/view?{link}")
    assert view.status_code == 200 and sender not in view.text and "<img" not in view.text
    assert "&lt;img src=x onerror=alert(2)&gt; who signed the agreement? zebra" in view.text
    facts = Facts.load(workdir / "facts.yml")
    assert view.text.count("ask_contact (") == 1 and "action_" in view.text and facts.contact.phone in view.text

    tracker = sqlite3.connect(workdir / "tracker.db")
    stored = lambda: tracker.execute("SELECT count(*) FROM events WHERE sender_id = ?", (sender,)).fetchone()[0]  # noqa: E731
    before = stored()
    refused = session.post(f"{assistant.console}/conversations/delete", data={"csrf": csrf_of(view.text), "c": pseudonym})
    assert "tick the box" in refused.text and stored() == before > 0
    done = session.post(f"{assistant.console}/conversations/delete", data={"csrf": csrf_of(view.text), "c": pseudonym, "confirm": "yes"})
    assert f"Conversation {pseudonym} deleted: {before} messages and events" in done.text
    assert stored() == 0
    assert tracker.execute("SELECT count(*) FROM events WHERE sender_id != ?", (sender,)).fetchone()[0] > 0  # only that one
    assert "/conversations/view?" not in session.get(f"{assistant.console}/conversations", params={"q": "zebra"}).text
    entry = json.loads((workdir / "audit.log").read_text().splitlines()[-1])
    assert (entry["who"], entry["what"], entry["conversation"], entry["events"]) == (STAFF, "conversation deleted", pseudonym, before)
    assert sender not in (workdir / "audit.log").read_text()


def test_insights_page_server_rendered_text_inert(assistant: Assistant) -> None:
    assistant.say("insights-visitor", "<i>zzz</i> qwxz vbnm")
    session = signed_in(assistant.console)
    page = session.get(f"{assistant.console}/insights", params={"days": "7"}).text
    today = datetime.date.today().isoformat()
    assert f"<tr><td>{today}</td>" in page and "<svg" in page and "<script" not in page
    assert "&lt;i&gt;zzz&lt;/i&gt; qwxz vbnm" in page and "<i>" not in page  # among the unanswered, as text
    assert "nlu_fallback" in page or "out_of_scope" in page


def test_answer_wording_changed_in_the_console(assistant: Assistant, workdir: Path, facts: Facts) -> None:
    session = signed_in(assistant.console)
    page = session.get(f"{assistant.console}/answers").text
    assert 'only after the next training' in page and '<a href="/model">Check, train, test, switch</a>' in page
    form = page.split('id="utter_contact_fax"', 1)[1].split("</form>", 1)[0]
    base = form.split('name="base" value="', 1)[1].split('"', 1)[0]
    fields = {"csrf": csrf_of(page), "name": "utter_contact_fax", "base": base}
    polish = "{office} – numer faksu: {fax}."
    assert f"(when language = pl)\n      <textarea name=\"text\" rows=\"3\">{polish}</textarea>" in form
    domain = (workdir / "domain.yml").read_text()
    fax = facts.contact.fax
    refused = session.post(f"{assistant.console}/answers", data={**fields, "text": [f"Fax: <b>{{fax}}</b> or {fax}", polish]})
    assert refused.status_code == 422 and f"Not saved: the response &#39;utter_contact_fax&#39; contains &#39;{fax}&#39;" in refused.text
    assert f"Fax: &lt;b&gt;{{fax}}&lt;/b&gt; or {fax}</textarea>" in refused.text  # what was typed, kept, inert
    assert (workdir / "domain.yml").read_text() == domain
    saved = session.post(f"{assistant.console}/answers", data={**fields, "text": ["Our fax ({office}): {fax}.", polish]})
    assert "Saved: utter_contact_fax. The assistant uses the new wording after the next training" in saved.text
    assert (workdir / "domain.yml").read_text() == domain.replace("The {office}'s fax number is {fax}.", "Our fax ({office}): {fax}.")
    stale = session.post(f"{assistant.console}/answers", data={**fields, "text": ["Fax: {fax}", polish]})
    assert stale.status_code == 409 and "changed by someone else meanwhile" in stale.text
    entry = json.loads((workdir / "audit.log").read_text().splitlines()[-1])
    assert (entry["who"], entry["what"], entry["response"], entry["new"]) == (STAFF, "answer changed", "utter_contact_fax", "Our fax ({office}): {fax}.")
    assert entry["commit"] == git(workdir, "rev-parse", "--short", "HEAD")  # versioned: a commit of domain.yml alone, by the staff member
    assert f"<td>{entry['commit']}</td>" in session.get(f"{assistant.console}/changes").text  # and a patch on the Changes page
    assert git(workdir, "log", "-1", "--format=%an|%s", "--name-only") == f"{STAFF}|Staff console: wording of utter_contact_fax changed\n\ndomain.yml"


def test_staff_member_labels_a_question_and_changes_the_phone(assistant: Assistant, workdir: Path) -> None:
    """In the browser, as staff would: sign in, find what people asked, label it, change a fact."""
    assistant.say("console-visitor", UNANSWERED)
    assistant.say("console-visitor", MARKUP)
    started = time.monotonic()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.set_default_timeout(30_000)
        dialogs: List[str] = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        try:
            staff_session(page, assistant, workdir, dialogs)
        finally:
            browser.close()
    logging.getLogger(__name__).info("staff time in the browser: %.1f s", time.monotonic() - started)


def staff_session(page: Page, assistant: Assistant, workdir: Path, dialogs: List[str]) -> None:
    page.goto(f"{assistant.console}/inbox")
    expect(page).to_have_url(f"{assistant.console}/login")
    page.get_by_label("Name").fill(STAFF)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Questions to review")).to_be_visible()

    # the markup a visitor typed is text on the page, nothing runs
    row = page.get_by_role("row").filter(has_text="is the canteen open?")
    expect(row.locator("td.message")).to_have_text(MARKUP)
    assert page.locator("main script, main b").count() == 0
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.content()

    # label the question people asked: an example of ask_contact in the copy of data/nlu/
    row = page.get_by_role("row").filter(has_text=UNANSWERED)
    expect(row).to_contain_text("out of scope")
    row.get_by_label(f"Question meant by: {UNANSWERED}").select_option("ask_contact")
    row.get_by_role("button", name="Add as example").click()
    expect(page.get_by_role("status")).to_contain_text(f"“{UNANSWERED}” added as an example of ask_contact (contact.yml, line")
    assert f"    - {UNANSWERED}\n" in (workdir / "nlu" / "contact.yml").read_text()
    expect(page.get_by_role("row").filter(has_text=UNANSWERED)).to_have_count(0)  # reviewed
    page.get_by_role("row").filter(has_text="is the canteen open?").get_by_role("button", name="Ignore").click()
    expect(page.get_by_role("status")).to_contain_text("ignored")

    # a wrong e-mail is refused, nothing written
    page.get_by_role("link", name="Facts").click()
    facts_before = (workdir / "facts.yml").read_text()
    page.get_by_label("email", exact=True).fill("international at umb")
    page.get_by_role("button", name="Save the facts").click()
    expect(page.get_by_role("alert")).to_have_text("Not saved: contact.email: this is not an e-mail address, e.g. office@example.edu.")
    assert (workdir / "facts.yml").read_text() == facts_before

    # the new phone number: saved, recorded, and the running assistant answers with it
    old = Facts.load(workdir / "facts.yml")
    page.get_by_label("email", exact=True).fill(old.contact.email)
    page.get_by_label("phone", exact=True).fill(NEW_PHONE)
    page.get_by_role("button", name="Save the facts").click()
    expect(page.get_by_role("status")).to_contain_text("Saved: contact.phone.")
    new = Facts.load(workdir / "facts.yml")
    assert new.contact.phone == NEW_PHONE
    assert new.source.changed_by_staff == [{"field": "contact.phone", "by": STAFF, "on": datetime.date.today().isoformat()}]
    assert assistant.texts("console-phone", "what is your phone number?") == [phone_reply(new)]

    # undo from the history: the old number again
    page.get_by_role("row").filter(has_text=NEW_PHONE).get_by_role("button", name="Undo").click()
    expect(page.get_by_role("status")).to_contain_text("Undone: contact.phone")
    assert assistant.texts("console-phone", "what is your phone number?") == [phone_reply(old)]
    assert dialogs == []
    audit = [json.loads(line)["what"] for line in (workdir / "audit.log").read_text().splitlines()]
    assert audit[-5:] == ["signed in", "example added", "message ignored", "fact changed", "fact undone"]
    assert PASSWORD not in (workdir / "audit.log").read_text() + (workdir / "servers.log").read_text()


# --- the console alone, outside git: each change downloaded as a patch --------------------------

@pytest.fixture
def plain_console(tmp_path: Path) -> Iterator[Dict[str, str]]:
    """The console alone (python -m console, no Rasa: fast), on copies of the facts, data/nlu/ and
    domain.yml that are in no git checkout, as in a deployment from an image or an archive."""
    deployed = tmp_path / "deployed"
    shutil.copytree(NLU, deployed / "nlu")
    shutil.copy(ROOT / "domain.yml", deployed / "domain.yml")
    shutil.copy(FACTS_FILE, deployed / "facts.yml")
    env = {**os.environ, "UMB_FACTS_FILE": str(deployed / "facts.yml"), "STAFF_NLU_DIR": str(deployed / "nlu"),
           "STAFF_DOMAIN": str(deployed / "domain.yml"), "STAFF_DB": str(tmp_path / "staff.db"),
           "STAFF_AUDIT_LOG": str(tmp_path / "audit.log"), "TRACKER_DB": str(tmp_path / "tracker.db"),
           "STAFF_SESSION_SECRET": SECRET, "STAFF_PORT": str(free_port())}
    add_user(Settings.from_env(env), STAFF, PASSWORD, by="test")
    with open(tmp_path / "console.log", "w") as log:
        proc = subprocess.Popen([sys.executable, "-m", "console"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['STAFF_PORT']}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{url}/login", timeout=2).raise_for_status()
                break
            except requests.RequestException:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "console.log").read_text()[-2000:]
                time.sleep(0.2)
        yield {"url": url, "deployed": str(deployed)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_changes_outside_git_download_as_patches_that_recreate_the_saved_files(plain_console: Dict[str, str], tmp_path: Path) -> None:
    """A fact, an example and a wording saved where there is no git: the Changes page lists them (who,
    what, which file of the repository), each downloads as a patch (signed in only) that `git apply`
    accepts against the repository's file and that recreates the saved file byte for byte; all of
    them since a day as one patch, for `patch -p1`."""
    console, deployed = plain_console["url"], Path(plain_console["deployed"])
    assert requests.get(f"{console}/changes/patch", params={"since": "2000-01-01"}, allow_redirects=False).headers["location"] == "/login"
    session = signed_in(console)
    form = session.get(f"{console}/facts").text
    base = form.split('name="base" value="', 1)[1].split('"', 1)[0]
    assert "Saved: contact.phone" in session.post(f"{console}/facts", data={"csrf": csrf_of(form), "base": base, "contact.phone": NEW_PHONE}).text
    session.post(f"{console}/inbox/review", data={"csrf": csrf_of(form), "text": UNANSWERED, "verdict": "label", "intent": "ask_contact"})
    page = session.get(f"{console}/answers").text
    answer = page.split('id="utter_contact_fax"', 1)[1].split("</form>", 1)[0]
    polish = dict(dict(wordings(deployed / "domain.yml"))["utter_contact_fax"])["language = pl"]
    session.post(f"{console}/answers", data={"csrf": csrf_of(page), "name": "utter_contact_fax", "text": ["Fax ({office}): {fax}.", polish],
                                             "base": answer.split('name="base" value="', 1)[1].split('"', 1)[0]})

    listing = session.get(f"{console}/changes").text
    rows = listing.split("<tbody>", 1)[1].split("</tbody>", 1)[0].split("<tr>")[1:]
    assert [re.findall(r"<code>(.*?)</code>", row) for row in rows] == [["domain.yml"], ["data/nlu/contact.yml"], ["data/facts.yml"]]  # newest first
    assert all(f"<td>{STAFF}</td>" in row and "<td>none</td>" in row for row in rows)  # no git here: no commit
    assert "contact.phone changed" in rows[2] and "example of ask_contact added" in rows[1]
    repo = tmp_path / "repo"  # the project's repository as it was, where a developer applies the patches
    for name in ("data/facts.yml", "data/nlu/contact.yml", "domain.yml"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, repo / name)
    first = session.get(f"{console}/changes/patch", params={"id": re.search(r'href="/changes/patch\?id=(\d+)"', rows[2]).group(1)})
    assert first.headers["content-type"].startswith("text/x-diff")
    assert re.fullmatch(r'attachment; filename="umb-change-\d+\.patch"', first.headers["content-disposition"])
    (tmp_path / "facts.patch").write_bytes(first.content)
    subprocess.run(["git", "apply", "--check", str(tmp_path / "facts.patch")], cwd=repo, check=True)
    subprocess.run(["git", "apply", str(tmp_path / "facts.patch")], cwd=repo, check=True)
    assert (repo / "data" / "facts.yml").read_bytes() == (deployed / "facts.yml").read_bytes()

    shutil.copy(ROOT / "data" / "facts.yml", repo / "data" / "facts.yml")
    everything = session.get(f"{console}/changes/patch", params={"since": datetime.date.today().isoformat()})
    assert 'filename="umb-changes-since-' in everything.headers["content-disposition"]
    subprocess.run(["patch", "-p1", "--dry-run", "--quiet"], cwd=repo, input=everything.content, check=True)
    subprocess.run(["patch", "-p1", "--quiet"], cwd=repo, input=everything.content, check=True)
    for name, saved in (("data/facts.yml", "facts.yml"), ("data/nlu/contact.yml", "nlu/contact.yml"), ("domain.yml", "domain.yml")):
        assert (repo / name).read_bytes() == (deployed / saved).read_bytes(), name
    assert session.get(f"{console}/changes/patch", params={"id": "999"}).status_code == 404
