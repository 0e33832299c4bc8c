"""Replies end to end on the blind sets (tests/eval/, staff/conversations.py): every conversation
played through the trained model and the custom actions (in-process, as `make run` runs them), each turn judged on its reply.

The floors (staff/conversations.py) sit a few points under the figures measured with the seeded
training (docs/EVALUATION.md);
the report with every failed turn is in reports/conversations.txt.
"""
from typing import Dict, List

import pytest

from staff import conversations
from tests.conftest import MODEL, ROOT

FLOORS, MAX_REFUSED = conversations.FLOORS, conversations.MAX_REFUSED


@pytest.fixture(scope="module")
def results() -> Dict[str, List[conversations.Result]]:
    found = conversations.evaluate([conversations.SETS / f"{name}.yml" for name in FLOORS], MODEL)
    report = ROOT / "reports" / "conversations.txt"
    report.parent.mkdir(exist_ok=True)
    report.write_text("\n".join(conversations.report(found)[0]) + "\n")
    return found


@pytest.mark.parametrize("name", FLOORS)
def test_blind_conversations_get_the_right_replies(results: Dict[str, List[conversations.Result]], name: str) -> None:
    found = results[name]
    passed = sum(r.passed for r in found) / len(found)
    assert passed >= FLOORS[name], "\n".join(conversations.summary(name, found))


def test_topic_questions_are_rarely_refused(results: Dict[str, List[conversations.Result]]) -> None:
    refused, asked = conversations.refusal_rate([r for name in ("dev", "dev2", "locked", "pl") for r in results[name]])
    assert asked > 200 and refused / asked <= MAX_REFUSED, f"{refused} of {asked} topic questions answered 'I don't know'"


def test_a_wrong_reply_fails_its_turn(facts) -> None:
    """The judge itself: a reply with the wrong fact, or a topic answer to a question the page does not answer, fails."""
    turn = conversations.Turn("and the fax?", must_contain=[[facts.contact.fax]], must_not_contain=[facts.contact.phone])
    assert conversations.judge(turn, f"The fax is {facts.contact.fax}.", facts.contact.email) is None
    assert conversations.judge(turn, f"The phone is {facts.contact.phone}.", facts.contact.email)
    unknown = conversations.Turn("who heads the office?", expect="dont_know")
    assert conversations.judge(unknown, f"Write to {facts.contact.email}.", facts.contact.email)
    assert conversations.judge(unknown, f"I don't know that; write to {facts.contact.email}.", facts.contact.email) is None


def test_a_code_in_capitals_a_reply_must_not_say_counts_as_a_word_of_its_own(facts) -> None:
    turn = conversations.Turn("how much is an exchange?", expect="dont_know", must_not_contain=["EUR"])
    honest = f"I don't know that about the {facts.euroregional_center.name}; write to {facts.contact.email}."
    assert conversations.judge(turn, honest, facts.contact.email) is None
    assert conversations.judge(turn, f"It costs 300 EUR; write to {facts.contact.email}.", facts.contact.email)


def test_a_reply_in_the_wrong_language_fails_its_turn(facts) -> None:
    turn = conversations.Turn("a faks?", must_contain=[[facts.contact.fax]], language="pl")
    assert conversations.judge(turn, f"Numer faksu biura to {facts.contact.fax}.", facts.contact.email) is None
    assert conversations.judge(turn, f"The office's fax number is {facts.contact.fax}.", facts.contact.email)
    assert conversations.judge(turn, facts.contact.fax, facts.contact.email) is None  # facts only: cannot tell
    unknown = conversations.Turn("godziny otwarcia?", expect="dont_know", language="pl")
    assert conversations.judge(unknown, f"Nie wiem tego. Proszę napisać na {facts.contact.email}.", facts.contact.email) is None
    assert conversations.judge(unknown, f"I don't know that; write to {facts.contact.email}.", facts.contact.email)
