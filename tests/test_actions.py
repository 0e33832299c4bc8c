"""The custom actions, fed with what the trained NLU understood, give the exact page facts.

Replies are rendered with Rasa's own response generator from domain.yml, so the asserted text is
exactly what a user reads.
"""
from typing import Dict, List, Optional

import pytest
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import actions
from tests.conftest import ROOT

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


@pytest.mark.parametrize(
    "question, answer",
    [
        ("what is your phone number?", "The International Cooperation Office's phone number is +48 85 686 51 76."),
        ("and the fax?", "The International Cooperation Office's fax number is +48 85 748 54 16."),
        ("what's the email address?", "You can write to the International Cooperation Office at international@umb.edu.pl."),
        ("what is your postal address?", "The International Cooperation Office's address is Jana Kilinskiego 1, 15-089 Bialystok, Poland."),
    ],
)
async def test_contact_channels(agent, question: str, answer: str) -> None:
    assert await ask(agent, question) == [answer]


async def test_contact_card_and_partnership_requests(agent) -> None:
    card = (
        "Address: Jana Kilinskiego 1, 15-089 Bialystok, Poland\nPhone: +48 85 686 51 76\n"
        "Fax: +48 85 748 54 16\nE-mail: international@umb.edu.pl"
    )
    assert await ask(agent, "how can I contact you?") == [
        "You can reach the International Cooperation Office (Office for Science and International Cooperation):\n" + card
    ]
    assert await ask(agent, "we want to start a bilateral cooperation - who do we talk to?") == [
        "If you are interested in discussing bilateral cooperation with the university, please contact the "
        "Office for Science and International Cooperation at the International Cooperation Office:\n" + card
    ]


async def test_partners_named_on_the_page(agent) -> None:
    [vilnius] = await ask(agent, "do you work with Vilnius?")
    assert vilnius == (
        "Yes. The Medical Division of University of Vilnius is one of the signatories of the 2003 agreement between "
        "Medical University of Bialystok, Medical University of Grodno and Medical Division of University of Vilnius "
        "that formed the Euroregional Medical Center for Research and Education."
    )
    [belarus] = await ask(agent, "any cooperation with Belarus?")
    assert belarus.startswith("Yes. The Medical University of Grodno is one of the signatories of the 2003 agreement")
    [harvard] = await ask(agent, "do you cooperate with Harvard?")
    assert harvard.startswith("The page I answer from names the Harvard Medical School as one of the institutions")
    assert "does not say whether there is a bilateral agreement" in harvard


async def test_regions_known_and_unknown(agent) -> None:
    assert await ask(agent, "any partners in Japan?") == [
        "Yes. The university has signed bilateral agreements on cooperation and scientific exchange with institutions "
        "in Europe, the U.S. and Japan, so Japan is among them. The page I answer from does not name the institutions "
        "there; the International Cooperation Office can tell you more: international@umb.edu.pl, tel. +48 85 686 51 76."
    ]
    assert await ask(agent, "partners in Germany?") == [
        "I don't know: the page I answer from does not say whether the university has a partner in Germany. It mentions "
        "bilateral agreements on cooperation and scientific exchange with institutions in Europe, the U.S. and Japan. "
        "Please ask the International Cooperation Office: international@umb.edu.pl, tel. +48 85 686 51 76."
    ]


async def test_euroregional_center_and_followups(agent) -> None:
    [overview] = await ask(agent, "tell me about the Euroregional center")
    assert overview == (
        "The Euroregional Medical Center for Research and Education was formed in 2003 as a result of an agreement "
        "between Medical University of Bialystok, Medical University of Grodno and Medical Division of University of "
        "Vilnius. It is located at the Medical University of Bialystok. It serves as a coordinator and a source of "
        "information crucial for exchanging experience and cooperating in the field of medical sciences, and also for "
        "educating and training doctors and students in all three associated medical universities. Under its patronage, two summer "
        "universities and several international conferences on the latest medical science achievements have been organised."
    )
    assert await ask(agent, "when was it founded?", topic="euroregional_center") == [
        "The Euroregional Medical Center for Research and Education was formed in 2003, as a result of an agreement "
        "between Medical University of Bialystok, Medical University of Grodno and Medical Division of University of Vilnius."
    ]
    assert await ask(agent, "where is it?", topic="euroregional_center") == [
        "The Euroregional Medical Center for Research and Education is located at the Medical University of Bialystok."
    ]


async def test_visiting_professors(agent) -> None:
    assert await ask(agent, "who finances the visiting professors?") == [
        "The programme \"High quality of training is a key to the development of the Medical University of Bialystok\" "
        "is financed by the European Social Fund and Poland's national budget within the Human Capital Operational Programme."
    ]
    assert await ask(agent, "how many professors visit each year?") == [
        "Every year the university hosts over 10 distinguished visiting professors."
    ]
    assert await ask(agent, "where do they come from?", topic="visiting_professors") == [
        "The visiting professors come from institutions such as Mayo Clinic, National Institute of Health in Bethesda, "
        "Harvard Medical School and University of Pennsylvania."
    ]


async def test_last_update(agent) -> None:
    assert await ask(agent, "how up to date is this information?") == [
        "My answers come from the university's International Cooperation page, last updated on 03.07.2019. For anything "
        "newer, please ask the International Cooperation Office: international@umb.edu.pl, tel. +48 85 686 51 76."
    ]


async def test_followup_without_topic_asks_which_topic(agent) -> None:
    assert await ask(agent, "when was it founded?") == ["Which topic would you like to know more about?"]


@pytest.mark.parametrize("question", ["what's the weather tomorrow?", "how do I apply for admission?", "tell me a joke"])
async def test_out_of_scope_points_to_the_office(agent, question: str) -> None:
    [reply] = await ask(agent, question)
    assert reply.startswith("Sorry, I can only help with the international cooperation of the Medical University of Bialystok")
    assert "international@umb.edu.pl" in reply and "+48 85 686 51 76" in reply
