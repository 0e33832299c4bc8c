"""Speed fixes for Rasa 3.6's server, found by profiling it under bench/run.py (README, "Speed").

Each replaces a piece of Rasa's per-message overhead with code that gives the same result:
- Action results: Rasa checks every custom action's response with `jsonschema.validate`, which
  checks the schema itself and builds a new validator on every call (about 40 % of the server's
  CPU per message in a py-spy profile). Validators built once accept and reject exactly the same
  responses; a rejected one still goes through Rasa's own code for its error. Each event is checked
  against its own type's schema only: the schema's `oneOf` over the ~20 event types, which tells
  them apart by the `event` name they require, is what made a check take ~0.5 ms.
- Graph runs: every message runs the NLU graph and, per predicted action, the policy graph through
  dask, after pruning the schema with a recursion that revisits shared parents (about 9 % of the
  CPU). The graphs are small chains: running each needed node once, parents first, is the same.
- Action server calls: Rasa opens a new HTTP client and connection for every call (about 5 % of the
  Rasa server's CPU). One client per endpoint keeps its connections alive, for less time than the
  action server's keep-alive (5 s), so it does not even try one the server is closing.
- Logistic regression's input: Rasa combines every featurizer's token-by-token (sequence) features
  too, deep-copying them, then keeps only the sentence ones (a third of the classifier's time, ~4 %
  of the server's CPU). The sentence features alone, side by side in the same order, written
  straight as one sparse matrix, are the same matrix; with dense features, Rasa's own code runs.
- Logistic regression's probabilities: sklearn checks its input at every call (about 0.3 ms of
  0.4). The same products, summed in the same order, then its own softmax, give the same numbers
  bit for bit.
- Count vectors: each CountVectorsFeaturizer runs sklearn's `transform` twice a message (one row
  per token, then the whole text), each building a CSR matrix with its checks, sorting it and
  turning it into COO (0.35 ms for words, 0.8 ms for characters, in-process on a busy machine). The same counts, from the
  same analyzer and vocabulary, sorted by column, are written straight into the same COO arrays; a
  token's row is remembered, as tokens come back in every message.
- Domain.is_empty: asked at every parse, Rasa builds an empty domain and compares both domains as
  dicts (~0.25 ms). A domain with responses or custom actions is not empty, whatever else it has.
- Loading DIET (the backup classifier): Rasa trains the empty model on one example to create its
  weights, then overwrites them with the trained ones (about 5 s of every start, tracing the
  training step). Reading the trained weights first and creating them by the one prediction Rasa
  makes after loading anyway gives the same weights (TensorFlow restores a weight when it is
  created); every weight created is checked to have been read, else Rasa's own way runs.
- Debug copies: Rasa's message processor and rule policy deep-copy events, states and parses for
  their structlog debug lines at every message, logged or not (~185 deep-copy calls a message in a
  profile). In those two modules a
  deep copy is only ever made for a debug line: it is made when debug logging is on, else skipped.
- Lookup tables: the RegexFeaturizer and RegexEntityExtractor match each lookup table's regex of
  a few thousand alternatives at every position of every message (0.5 + 1.3 ms a message, in-process
  on a busy machine). In those two modules `re.finditer` finds the same matches through a dictionary of the
  table's names (rasa_addons/lookups.py).
- Event types: every stored or received event is turned back into its class by a walk over all
  of Event's subclasses, checking each for abstract methods (~9 walks per message, ~0.4 ms). The
  classes found are remembered by name; a name not found yet still takes Rasa's walk.
- Dialogue states: the rule policy asks for the states of the whole conversation three times a
  message, and Rasa replays every event of it each time into a new tracker (the policy's largest
  cost). The replay is kept with the tracker and goes on from where it stopped when events were only
  added; an event that changes earlier history (restart, new session, undo, a form) replays it all,
  as Rasa does. Each call gets its own copies of the states, as callers change them.
- Rule lookup: for each prediction Rasa checks every rule against every state of the conversation,
  going back to its start, though a rule is only ever checked against as many states as it has. The
  check stops when no rule is left or every rule left is shorter than the states gone back: those
  rules would pass every further check, so the rules found are the same. Those depend only on what
  the rules name (intent, entities, slots, previous action...) in the last states, as many as the
  longest rule has: the rules found are remembered for that view of the states.
- Regex and lexical features: the RegexFeaturizer and LexicalSyntacticFeaturizer turn their features
  into COO matrices through SciPy's checks and conversions (about 4 % of the server's CPU in a
  py-spy profile). In those two modules `scipy.sparse.coo_matrix` writes the same arrays straight
  for the two forms they use (a dense array; data and indices with a shape); any other goes to SciPy.
- Lexical features: the LexicalSyntacticFeaturizer gives only token-by-token (sequence) features, which
  the logistic regression does not read (sentence features only); only the backup DIET does, when the
  regression is unsure of a message. At a message they are worked out when first read, from the same
  tokens by Rasa's own code (0.2-0.25 ms a message in-process); in training, at once as Rasa does.
- Tracker copies: before every action Rasa copies the conversation's tracker by replaying all its
  events into a new one (`tracker.copy()`), more work the longer the conversation. A tracker's state
  is what replaying its events gives (Rasa's own rule for it, trackers.py), so the copy takes the
  events and that state: the slots (each copied), the latest action, message and bot utterance, the
  active loop (copied), paused, the follow-up action; the model and assistant ids are left unset, as
  a replay leaves them. Rasa's replay runs where the events were cut by max_event_history or a
  timestamp would stop it, and for other kinds of tracker.
"""
import asyncio
import copy
import functools
import importlib
import itertools
import logging
import math
import re
import types
import weakref
from typing import Any, Callable, Dict, List, Optional, Set, Text, Tuple

import aiohttp
import numpy as np
import scipy.sparse
from jsonschema import validators
from jsonschema.protocols import Validator
from rasa.core.actions.action import RemoteAction
from rasa.core.policies.rule_policy import RulePolicy
from rasa.engine.exceptions import GraphRunError
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
from rasa.nlu.featurizers.sparse_featurizer.lexical_syntactic_featurizer import LexicalSyntacticFeaturizer
from rasa.shared.core.constants import PREVIOUS_ACTION
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (ActionExecuted, ActionReverted, ActiveLoop, Event, Restarted, SessionStarted,
                                     UserUtteranceReverted)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import FEATURE_TYPE_SENTENCE, FEATURE_TYPE_SEQUENCE, TEXT
from rasa.shared.nlu.training_data.features import Features
from rasa.nlu.constants import DENSE_FEATURIZABLE_ATTRIBUTES
from rasa.utils.tensorflow.constants import RANKING_LENGTH
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.endpoints import DEFAULT_REQUEST_TIMEOUT, EndpointConfig
from rasa.utils.tensorflow.model_data import RasaModelData
from rasa.utils.tensorflow.models import RasaModel
from scipy.sparse import coo_matrix, csr_matrix, spmatrix
from sklearn.utils.extmath import softmax

from rasa_addons import lookups

logger = logging.getLogger(__name__)

_rasa_validate = RemoteAction._validate_action_result
_rasa_run_graph = DaskGraphRunner.run
_rasa_create_X = LogisticRegressionClassifier._create_X
_rasa_classify = LogisticRegressionClassifier.process
_rasa_create_features = CountVectorsFeaturizer._create_features
_rasa_lexical_process = LexicalSyntacticFeaturizer.process
_rasa_tracker_copy = DialogueStateTracker.copy
_rasa_domain_is_empty = Domain.is_empty
_rasa_resolve_by_type = Event.resolve_by_type
_rasa_load_model = RasaModel.load.__func__
_rasa_states_for_tracker_history = Domain.states_for_tracker_history
_rasa_get_possible_keys = RulePolicy._get_possible_keys
KEEP_ALIVE_SECONDS = 3.0
_INT32_MAX = np.iinfo(np.int32).max


@functools.lru_cache(maxsize=None)
def _validators() -> Tuple[Validator, Dict[Text, Validator]]:
    """Rasa's response schema split in two: the response with its events' common schema, and per
    event name the common schema plus that event type's alternative of the `oneOf`. Every
    alternative requires its own `event` name (a `const`) and the common schema requires `event`,
    so an event can match only its name's alternative: the `oneOf` holds exactly when that one does.
    If that ever stops being true of Rasa's schema, the whole schema is used, as Rasa does."""
    spec = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(spec)
    cls.check_schema(spec)
    item = spec["properties"]["events"]["items"]
    names = [alternative.get("properties", {}).get("event", {}).get("const") for alternative in item["oneOf"]]
    if None in names or len(set(names)) != len(names) or "event" not in item.get("required", []):
        return cls(spec), {}
    common = {key: value for key, value in item.items() if key != "oneOf"}
    outer = {**spec, "properties": {**spec["properties"], "events": {**spec["properties"]["events"], "items": common}}}
    return cls(outer), {name: cls({**common, "allOf": [alternative]}) for name, alternative in zip(names, item["oneOf"])}


def _valid(result: Any) -> bool:
    outer, per_event = _validators()
    if not outer.is_valid(result):
        return False
    events = result.get("events", []) if per_event else []
    return all(e.get("event") in per_event and per_event[e["event"]].is_valid(e) for e in events)


def _validate_action_result(self: RemoteAction, result: Dict[Text, Any]) -> bool:
    if _valid(result):
        return True
    return _rasa_validate(self, result)  # raises Rasa's own, explained ValidationError


def _run_graph(
    self: DaskGraphRunner, inputs: Optional[Dict[Text, Any]] = None, targets: Optional[List[Text]] = None
) -> Dict[Text, Any]:
    """DaskGraphRunner.run without dask: same node calls, same inputs, same result."""
    nodes = self._graph_schema.nodes
    results: Dict[Text, Any] = {name: (name, value) for name, value in (inputs or {}).items()}

    def compute(name: Text) -> Any:
        if name not in results:
            if name not in nodes:
                return name  # not provided: the node that needs it says so, as under dask
            results[name] = self._instantiated_nodes[name](*[compute(parent) for parent in nodes[name].needs.values()])
        return results[name]

    try:
        return dict(compute(target) for target in targets or self._graph_schema.target_names)
    except RuntimeError as e:
        raise GraphRunError("Error running runner.") from e


def _create_X(self: LogisticRegressionClassifier, messages: List[Message]) -> csr_matrix:
    """Rasa's _create_X for sparse sentence features only: each message's side by side, in their order,
    written straight as CSR when the columns come in order (as sklearn would sort them)."""
    sentences = [[f for f in message.features if f.attribute == TEXT and f.type == FEATURE_TYPE_SENTENCE] for message in messages]
    if not all(sentences) or any(f.is_dense() for sentence in sentences for f in sentence):
        return _rasa_create_X(self, messages)  # dense features too, or none: Rasa's own way
    data, cols, indptr, width, nnz = [], [], [0], 0, 0
    for sentence in sentences:
        offset = 0
        for f in sentence:  # one row each: a sentence feature
            block = f.features.tocoo()
            data.append(block.data)
            cols.append(block.col + offset)
            offset += block.shape[1]
            nnz += block.nnz
        width = max(width, offset)
        indptr.append(nnz)
    columns = np.concatenate(cols)
    rows_in_order = all(np.all(np.diff(columns[a:b]) > 0) for a, b in zip(indptr, indptr[1:]))
    if not rows_in_order:  # repeated or unordered columns: summed and sorted by SciPy
        row = np.repeat(np.arange(len(messages)), np.diff(indptr))
        return coo_matrix((np.concatenate(data), (row, columns)), shape=(len(messages), width)).tocsr()
    return csr_matrix((np.concatenate(data).astype(np.float64), columns, np.array(indptr)), shape=(len(messages), width))


_weights: "weakref.WeakKeyDictionary[Any, Tuple[np.ndarray, np.ndarray]]" = weakref.WeakKeyDictionary()


def _predict_proba(clf: Any, X: csr_matrix) -> np.ndarray:
    """sklearn's multinomial predict_proba, without its input checks: each row's product with the
    weights summed column by column in the matrix's order, as SciPy's sparse product sums it."""
    multinomial = clf.multi_class == "multinomial" or (
        clf.multi_class == "auto" and clf.solver != "liblinear" and clf.classes_.size > 2)
    if not (multinomial and isinstance(X, csr_matrix) and X.has_sorted_indices and X.shape[1] == clf.coef_.shape[1]):
        return clf.predict_proba(X)
    kept = _weights.get(clf)
    if kept is None or kept[0] is not clf.coef_:  # new, or refitted
        kept = _weights[clf] = (clf.coef_, np.ascontiguousarray(clf.coef_.T))
    weights = kept[1]
    scores = np.zeros((X.shape[0], weights.shape[1]))
    for row, (a, b) in enumerate(zip(X.indptr, X.indptr[1:])):
        if b > a:
            scores[row] = np.cumsum(X.data[a:b, None] * weights[X.indices[a:b]], axis=0)[-1]
    scores += clf.intercept_
    return softmax(scores, copy=False)


def _classify(self: LogisticRegressionClassifier, messages: List[Message]) -> List[Message]:
    """Rasa's process, with _predict_proba."""
    probabilities = _predict_proba(self.clf, self._create_X(messages))
    for message, row in zip(messages, probabilities):
        ranking = sorted(({"name": k, "confidence": v} for k, v in zip(self.clf.classes_, row)), key=lambda e: -e["confidence"])
        message.set("intent", ranking[0], add_to_output=True)
        if self.config[RANKING_LENGTH] > 0:
            ranking = ranking[: self.config[RANKING_LENGTH]]
        message.set("intent_ranking", ranking, add_to_output=True)
    return messages


class _Counts:
    """A fitted CountVectorizer's transform, written straight as the COO matrix Rasa makes of it."""

    def __init__(self, vectorizer: Any) -> None:
        self.vectorizer, self.analyze = vectorizer, vectorizer.build_analyzer()
        self.vocabulary = vectorizer.vocabulary_
        self.binary, self.dtype, self.width = vectorizer.binary, vectorizer.dtype, len(vectorizer.vocabulary_)
        self._rows: Dict[Text, Tuple[np.ndarray, np.ndarray]] = {}

    def row(self, document: Text) -> Tuple[np.ndarray, np.ndarray]:
        """Columns (sorted) and counts of one document, as sklearn's _count_vocab counts them; remembered."""
        found = self._rows.get(document)
        if found is None:
            if len(self._rows) >= 20_000:  # bounded: anyone on the internet can send new words
                self._rows.clear()
            found = self._rows[document] = self._count(document)
        return found

    def _count(self, document: Text) -> Tuple[np.ndarray, np.ndarray]:
        counts: Dict[int, int] = {}
        for feature in self.analyze(document):
            column = self.vocabulary.get(feature)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        columns = sorted(counts)
        values = [1] * len(columns) if self.binary else [counts[c] for c in columns]
        return np.array(columns, dtype=np.int32), np.array(values, dtype=self.dtype)

    def matrix(self, documents: List[Text]) -> coo_matrix:
        rows = [self.row(document) for document in documents]
        row = np.repeat(np.arange(len(rows), dtype=np.int32), [len(columns) for columns, _ in rows])
        column = np.concatenate([columns for columns, _ in rows])
        data = np.concatenate([values for _, values in rows])
        return _coo(data, row, column, (len(rows), self.width))


def _coo(data: np.ndarray, row: np.ndarray, column: np.ndarray, shape: Tuple[int, int]) -> coo_matrix:
    """coo_matrix((data, (row, column)), shape) for int32 indices known to be within the shape: the same
    matrix, without SciPy's checks and conversions (a third of a count vectors' time)."""
    if max(shape) > _INT32_MAX:
        return coo_matrix((data, (row, column)), shape=shape, dtype=data.dtype)
    matrix = coo_matrix.__new__(coo_matrix)
    spmatrix.__init__(matrix)
    matrix._shape, matrix.row, matrix.col, matrix.data, matrix.has_canonical_format = shape, row, column, data, False
    return matrix


def _coo_matrix(arg1: Any, shape: Optional[Tuple[int, int]] = None, dtype: Any = None, copy: bool = False) -> coo_matrix:
    """scipy.sparse.coo_matrix, the same matrix, for a dense 2-d array or (data, (row, column)) with
    its shape written straight (_coo); any other call goes to SciPy."""
    if dtype is None and not copy:
        if isinstance(arg1, np.ndarray) and arg1.ndim == 2 and shape is None and max(arg1.shape) <= _INT32_MAX:
            row, column = arg1.nonzero()
            matrix = _coo(arg1[row, column], row.astype(np.int32), column.astype(np.int32), (int(arg1.shape[0]), int(arg1.shape[1])))
            matrix.has_canonical_format = True  # as SciPy's: nonzero() gives them in order, once each
            return matrix
        if (isinstance(arg1, tuple) and len(arg1) == 2 and isinstance(arg1[1], tuple) and shape is not None
                and max(shape) <= _INT32_MAX):
            data, (row, column) = arg1
            return _coo(np.asarray(data), np.asarray(row, dtype=np.int32), np.asarray(column, dtype=np.int32),
                        (int(shape[0]), int(shape[1])))
    return coo_matrix(arg1, shape=shape, dtype=dtype, copy=copy)


def _create_count_features(self: CountVectorsFeaturizer, attribute: Text, all_tokens: List[List[Text]]) -> Tuple[List[Any], List[Any]]:
    """Rasa's _create_features (sequence: one row per token; sentence: the tokens joined), by _Counts."""
    vectorizer = self.vectorizers.get(attribute) if self.vectorizers else None
    if not vectorizer or not hasattr(vectorizer, "vocabulary_") or not all(isinstance(t, str) for tokens in all_tokens for t in tokens):
        return _rasa_create_features(self, attribute, all_tokens)
    counts = self.__dict__.setdefault("_counts", {})
    if attribute not in counts or counts[attribute].vectorizer is not vectorizer:  # new, or refitted
        counts[attribute] = _Counts(vectorizer)
    count = counts[attribute]
    sequence, sentence = [], []
    for tokens in all_tokens:
        sequence.append(count.matrix(tokens) if tokens else None)
        sentence.append(count.matrix([" ".join(tokens)]) if tokens and attribute in DENSE_FEATURIZABLE_ATTRIBUTES else None)
    return sequence, sentence


class _LazyFeatures(Features):
    """Features worked out by `compute` when first read (their matrix, is_sparse, a fingerprint...)."""

    def __init__(self, compute: Callable[[], spmatrix], feature_type: Text, attribute: Text, origin: Text) -> None:
        self._compute: Optional[Callable[[], spmatrix]] = compute
        self.type, self.attribute, self.origin = feature_type, attribute, origin
        self._cached_fingerprint = None

    @property
    def features(self) -> Any:
        if self._compute is not None:
            self._value, self._compute = self._compute(), None
        return self._value

    @features.setter
    def features(self, value: Any) -> None:
        self._value, self._compute = value, None

    def __deepcopy__(self, memo: Dict[int, Any]) -> Features:
        """Rasa deep-copies the first features it combines: a copy of what they are, not of how to work them out."""
        return Features(copy.deepcopy(self.features, memo), self.type, self.attribute, copy.deepcopy(self.origin, memo))


def _lexical_features(self: LexicalSyntacticFeaturizer, tokens: List[Any]) -> spmatrix:
    """What Rasa's _process_message adds as the sequence features of these tokens."""
    return self._map_raw_features_to_indices(self._map_tokens_to_raw_features(tokens))


def _lexical_process(self: LexicalSyntacticFeaturizer, messages: List[Message]) -> List[Message]:
    """Rasa's process, each message's features worked out when first read; Rasa's own when it would
    only warn (not trained) or add nothing (no tokens)."""
    for message in messages:
        tokens = message.get(TOKENS_NAMES[TEXT])
        if not (self._feature_to_idx_dict and tokens):
            _rasa_lexical_process(self, [message])
            continue
        message.add_features(_LazyFeatures(functools.partial(_lexical_features, self, tokens), FEATURE_TYPE_SEQUENCE,
                                           TEXT, self._identifier))
    return messages


def _lexical_process_training_data(self: LexicalSyntacticFeaturizer, training_data: Any) -> Any:
    """Training reads every example's features: worked out at once, by Rasa's process."""
    _rasa_lexical_process(self, training_data.training_examples)
    return training_data


def _tracker_copy(self: DialogueStateTracker) -> DialogueStateTracker:
    """Rasa's copy: a new tracker with the same events, in the state their replay reaches."""
    events = self.events
    if (type(self) is not DialogueStateTracker or type(self.slots) is not dict
            or (self._max_event_history is not None and len(events) >= self._max_event_history)
            or not all(event.timestamp <= math.inf for event in events)):  # as travel_back_in_time(inf) stops
        return _rasa_tracker_copy(self)
    copied = self.init_copy()
    copied.events.extend(events)
    copied.slots = {name: copy.copy(slot) for name, slot in self.slots.items()}
    copied._paused, copied.followup_action = self._paused, self.followup_action
    copied.latest_message, copied.latest_bot_utterance = self.latest_message, self.latest_bot_utterance
    copied.latest_action = None if self.latest_action is None else dict(self.latest_action)
    copied.active_loop = copy.copy(self.active_loop)
    return copied


def _domain_is_empty(self: Domain) -> bool:
    if self.responses or self.user_actions:
        return False
    return _rasa_domain_is_empty(self)


def _load_model(cls: type, model_file_name: Text, model_data_example: RasaModelData,
                predict_data_example: Optional[RasaModelData] = None, finetune_mode: bool = False,
                *args: Any, **kwargs: Any) -> RasaModel:
    """RasaModel.load without the training step, for prediction (not for fine-tuning)."""
    if finetune_mode or not predict_data_example:
        return _rasa_load_model(cls, model_file_name, model_data_example, predict_data_example, finetune_mode, *args, **kwargs)
    model = cls(*args, **kwargs)
    status = model.load_weights(model_file_name)
    model.run_inference(predict_data_example)  # creates the weights, each restored as it is created
    try:
        status.assert_existing_objects_matched()
    except AssertionError:
        logger.warning("DIET's weights did not all load the short way: loading them as Rasa does")
        return _rasa_load_model(cls, model_file_name, model_data_example, predict_data_example, finetune_mode, *args, **kwargs)
    return model


def _debug_copy(value: Any, memo: Optional[Dict[int, Any]] = None) -> Any:
    return copy.deepcopy(value, memo) if logging.getLogger().isEnabledFor(logging.DEBUG) else value


# `copy` for the modules whose deep copies only feed debug lines
_DEBUG_COPY = types.SimpleNamespace(deepcopy=_debug_copy)
_DEBUG_COPY_MODULES = ("rasa.core.processor", "rasa.core.policies.rule_policy")
# `re` for the modules that match lookup tables' patterns
_LOOKUP_RE = types.SimpleNamespace(**{**vars(re), "finditer": lookups.finditer})
_LOOKUP_RE_MODULES = ("rasa.nlu.extractors.regex_entity_extractor", "rasa.nlu.featurizers.sparse_featurizer.regex_featurizer")
# `scipy` for the modules that build their features as COO matrices
_FEATURES_SCIPY = types.SimpleNamespace(sparse=types.SimpleNamespace(**{**vars(scipy.sparse), "coo_matrix": _coo_matrix}))
_FEATURES_SCIPY_MODULES = ("rasa.nlu.featurizers.sparse_featurizer.regex_featurizer",
                           "rasa.nlu.featurizers.sparse_featurizer.lexical_syntactic_featurizer")


_event_types: Dict[Text, type] = {}


def _resolve_by_type(type_name: Text, default: Optional[type] = None) -> Optional[type]:
    found = _event_types.get(type_name)
    if found is None:
        found = _rasa_resolve_by_type(type_name, default)
        if found is not None and found is not default:
            _event_types[type_name] = found
    return found


# events after which the states of earlier turns may change: Rasa's applied_events() drops or redoes them
_REPLAY_AGAIN = (Restarted, SessionStarted, ActionReverted, UserUtteranceReverted, ActiveLoop)


class _Replay:
    """A tracker's history replayed so far (Rasa's generate_all_prior_trackers) and its states."""

    def __init__(self, domain: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool) -> None:
        self.domain, self.omit_unset_slots = domain, omit_unset_slots
        self.replayed, self.states = tracker.init_copy(), []
        self.loops = {event.name for event in tracker.events if isinstance(event, ActiveLoop) and event.name}
        self._add(tracker.applied_events())
        self._mark(tracker)

    def _add(self, events: Any) -> None:
        for event in events:
            if isinstance(event, ActionExecuted):
                self.states.append(self.domain.get_active_state(self.replayed, omit_unset_slots=self.omit_unset_slots))
            self.replayed.update(event)

    def _mark(self, tracker: DialogueStateTracker) -> None:
        events = tracker.events
        self.count, self.first, self.last = len(events), events[0] if events else None, events[-1] if events else None

    def go_on(self, domain: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool) -> bool:
        """Replay the events added since; False if this replay cannot be continued."""
        events = tracker.events
        if domain is not self.domain or omit_unset_slots != self.omit_unset_slots or len(events) < self.count:
            return False
        if self.count and (events[0] is not self.first or events[self.count - 1] is not self.last):
            return False
        added = list(itertools.islice(events, self.count, None))
        if any(isinstance(e, _REPLAY_AGAIN) or (isinstance(e, ActionExecuted) and e.action_name in self.loops) for e in added):
            return False
        self._add(added)
        self._mark(tracker)
        return True


def _states_for_tracker_history(self: Domain, tracker: DialogueStateTracker, omit_unset_slots: bool = False,
                                ignore_rule_only_turns: bool = False, rule_only_data: Optional[Dict[Text, Any]] = None) -> List[Any]:
    if ignore_rule_only_turns or type(tracker) is not DialogueStateTracker:  # ML policies' and training's: Rasa's
        return _rasa_states_for_tracker_history(self, tracker, omit_unset_slots, ignore_rule_only_turns, rule_only_data)
    replay = tracker.__dict__.get("_umb_replay")
    if replay is None or not replay.go_on(self, tracker, omit_unset_slots):
        replay = tracker.__dict__["_umb_replay"] = _Replay(self, tracker, omit_unset_slots)
    final = self.get_active_state(replay.replayed, omit_unset_slots=omit_unset_slots)
    return [{key: dict(sub) for key, sub in state.items()} for state in replay.states] + [final]


class _RuleIndex:
    """What of a state the rules of one lookup can look at, and how far back (their longest)."""

    def __init__(self, policy: RulePolicy, lookup: Dict[Text, Text]) -> None:
        self.lookup = lookup
        rules = [policy._rule_key_to_state(key) for key in lookup]
        self.longest = max(map(len, rules), default=0)
        self.features = sorted({(kind, name) for rule in rules for state in rule for kind, sub in state.items() for name in sub})
        self.found: Dict[Any, Set[Text]] = {}

    def view(self, states: List[Any]) -> Any:
        """The last states as the rules see them: the features they name, and whether there is a
        previous action (a conversation's first state has none)."""
        return tuple(
            (bool(state.get(PREVIOUS_ACTION)), tuple(state.get(kind, {}).get(name) for kind, name in self.features))
            for state in states[max(0, len(states) - self.longest):]
        )


def _get_possible_keys(self: RulePolicy, lookup: Dict[Text, Text], states: List[Any]) -> Set[Text]:
    """Rasa's: the rules applicable to the states, checked back only as far as a rule left is long, and
    remembered for the same view of the last states."""
    indexes = self.__dict__.setdefault("_umb_rule_indexes", {})
    index = indexes.get(id(lookup))
    if index is None or index.lookup is not lookup:
        index = indexes[id(lookup)] = _RuleIndex(self, lookup)
    view = index.view(states)
    try:
        found = index.found.get(view)
    except TypeError:  # a value that cannot be a key (none of Rasa's states has one): not remembered
        found, view = None, None
    if found is None:
        found = set(lookup.keys())
        for i, state in enumerate(reversed(states)):
            if not found or all(len(self._rule_key_to_state(key)) <= i for key in found):
                break
            found = {key for key in found if self._is_rule_applicable(key, i, state)}
        if len(index.found) >= 10_000:  # bounded: slot values and texts can be new in every message
            index.found.clear()
        if view is not None:
            index.found[view] = found
    return set(found)


class _KeptSession:
    """`async with` hands out the endpoint's long-lived client and leaves it open."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(self, *exc: Any) -> None:
        return None


def _kept_session(self: EndpointConfig) -> _KeptSession:
    loop = asyncio.get_running_loop()
    kept = self.__dict__.get("_kept_session")
    if kept is None or kept[0] is not loop or kept[1].closed:
        auth = aiohttp.BasicAuth(self.basic_auth["username"], self.basic_auth["password"]) if self.basic_auth else None
        kept = (loop, aiohttp.ClientSession(  # as Rasa's own session(), plus the keep-alive limit
            connector=aiohttp.TCPConnector(keepalive_timeout=KEEP_ALIVE_SECONDS),
            headers=self.headers, auth=auth, timeout=aiohttp.ClientTimeout(total=DEFAULT_REQUEST_TIMEOUT),
        ))
        self.__dict__["_kept_session"] = kept
    return _KeptSession(kept[1])


def apply() -> None:
    RemoteAction._validate_action_result = _validate_action_result
    DaskGraphRunner.run = _run_graph
    EndpointConfig.session = _kept_session
    LogisticRegressionClassifier._create_X = _create_X
    LogisticRegressionClassifier.process = _classify
    CountVectorsFeaturizer._create_features = _create_count_features
    LexicalSyntacticFeaturizer.process = _lexical_process
    LexicalSyntacticFeaturizer.process_training_data = _lexical_process_training_data
    DialogueStateTracker.copy = _tracker_copy
    Domain.is_empty = _domain_is_empty
    Event.resolve_by_type = staticmethod(_resolve_by_type)
    RasaModel.load = classmethod(_load_model)
    Domain.states_for_tracker_history = _states_for_tracker_history
    RulePolicy._get_possible_keys = _get_possible_keys
    for name in _DEBUG_COPY_MODULES:
        setattr(importlib.import_module(name), "copy", _DEBUG_COPY)
    for name in _LOOKUP_RE_MODULES:
        setattr(importlib.import_module(name), "re", _LOOKUP_RE)
    for name in _FEATURES_SCIPY_MODULES:
        setattr(importlib.import_module(name), "scipy", _FEATURES_SCIPY)
