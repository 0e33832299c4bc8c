"""The project's own NLU components (rasa_addons/nlu.py), alone and in the trained model."""
from typing import Any, Dict

import pytest

from rasa_addons.nlu import OffTopicGate, SpellingCorrector


def gate(*words: str) -> OffTopicGate:
    return OffTopicGate(OffTopicGate.get_default_config(), None, None, frozenset(words))


def test_words_of_another_domain_are_off_topic() -> None:
    g = gate("phone", "professor", "center")
    assert g.off_topic("Which bicycle tyres suit gravel roads?")
    # one known word, in any number, is enough to stay
    assert not g.off_topic("Which bicycle has a phone holder?")
    assert not g.off_topic("any professors riding bicycles?")


def test_a_single_word_and_a_message_that_refers_back_are_left_to_the_dialogue() -> None:
    g = gate("phone")
    assert not g.off_topic("cycling?")
    assert not g.off_topic("who organised those gatherings?")
    assert not g.off_topic("thanks!!")  # no content word at all


def test_the_spelling_corrector_mends_a_typo_of_a_known_word_only() -> None:
    corrector = SpellingCorrector(None, None, {"professors": 5, "address": 3})
    assert corrector.correction("profesors") == "professors"
    assert corrector.correction("adress") == "address"
    assert corrector.correction("bicycle") is None  # an English word
    assert corrector.correction("zzqxv") is None  # nothing near it


# the first went to the contact card before the gate: "how do I ..." is how contact questions start
@pytest.mark.parametrize("text", ["how do I boil pasta properly?", "Which bicycle tyres suit gravel roads in winter?"])
async def test_the_trained_model_sends_another_domain_to_out_of_scope(agent, text: str) -> None:
    parsed: Dict[str, Any] = await agent.parse_message(text)
    assert parsed["intent"]["name"] == "out_of_scope"
    assert parsed["intent_ranking"][0]["name"] == "out_of_scope"


async def test_the_trained_model_keeps_a_topic_question_with_page_words(agent) -> None:
    parsed = await agent.parse_message("what is the special focus of the expert lectures?")
    assert parsed["intent"]["name"] == "ask_visiting_professors"
