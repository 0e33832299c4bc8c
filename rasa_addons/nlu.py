"""NLU components: a language detector (English or Polish, issue 12), a spelling corrector, Rasa's
logistic regression with C settable, a small DIET behind it, and a gate that sends messages about
another domain to out of scope.

Rasa 3.6 fixes C=1; C=10 was 0.6 points better on this assistant's held-out questions and 3.4 on the
fresh ones (bench/pipelines.py, README "NLU pipeline"); training stays fast.
"""
import functools
import gzip
import json
import logging
import re
from collections import Counter
from pathlib import Path
from typing import Any, Dict, FrozenSet, List, Optional, Text, Tuple

import rasa.shared.utils.io
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.classifiers.fallback_classifier import AMBIGUITY_THRESHOLD_KEY, THRESHOLD_KEY, FallbackClassifier
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.shared.nlu.constants import (
    ENTITIES, ENTITY_ATTRIBUTE_END, ENTITY_ATTRIBUTE_START, ENTITY_ATTRIBUTE_TYPE, ENTITY_ATTRIBUTE_VALUE, EXTRACTOR, INTENT,
    INTENT_NAME_KEY, INTENT_RANKING_KEY, PREDICTED_CONFIDENCE_KEY, TEXT,
)
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from rasa_addons.language import ENGLISH, POLISH, WORD, LanguageModel

# The message attribute (not sent out) in which the language detector leaves "en", "pl" or None for
# the components after it; the entity it adds for the `language` slot has the same name.
LANGUAGE = "language"
# Set on a message the classifier before the backup DIET was unsure of (BackupDIETClassifier): the
# intent is then DIET's guess, however sure DIET says it is.
FIRST_CLASSIFIER_UNSURE = "first_classifier_unsure"

from actions.answers import TOPIC_INTENTS, asks_only_details, refers_back
from actions.facts import FACTS_PATH, RASA_LAST_GOOD, FactsError, FactsStore, english_names

logger = logging.getLogger(__name__)


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
        for message in unsure:
            message.set(FIRST_CLASSIFIER_UNSURE, True)
        return messages


def polish_texts(folder: str) -> FrozenSet[str]:
    """The plain texts (entity marks removed) of the Polish training examples in `folder`."""
    texts = set()
    for file in sorted(Path(folder).rglob("*.yml")):
        data = RasaYAMLReader().reads(file.read_text(encoding="utf-8"))
        texts.update(m.get(TEXT) for m in data.training_examples if m.get(TEXT))
    return frozenset(texts)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class LanguageDetector(GraphComponent):
    """Says whether a message is English or Polish (rasa_addons/language.py), first in the pipeline,
    on the text as typed.

    Trained on the assistant's own examples: those in `polish_examples` (data/nlu/pl) are Polish,
    all others English. Each message gets the `language` entity ("en"/"pl"), which fills the
    `language` slot, so the conversation follows the user's switches; a message that does not tell
    ("ok", "hi", "?") gets none and the slot keeps its value. The components after it read the
    `language` attribute (the spelling corrector mends Polish words towards Polish ones only). Names in
    a message (of the topics and institutions, and the page's English names and titles, from the facts
    file) do not count, unless the message is nothing else.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        # the names of the topics and institutions (lookup tables) say nothing of a message's language
        return {"polish_examples": "data/nlu/pl", "name_lookups": ["subject", "institution"]}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 model: Optional[LanguageModel] = None, facts: Optional[FactsStore] = None,
                 lookup_names: Tuple[str, ...] = ()) -> None:
        self.config, self._model_storage, self._resource = config, model_storage, resource
        self.model = model
        self.facts = facts or FactsStore(FACTS_PATH, last_good=RASA_LAST_GOOD)
        self.lookup_names = lookup_names
        self._names: Tuple[Any, Optional["re.Pattern[str]"]] = (False, None)

    def _names_pattern(self) -> Optional["re.Pattern[str]"]:
        """The names that say nothing of a message's language: the English ones of two words or more in
        the `name_lookups` tables ("visiting professors", "international office", "Mayo Clinic"), and the page's
        English names and titles (actions.facts.english_names), read from the facts file, so a Polish
        question quoting one as it is ("kto finansuje program High quality of training is ...?") is told
        by its own words. Without the facts (logged), the lookup names alone."""
        try:
            facts: Optional[Dict[str, Any]] = self.facts.get()
        except FactsError as e:
            logger.error("Cannot tell the page's names, the language is told without them: %s", e)
            facts = None
        if self._names[0] is not facts:
            names = sorted({*self.lookup_names, *(english_names(facts) if facts else [])}, key=len, reverse=True)
            pattern = r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)"
            self._names = (facts, re.compile(pattern, re.IGNORECASE) if names else None)
        return self._names[1]

    def _told_from(self, text: str) -> str:
        """The text without the names that say nothing of its language, unless nothing else is left ("Mayo Clinic?")."""
        names = self._names_pattern()
        rest = names.sub(" ", text) if names else text
        return rest if WORD.search(rest) else text

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "LanguageDetector":
        return cls(config, model_storage, resource)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "LanguageDetector":
        with model_storage.read_from(resource) as path:
            model = LanguageModel.from_dict(json.loads((path / "language.json").read_text(encoding="utf-8")))
            names = path / "names.json"
            lookup_names = tuple(json.loads(names.read_text(encoding="utf-8"))) if names.exists() else ()
        return cls(config, model_storage, resource, model, lookup_names=lookup_names)

    def _labels(self, training_data: TrainingData) -> List[Tuple[Message, str]]:
        polish = polish_texts(self.config["polish_examples"])
        return [(m, POLISH if m.get(TEXT) in polish else ENGLISH) for m in training_data.intent_examples if m.get(TEXT)]

    def train(self, training_data: TrainingData) -> Resource:
        texts: Dict[str, List[str]] = {ENGLISH: [], POLISH: []}
        for message, language in self._labels(training_data):
            texts[language].append(message.get(TEXT))
        model = LanguageModel.train(texts)
        # the English ones: a Polish name ("biuro współpracy", "wizytujących profesorów") does tell Polish
        names = sorted({e for table in training_data.lookup_tables if table["name"] in self.config["name_lookups"]
                        for e in table["elements"] if len(e.split()) >= 2 and model.detect(e) == ENGLISH})
        with self._model_storage.write_to(self._resource) as path:
            (path / "language.json").write_text(json.dumps(model.as_dict()), encoding="utf-8")
            (path / "names.json").write_text(json.dumps(names), encoding="utf-8")
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message, language in self._labels(training_data):  # the language of its file
            message.set(LANGUAGE, language)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            language = self.model.detect(self._told_from(text)) if self.model and text else None
            message.set(LANGUAGE, language)
            if language:
                entity = {ENTITY_ATTRIBUTE_TYPE: LANGUAGE, ENTITY_ATTRIBUTE_VALUE: language, ENTITY_ATTRIBUTE_START: 0,
                          ENTITY_ATTRIBUTE_END: len(text), EXTRACTOR: type(self).__name__}
                message.set(ENTITIES, [*(message.get(ENTITIES) or []), entity], add_to_output=True)
        return messages


def _distance(a: str, b: str, limit: int) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from a to b; limit + 1 once over the limit."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous, current = None, list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        before, previous, current = previous, current, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if before and i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
    return current[-1]


@functools.lru_cache(maxsize=1)
def english_words() -> FrozenSet[str]:
    """Every English word form in spaCy's lemma table (the spacy-lookups-data package ships it)."""
    import spacy_lookups_data

    with gzip.open(Path(spacy_lookups_data.__file__).parent / "data" / "en_lemma_lookup.json.gz", "rt", encoding="utf-8") as f:
        table = json.load(f)
    return frozenset(table) | frozenset(table.values())


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER, is_trainable=True)
class SpellingCorrector(GraphComponent):
    """Mends misspelt words before the classifiers read the message ("emial", "adress", "profesors"),
    and drops markup tags (a pasted "<b>phone</b>" asks about the phone; the tags are no words).

    A word that is neither in the training data nor an English word becomes the training data's word
    nearest to it: one edit away for words of up to seven letters, two for longer ones; on a tie, the one of
    the same first letter, then the more frequent one; failing that, the word with each run of one letter made a single letter (a key
    held down: "faksuu" is "faksu" one swap away). Without it a typo in the one word that tells the topic
    ("e-mail" vs "address") sends the question to the wrong answer. Training examples are not changed.

    In a Polish message (the `language` the LanguageDetector before it found) a word is mended only
    towards the Polish examples' words and the names (lookups, synonyms), in an English one towards
    the English examples' words and the names: a Polish word never becomes an English one, nor the
    other way round. A message of no known language may get any of them.
    """

    TAG = re.compile(r"</?[A-Za-z][^<>]{0,200}>")
    WORD = re.compile(r"[^\W\d_]+")
    MIN_LENGTH = 4
    REPEATED = re.compile(r"(.)\1+")
    # Chat spellings of English question words, too short for the edits above ("wat is the fax"); not in
    # a Polish message ("wat" is a Polish word) nor in the training examples.
    SHORTHAND = {"wat": "what", "wut": "what", "wot": "what", "wht": "what", "whr": "where", "wen": "when"}

    def __init__(self, model_storage: ModelStorage, resource: Resource, vocabulary: Dict[str, int],
                 by_language: Optional[Dict[str, Dict[str, int]]] = None) -> None:
        self._model_storage, self._resource = model_storage, resource
        self.vocabulary = vocabulary  # every word: a word in it is never mended
        self._seen: Dict[Tuple[str, Optional[str]], Optional[str]] = {}  # (word, language) -> its correction
        self._by_length: Dict[Optional[str], Dict[int, List[str]]] = {}
        for language, words in [(None, vocabulary), *(by_language or {}).items()]:
            table = self._by_length[language] = {}
            for word in sorted(words, key=lambda w: -words[w]):
                table.setdefault(len(word), []).append(word)

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "SpellingCorrector":
        return cls(model_storage, resource, {})

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "SpellingCorrector":
        with model_storage.read_from(resource) as path:
            vocabulary = json.loads((path / "vocabulary.json").read_text(encoding="utf-8"))
            by_language = json.loads((path / "by_language.json").read_text(encoding="utf-8"))
        english_words()  # loaded now, not on the first message
        return cls(model_storage, resource, vocabulary, by_language)

    def _count(self, texts: List[str]) -> Counter:
        return Counter(w.lower() for t in texts for w in self.WORD.findall(t) if len(w) >= self.MIN_LENGTH)

    def train(self, training_data: TrainingData) -> Resource:
        names = [e for table in training_data.lookup_tables for e in table["elements"]]
        names += list(training_data.entity_synonyms) + list(training_data.entity_synonyms.values())
        examples: Dict[str, List[str]] = {ENGLISH: [], POLISH: []}
        for m in training_data.training_examples:
            examples[POLISH if m.get(LANGUAGE) == POLISH else ENGLISH].append(m.get(TEXT) or "")
        counts = self._count(examples[ENGLISH] + examples[POLISH] + names)
        # the names' words by language too ("numer" is Polish: "numbr" in English must not become it),
        # told by a language model of the examples; a word it cannot place goes to both
        model = LanguageModel.train(examples)
        name_words = self._count(names)
        by_language = {language: dict(self._count(texts)) for language, texts in examples.items()}
        for word, n in name_words.items():
            said = model.detect(word)
            for language in (ENGLISH, POLISH):
                if said in (None, language):
                    by_language[language][word] = by_language[language].get(word, 0) + n
        with self._model_storage.write_to(self._resource) as path:
            (path / "vocabulary.json").write_text(json.dumps(dict(counts)), encoding="utf-8")
            (path / "by_language.json").write_text(json.dumps(by_language), encoding="utf-8")
        return self._resource

    def correction(self, word: str, language: Optional[str] = None) -> Optional[str]:
        """The training data's word meant by `word` (in a message in `language`), or None when it is
        not a typo of one."""
        low = word.lower()
        if low in self.SHORTHAND and language != POLISH:
            return self.SHORTHAND[low]
        if len(low) < self.MIN_LENGTH or low in self.vocabulary or low in english_words():
            return None
        candidates = self._by_length.get(language, self._by_length[None])
        # a key held down ("faksuu", "emaill"): the word with each run of a letter made one may be nearer
        squeezed = self.REPEATED.sub(r"\1", low)
        return self._nearest(low, candidates) or (self._nearest(squeezed, candidates) if squeezed != low else None)

    @staticmethod
    def _nearest(low: str, candidates: Dict[int, List[str]]) -> Optional[str]:
        limit = 1 if len(low) < 8 else 2
        best, best_key = None, (limit + 1, False)  # nothing over the limit
        for length in range(len(low) - limit, len(low) + limit + 1):
            for candidate in candidates.get(length, ()):
                d = _distance(low, candidate, limit)
                # on a tie, a word of the same first letter (a typo seldom changes it: "fnds" is "funds", not
                # "ends"); candidates come most frequent first, so a tie beyond that keeps the frequent one
                key = (d, candidate[0] != low[0])
                if key < best_key:
                    best, best_key = candidate, key
        return best

    def _corrected(self, word: str, language: Optional[str]) -> str:
        key = (word, language)
        if key not in self._seen:
            if len(self._seen) >= 50_000:  # bounded: anyone on the internet can send new words
                self._seen.clear()
            self._seen[key] = self.correction(word, language)
        return self._seen[key] or word

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            if text:
                language = message.get(LANGUAGE)
                text = self.TAG.sub(" ", text)
                message.set(TEXT, self.WORD.sub(lambda m: self._corrected(m.group(), language), text))
        return messages


@functools.lru_cache(maxsize=1)
def stop_words() -> FrozenSet[str]:
    """English and Polish function words (spaCy's lists), the Polish ones also without diacritics, but
    not those that are English words too ("pan", "tel", "ale"): an English message keeps its words."""
    from spacy.lang.en.stop_words import STOP_WORDS as EN
    from spacy.lang.pl.stop_words import STOP_WORDS as PL

    plain = str.maketrans("ąćęłńóśźż", "acelnoszz")
    polish = (frozenset(PL) | frozenset(w.translate(plain) for w in PL)) - english_words()
    return frozenset(EN) | polish


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class OffTopicGate(GraphComponent):
    """A message of two or more content words, none of which the assistant's own data uses, is out of
    scope, whatever the classifiers guessed.

    Why: a classifier always picks its nearest intent, so a question from another domain ("how tall
    is that mountain?") got a topic's answer. The vocabulary is every content word (not a spaCy stop
    word, three letters or more) of the examples of every intent but `out_of_scope`, of the lookup
    tables and synonyms, and of the response texts in `vocabulary_files` (domain.yml: the page's own
    words, such as those a follow-up repeats). Runs after the spelling corrector, so a typo of a
    known word is known. Not gated: a single unknown word (a typo or a short follow-up), and a
    message that refers back ("it", "they", "there"...), which the dialogue may place. Rasa retrains
    it when the NLU data or config change, not for a new wording in domain.yml alone (`make train`
    after any change of data picks that up). When the classifiers are unsure (below `unsure_below`, or
    the intent is the backup DIET's guess, however sure), a message of more unknown content words than
    known ones, two at least, is out of scope too, whether it refers back or not ("how do I center a div
    in css", "how do I cook rice without it getting sticky": one page word among another domain's).

    It also keeps a question from being taken for small talk: a greeting, thanks or "what can you do"
    the classifiers are unsure of (below `small_talk_sure`) that names what a question asks (a name in
    the lookups of `question_lookups`: "thanks! one more thing, the postcode?", "how long do they
    usually stay") becomes the likeliest question intent, so the question gets its answer.
    """

    WORD = re.compile(r"[^\W\d_]+")
    MIN_UNKNOWN = 2
    # A Polish word is known when a known word begins with its first letters (Polish inflects the end:
    # "współpracy", "współpracą"; "centrum", "centrach").
    STEM = 5

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"out_of_scope_intent": "out_of_scope", "vocabulary_files": [],
                # small talk the classifiers are not sure of that names what a question asks ("thanks! one more
                # thing, the postcode?", "how long do they usually stay"): the question is answered
                "small_talk_intents": ["greet", "thank", "goodbye", "bot_challenge", "ask_capabilities"],
                "small_talk_sure": 0.9,
                "question_lookups": ["contact_channel", "subject", "institution", "aspect", "detail"],
                "question_intent": "ask_followup",
                # below this confidence, a message of more unknown content words than known ones is out of scope
                "unsure_below": 0.0}

    def __init__(self, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
                 vocabulary: FrozenSet[str], question_names: Optional[List[str]] = None) -> None:
        self.config, self._model_storage, self._resource = config, model_storage, resource
        self.vocabulary = vocabulary
        self.question_names = question_names or []

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "OffTopicGate":
        return cls(config, model_storage, resource, frozenset())

    @functools.cached_property
    def _stems(self) -> FrozenSet[str]:
        return frozenset(w[:self.STEM] for w in self.vocabulary if len(w) >= self.STEM)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "OffTopicGate":
        with model_storage.read_from(resource) as path:
            vocabulary = frozenset(json.loads((path / "vocabulary.json").read_text(encoding="utf-8")))
            names = path / "question_names.json"
            question_names = json.loads(names.read_text(encoding="utf-8")) if names.exists() else []
        return cls(config, model_storage, resource, vocabulary, question_names)

    @functools.cached_property
    def _question(self) -> Optional["re.Pattern[str]"]:
        """A name of what a question asks (a contact detail, an aspect, a detail, an institution, a topic)."""
        if not self.question_names:
            return None
        names = sorted(self.question_names, key=len, reverse=True)
        return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in names) + r")(?!\w)", re.IGNORECASE)

    @classmethod
    def content_words(cls, text: str) -> List[str]:
        return [w for w in cls.WORD.findall(text.lower()) if len(w) >= 3 and w not in stop_words()]

    def train(self, training_data: TrainingData) -> Resource:
        texts = [m.get(TEXT) or "" for m in training_data.intent_examples
                 if m.get(INTENT) != self.config["out_of_scope_intent"]]
        texts += [e for table in training_data.lookup_tables for e in table["elements"]]
        texts += list(training_data.entity_synonyms) + list(training_data.entity_synonyms.values())
        for file in self.config["vocabulary_files"]:
            responses = (rasa.shared.utils.io.read_yaml_file(file) or {}).get("responses") or {}
            texts += [v.get("text") or "" for variations in responses.values() for v in variations]
        vocabulary = sorted({w for t in texts for w in self.content_words(t)})
        question_names = sorted({e.lower() for table in training_data.lookup_tables
                                 if table["name"] in self.config["question_lookups"] for e in table["elements"]})
        with self._model_storage.write_to(self._resource) as path:
            (path / "vocabulary.json").write_text(json.dumps(vocabulary), encoding="utf-8")
            (path / "question_names.json").write_text(json.dumps(question_names), encoding="utf-8")
        return self._resource

    def _known(self, word: str, language: Optional[str] = None) -> bool:
        if word in self.vocabulary or word.rstrip("s") in self.vocabulary or word + "s" in self.vocabulary:
            return True
        return language == POLISH and len(word) >= self.STEM and word[:self.STEM] in self._stems

    def off_topic(self, text: str, language: Optional[str] = None, confidence: float = 1.0) -> bool:
        """True for a message about another domain (see the class docstring); `language` is the
        message's, from the LanguageDetector. When the classifiers are unsure (`confidence` below
        `unsure_below`), more unknown content words than known ones, two at least, are enough ("how do I
        center a div in css": one word of the page's among words of another domain)."""
        words = self.content_words(text)
        known = sum(self._known(w, language) for w in words)
        unknown = len(words) - known
        if unknown >= self.MIN_UNKNOWN and confidence < self.config["unsure_below"] and unknown > known:
            return True
        return len(words) >= self.MIN_UNKNOWN and not known and not refers_back(text)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def asks_question(self, text: str) -> bool:
        """True when the text names something a question asks about (a lookup name of `question_lookups`)."""
        return bool(self._question and self._question.search(text))

    def _small_talk_asking(self, message: Message) -> None:
        """Small talk the classifiers are unsure of, in a message that names what a question asks, becomes
        the likeliest question intent (the follow-up intent when none is ranked), as sure as the small talk was."""
        intent = message.get(INTENT) or {}
        small_talk = self.config["small_talk_intents"]
        if intent.get(INTENT_NAME_KEY) not in small_talk or (intent.get(PREDICTED_CONFIDENCE_KEY) or 0) >= self.config["small_talk_sure"]:
            return
        if not self.asks_question(message.get(TEXT) or ""):
            return
        ranking = message.get(INTENT_RANKING_KEY) or []
        skip = {*small_talk, self.config["out_of_scope_intent"]}
        best = next((r for r in ranking if r.get(INTENT_NAME_KEY) not in skip), None)
        name = best[INTENT_NAME_KEY] if best else self.config["question_intent"]
        confidence = max(intent.get(PREDICTED_CONFIDENCE_KEY) or 0, (best or {}).get(PREDICTED_CONFIDENCE_KEY) or 0)
        chosen = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: confidence}
        message.set(INTENT, chosen, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [chosen, *(r for r in ranking if r.get(INTENT_NAME_KEY) != name)], add_to_output=True)

    def process(self, messages: List[Message]) -> List[Message]:
        oos = self.config["out_of_scope_intent"]
        for message in messages:
            self._small_talk_asking(message)
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            confidence = (message.get(INTENT) or {}).get(PREDICTED_CONFIDENCE_KEY)
            confidence = 1.0 if confidence is None else confidence
            if message.get(FIRST_CLASSIFIER_UNSURE):
                confidence = 0.0  # a guess of the backup DIET's: unsure, whatever its confidence
            if intent and intent != oos and self.off_topic(message.get(TEXT) or "", message.get(LANGUAGE), confidence):
                ranking = [r for r in message.get(INTENT_RANKING_KEY) or [] if r.get(INTENT_NAME_KEY) != oos]
                gated = {INTENT_NAME_KEY: oos, PREDICTED_CONFIDENCE_KEY: 1.0}
                message.set(INTENT, gated, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [gated, *ranking], add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class NearTopicOutOfScope(GraphComponent):
    """A topic question that asks a detail the page lacks is out of scope: its intent says so.

    "Who heads the office?", "how much are visiting professors paid?", "the budget of the center?": the
    classifiers take them for the topic's question (ask_contact, ...) and the `detail` entity says what
    the page does not give. The user's intent is out of scope, so, last in the pipeline (after the
    entity extractors, the synonym mapper and the FallbackClassifier), a message whose intent is one
    of `topic_intents`, that carries a `detail` (not one inside a longer name: "budget" in "Poland's
    national budget") and asks nothing the page answers beside it (actions.answers.asks_only_details:
    "where is the office, which building?" asks the address too) gets `out_of_scope` with the topic's
    confidence, the topic next in the ranking at the same confidence. The reply does not change: action_explain_scope answers such a message as the
    topic's action does (the honest "I don't know that about ..." and the `topic` slot, for follow-ups).
    A follow-up (`ask_followup`) and a message the FallbackClassifier gave up on are left alone.

    So is one that names an institution the page does not name ("does UMB have a partnership with
    Oxford?", "do visiting professors come from Stanford?"): which ones it names is read from the facts
    file at each such message (actions.answers.on_the_page), so a partner added by staff counts without
    retraining. If the facts cannot be read, the error is logged and the message keeps its topic intent.
    """

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"out_of_scope_intent": "out_of_scope",
                "topic_intents": list(TOPIC_INTENTS)}

    def __init__(self, config: Dict[Text, Any], facts: Optional[FactsStore] = None) -> None:
        self.config = config
        self.facts = facts or FactsStore(FACTS_PATH, last_good=RASA_LAST_GOOD)

    def _facts(self, entities: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
        """The facts when the message names an institution (None when it names none, or they cannot be read)."""
        if not any(e.get(ENTITY_ATTRIBUTE_TYPE) == "institution" for e in entities):
            return None
        try:
            return self.facts.get()
        except FactsError as e:
            logger.error("Cannot tell the institutions on the page, the topic intent is kept: %s", e)
            return None

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "NearTopicOutOfScope":
        return cls(config)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        oos = self.config["out_of_scope_intent"]
        for message in messages:
            intent = message.get(INTENT) or {}
            if intent.get(INTENT_NAME_KEY) not in self.config["topic_intents"]:
                continue
            entities = message.get(ENTITIES) or []
            if not asks_only_details(message.get(TEXT) or "", entities, self._facts(entities)):
                continue
            confidence = intent.get(PREDICTED_CONFIDENCE_KEY)
            ranking = [r for r in message.get(INTENT_RANKING_KEY) or []
                       if r.get(INTENT_NAME_KEY) not in (oos, intent[INTENT_NAME_KEY])]
            moved = {INTENT_NAME_KEY: oos, PREDICTED_CONFIDENCE_KEY: confidence}
            topic = {INTENT_NAME_KEY: intent[INTENT_NAME_KEY], PREDICTED_CONFIDENCE_KEY: confidence}
            message.set(INTENT, moved, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [moved, topic, *ranking], add_to_output=True)
        return messages
