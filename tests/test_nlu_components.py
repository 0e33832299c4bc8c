"""The project's own NLU components (rasa_addons/nlu.py), alone and in the trained model."""
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
import yaml
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

from actions.facts import FactsStore, parse
from rasa_addons.language import LanguageModel, evaluate, in_context
from rasa_addons.nlu import NearTopicOutOfScope, OffTopicGate, SpellingCorrector
from tests.conftest import FACTS_FILE, ROOT


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


def test_unsure_classifiers_and_more_unknown_words_than_known_ones_are_off_topic() -> None:
    g = OffTopicGate({**OffTopicGate.get_default_config(), "unsure_below": 0.7}, None, None, frozenset({"center", "phone"}))
    assert g.off_topic("how do I center a div in css", confidence=0.58)  # div, css unknown; center known
    assert not g.off_topic("how do I center a div in css", confidence=0.95)  # the classifiers are sure
    assert not g.off_topic("phone of the center in css?", confidence=0.5)  # as many known words as unknown
    # referring back saves a message of unknown words from the gate only when the classifiers are sure
    assert g.off_topic("how do I center it in a css div", confidence=0.5)
    assert not g.off_topic("how do I center it in a css div", confidence=0.95)
    assert not g.off_topic("is their phone in css?", confidence=0.5)  # as many known words as unknown


def test_a_guess_of_the_backup_diet_is_unsure_however_sure_diet_says_it_is() -> None:
    from rasa.shared.nlu.training_data.message import Message

    from rasa_addons.nlu import FIRST_CLASSIFIER_UNSURE

    g = OffTopicGate({**OffTopicGate.get_default_config(), "unsure_below": 0.7}, None, None, frozenset({"center"}))

    def gated(first_unsure: bool) -> str:
        guess = {"name": "ask_euroregional_center", "confidence": 0.99}
        message = Message(data={"text": "how do I center a div in css", "intent": guess, "intent_ranking": [guess]})
        if first_unsure:
            message.set(FIRST_CLASSIFIER_UNSURE, True)
        return g.process([message])[0].get("intent")["name"]

    assert gated(first_unsure=False) == "ask_euroregional_center"
    assert gated(first_unsure=True) == "out_of_scope"


def test_the_spelling_corrector_mends_a_typo_of_a_known_word_only() -> None:
    corrector = SpellingCorrector(None, None, {"professors": 5, "address": 3})
    assert corrector.correction("profesors") == "professors"
    assert corrector.correction("adress") == "address"
    assert corrector.correction("bicycle") is None  # an English word
    assert corrector.correction("zzqxv") is None  # nothing near it
    # a key held down beside another typo: one edit away once each run of a letter is one letter
    assert corrector.correction("proffesorss") == "professors" and corrector.correction("addresss") == "address"
    assert SpellingCorrector(None, None, {"faksu": 2}).correction("faskuu", "pl") == "faksu"
    # a tie goes to the word of the same first letter (a typo seldom changes it), then to the more frequent
    assert SpellingCorrector(None, None, {"ends": 9, "funds": 1}).correction("fnds") == "funds"
    assert SpellingCorrector(None, None, {"funds": 1, "finds": 9}).correction("fnds") == "finds"
    assert SpellingCorrector(None, None, {"many": 9}).correction("mayne") is None  # two edits: over the limit


def test_markup_tags_are_no_words_but_comparisons_stay() -> None:
    from rasa.shared.nlu.training_data.message import Message

    corrector = SpellingCorrector(None, None, {"address": 3})
    [message] = corrector.process([Message(data={"text": "<p class='x'>your <b>adress</b></p> if 3 < 5?"})])
    assert message.get("text").split() == ["your", "address", "if", "3", "<", "5?"]


# the first went to the contact card before the gate: "how do I ..." is how contact questions start
@pytest.mark.parametrize("text", ["how do I boil pasta properly?", "Which bicycle tyres suit gravel roads in winter?"])
async def test_the_trained_model_sends_another_domain_to_out_of_scope(agent, text: str) -> None:
    parsed: Dict[str, Any] = await agent.parse_message(text)
    assert parsed["intent"]["name"] == "out_of_scope"
    assert parsed["intent_ranking"][0]["name"] == "out_of_scope"


async def test_the_trained_model_keeps_a_topic_question_with_page_words(agent) -> None:
    parsed = await agent.parse_message("what is the special focus of the expert lectures?")
    assert parsed["intent"]["name"] == "ask_visiting_professors"


# --- language detection (issue 12): rasa_addons/language.py, trained on the examples as the model is

LANGUAGE_SET = ROOT / "tests/nlu/language.yml"


@pytest.fixture(scope="module")
def detector() -> LanguageModel:
    texts: Dict[str, List[str]] = {"en": [], "pl": []}
    for file in sorted((ROOT / "data/nlu").rglob("*.yml")):
        data = RasaYAMLReader().reads(file.read_text(encoding="utf-8"))
        texts["pl" if (ROOT / "data/nlu/pl") in file.parents else "en"] += [m.get("text") for m in data.intent_examples]
    return LanguageModel.train(texts)


@pytest.mark.parametrize("text, language", [
    ("faks?", "pl"), ("dzięki", "pl"), ("dzieki", "pl"), ("telefon?", "pl"), ("a faks?", "pl"), ("cześć", "pl"),
    ("kiedy powstalo centrum euroregionalne", "pl"), ("Łódź", "pl"),  # a Polish letter settles it
    ("fax?", "en"), ("thanks", "en"), ("bye", "en"), ("what is the phone number", "en"),
    ("a fax?", None),  # Polish writes "fax" too ("a fax?" is "and the fax?"): the conversation keeps its language
    ("ok", None), ("hi", None), ("?", None), ("", None), ("UMB", None), ("email?", None), ("ok thx", None),
    # the page's English names inside a Polish message are names, not English; a message of names alone is told by them
    ("jaki numer ma Office for Science and International Cooperation?", "pl"), ("Euroregionalne Centrum Medyczne", "pl"),
    ("Where is the Euroregional Medical Center?", "en"),
])
def test_the_detector_tells_short_messages_and_says_nothing_when_they_do_not_tell(detector, text: str, language) -> None:
    assert detector.detect(text) == language


def test_a_title_in_quotation_marks_is_a_name_not_the_messages_language(detector, facts) -> None:
    title = facts.visiting_professors.programme  # the programme's English title, quoted in a Polish question
    for quoted in (f'"{title}"', f"„{title}”"):
        assert detector.detect(f"kto finansuje program {quoted}?") == "pl"
        assert detector.detect(f"who funds the programme {quoted}?") == "en"


def test_the_pages_english_names_in_a_message_leave_its_language_to_its_own_words(detector, facts) -> None:
    """The programme's title as the page writes it, unquoted, in a Polish question (read from the facts file)."""
    from rasa.shared.nlu.training_data.message import Message

    from rasa_addons.nlu import LanguageDetector

    component = LanguageDetector(LanguageDetector.get_default_config(), None, None, model=detector)
    title = facts.visiting_professors.programme

    def told(text: str) -> str:
        return component.process([Message(data={"text": text})])[0].get("language")

    assert detector.detect(f"kto finansuje program {title}?") == "en"  # the title's words outweigh the rest
    assert told(f"kto finansuje program {title}?") == "pl"
    assert told(f"who funds the programme {title}?") == "en"
    assert told(title) == "en"  # a name alone is told by its words
    # the English names of the lookup tables (saved with the model) too: "kim są visiting professors?"
    named = LanguageDetector(LanguageDetector.get_default_config(), None, None, model=detector, lookup_names=("visiting professors",))
    assert detector.detect("kim sa visiting professors?") != "pl"
    assert named.process([Message(data={"text": "kim sa visiting professors?"})])[0].get("language") == "pl"


def test_the_detectors_remembered_word_terms_give_the_score_of_its_formula(detector) -> None:
    """A word's terms are remembered (rasa_addons/language.py): the score stays the formula's, to the bit."""
    from rasa_addons.language import PIECES_WEIGHT, word_features

    def formula(text: str) -> float:
        total = 0.0
        for word, *pieces in word_features(text):
            if word in detector.counts["pl"] or word in detector.counts["en"]:
                total += detector._ratio(word)
            if pieces:
                total += PIECES_WEIGHT * sum(detector._ratio(p) for p in pieces) / len(pieces)
        return total

    labelled = yaml.safe_load(LANGUAGE_SET.read_text(encoding="utf-8"))
    texts = [str(t) for items in labelled.values() for t in items]
    for _ in range(2):  # words new, then remembered
        assert [detector.score(t) for t in texts] == [formula(t) for t in texts]


def test_the_detector_is_right_on_at_least_98_percent_of_the_labelled_set(detector) -> None:
    labelled = yaml.safe_load(LANGUAGE_SET.read_text(encoding="utf-8"))
    pairs = [(str(t), None if lang == "none" else lang) for lang, items in labelled.items() for t in items]
    result = evaluate(detector, pairs)
    assert result["total"] >= 100
    assert result["right"] / result["total"] >= 0.98, result["wrong"]
    # never the wrong language on an English message (the conversation would switch)
    assert not [w for w in result["wrong"] if w[1] == "en"], result["wrong"]


def test_language_in_context_keeps_the_conversations_language_when_a_message_does_not_tell(detector) -> None:
    conversations = [
        {"turns": [{"user": "jaki jest numer telefonu?", "language": "pl"}, {"user": "ok", "language": "pl"},
                   {"user": "what about the fax?", "language": "en"}]},
        {"turns": [{"user": "ok", "language": "pl"}]},  # starts in English: "ok" does not tell
    ]
    assert in_context(detector, conversations) == "3/4 turns in the right language (one- and two-word messages 1/2)"


def test_the_labelled_set_tests_messages_the_detector_was_not_trained_on(detector) -> None:
    labelled = yaml.safe_load(LANGUAGE_SET.read_text(encoding="utf-8"))
    trained = set()
    for file in (ROOT / "data/nlu").rglob("*.yml"):
        trained |= {m.get("text").lower() for m in RasaYAMLReader().reads(file.read_text(encoding="utf-8")).intent_examples}
    assert not [t for items in labelled.values() for t in items if str(t).lower() in trained]


def test_the_spelling_corrector_mends_a_polish_word_towards_polish_words_only() -> None:
    corrector = SpellingCorrector(None, None, {"adres": 4, "address": 3, "profesorowie": 2},
                                  {"en": {"address": 3}, "pl": {"adres": 4, "profesorowie": 2}})
    assert corrector.correction("aders", "pl") == "adres"
    assert corrector.correction("profesorwie", "pl") == "profesorowie"
    assert corrector.correction("addres", "en") == "address"
    assert corrector.correction("adress", "pl") == "adres"  # never the English word in a Polish message
    assert corrector.correction("wspolpraca", "pl") is None  # nothing near it: left as it is


def test_the_gate_knows_polish_words_by_their_stem_and_skips_polish_function_words() -> None:
    g = gate("współpracy", "profesorowie", "centrum")
    assert not g.off_topic("jak wygląda współpraca z zagranicą?", "pl")  # "współpraca": the stem of "współpracy"
    assert g.off_topic("jaka będzie jutro pogoda w warszawie?", "pl")
    assert not g.off_topic("kto ich finansuje?", "pl")  # refers back


async def test_the_trained_model_finds_the_language_of_each_message(agent) -> None:
    def language(parsed: Dict[str, Any]) -> List[str]:
        return [e["value"] for e in parsed["entities"] if e["entity"] == "language"]

    assert language(await agent.parse_message("jaki jest numer faksu?")) == ["pl"]
    assert language(await agent.parse_message("what is the fax number?")) == ["en"]
    assert language(await agent.parse_message("ok")) == []  # the slot keeps the conversation's language


@pytest.mark.parametrize("text, intent, entities", [
    ("jaki jest numer telefonu do działu współpracy międzynarodowej?", "ask_contact", {("contact_channel", "phone"), ("subject", "contact")}),
    ("a faks?", "ask_contact", {("contact_channel", "fax")}),
    ("podajcie prosze adres mailowy biura", "ask_contact", {("contact_channel", "email"), ("subject", "contact")}),
    ("czy macie partnerów w stanach zjednoczonych?", "ask_partnerships", {("country", "the U.S."), ("subject", "partnerships")}),
    ("współpracujecie z japonią?", "ask_partnerships", {("country", "Japan")}),
    ("czy wilno należy do centrum euroregionalnego?", "ask_euroregional_center",
     {("institution", "Medical Division of University of Vilnius"), ("subject", "euroregional_center")}),
    ("kiedy założono euroregionalne centrum medyczne?", "ask_euroregional_center", {("aspect", "founding")}),
    ("kto finansuje profesorów wizytujących?", "ask_visiting_professors", {("aspect", "funding"), ("subject", "visiting_professors")}),
    ("czy profesorowie przyjezdzaja z harvardu?", "ask_visiting_professors", {("institution", "Harvard Medical School")}),
    ("kiedy była ostatnia aktualizacja strony?", "ask_last_update", {("subject", "last_update")}),
    ("dziękuję bardzo za informacje", "thank", set()),
    ("dzien dobry państwu", "greet", set()),
    ("jaka jest stolica hiszpanii?", "out_of_scope", set()),
])
async def test_the_trained_model_understands_polish(agent, text: str, intent: str, entities) -> None:
    parsed = await agent.parse_message(text)
    assert parsed["intent"]["name"] == intent, parsed["intent_ranking"][:3]
    found = {(e["entity"], e["value"]) for e in parsed["entities"]}
    assert entities <= found, found
    assert ("language", "pl") in found


@pytest.mark.parametrize("text, intent, entities", [
    ("what's the office's fax number?", "ask_contact", {("contact_channel", "fax")}),
    ("do you have partners in japan?", "ask_partnerships", {("country", "Japan")}),
    ("who pays for the visiting professors?", "ask_visiting_professors", {("aspect", "funding")}),
])
async def test_the_trained_model_still_understands_english(agent, text: str, intent: str, entities) -> None:
    parsed = await agent.parse_message(text)
    assert parsed["intent"]["name"] == intent
    found = {(e["entity"], e["value"]) for e in parsed["entities"]}
    assert entities | {("language", "en")} <= found, found


def parsed(text: str, intent: str, entities: List[tuple]) -> Any:
    """A message as the pipeline leaves it before NearTopicOutOfScope: `intent` at 0.9, entities (entity, value, word)."""
    from rasa.shared.nlu.training_data.message import Message

    ranking = [{"name": intent, "confidence": 0.9}, {"name": "out_of_scope", "confidence": 0.06}, {"name": "ask_followup", "confidence": 0.04}]
    found = [{"entity": e, "value": v, "start": text.index(w), "end": text.index(w) + len(w)} for e, v, w in entities]
    return Message(data={"text": text, "intent": ranking[0], "intent_ranking": ranking, "entities": found})


def near_topic(message: Any, facts: Optional[FactsStore] = None) -> Any:
    [message] = NearTopicOutOfScope(NearTopicOutOfScope.get_default_config(), facts).process([message])
    return message


def on_the_page() -> List[str]:
    """The institutions the facts file names: the center's founders and the professors' homes."""
    facts = parse(FACTS_FILE)
    return facts["euroregional_center"]["founding_partners"] + facts["visiting_professors"]["home_institutions"]


# A name no facts file of this assistant holds (checked against the file in each test)
ELSEWHERE = "Atlantis Institute of Medicine"


@pytest.mark.parametrize("intent", ["ask_partnerships", "ask_visiting_professors", "ask_euroregional_center"])
def test_a_topic_question_about_an_institution_the_facts_do_not_name_is_out_of_scope_the_topic_next(intent: str) -> None:
    assert ELSEWHERE not in on_the_page()
    text = f"does UMB have a partnership with {ELSEWHERE.lower()}?"
    m = near_topic(parsed(text, intent, [("institution", ELSEWHERE, ELSEWHERE.lower())]))
    assert m.get("intent_ranking")[:2] == [{"name": "out_of_scope", "confidence": 0.9}, {"name": intent, "confidence": 0.9}]


@pytest.mark.parametrize("name", on_the_page())
def test_a_question_about_an_institution_the_facts_name_keeps_its_topic_intent(name: str) -> None:
    text = f"do visiting professors come from {name.lower()}?"
    m = near_topic(parsed(text, "ask_visiting_professors", [("institution", name, name.lower()), ("aspect", "origin", "come from")]))
    assert m.get("intent")["name"] == "ask_visiting_professors"
    # beside one the page does not name, the page still answers about it
    both = f"{text[:-1]} or {ELSEWHERE.lower()}?"
    m = near_topic(parsed(both, "ask_visiting_professors", [("institution", name, name.lower()), ("institution", ELSEWHERE, ELSEWHERE.lower())]))
    assert m.get("intent")["name"] == "ask_visiting_professors"


def test_an_institution_added_to_the_facts_by_staff_keeps_its_topic_intent_without_retraining(tmp_path: Path) -> None:
    changed = parse(FACTS_FILE)
    changed["visiting_professors"]["home_institutions"].append(ELSEWHERE)
    (tmp_path / "facts.yml").write_text(yaml.safe_dump(changed, allow_unicode=True), encoding="utf-8")
    store = FactsStore(tmp_path / "facts.yml", last_good=tmp_path / "last-good.yml")
    text = f"do professors from {ELSEWHERE.lower()} visit?"
    m = near_topic(parsed(text, "ask_visiting_professors", [("institution", ELSEWHERE, ELSEWHERE.lower())]), store)
    assert m.get("intent")["name"] == "ask_visiting_professors"


def test_without_readable_facts_an_institution_keeps_its_topic_intent_and_the_error_is_logged(tmp_path: Path, caplog) -> None:
    store = FactsStore(tmp_path / "missing.yml", last_good=tmp_path / "none.yml")
    text = f"is {ELSEWHERE.lower()} a partner?"
    m = near_topic(parsed(text, "ask_partnerships", [("institution", ELSEWHERE, ELSEWHERE.lower())]), store)
    assert m.get("intent")["name"] == "ask_partnerships"
    assert "Cannot tell the institutions on the page" in caplog.text


def test_a_topic_question_asking_only_a_detail_the_page_lacks_is_out_of_scope_the_topic_next() -> None:
    m = near_topic(parsed("who is the head of the office?", "ask_contact", [("detail", "head of", "head of"), ("subject", "contact", "office")]))
    assert m.get("intent") == {"name": "out_of_scope", "confidence": 0.9}
    assert m.get("intent_ranking") == [{"name": "out_of_scope", "confidence": 0.9}, {"name": "ask_contact", "confidence": 0.9},
                                       {"name": "ask_followup", "confidence": 0.04}]


@pytest.mark.parametrize("text, intent, entities", [
    # a follow-up is left to the dialogue, and so is a message the FallbackClassifier gave up on
    ("and who heads it?", "ask_followup", [("detail", "heads", "heads")]),
    ("who heads it?", "nlu_fallback", [("detail", "heads", "heads")]),
    # no detail
    ("where is the office?", "ask_contact", [("aspect", "location", "where"), ("subject", "contact", "office")]),
    # the page answers a part of it: the address, in a clause of its own
    ("where is the office, which building?", "ask_contact", [("aspect", "location", "where"), ("detail", "which building", "which building")]),
])
def test_other_messages_keep_their_intent(text: str, intent: str, entities: List[tuple]) -> None:
    m = near_topic(parsed(text, intent, entities))
    assert m.get("intent")["name"] == intent and m.get("intent_ranking")[0]["name"] == intent


async def test_the_trained_model_takes_a_near_topic_question_for_out_of_scope_its_topic_next(agent) -> None:
    result = await agent.parse_message("who is the director of the euroregional center?")
    assert [r["name"] for r in result["intent_ranking"][:2]] == ["out_of_scope", "ask_euroregional_center"]
    assert result["intent_ranking"][0]["confidence"] == result["intent_ranking"][1]["confidence"]


async def test_the_trained_model_takes_a_partnership_with_an_institution_off_the_page_for_out_of_scope(agent) -> None:
    for name in ("Stanford University", "Karolinska Institutet"):  # in the lookups (entities.yml), not on the page
        assert name not in on_the_page()
        result = await agent.parse_message(f"does UMB have an exchange agreement with {name}?")
        assert [r["name"] for r in result["intent_ranking"][:2]] == ["out_of_scope", "ask_partnerships"], result["intent_ranking"]
    for name in on_the_page()[1:]:  # the first founder is UMB itself
        result = await agent.parse_message(f"does UMB have an exchange agreement with {name}?")
        assert result["intent"]["name"] != "out_of_scope", (name, result["intent_ranking"])
