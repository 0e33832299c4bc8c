"""The custom actions: read what the user asked, get the answer from the facts, send it.

Each topic action remembers its topic in the `topic` slot, so a follow-up such as "where is it?"
is answered about the topic of the previous answer. The actions send the name of a response and
its values in the language of the `language` slot; the Rasa server renders that response's
variation for the slot (domain.yml: the Polish one is conditioned on `language: pl`).
"""
import logging
from abc import ABC, abstractmethod
from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import answers
from actions.facts import FactsError, store

logger = logging.getLogger(__name__)


def _values(tracker: Tracker, entity: str) -> List[str]:
    """What the latest message asks of `entity` (a name inside a longer one is part of that name)."""
    return answers.asked_values(tracker.latest_message.get("entities") or [], entity)


def _language(tracker: Tracker) -> str:
    """The language to answer in: the `language` slot, English when unset."""
    return tracker.get_slot("language") or "en"


def _send(dispatcher: CollectingDispatcher, answer: answers.Answer) -> None:
    for response, values in answer:
        dispatcher.utter_message(response=response, **values)


def _facts(dispatcher: CollectingDispatcher) -> Optional[Dict[str, Any]]:
    try:
        return store.get()
    except FactsError as e:
        logger.error("No facts to answer with: %s", e)
        dispatcher.utter_message(response="utter_facts_unavailable")
        return None


def _answer(dispatcher: CollectingDispatcher, tracker: Tracker, topic: Optional[str]) -> List[Dict[Text, Any]]:
    """Answer the latest message about `topic` (and any other topic it also asks about)."""
    facts = _facts(dispatcher)
    if facts is None:
        return []
    message = tracker.latest_message
    if topic not in answers.ANSWERS:
        dispatcher.utter_message(response="utter_not_understood", **answers.variables(facts, _language(tracker)))
        return []
    answer, last = answers.answer(facts, message.get("text") or "", message.get("entities") or [], topic, tracker.get_slot("topic"))
    _send(dispatcher, answers.in_language(facts, answer, _language(tracker)))
    return [SlotSet("topic", last)]


class TopicAction(Action, ABC):
    """Answers a question about one topic and remembers the topic for follow-ups."""

    @property
    @abstractmethod
    def topic(self) -> str:
        """The topic answered (a key of answers.ANSWERS); abstract so the SDK registers only the subclasses."""

    def name(self) -> Text:
        return f"action_answer_{self.topic}"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        return _answer(dispatcher, tracker, self.topic)


class ActionAnswerContact(TopicAction):
    topic = "contact"


class ActionAnswerPartnerships(TopicAction):
    topic = "partnerships"


class ActionAnswerEuroregionalCenter(TopicAction):
    topic = "euroregional_center"


class ActionAnswerVisitingProfessors(TopicAction):
    topic = "visiting_professors"


class ActionAnswerLastUpdate(TopicAction):
    topic = "last_update"


class ActionAnswerFollowup(Action):
    """A question that names no topic ("when was it founded?") is about the last answer's topic, or
    about the one topic that has what it asks; at the start of a conversation one that names an
    institution or a place is about the partnerships (what the page says of it), one that names a year
    of one topic's facts about that topic; with none of these, the honest "I didn't understand"."""

    def name(self) -> Text:
        return "action_answer_followup"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        named = _values(tracker, "subject")
        message = tracker.latest_message
        generic = answers.question_words_only(message.get("text") or "", message.get("entities") or [])
        topic = named[0] if named else answers.topic_of(tracker.get_slot("topic"), _values(tracker, "aspect"), _values(tracker, "contact_channel"), generic)
        if topic is None and (_values(tracker, "institution") or _values(tracker, "country")):
            topic = answers.PLACES_TOPIC  # "do NIH researchers come here?" at the start: what the page says of it
        if topic is None:
            facts = _facts(dispatcher)
            if facts is None:
                return []
            years = answers.years_named(facts, message.get("text") or "")
            topic = years[0]["value"] if years else None  # "who signed the agreement in 2003?" at the start
        return _answer(dispatcher, tracker, topic)


def _near_topic(tracker: Tracker, facts: Dict[str, Any]) -> Optional[str]:
    """The topic of a topic question that asks a detail the page lacks, which the NLU made out of scope
    (rasa_addons.nlu.NearTopicOutOfScope: `out_of_scope`, the topic's intent next at the same confidence,
    and answers.asks_only_details): "who heads the office?", "does UMB work with Oxford?". None for any
    other message."""
    message = tracker.latest_message
    intent = message.get("intent") or {}
    ranking = message.get("intent_ranking") or []
    if intent.get("name") != "out_of_scope" or len(ranking) < 2:
        return None
    if not answers.asks_only_details(message.get("text") or "", message.get("entities") or [], facts):
        return None
    first, second = ranking[0], ranking[1]
    if first.get("name") != "out_of_scope" or second.get("name") not in answers.TOPIC_INTENTS:
        return None
    if second.get("confidence") != first.get("confidence"):
        return None  # out of scope by the classifier or the off-topic gate, not a topic question
    return answers.TOPIC_INTENTS[second["name"]]


# Below this confidence the classifiers were unsure, as the off-topic gate counts it (config.yml, `unsure_below`)
UNSURE = 0.7


def _unsure(tracker: Tracker) -> bool:
    """Whether the classifiers were unsure of the latest message's intent."""
    return (tracker.latest_message.get("intent") or {}).get("confidence", 0.0) < UNSURE


class ActionExplainScope(Action):
    """Out of scope or not understood: say what I can help with and where to write or call.

    A topic question asking a detail the page lacks ("who heads the office?", "does UMB work with Oxford?"), out of scope by the NLU
    (rasa_addons.nlu.NearTopicOutOfScope), is answered as that topic's action answers it: the honest
    "I don't know that about ..." and the `topic` slot, so follow-ups stay on the topic.
    A message the model is unsure of that names a contact detail or an institution is answered
    about it ("thanks! one more thing, the postcode?"): the name tells the topic; so does the name of
    what only one topic has (answers.NAMING: "summer universities how many": the center's). An unsure
    out-of-scope message naming either is answered too ("is Grodno connected to UMB somehow?": what the
    page says of it, or that it does not name it), but not for a contact word alone. So is one, unsure
    or out of scope, that names a year of one topic's facts or refers back to the conversation's
    topic with what that topic has (answers.unsure_topic)."""

    def name(self) -> Text:
        return "action_explain_scope"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        facts = _facts(dispatcher)
        if facts is None:
            return []
        near = _near_topic(tracker, facts)
        if near:
            return _answer(dispatcher, tracker, near)
        fallback = tracker.latest_message.get("intent", {}).get("name") == "nlu_fallback"
        named = "contact" if _values(tracker, "contact_channel") else answers.PLACES_TOPIC if _values(tracker, "institution") else None
        if not named and not _values(tracker, "detail") and answers.NAMING & set(_values(tracker, "aspect")):
            named = answers.only_owner(_values(tracker, "aspect"))  # "summer universities how many": the center's
        # out of scope but unsure, naming an institution or what one topic has: "is the Medical University of
        # Grodno connected to UMB somehow?", "ile uniwersytetów letnich zorganizowano?" (not a contact word alone)
        if named and (fallback or named != "contact" and _unsure(tracker)):
            return _answer(dispatcher, tracker, named)
        subjects = set(_values(tracker, "subject"))
        if fallback and len(subjects) == 1 and subjects <= set(answers.ANSWERS):
            # torn between a topic and a follow-up, naming the topic: "when was the page updated and who did it"
            return _answer(dispatcher, tracker, subjects.pop())
        message = tracker.latest_message
        named = answers.unsure_topic(facts, message.get("text") or "", message.get("entities") or [], tracker.get_slot("topic"))
        if named:
            return _answer(dispatcher, tracker, named)
        response = "utter_not_understood" if fallback else "utter_out_of_scope"
        dispatcher.utter_message(response=response, **answers.variables(facts, _language(tracker)))
        return []
