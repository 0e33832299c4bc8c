"""The intent classifiers: Rasa's logistic regression with C settable, and a small DIET behind it.

Rasa 3.6 fixes C=1; C=10 was 0.6 points better on this assistant's held-out questions and 3.4 on the
fresh ones (bench/pipelines.py, README "NLU pipeline"); training stays fast.
"""
import functools
from typing import Any, Dict, List, Text

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.classifiers.fallback_classifier import AMBIGUITY_THRESHOLD_KEY, THRESHOLD_KEY, FallbackClassifier
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import INTENT
from rasa.shared.nlu.training_data.message import Message


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class TunedLogisticRegressionClassifier(LogisticRegressionClassifier):
    """LogisticRegressionClassifier plus a `C` setting (inverse regularisation strength)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "C": 1.0}

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage, resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        self.clf.set_params(C=self.config["C"])


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class BackupDIETClassifier(DIETClassifier):
    """A small DIET, asked only about the messages the classifier before it is unsure of.

    "Unsure" is the FallbackClassifier's own rule with its own settings (`fallback_threshold`,
    `fallback_ambiguity_threshold`, shared with it through a YAML anchor in config.yml): those
    messages would otherwise get "I did not understand". The logistic regression answers most
    messages alone, so the speed stays its own, and DIET's better guesses rescue the rest
    (README, "NLU pipeline").
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        defaults = FallbackClassifier.get_default_config()
        return {
            **DIETClassifier.get_default_config(),
            "fallback_threshold": defaults[THRESHOLD_KEY],
            "fallback_ambiguity_threshold": defaults[AMBIGUITY_THRESHOLD_KEY],
        }

    @functools.cached_property
    def _fallback(self) -> FallbackClassifier:
        return FallbackClassifier({
            THRESHOLD_KEY: self.component_config["fallback_threshold"],
            AMBIGUITY_THRESHOLD_KEY: self.component_config["fallback_ambiguity_threshold"],
        })

    def process(self, messages: List[Message]) -> List[Message]:
        unsure = [m for m in messages if not m.get(INTENT) or self._fallback._should_fallback(m)]
        super().process(unsure)
        return messages
