"""The answers and the custom actions without a trained model: tracker fixtures, CollectingDispatcher
(as in Rasa's demo bots), the replies rendered from domain.yml, facts from the facts file."""
import copy
import re
from typing import Any, Dict, List, Optional

import pytest
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet as SlotWasSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import actions, answers
from tests.conftest import (ROOT, Facts, address, center_founded_reply, email_reply, listing, listing_pl, phone_reply,
                            phone_reply_pl)

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
NLG = TemplatedNaturalLanguageGenerator(DOMAIN.responses)


def tracker(intent: str, entities: Dict[str, List[str]], topic: Optional[str] = None, text: str = "...") -> Tracker:
    """The tracker an action sees after a message understood as `intent` with these entities."""
    found = [{"entity": name, "value": v} for name, values in entities.items() for v in values]
    message = {"text": text, "intent": {"name": intent, "confidence": 1.0}, "entities": found}
    return Tracker("test", {"topic": topic}, message, [], False, None, {}, "action_listen")


async def run(action: Any, t: Tracker) -> tuple:
    """(the texts a user reads, the events the action returns)."""
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, t, {})
    # the Rasa server renders the response for the conversation's slots: its `language` picks the wording
    language = [SlotWasSet("language", t.get_slot("language"))] if t.get_slot("language") else []
    empty = DialogueStateTracker.from_events("test", language, slots=DOMAIN.slots)
    texts = []
    for m in dispatcher.messages:
        values = {k: v for k, v in m.items() if k not in ("text", "buttons", "elements", "custom", "template", "response", "image", "attachment")}
        texts.append((await NLG.generate(m["response"], empty, "rest", **values))["text"])
    return texts, events


def dont_know_center(f: Facts) -> str:
    return (f"I don't know that about the {f.euroregional_center.name}: the page I answer from does not say. "
            f"The {f.contact.office} can tell you more: {f.contact.email}, tel. {f.contact.phone}.")


def test_every_placeholder_is_filled_from_the_facts(facts: Facts) -> None:
    values = answers.variables(facts._values)
    assert values["phone"] == facts.contact.phone
    assert values["founding_partners"] == listing(facts.euroregional_center.founding_partners)
    per_answer = {"institution", "region", "max_chars"}  # given by the answer itself, not a fact
    used = {m for texts in DOMAIN.responses.values() for t in texts for m in re.findall(r"{(\w+)}", t.get("text", ""))}
    assert used - per_answer <= set(values), used - per_answer - set(values)


async def test_contact_details_one_line_each(facts: Facts) -> None:
    texts, events = await run(actions.ActionAnswerContact(), tracker("ask_contact", {"contact_channel": ["email", "phone"]}))
    assert texts == [phone_reply(facts), email_reply(facts)]  # in the order of CONTACT_CHANNELS
    assert events == [SlotSet("topic", "contact")]


async def test_postcode_and_city(facts: Facts) -> None:
    a = facts.contact.address
    texts, _ = await run(actions.ActionAnswerContact(), tracker("ask_contact", {"contact_channel": ["postcode", "city"]}))
    assert texts == [f"The {facts.contact.office}'s address is {address(facts)}.",
                     f"The {facts.contact.office}'s postcode is {a.postcode} ({address(facts)})."]


async def test_contact_detail_the_page_lacks(facts: Facts) -> None:
    texts, _ = await run(actions.ActionAnswerContact(), tracker("ask_contact", {"detail": ["opening hours"]}))
    assert texts == [f"I don't know that: the page I answer from gives only the {facts.contact.office}'s address, phone, fax "
                     f"and e-mail. Please ask them directly: {facts.contact.email}, tel. {facts.contact.phone}."]


async def test_center_aspect_it_has_and_one_it_lacks(facts: Facts) -> None:
    c = facts.euroregional_center
    texts, _ = await run(actions.ActionAnswerEuroregionalCenter(), tracker("ask_euroregional_center", {"aspect": ["location"]}))
    assert texts == [f"The {c.name} is located {c.location}."]
    texts, _ = await run(actions.ActionAnswerEuroregionalCenter(), tracker("ask_euroregional_center", {"aspect": ["funding"], "subject": ["euroregional_center"]}))
    assert texts == [dont_know_center(facts)]
    texts, _ = await run(actions.ActionAnswerEuroregionalCenter(), tracker("ask_euroregional_center", {"aspect": ["events"], "detail": ["next"]}))
    assert texts == [dont_know_center(facts)]


async def test_institution_named_in_a_professors_question(facts: Facts) -> None:
    v = facts.visiting_professors
    nih = v.home_institutions[1]
    texts, _ = await run(actions.ActionAnswerVisitingProfessors(), tracker("ask_visiting_professors", {"institution": [nih]}))
    assert texts == [
        f"Yes: the page I answer from names the {nih} as one of the institutions whose distinguished professors visit the "
        f"university in its visiting professors programme ({v.per_year} a year, from institutions such as "
        f"{listing(v.home_institutions)}). Whether there is a bilateral agreement with it I don't know; please ask the "
        f"{facts.contact.office}: {facts.contact.email}, tel. {facts.contact.phone}."
    ]


async def test_followup_stays_on_topic_or_moves_to_the_only_topic_that_has_it(facts: Facts) -> None:
    v = facts.visiting_professors
    texts, events = await run(actions.ActionAnswerFollowup(), tracker("ask_followup", {"aspect": ["funding"]}, topic="visiting_professors"))
    assert texts == [f"The programme \"{v.programme}\" is financed by {listing(v.funders)} within the {v.operational_programme}."]
    assert events == [SlotSet("topic", "visiting_professors")]
    # after the phone number, "how many summer universities?" is about the center, the only topic with events
    texts, events = await run(actions.ActionAnswerFollowup(), tracker("ask_followup", {"aspect": ["events"]}, topic="contact"))
    assert texts[0].startswith(f"Within its few years of functioning, {listing(facts.euroregional_center.events)} were organised")
    assert events == [SlotSet("topic", "euroregional_center")]
    texts, _ = await run(actions.ActionAnswerFollowup(), tracker("ask_followup", {"contact_channel": ["postcode"]}, topic="contact"))
    assert texts == [f"The {facts.contact.office}'s postcode is {facts.contact.address.postcode} ({address(facts)})."]


async def test_followup_that_cannot_be_placed_is_not_answered_with_a_topic(facts: Facts) -> None:
    texts, events = await run(actions.ActionAnswerFollowup(), tracker("ask_followup", {}))
    assert len(texts) == 1 and "I don't know how to answer" in texts[0] and facts.contact.email in texts[0]
    assert events == []


async def test_unsure_or_out_of_scope_but_naming_a_year_or_referring_back_is_answered(facts: Facts) -> None:
    c = facts.euroregional_center
    founded = center_founded_reply(facts)
    texts, events = await run(actions.ActionExplainScope(), tracker("out_of_scope", {}, text=f"and the deal made in {c.founded}?"))
    # no aspect named: the center's overview, which starts with its founding
    overview = f"The {c.name} was formed in {c.founded} as a result of an agreement between {listing(c.founding_partners)}."
    assert len(texts) == 1 and texts[0].startswith(overview) and events == [SlotSet("topic", "euroregional_center")]
    texts, _ = await run(actions.ActionExplainScope(), tracker("nlu_fallback", {"aspect": ["founding"]}, topic="euroregional_center",
                                                                 text="who set that up?"))
    assert texts == [founded]
    # not referring back, or an aspect the topic lacks: the honest reply
    for entities, text in (({"aspect": ["founding"]}, "who set up the moon base?"), ({"aspect": ["funding"]}, "who pays for it?")):
        [text], events = await run(actions.ActionExplainScope(), tracker("nlu_fallback", entities, topic="euroregional_center", text=text))
        assert text.startswith("Sorry, I didn't understand that") and events == []


async def test_unsure_out_of_scope_naming_an_institution_says_what_the_page_says_of_it(facts: Facts) -> None:
    c = facts.euroregional_center
    partner = c.founding_partners[1]
    t = tracker("out_of_scope", {"institution": [partner]}, text=f"is the {partner} connected to umb somehow")
    t.latest_message["intent"]["confidence"] = 0.54
    [text], events = await run(actions.ActionExplainScope(), t)
    assert text == (f"Yes. The {partner} is one of the signatories of the {c.founded} agreement between "
                    f"{listing(c.founding_partners)} that formed the {c.name}.")
    assert events == [SlotSet("topic", "euroregional_center")]
    # naming what only one topic has ("how many summer universities were organised?"): that topic's answer
    summer = tracker("out_of_scope", {"aspect": ["count", "events"]}, text="ile uniwesytetow letnch zorganizowano")
    summer.latest_message["intent"]["confidence"] = 0.45
    [text], slots = await run(actions.ActionExplainScope(), summer)
    assert all(event in text for event in c.events) and slots == [SlotSet("topic", "euroregional_center")]
    # a contact word alone, unsure, is no question about the contact ("tel me a fun fact"): the honest reply
    contact = tracker("out_of_scope", {"contact_channel": ["phone"]}, text="tel me a fun fact about octopuses")
    contact.latest_message["intent"]["confidence"] = 0.5
    [text], slots = await run(actions.ActionExplainScope(), contact)
    assert text.startswith("Sorry, I don't know that") and slots == []
    # sure it is out of scope ("who rows better, Oxford or the Medical University of Grodno?"): the honest reply
    t.latest_message["intent"]["confidence"] = 0.9
    [text], events = await run(actions.ActionExplainScope(), t)
    assert text.startswith("Sorry, I don't know that") and events == []


def test_a_country_that_pays_is_a_funder_not_a_partners_place(facts: Facts) -> None:
    text = "which places do the visiting profs come from and is the EU paying for it"
    entities = [{"entity": "aspect", "value": "origin", "start": text.index("come")},
                {"entity": "country", "value": "Europe", "start": text.index("EU")},
                {"entity": "aspect", "value": "funding", "start": text.index("paying")}]
    answer, topic = answers.answer(facts._values, text, entities, "visiting_professors")
    assert [r for r, _ in answer] == ["utter_visiting_professors_origin", "utter_visiting_professors_funding"]
    assert topic == "visiting_professors"


@pytest.mark.parametrize("intent, response", [("out_of_scope", "Sorry, I don't know that"), ("nlu_fallback", "Sorry, I didn't understand that")])
async def test_out_of_scope_and_not_understood_point_to_the_office(facts: Facts, intent: str, response: str) -> None:
    [text], events = await run(actions.ActionExplainScope(), tracker(intent, {}))
    assert text.startswith(response) and f"write to {facts.contact.email} or call {facts.contact.phone}." in text
    assert events == []


def _entities(text: str, found: List[tuple]) -> List[Dict[str, Any]]:
    return [{"entity": entity, "value": value, "start": text.index(word)} for word, entity, value in found]


def test_two_questions_about_two_topics_get_two_answers(facts: Facts) -> None:
    text = "who pays for the visiting professors and where is the euroregional center?"
    entities = _entities(text, [("pays", "aspect", "funding"), ("visiting professors", "subject", "visiting_professors"),
                                ("where", "aspect", "location"), ("euroregional center", "subject", "euroregional_center")])
    assert answers.by_topic(text, entities, "visiting_professors") == [
        ("visiting_professors", {"aspect": ["funding"], "subject": ["visiting_professors"]}),
        ("euroregional_center", {"aspect": ["location"], "subject": ["euroregional_center"]}),
    ]
    answer, last = answers.answer(facts._values, text, entities, "visiting_professors")
    assert [name for name, _ in answer] == ["utter_visiting_professors_funding", "utter_euroregional_center_location"]
    assert last == "euroregional_center"


def test_one_topic_named_twice_is_one_question() -> None:
    text = "where is the center and when was it founded?"
    entities = _entities(text, [("where", "aspect", "location"), ("center", "subject", "euroregional_center"), ("founded", "aspect", "founding")])
    assert answers.by_topic(text, entities, "euroregional_center") == [
        ("euroregional_center", {"aspect": ["location", "founding"], "subject": ["euroregional_center"]})
    ]


def test_aspect_only_another_topic_has_moves_an_unnamed_question_there() -> None:
    text = "what does the operational programme fund?"
    entities = _entities(text, [("operational programme", "aspect", "funding")])
    assert answers.by_topic(text, entities, "partnerships") == [("visiting_professors", {"aspect": ["funding"]})]


def test_a_question_the_intent_topic_cannot_answer_stays_in_the_conversation() -> None:
    text = "any summer schools?"
    entities = _entities(text, [("summer schools", "aspect", "events")])
    # understood as a partnerships question, in a conversation about the center
    assert answers.by_topic(text, entities, "partnerships", current="euroregional_center") == [("euroregional_center", {"aspect": ["events"]})]


def test_a_partner_institution_has_no_contact_details_on_the_page(facts: Facts) -> None:
    assert answers.contact(facts._values, ["address"], [], [facts.visiting_professors.home_institutions[0]]) == answers.dont_know(facts._values, "contact")


def test_partners_in_a_conversation_about_the_center_are_the_centers() -> None:
    text = "partners?"
    entities = _entities(text, [("partners", "subject", "partnerships")])
    assert answers.by_topic(text, entities, "partnerships", current="euroregional_center") == [
        ("euroregional_center", {"subject": ["partnerships"], "aspect": ["partners"]})
    ]
    assert answers.by_topic(text, entities, "partnerships", current="contact") == [("partnerships", {"subject": ["partnerships"]})]


def test_a_detail_the_page_lacks_is_answered_honestly_with_the_contact_details_asked(facts: Facts) -> None:
    f, values = facts._values, answers.variables(facts._values)
    honest = answers.dont_know(f, "contact")
    assert answers.contact(f, [], ["opening hours"], []) == honest
    # the honest reply gives the e-mail and phone already; the address asked beside follows it
    assert answers.contact(f, ["email"], ["phd"], []) == honest
    assert answers.contact(f, ["street"], ["parking"], []) == honest + [("utter_contact_address", values)]
    # beside a founder's name too, the detail the page lacks is the question
    founder = f["euroregional_center"]["founding_partners"][1]
    assert answers.euroregional_center(f, [founder], [], ["transfer"]) == answers.dont_know(f, "euroregional_center")


def test_a_year_only_one_topic_holds_names_that_topic(facts: Facts) -> None:
    f = facts._values
    year = facts.euroregional_center.founded
    text = f"who funds the professors, and who signed the {year} agreement?"
    entities = _entities(text, [("funds", "aspect", "funding"), ("professors", "subject", "visiting_professors"),
                                ("signed", "aspect", "agreements")])
    answer, last = answers.answer(f, text, entities, "visiting_professors")
    values = answers.variables(f)
    assert answer == [("utter_visiting_professors_funding", values), ("utter_euroregional_center_founding", values)]
    assert last == "euroregional_center"
    assert answers.years_named(f, "anything from 1850?") == []


def test_the_years_follow_a_changed_fact(facts: Facts) -> None:
    """The years are read once per version of the facts: a new version (the file changed) is read again."""
    year = str(facts.euroregional_center.founded)
    assert [e["value"] for e in answers.years_named(facts._values, f"the {year} agreement?")] == ["euroregional_center"]
    changed = copy.deepcopy(facts._values)
    changed["euroregional_center"]["founded"] = "1987"
    assert [e["value"] for e in answers.years_named(changed, "anything from 1987?")] == ["euroregional_center"]
    assert answers.years_named(facts._values, "anything from 1987?") == []



def test_stores_taking_turns_have_their_facts_worked_out_once_each(facts: Facts) -> None:
    """In the Rasa server the actions, the responses and the NLU read the facts through stores of their
    own, taking turns at every message: each version is worked out once, not again at each turn."""
    worked_out: List[str] = []
    by_version = answers.per_facts_version(lambda f, language: worked_out.append(f["contact"]["phone"]) or language)
    versions = [copy.deepcopy(facts._values) for _ in range(answers.KEPT_FACTS_VERSIONS)]
    for number, version in enumerate(versions):
        version["contact"]["phone"] = f"version {number}"
    for _ in range(3):
        assert [by_version(version, "en") for version in versions] == ["en"] * len(versions)
    assert worked_out == [f"version {number}" for number in range(len(versions))]
    newer = copy.deepcopy(versions[0])
    newer["contact"]["phone"] = "newer"
    by_version(newer, "en")
    by_version(versions[0], "en")  # the oldest was let go for the newer one: worked out again
    assert worked_out[-2:] == ["newer", "version 0"]

# ---------- Polish: the `language` slot is pl (issue 12) ----------

def polish(t: Tracker) -> Tracker:
    t.slots["language"] = "pl"
    return t


async def test_polish_contact_details_and_the_honest_reply(facts: Facts) -> None:
    c = facts.contact
    texts, events = await run(actions.ActionAnswerContact(), polish(tracker("ask_contact", {"contact_channel": ["email", "phone"]})))
    assert texts == [phone_reply_pl(facts), f"Można pisać na adres {c.email} ({c.office_pl})."]
    assert events == [SlotSet("topic", "contact")]
    texts, _ = await run(actions.ActionAnswerContact(), polish(tracker("ask_contact", {"detail": ["opening hours"]})))
    assert texts == [f"Nie wiem tego: strona, na podstawie której odpowiadam, podaje tylko adres, telefon, faks i e-mail "
                     f"({c.office_pl}). Proszę zapytać bezpośrednio: {c.email}, tel. {c.phone}."]
    texts, _ = await run(actions.ActionAnswerContact(), polish(tracker("ask_contact", {})))
    a = c.address
    assert texts == [f"Dane kontaktowe – {c.office_pl} ({c.office_full_name_pl}):\nAdres: {a.street}, {a.postcode} {a.city}, "
                     f"{a.country}\nTelefon: {c.phone}\nFaks: {c.fax}\nE-mail: {c.email}"]


async def test_polish_center_answers_use_the_polish_forms(facts: Facts) -> None:
    c = facts.euroregional_center
    texts, _ = await run(actions.ActionAnswerEuroregionalCenter(),
                         polish(tracker("ask_euroregional_center", {"aspect": ["location", "founding", "events"]})))
    assert texts == [
        f"{c.name} mieści się {c.location_pl}.",
        f"{c.name} powstało w {c.founded} roku w wyniku porozumienia między {listing_pl(c.founding_partners)}.",
        f"W ciągu kilku lat działalności pod patronatem {c.name} zorganizowano {listing_pl(c.events_pl)}.",
    ]
    texts, _ = await run(actions.ActionAnswerEuroregionalCenter(), polish(tracker("ask_euroregional_center", {"aspect": ["funding"], "subject": ["euroregional_center"]})))
    assert texts == [f"Nie wiem tego o {c.name}: strona, na podstawie której odpowiadam, tego nie podaje. Więcej informacji "
                     f"udzieli {facts.contact.office_pl}: {facts.contact.email}, tel. {facts.contact.phone}."]


async def test_polish_partnerships_in_a_region_the_page_names(facts: Facts) -> None:
    p, c = facts.partnerships, facts.contact
    texts, _ = await run(actions.ActionAnswerPartnerships(), polish(tracker("ask_partnerships", {"country": [p.regions[-1]]})))
    assert texts == [f"Tak. Uczelnia podpisała {p.agreements_pl} z instytucjami {listing_pl(p.regions_pl)}, a więc także "
                     f"{p.regions_pl[-1]}. Nie wiem, które to instytucje: strona, na podstawie której odpowiadam, ich nie "
                     f"wymienia. Więcej informacji udzieli {c.office_pl}: {c.email}, tel. {c.phone}."]


async def test_polish_visiting_professors_funding_and_count(facts: Facts) -> None:
    from actions.facts import QUANTITY_WORDS  # the words of "over 10", said in Polish by the assistant

    v = facts.visiting_professors
    *words, number = v.per_year.split()
    per_year = " ".join([QUANTITY_WORDS[" ".join(words)], number] if words else [number])
    texts, _ = await run(actions.ActionAnswerFollowup(),
                         polish(tracker("ask_followup", {"aspect": ["funding", "count"]}, topic="visiting_professors")))
    assert texts == [
        f"Program „{v.programme_pl}” jest finansowany przez {listing_pl(v.funders_pl)} w ramach {v.operational_programme_pl}.",
        f"Co roku uczelnia gości {per_year} wybitnych profesorów wizytujących.",
    ]


async def test_polish_out_of_scope_says_it_does_not_know_and_where_to_ask(facts: Facts) -> None:
    [text], _ = await run(actions.ActionExplainScope(), polish(tracker("out_of_scope", {})))
    assert text.startswith("Przepraszam, nie wiem tego: odpowiadam tylko na podstawie strony uczelni")
    assert text.endswith(f"można napisać na adres {facts.contact.email} lub zadzwonić pod numer {facts.contact.phone}.")
    # English stays the answer when the slot says en
    t = tracker("ask_contact", {"contact_channel": ["phone"]})
    t.slots["language"] = "en"
    assert (await run(actions.ActionAnswerContact(), t))[0] == [phone_reply(facts)]


async def test_office_nlg_fills_the_server_replies_in_the_conversations_language(facts: Facts) -> None:
    from rasa_addons.nlg import OfficeNLG
    from tests.conftest import unavailable_reply, unavailable_reply_pl

    nlg = OfficeNLG(domain=DOMAIN)
    for language, expected in (("pl", unavailable_reply_pl(facts)), ("en", unavailable_reply(facts)), (None, unavailable_reply(facts))):
        t = DialogueStateTracker.from_events("test", [SlotWasSet("language", language)] if language else [], slots=DOMAIN.slots)
        assert (await nlg.generate("utter_service_unavailable", t, "rest"))["text"] == expected


def test_the_language_entity_is_not_a_question() -> None:
    text = "tell me: who pays for the professors, and where is the center?"
    entities = [{"entity": "language", "value": "en", "start": 0}, *_entities(text, [
        ("pays", "aspect", "funding"), ("professors", "subject", "visiting_professors"),
        ("where", "aspect", "location"), ("center", "subject", "euroregional_center")])]
    assert [topic for topic, _ in answers.by_topic(text, entities, "euroregional_center")] == ["visiting_professors", "euroregional_center"]


async def test_an_institution_the_page_does_not_name_gets_the_honest_reply(facts: Facts) -> None:
    # "is <a university the page does not name> one of them?" after the visiting professors
    texts, events = await run(actions.ActionAnswerFollowup(), tracker("ask_followup", {"institution": ["Example University"]},
                                                                    topic="visiting_professors"))
    assert texts == [f"I don't know: the page I answer from does not mention Example University, so I can't tell whether it is a "
                     f"partner of the university or sends visiting professors. The {facts.contact.office} can tell you more: "
                     f"{facts.contact.email}, tel. {facts.contact.phone}."]
    assert events == [SlotSet("topic", "visiting_professors")]
    # at the start of a conversation, a follow-up naming an institution is answered about it
    nih = facts.visiting_professors.home_institutions[1]
    texts, _ = await run(actions.ActionAnswerFollowup(), tracker("ask_followup", {"institution": [nih]}))
    assert len(texts) == 1 and texts[0].startswith(f"Yes: the page I answer from names the {nih}")


async def test_a_founder_named_leaves_the_conversation_about_the_center(facts: Facts) -> None:
    c = facts.euroregional_center
    _, events = await run(actions.ActionAnswerPartnerships(), tracker("ask_partnerships", {"institution": [c.founding_partners[1]]}))
    assert events == [SlotSet("topic", "euroregional_center")]  # "and who else signed that agreement?" is about the center
    _, events = await run(actions.ActionAnswerPartnerships(), tracker("ask_partnerships", {"institution": [facts.visiting_professors.home_institutions[0]]}))
    assert events == [SlotSet("topic", "visiting_professors")]


def test_a_place_the_page_does_not_name_after_the_center_asks_about_partners(facts: Facts) -> None:
    text = "and what about Example City?"
    entities = _entities(text, [("Example City", "country", "Example City")])
    answer, topic = answers.answer(facts._values, text, entities, "euroregional_center", current="euroregional_center")
    assert [r for r, _ in answer] == ["utter_partnerships_region_unknown"] and topic == "partnerships"


def test_when_or_where_events_were_held_is_a_detail_the_page_lacks(facts: Facts) -> None:
    for text in ("when were they held?", "where did the summer universities take place", "a gdzie się odbywały?"):
        answer, _ = answers.answer(facts._values, text, [], "euroregional_center", current="euroregional_center")
        assert [r for r, _ in answer] == ["utter_dont_know_euroregional_center"], text
    answer, _ = answers.answer(facts._values, "what events were held?", [{"entity": "aspect", "value": "events", "start": 5, "end": 11}],
                               "euroregional_center")
    assert [r for r, _ in answer] == ["utter_euroregional_center_events"]


def test_how_much_is_paid_words_apart_is_a_detail_the_page_lacks(facts: Facts) -> None:
    """The page names who pays for the visiting professors, never how much."""
    for text in ("how much does the university pay for it?", "a ile uczelnia za to płaci?"):
        pays = text.index("pay") if "pay" in text else text.index("płaci")
        entities = [{"entity": "aspect", "value": "funding", "start": pays, "end": pays + 5}]
        answer, _ = answers.answer(facts._values, text, entities, "visiting_professors", current="visiting_professors")
        assert [r for r, _ in answer] == ["utter_dont_know_visiting_professors"], text
    answer, _ = answers.answer(facts._values, "who pays for it?", [{"entity": "aspect", "value": "funding", "start": 4, "end": 8}],
                               "visiting_professors")
    assert [r for r, _ in answer] == ["utter_visiting_professors_funding"]


def test_a_name_inside_a_longer_name_is_not_asked_about(facts: Facts) -> None:
    text = "does the European Social Fund pay for it?"
    entities = [{"entity": "country", "value": "Europe", "start": 9, "end": 17},
                {"entity": "aspect", "value": "funding", "start": 9, "end": 29}]
    answer, topic = answers.answer(facts._values, text, entities, "partnerships", current="visiting_professors")
    assert [r for r, _ in answer] == ["utter_visiting_professors_funding"] and topic == "visiting_professors"


def _spans(text: str, found: List[tuple]) -> List[Dict[str, Any]]:
    return [{"entity": entity, "value": value, "start": text.index(word), "end": text.index(word) + len(word)}
            for word, entity, value in found]


def test_a_year_after_the_page_was_updated_is_a_detail_it_lacks(facts: Facts) -> None:
    updated = int(re.findall(r"\d{4}", facts.source.last_updated)[-1])
    later = f"what conferences will the center organise in {updated + 3}?"
    entities = _entities(later, [("conferences", "aspect", "events"), ("center", "subject", "euroregional_center")])
    answer, _ = answers.answer(facts._values, later, entities, "euroregional_center")
    assert [r for r, _ in answer] == ["utter_dont_know_euroregional_center"]
    # a year the page's facts hold is still answered
    founded = f"what was founded in {facts.euroregional_center.founded}?"
    answer, _ = answers.answer(facts._values, founded, _entities(founded, [("founded", "aspect", "founding")]), "euroregional_center")
    assert [r for r, _ in answer] == ["utter_euroregional_center_founding"]


def test_one_edition_of_the_events_is_a_detail_but_an_ordinal_alone_is_not(facts: Facts) -> None:
    for text in ("what was the first summer university about?", "o czym była pierwsza konferencja?"):
        answer, _ = answers.answer(facts._values, text, [], "euroregional_center", current="euroregional_center")
        assert [r for r, _ in answer] == ["utter_dont_know_euroregional_center"], text
    text = "a dla studentów pierwszego roku też?"
    entities = _entities(text, [("dla studentów", "aspect", "audience")])
    answer, _ = answers.answer(facts._values, text, entities, "visiting_professors", current="visiting_professors")
    assert [r for r, _ in answer] == ["utter_visiting_professors_audience"]


def test_a_bare_number_beside_the_fax_is_the_fax_number(facts: Facts) -> None:
    text = "can I send you a fax? what number do I use?"
    entities = _spans(text, [("fax", "contact_channel", "fax"), ("number", "contact_channel", "phone")])
    answer, _ = answers.answer(facts._values, text, entities, "contact")
    assert [r for r, _ in answer] == ["utter_contact_fax"]
    # the phone named as such is still asked
    text = "the fax and the phone number?"
    entities = _spans(text, [("fax", "contact_channel", "fax"), ("phone number", "contact_channel", "phone")])
    answer, _ = answers.answer(facts._values, text, entities, "contact")
    assert [r for r, _ in answer] == ["utter_contact_phone", "utter_contact_fax"]


def test_an_aspect_another_topic_has_beside_the_page_is_that_topics_question(facts: Facts) -> None:
    # "what is the operational programme financing, according to the page?": the page named, the funding asked
    text = "what is the operational programme financing according to the page?"
    entities = _spans(text, [("operational programme", "aspect", "funding"), ("page", "subject", "last_update")])
    answer, topic = answers.answer(facts._values, text, entities, "visiting_professors")
    assert [r for r, _ in answer] == ["utter_visiting_professors_funding"] and topic == "visiting_professors"
    # taken as a question about the page, after the professors: "is the EU paying for this?"
    text = "is the EU paying for this?"
    answer, _ = answers.answer(facts._values, text, _spans(text, [("paying", "aspect", "funding")]), "last_update",
                               current="visiting_professors")
    assert [r for r, _ in answer] == ["utter_visiting_professors_funding"]
    # what the page itself has stays the page's: when, by whom
    text = "when was the page updated?"
    entities = _spans(text, [("when", "aspect", "founding"), ("page", "subject", "last_update")])
    answer, _ = answers.answer(facts._values, text, entities, "last_update", current="visiting_professors")
    assert [r for r, _ in answer] == ["utter_last_update"]
    assert answers.topic_of("last_update", ["founding"], []) == "last_update"  # "when?" after who updated the page
    assert answers.topic_of("contact", ["founding"], []) == "euroregional_center"


def test_the_office_named_beside_a_contact_detail_is_its_addressee(facts: Facts) -> None:
    assert [r for r, _ in answers.contact(facts._values, ["email", "office"], [], [])] == ["utter_contact_email"]
    assert [r for r, _ in answers.contact(facts._values, ["office"], [], [])] == ["utter_contact_partnership_requests"]


def test_an_institution_named_and_another_aspect_asked_get_both(facts: Facts) -> None:
    vilnius = facts.euroregional_center.founding_partners[2]
    answer = answers.euroregional_center(facts._values, [vilnius], ["partners", "activities"], [])
    assert [r for r, _ in answer] == ["utter_partnerships_center_partner", "utter_euroregional_center_activities"]
    answer = answers.euroregional_center(facts._values, [vilnius], ["partners", "founding"], [])
    assert [r for r, _ in answer] == ["utter_partnerships_center_partner"]  # its answer already says it


def test_how_long_has_it_been_running_asks_since_when(facts: Facts) -> None:
    text = "how long has it been running"
    answer, _ = answers.answer(facts._values, text, _spans(text, [("how long", "detail", "how long")]), "euroregional_center",
                               current="euroregional_center")
    assert [r for r, _ in answer] == ["utter_euroregional_center_founding"]
    text = "how long do they stay?"  # how long something lasts: the page does not say
    answer, _ = answers.answer(facts._values, text, _spans(text, [("how long", "detail", "how long")]), "visiting_professors")
    assert [r for r, _ in answer] == ["utter_dont_know_visiting_professors"]


def test_a_word_inside_a_longer_name_is_part_of_it(facts: Facts) -> None:
    # "where" inside "where can I ask" (the office); "budget" inside a funder's name; a name inside the
    # `language` entity, which spans the whole message, is still asked
    text = "and where can I ask about it?"
    entities = _spans(text, [("where can I ask", "contact_channel", "office"), ("where", "aspect", "location")])
    assert answers.asked_values(entities, "aspect") == [] and answers.asked_values(entities, "contact_channel") == ["office"]
    text = "is Poland's national budget funding anything?"
    entities = _spans(text, [("Poland's national budget", "aspect", "funding"), ("Poland", "country", "Poland"),
                             ("budget", "detail", "budget")])
    answer, _ = answers.answer(facts._values, text, entities, "partnerships")
    assert [r for r, _ in answer] == ["utter_visiting_professors_funding"]
    text = "do NIH researchers come here?"
    entities = [{"entity": "language", "value": "en", "start": 0, "end": len(text)}, *_spans(text, [("NIH", "institution", "NIH")])]
    assert answers.asked_values(entities, "institution") == ["NIH"]


def test_an_unsure_message_that_carries_the_conversation_on_stays_on_its_topic(facts: Facts) -> None:
    text = "and for lecturers too?"
    entities = _spans(text, [("for lecturers", "aspect", "audience")])
    assert answers.unsure_topic(facts._values, text, entities, "visiting_professors") == "visiting_professors"
    assert answers.unsure_topic(facts._values, "for lecturers?", entities, "visiting_professors") is None


def test_chat_spellings_of_question_words_are_mended_in_english_only() -> None:
    from rasa_addons.nlu import SpellingCorrector  # what the classifiers then read ("wat is the fax")

    corrector = SpellingCorrector(None, None, {"postcode": 3})
    assert corrector.correction("wat", "en") == "what" and corrector.correction("wot") == "what"
    assert corrector.correction("wat", "pl") is None  # a Polish word


def near_topic(topic_intent: str, entities: Dict[str, List[str]], confidence: float = 0.97, topic: Optional[str] = None,
               text: str = "...") -> Tracker:
    """The tracker after a topic question asking a detail the page lacks, which the NLU made out of scope
    (rasa_addons.nlu.NearTopicOutOfScope): out_of_scope first, the topic's intent next, at the same confidence."""
    t = tracker("out_of_scope", entities, topic=topic, text=text)
    t.latest_message["intent"] = {"name": "out_of_scope", "confidence": confidence}
    t.latest_message["intent_ranking"] = [{"name": "out_of_scope", "confidence": confidence},
                                          {"name": topic_intent, "confidence": confidence},
                                          {"name": "ask_followup", "confidence": 1 - confidence}]
    return t


@pytest.mark.parametrize("intent, action, entities", [
    ("ask_contact", actions.ActionAnswerContact(), {"detail": ["head of"], "subject": ["contact"]}),
    ("ask_euroregional_center", actions.ActionAnswerEuroregionalCenter(), {"detail": ["budget"], "subject": ["euroregional_center"]}),
    ("ask_visiting_professors", actions.ActionAnswerVisitingProfessors(), {"detail": ["how much"], "aspect": ["funding"]}),
    ("ask_partnerships", actions.ActionAnswerPartnerships(), {"detail": ["deadline"]}),
    ("ask_last_update", actions.ActionAnswerLastUpdate(), {"detail": ["next update"]}),
])
async def test_a_near_topic_question_out_of_scope_is_answered_as_its_topic(facts: Facts, intent: str, action: Any, entities) -> None:
    """Out of scope by the NLU, the topic next: the same honest reply and `topic` slot as the topic's action gives."""
    expected = await run(action, tracker(intent, entities))
    texts, events = await run(actions.ActionExplainScope(), near_topic(intent, entities))
    assert (texts, events) == expected
    assert texts[0].startswith("I don't know that") and facts.contact.email in texts[0]
    assert events == [SlotSet("topic", intent[len("ask_"):])]


@pytest.mark.parametrize("intent, action, entities", [
    ("ask_partnerships", actions.ActionAnswerPartnerships(), {"subject": ["partnerships"]}),
    ("ask_visiting_professors", actions.ActionAnswerVisitingProfessors(), {"aspect": ["origin"]}),
    ("ask_euroregional_center", actions.ActionAnswerEuroregionalCenter(), {"aspect": ["founding"]}),
])
async def test_an_institution_off_the_page_out_of_scope_is_answered_as_its_topic(facts: Facts, intent: str, action: Any, entities) -> None:
    """Out of scope by the NLU (an institution the facts do not name), the topic next: the same reply and `topic` slot."""
    name = "Atlantis Institute of Medicine"
    assert not answers.on_the_page(facts._values, name)
    entities = {**entities, "institution": [name]}
    expected = await run(action, tracker(intent, entities))
    assert await run(actions.ActionExplainScope(), near_topic(intent, entities)) == expected
    assert name in expected[0][0] and expected[1] == [SlotSet("topic", intent[len("ask_"):])]
    # one the facts name is not a near-topic question: the classifier's own out of scope stays one
    known = {**entities, "institution": [facts.visiting_professors.home_institutions[0]]}
    [text], events = await run(actions.ActionExplainScope(), near_topic(intent, known))
    assert text.startswith("Sorry, I don't know that") and events == []


async def test_out_of_scope_of_the_classifier_or_the_gate_is_not_a_near_topic_question(facts: Facts) -> None:
    scope = "Sorry, I don't know that: I answer only from the university's International Cooperation page"
    # the classifier's own out_of_scope: the topic next, but less sure
    t = near_topic("ask_contact", {"detail": ["tuition"]})
    t.latest_message["intent_ranking"][1]["confidence"] = 0.02
    [text], events = await run(actions.ActionExplainScope(), t)
    assert text.startswith(scope) and events == []
    # no detail asked: not a topic question the page lacks
    [text], events = await run(actions.ActionExplainScope(), near_topic("ask_contact", {}))
    assert text.startswith(scope) and events == []
    # the next intent is no topic's
    [text], events = await run(actions.ActionExplainScope(), near_topic("greet", {"detail": ["director"]}))
    assert text.startswith(scope) and events == []


@pytest.mark.parametrize("text, entities, only", [
    ("who is the head of the office?", [("detail", "head of", 11), ("subject", "contact", 26)], True),
    ("how much are visiting professors paid?", [("detail", "how much", 0), ("subject", "visiting_professors", 13), ("aspect", "funding", 33)], True),
    # the aspect asked in a clause, or an alternative, of its own: the page answers that part
    ("where can I find the office, which building", [("aspect", "location", 0), ("subject", "contact", 22), ("detail", "which building", 29)], False),
    ("only for staff or for everyone in the academic community?", [("detail", "staff", 9), ("aspect", "audience", 34)], False),
    # a contact detail or an institution named anywhere
    ("the dean asked who to email", [("detail", "dean", 4), ("contact_channel", "email", 23)], False),
    ("when is the next visit of NIH professors", [("detail", "next", 12), ("institution", "NIH", 26)], False),
    # no detail, or a detail inside a longer aspect (a funder's name)
    ("where is the office?", [("aspect", "location", 0), ("subject", "contact", 13)], False),
])
def test_a_message_asks_only_details_when_nothing_else_it_asks_is_on_the_page(text: str, entities, only: bool) -> None:
    found = [{"entity": e, "value": v, "start": s, "end": s + len(v)} for e, v, s in entities]
    assert answers.asks_only_details(text, found) is only


def test_a_detail_inside_a_longer_aspect_is_part_of_its_name() -> None:
    text = "is Poland's national budget paying?"
    found = [{"entity": "aspect", "value": "funding", "start": 3, "end": 27}, {"entity": "detail", "value": "budget", "start": 21, "end": 27}]
    assert not answers.asks_only_details(text, found)


def _spans(text: str, found: List[tuple]) -> List[Dict[str, Any]]:
    """Entities with start and end, as the NLU gives them: (word, entity, value)."""
    return [{"entity": entity, "value": value, "start": text.index(word), "end": text.index(word) + len(word)} for word, entity, value in found]


def _responses(facts: Facts, text: str, found: List[tuple], topic: str, current: Optional[str] = None) -> List[str]:
    answer, _ = answers.answer(facts._values, text, _spans(text, found), topic, current)
    return [name for name, _ in answer]


def test_question_words_alone_ask_of_the_conversations_topic(facts: Facts) -> None:
    # "since when?" after the partnerships: the partnerships do not say, not the center's founding
    assert answers.question_words_only("since when?", _spans("since when?", [("since when", "aspect", "founding")]))
    assert _responses(facts, "since when?", [("since when", "aspect", "founding")], "partnerships", "partnerships") == ["utter_dont_know_partnerships"]
    assert answers.topic_of("partnerships", ["founding"], [], generic=True) == "partnerships"
    # a word that names what only another topic has still moves there
    assert not answers.question_words_only("when was it founded?", _spans("when was it founded?", [("when", "aspect", "founding"), ("founded", "aspect", "founding")]))
    assert answers.topic_of("partnerships", ["founding"], []) == "euroregional_center"


def test_a_count_the_topic_does_not_give_is_not_known(facts: Facts) -> None:
    text = "how many agreements exactly?"
    assert _responses(facts, text, [("how many", "aspect", "count"), ("agreements", "aspect", "agreements")], "partnerships", "partnerships") == [
        "utter_dont_know_partnerships"]


def test_an_institution_the_page_does_not_name_as_a_founder_gets_the_founders(facts: Facts) -> None:
    text = "did Warsaw Medical University co-found the center?"
    found = [("Warsaw Medical University", "institution", "Medical University of Warsaw"), ("center", "subject", "euroregional_center")]
    assert _responses(facts, text, found, "euroregional_center") == ["utter_institution_unknown", "utter_euroregional_center_founding"]
    # a founder named: its own answer says who the founders are
    assert _responses(facts, "did Grodno found the center?", [("Grodno", "institution", "Medical University of Grodno")], "euroregional_center") == [
        "utter_partnerships_center_partner"]


@pytest.mark.parametrize("text, found, topic, expected", [
    ("what is the euroregional center for and where is it?", [("where", "aspect", "location")], "euroregional_center",
     ["utter_euroregional_center_activities", "utter_euroregional_center_location"]),
    ("what does the center do?", [], "euroregional_center", ["utter_euroregional_center_activities"]),
    ("who are the expert lectures for?", [], "visiting_professors", ["utter_visiting_professors_audience"]),
    ("who are the visiting professors exactly?", [], "visiting_professors", ["utter_visiting_professors_description"]),
    # who they are says where they come from: not said twice
    ("who are they and where do they come from", [("come from", "aspect", "origin")], "visiting_professors",
     ["utter_visiting_professors_description"]),
    # "who are" asks nothing of a topic without people to describe
    ("who are the partners in the center?", [("partners", "subject", "partnerships"), ("center", "subject", "euroregional_center")],
     "euroregional_center", ["utter_euroregional_center_founding"]),
    ("when were they?", [("when", "aspect", "founding")], "euroregional_center", ["utter_dont_know_euroregional_center"]),
    ("a kiedy były?", [("kiedy", "aspect", "founding")], "euroregional_center", ["utter_dont_know_euroregional_center"]),
    ("when were they founded?", [("when", "aspect", "founding"), ("founded", "aspect", "founding")], "euroregional_center",
     ["utter_euroregional_center_founding"]),
])
def test_what_a_question_asks_by_its_words(facts: Facts, text: str, found: List[tuple], topic: str, expected: List[str]) -> None:
    assert _responses(facts, text, found, topic, topic) == expected


async def test_the_programme_answer_names_the_operational_programme(facts: Facts) -> None:
    v = facts.visiting_professors
    texts, _ = await run(actions.ActionAnswerVisitingProfessors(), tracker("ask_visiting_professors", {"aspect": ["programme"]}))
    assert texts == [f"The visiting professors come within the programme called \"{v.programme}\", financed within the {v.operational_programme}."]


def test_one_edition_of_the_events_is_a_detail_the_page_lacks(facts: Facts) -> None:
    text = "what was discussed at the last international conference of the center?"
    found = [("center", "subject", "euroregional_center")]
    assert answers.asks_only_details(text, _spans(text, found))  # no `detail` entity: the words say it
    assert _responses(facts, text, found, "euroregional_center") == ["utter_dont_know_euroregional_center"]
    assert not answers.asks_only_details("what conferences did the center organise?", [])


async def test_a_near_topic_question_about_one_edition_is_answered_as_its_topic(facts: Facts) -> None:
    text = "the theme of the latest summer university?"
    t = near_topic("ask_euroregional_center", {"subject": ["euroregional_center"]}, text=text)
    texts, events = await run(actions.ActionExplainScope(), t)
    assert texts == [dont_know_center(facts)] and events == [SlotSet("topic", "euroregional_center")]


def test_a_contact_detail_beside_a_loose_name_asks_the_contact(facts: Facts) -> None:
    text = "who do I contact to propose a partnership?"
    found = [("who do I contact", "contact_channel", "office"), ("partnership", "subject", "partnerships")]
    assert _responses(facts, text, found, "partnerships") == ["utter_contact_partnership_requests"]
    # a topic named beside it is still that topic's question
    assert answers.by_topic("the center's phone?", [{"entity": "contact_channel", "value": "phone", "start": 13},
                                                    {"entity": "subject", "value": "euroregional_center", "start": 4}],
                            "euroregional_center")[0][0] == "euroregional_center"


async def test_not_understood_but_asking_what_only_one_topic_has_is_answered_about_it(facts: Facts) -> None:
    texts, events = await run(actions.ActionExplainScope(), tracker("nlu_fallback", {"aspect": ["events", "count"]}))
    assert listing(facts.euroregional_center.events) in texts[0] and events == [SlotSet("topic", "euroregional_center")]
    # an aspect two topics have tells none; a detail the page lacks is not answered with a topic
    [text], events = await run(actions.ActionExplainScope(), tracker("nlu_fallback", {"aspect": ["audience"]}))
    assert text.startswith("Sorry, I didn't understand that") and events == []
    [text], events = await run(actions.ActionExplainScope(), tracker("nlu_fallback", {"aspect": ["events"], "detail": ["tickets"]}))
    assert text.startswith("Sorry, I didn't understand that") and events == []


@pytest.mark.parametrize("text", ["a kiedy były?", "kiedy była?"])
def test_polish_when_were_they_is_a_detail(text: str) -> None:
    assert answers.events_when_where(text)


@pytest.mark.parametrize("text, lacking", [
    ("and what are the lectures about?", True),
    ("na jakie tematy są wykłady?", True),
    ("which topics did the summer universities cover?", True),
    ("who signed it on behalf of the university?", True),
    ("kto w imieniu uczelni podpisał porozumienie?", True),
    # the conferences' topic the page gives; a topic changed is no question; a letter written on behalf of someone
    ("what topics were the conferences on?", False),
    ("zmieniając temat: gdzie jest biuro?", False),
    ("I write on behalf of our dean: your postal address?", False),
])
def test_the_words_ask_the_lectures_topics_or_who_signed_for_a_party(facts: Facts, text: str, lacking: bool) -> None:
    assert bool(answers.details_in_words(text)) is lacking
    if lacking:  # the topic's honest reply
        assert _responses(facts, text, [], "visiting_professors")[0] == "utter_dont_know_visiting_professors"


async def test_an_unsure_place_that_carries_a_partnerships_conversation_on_is_a_partners_place(facts: Facts) -> None:
    """"and America?" after the partners in Japan, which the classifiers could not tell from a follow-up:
    what the partnerships topic says of the place, as a question about it would get."""
    region = facts.partnerships.regions[1]
    text = f"and {region}?"
    entities = [{"entity": "language", "value": "en", "start": 0, "end": len(text)}, *_spans(text, [(region, "country", region)])]
    t = Tracker("test", {"topic": "partnerships"}, {"text": text, "intent": {"name": "nlu_fallback", "confidence": 0.3},
                                                    "entities": entities}, [], False, None, {}, "action_listen")
    texts, events = await run(actions.ActionExplainScope(), t)
    expected, _ = await run(actions.ActionAnswerPartnerships(), tracker("ask_partnerships", {"country": [region]}))
    assert texts == expected and events == [SlotSet("topic", "partnerships")]
    # not carrying the conversation on, or in a conversation about another topic: the honest reply
    for topic, said in (("partnerships", f"{region}?!"), ("contact", text)):
        t = Tracker("test", {"topic": topic}, {"text": said, "intent": {"name": "nlu_fallback", "confidence": 0.3},
                                               "entities": entities}, [], False, None, {}, "action_listen")
        [reply], events = await run(actions.ActionExplainScope(), t)
        assert reply.startswith("Sorry, I didn't understand that") and events == []


def test_a_word_inside_a_topics_full_name_is_part_of_the_name(facts: Facts) -> None:
    """"Education" in the center's full name asks nothing of the center's education."""
    name = facts.euroregional_center.name
    text = f"Co to jest {name}?"
    last = name.split()[-1]
    entities = _spans(text, [(name, "subject", "euroregional_center"), (last, "aspect", "activities")])
    assert answers.asked_values(entities, "aspect") == [] and answers.asked_values(entities, "subject") == ["euroregional_center"]


def test_a_founder_named_in_a_partnerships_question_gets_what_the_center_does_too(facts: Facts) -> None:
    """"does Grodno educate students with UMB?", taken for a partnerships question: the founder, what the
    center does, and the conversation goes on about the center."""
    partner = facts.euroregional_center.founding_partners[1]
    text = f"does the {partner} educate students with UMB?"
    entities = _spans(text, [(partner, "institution", partner), ("educate", "aspect", "activities")])
    answer, topic = answers.answer(facts._values, text, entities, "partnerships")
    assert [r for r, _ in answer] == ["utter_partnerships_center_partner", "utter_euroregional_center_activities"]
    assert topic == "euroregional_center"


def test_a_contact_question_referring_to_the_center_or_the_professors_gets_the_honest_reply(facts: Facts) -> None:
    """The page gives the office's contact details only: "and its e-mail?" after the center is not the office's."""
    text = "and its e-mail?"
    for current in answers.OTHER_PARTIES:
        answer, topic = answers.answer(facts._values, text, _spans(text, [("e-mail", "contact_channel", "email")]), "contact", current)
        assert [r for r, _ in answer] == [f"utter_dont_know_{current}"] and topic == current
    # the office named, or nothing referring back: the office's e-mail
    for text, found in (("and the office's e-mail?", [("office", "contact_channel", "office"), ("e-mail", "contact_channel", "email")]),
                        ("what is the e-mail?", [("e-mail", "contact_channel", "email")])):
        answer, _ = answers.answer(facts._values, text, _spans(text, found), "contact", "euroregional_center")
        assert "utter_contact_email" in [r for r, _ in answer], text


async def test_a_followup_at_the_start_naming_a_year_of_one_topic_is_about_that_topic(facts: Facts) -> None:
    c = facts.euroregional_center
    texts, events = await run(actions.ActionAnswerFollowup(),
                              tracker("ask_followup", {"aspect": ["agreements"]}, text=f"who signed the agreement in {c.founded}?"))
    assert texts and all(partner in " ".join(texts) for partner in c.founding_partners)
    assert events == [SlotSet("topic", "euroregional_center")]


async def test_a_message_torn_between_a_topic_and_a_followup_that_names_the_topic_is_answered_about_it(facts: Facts) -> None:
    named = tracker("nlu_fallback", {"subject": ["last_update"], "aspect": ["founding"]}, text="when was the page updated and who did it")
    texts, events = await run(actions.ActionExplainScope(), named)
    expected, _ = await run(actions.ActionAnswerLastUpdate(), tracker("ask_last_update", {"subject": ["last_update"]}))
    assert texts == expected and events == [SlotSet("topic", "last_update")]
    # two topics named, or none: not understood
    for entities in ({"subject": ["last_update", "contact"]}, {}):
        [text], events = await run(actions.ActionExplainScope(), tracker("nlu_fallback", entities, text="hmm"))
        assert text.startswith("Sorry, I didn't understand that") and events == []
