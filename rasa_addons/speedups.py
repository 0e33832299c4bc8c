"""A speed fix for Rasa 3.6's server, found by profiling it under bench/run.py (README, "Speed").

Rasa checks every custom action's response with `jsonschema.validate`, which checks the schema
itself and builds a new validator on every call: about 40 % of the server's CPU per message in a
py-spy profile. Validating against the same schema with a validator built once accepts and rejects
exactly the same responses; a rejected one still goes through Rasa's own code for its error.
"""
import functools
from typing import Any, Dict, Text

from jsonschema import validators
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator
from rasa.core.actions.action import RemoteAction

_rasa_validate = RemoteAction._validate_action_result


@functools.lru_cache(maxsize=None)
def _validator() -> Validator:
    spec = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(spec)
    cls.check_schema(spec)
    return cls(spec)


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    if best_match(_validator().iter_errors(result)) is None:
        return True
    return _rasa_validate(self, result)  # raises Rasa's own, explained ValidationError


def apply() -> None:
    RemoteAction._validate_action_result = _validate_action_result
