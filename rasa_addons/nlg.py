"""Responses that can name the office's e-mail and phone without the action server.

The replies given when something fails (action server down or slow, conversation store down, a
message too long) must still say where to write or call. The facts live only in data/facts.yml,
so this generator reads them with the action server's own FactsStore (same schema, same hot
reload) and offers the office's contact details ({office}, {email}, {phone}, ...) to every
response, in the language of the conversation's `language` slot (the Polish forms of the facts
for a Polish conversation, whose responses are the variations conditioned on `language: pl`).
Values passed by a custom action take precedence.
"""
import logging
from typing import Any, Dict, Optional, Text

from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

from actions.answers import variables
from actions.facts import FACTS_PATH, RASA_LAST_GOOD, FactsError, FactsStore

logger = logging.getLogger(__name__)


class OfficeNLG(TemplatedNaturalLanguageGenerator):
    """The domain's responses, with the office's contact details as template variables."""

    def __init__(self, endpoint_config: Optional[EndpointConfig] = None, domain: Optional[Domain] = None) -> None:
        super().__init__((domain or Domain.empty()).responses)
        self.facts = FactsStore(FACTS_PATH, last_good=RASA_LAST_GOOD)

    def contact(self, language: str = "en") -> Dict[str, str]:
        try:
            return variables(self.facts.get(), language)
        except FactsError as e:
            logger.error("No office contact details for the responses: %s", e)
            return {}

    async def generate(
        self, utter_action: Text, tracker: DialogueStateTracker, output_channel: Text, **kwargs: Any
    ) -> Optional[Dict[Text, Any]]:
        language = tracker.get_slot("language") if "language" in tracker.slots else None
        return await super().generate(utter_action, tracker, output_channel,
                                      **{**self.contact("pl" if language == "pl" else "en"), **kwargs})
