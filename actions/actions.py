"""The custom actions: read what the user asked, get the answer from the facts, send it.

Each topic action remembers its topic in the `topic` slot, so a follow-up such as "where is it?"
is answered about the topic of the previous answer.
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


def entity_values(tracker: Tracker, entity: str) -> List[str]:
    """Values of one entity in the latest message, in order, without repeats."""
    values: List[str] = []
    for e in tracker.latest_message.get("entities", []):
        if e.get("entity") == entity and isinstance(e.get("value"), str) and e["value"] not in values:
            values.append(e["value"])
    return values


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


class TopicAction(Action, ABC):
    """Answers a question about one topic and remembers the topic for follow-ups."""

    topic: str

    def name(self) -> Text:
        return f"action_answer_{self.topic}"

    @abstractmethod
    def answer(self, facts: Dict[str, Any], tracker: Tracker) -> answers.Answer:
        """The answer to the latest message, made from the facts."""

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        facts = _facts(dispatcher)
        if facts is None:
            return []
        _send(dispatcher, self.answer(facts, tracker))
        return [SlotSet("topic", self.topic)]


class ActionAnswerContact(TopicAction):
    topic = "contact"

    def answer(self, facts: Dict[str, Any], tracker: Tracker) -> answers.Answer:
        channels = entity_values(tracker, "contact_channel") + entity_values(tracker, "aspect")
        return answers.contact(facts, channels, entity_values(tracker, "detail"))


class ActionAnswerPartnerships(TopicAction):
    topic = "partnerships"

    def answer(self, facts: Dict[str, Any], tracker: Tracker) -> answers.Answer:
        return answers.partnerships(
            facts,
            entity_values(tracker, "institution"),
            entity_values(tracker, "country"),
            entity_values(tracker, "aspect"),
            entity_values(tracker, "detail"),
        )


class ActionAnswerEuroregionalCenter(TopicAction):
    topic = "euroregional_center"

    def answer(self, facts: Dict[str, Any], tracker: Tracker) -> answers.Answer:
        return answers.euroregional_center(
            facts, entity_values(tracker, "institution"), entity_values(tracker, "aspect"), entity_values(tracker, "detail")
        )


class ActionAnswerVisitingProfessors(TopicAction):
    topic = "visiting_professors"

    def answer(self, facts: Dict[str, Any], tracker: Tracker) -> answers.Answer:
        return answers.visiting_professors(
            facts, entity_values(tracker, "institution"), entity_values(tracker, "aspect"), entity_values(tracker, "detail")
        )


class ActionAnswerLastUpdate(TopicAction):
    topic = "last_update"

    def answer(self, facts: Dict[str, Any], tracker: Tracker) -> answers.Answer:
        return answers.last_update(facts, entity_values(tracker, "detail"))


# topic slot value -> the action that answers about it
TOPIC_ACTIONS: Dict[str, TopicAction] = {cls.topic: cls() for cls in TopicAction.__subclasses__()}


class ActionAnswerFollowup(Action):
    """A question that names no topic ("when was it founded?") is about the last answer's topic, or
    about the one topic that has what it asks; with neither, the honest "I didn't understand"."""

    def name(self) -> Text:
        return "action_answer_followup"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        facts = _facts(dispatcher)
        if facts is None:
            return []
        topic = answers.topic_of(
            tracker.get_slot("topic"), entity_values(tracker, "aspect"), entity_values(tracker, "contact_channel")
        )
        if topic not in TOPIC_ACTIONS:
            dispatcher.utter_message(response="utter_not_understood", **answers.variables(facts))
            return []
        _send(dispatcher, TOPIC_ACTIONS[topic].answer(facts, tracker))
        return [SlotSet("topic", topic)]


class ActionExplainScope(Action):
    """Out of scope or not understood: say what I can help with and where to write or call."""

    def name(self) -> Text:
        return "action_explain_scope"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        facts = _facts(dispatcher)
        if facts is None:
            return []
        fallback = tracker.latest_message.get("intent", {}).get("name") == "nlu_fallback"
        response = "utter_not_understood" if fallback else "utter_out_of_scope"
        dispatcher.utter_message(response=response, **answers.variables(facts))
        return []
