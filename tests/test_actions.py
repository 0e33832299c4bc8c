"""The custom actions, fed with what the trained NLU understood, give the exact facts of data/facts.yml.

Replies are rendered with Rasa's own response generator from domain.yml, so the asserted text is
exactly what a user reads.
"""
from typing import Callable, Dict, List, Optional

import pytest
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import actions
from tests.conftest import ROOT, Facts, address, center_founded_reply, center_location_reply, email_reply, fax_reply, listing, phone_reply

DOMAIN = Domain.load(str(ROOT / "domain.yml"))
NLG = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
ACTION_FOR_INTENT = {
    "ask_contact": actions.ActionAnswerContact(),
    "ask_partnerships": actions.ActionAnswerPartnerships(),
    "ask_euroregional_center": actions.ActionAnswerEuroregionalCenter(),
    "ask_visiting_professors": actions.ActionAnswerVisitingProfessors(),
    "ask_last_update": actions.ActionAnswerLastUpdate(),
    "ask_followup": actions.ActionAnswerFollowup(),
    "out_of_scope": actions.ActionExplainScope(),
    "nlu_fallback": actions.ActionExplainScope(),
}


async def render(messages: List[Dict]) -> List[str]:
    tracker = DialogueStateTracker.from_events("test", [], slots=DOMAIN.slots)
    out = []
    for m in messages:
        values = {k: v for k, v in m.items() if k not in ("text", "buttons", "elements", "custom", "template", "response", "image", "attachment")}
        out.append((await NLG.generate(m["response"], tracker, "rest", **values))["text"])
    return out


async def ask(agent, text: str, topic: Optional[str] = None) -> List[str]:
    """What the user reads after `text`, with `topic` as the topic of the previous answer."""
    parsed = await agent.parse_message(text)
    action = ACTION_FOR_INTENT[parsed["intent"]["name"]]
    tracker = Tracker("test", {"topic": topic}, parsed, [], False, None, {}, None)
    dispatcher = CollectingDispatcher()
    action.run(dispatcher, tracker, {})
    return await render(dispatcher.messages)


def card(f: Facts) -> str:
    c = f.contact
    return f"Address: {address(f)}\nPhone: {c.phone}\nFax: {c.fax}\nE-mail: {c.email}"


def ask_the_office(f: Facts) -> str:
    return f"{f.contact.email}, tel. {f.contact.phone}."


@pytest.mark.parametrize(
    "question, answer",
    [
        ("what is your phone number?", phone_reply),
        ("and the fax?", fax_reply),
        ("what's the email address?", email_reply),
        ("what is your postal address?", lambda f: f"The {f.contact.office}'s address is {address(f)}."),
    ],
)
async def test_contact_channels(agent, facts: Facts, question: str, answer: Callable[[Facts], str]) -> None:
    assert await ask(agent, question) == [answer(facts)]


async def test_contact_card_and_partnership_requests(agent, facts: Facts) -> None:
    c = facts.contact
    assert await ask(agent, "how can I contact you?") == [
        f"You can reach the {c.office} ({c.office_full_name}):\n" + card(facts)
    ]
    assert await ask(agent, "we want to start a bilateral cooperation - who do we talk to?") == [
        "If you are interested in discussing bilateral cooperation with the university, please contact the "
        f"{c.office_full_name} at the {c.office}:\n" + card(facts)
    ]


async def test_partners_named_on_the_page(agent, facts: Facts) -> None:
    center = facts.euroregional_center
    vilnius, grodno = center.founding_partners[2], center.founding_partners[1]
    signatory = f"is one of the signatories of the {center.founded} agreement between {listing(center.founding_partners)}"
    assert await ask(agent, "do you work with Vilnius?") == [f"Yes. The {vilnius} {signatory} that formed the {center.name}."]
    assert await ask(agent, "any cooperation with Belarus?") == [f"Yes. The {grodno} {signatory} that formed the {center.name}."]
    [harvard] = await ask(agent, "do you cooperate with Harvard?")
    assert harvard.startswith(f"Yes: the page I answer from names the {facts.visiting_professors.home_institutions[2]} as one of the institutions")
    assert "Whether there is a bilateral agreement with it I don't know" in harvard


async def test_regions_known_and_unknown(agent, facts: Facts) -> None:
    p = facts.partnerships
    assert await ask(agent, "any partners in Japan?") == [
        f"Yes. The university has signed {p.agreements} with institutions in {listing(p.regions)}, so Japan is among them. "
        f"Which institutions there I don't know: the page I answer from does not name them. The {facts.contact.office} "
        f"can tell you more: {ask_the_office(facts)}"
    ]
    assert await ask(agent, "partners in Germany?") == [
        "I don't know: the page I answer from does not say whether the university has a partner in Germany. It mentions "
        f"{p.agreements} with institutions in {listing(p.regions)}. Please ask the {facts.contact.office}: {ask_the_office(facts)}"
    ]


async def test_euroregional_center_and_followups(agent, facts: Facts) -> None:
    c = facts.euroregional_center
    assert await ask(agent, "tell me about the Euroregional center") == [
        f"The {c.name} was formed in {c.founded} as a result of an agreement between {listing(c.founding_partners)}. "
        f"It is located {c.location}. It {c.role}. Under its patronage, {listing(c.events)} have been organised."
    ]
    assert await ask(agent, "when was it founded?", topic="euroregional_center") == [center_founded_reply(facts)]
    assert await ask(agent, "where is it?", topic="euroregional_center") == [center_location_reply(facts)]


async def test_visiting_professors(agent, facts: Facts) -> None:
    v = facts.visiting_professors
    assert await ask(agent, "who finances the visiting professors?") == [
        f"The programme \"{v.programme}\" is financed by {listing(v.funders)} within the {v.operational_programme}."
    ]
    assert await ask(agent, "how many professors visit each year?") == [
        f"Every year the university hosts {v.per_year} distinguished visiting professors."
    ]
    assert await ask(agent, "where do they come from?", topic="visiting_professors") == [
        f"The visiting professors come from institutions such as {listing(v.home_institutions)}."
    ]


async def test_last_update(agent, facts: Facts) -> None:
    s = facts.source
    assert await ask(agent, "how up to date is this information?") == [
        f"My answers come from the university's {s.title} page, last updated on {s.last_updated} by {s.updated_by}. "
        f"For anything newer, please write to the {facts.contact.office} at {facts.contact.email}."
    ]


async def test_followup_without_topic(agent, facts: Facts) -> None:
    # only the center was founded, so that is what "it" is; "tell me more" cannot be placed
    assert await ask(agent, "when was it founded?") == [center_founded_reply(facts)]
    [reply] = await ask(agent, "tell me more")
    assert reply.startswith("Sorry, I didn't understand that, so I don't know how to answer.") and facts.contact.email in reply


@pytest.mark.parametrize("question", ["what's the weather tomorrow?", "how do I apply for admission?", "tell me a joke"])
async def test_out_of_scope_points_to_the_office(agent, facts: Facts, question: str) -> None:
    [reply] = await ask(agent, question)
    assert reply.startswith("Sorry, I don't know that: I answer only from the university's International Cooperation page")
    assert reply.endswith(f"For anything else, you can write to {facts.contact.email} or call {facts.contact.phone}.")
