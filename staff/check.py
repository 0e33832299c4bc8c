"""`make check`: the files staff edit, checked before anything is retrained or deployed.

Every problem is reported with its file and line and a sentence on how to fix it, in words for
office staff rather than programmers. Rasa's own validation (`rasa data validate`) runs once the
project's checks pass: its messages are harder to read, and most of what it finds is already
reported here in plainer words.

Usage: python -m staff.check [--project DIR] [--skip-rasa]
"""
import argparse
import difflib
import logging
import os
import re
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from rasa.shared.core.constants import DEFAULT_ACTION_NAMES
from rasa.shared.nlu.training_data.entities_parser import replace_entities
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from actions.answers import PLACEHOLDERS
from actions.facts import POLISH, QUANTITIES, TRANSLATED, FactsError, _line_of, parse as parse_facts, said_in
from staff import setup_logging

logger = logging.getLogger("staff.check")

DOMAIN = Path("domain.yml")
FACTS = Path("data/facts.yml")
ENTITIES = Path("data/nlu/entities.yml")
# Test files: checked for spelling and overlaps, but an intent used only here is not "used".
TEST_FILES = (Path("tests/test_stories.yml"), *(Path(f"tests/nlu/{name}.yml") for name in ("heldout", "heldout_fresh", "heldout_blind")))

MIN_EXAMPLES = 10
# Polish examples live in their own folder: the language detector learns Polish from them (issue 12).
POLISH_DIR = Path("data/nlu/pl")
POLISH_LETTERS = re.compile(r"[ąćęłńóśźż]", re.IGNORECASE)
# Rasa's "not understood" signal (FallbackClassifier): it must have a rule but no examples.
FALLBACK_INTENT = "nlu_fallback"

# Facts whose values are names the `institution` / `country` entities must know.
ENTITY_FACTS = {
    "institution": ("euroregional_center.founding_partners", "visiting_professors.home_institutions"),
    "country": ("partnerships.regions",),
}
# Facts that must never be copied into a response (the others are words that wording may share,
# such as the city); actions.answers.PLACEHOLDERS names the placeholder that the actions fill in.
RESPONSE_FACTS = tuple(PLACEHOLDERS[name] for name in (
    "phone", "fax", "email", "street", "postcode", "last_updated", "founded", "founding_partners",
    "home_institutions", "funders", "operational_programme", "programme", "per_year",
))
PLACEHOLDER_OF = {path: name for name, path in PLACEHOLDERS.items()}
# The one condition a response's second wording has: the Polish one (domain.yml).
POLISH_CONDITION = [{"type": "slot", "name": "language", "value": "pl"}]
POLISH_CONDITION_YAML = "condition: [{type: slot, name: language, value: pl}]"
# Template variables the actions pass besides the facts (actions/answers.py: the institution or
# region asked about; channels/guard.py: the longest message taken).
CODE_VARIABLES = ("institution", "region", "max_chars")
RESPONSE_PLACEHOLDER = re.compile(r"\{([^{}\s]*)\}")
# Facts that must never be copied into a training example (names are fine there: users type them).
EXAMPLE_FACTS = (
    "contact.phone", "contact.fax", "contact.email", "contact.address.street", "contact.address.postcode",
    "source.last_updated", "euroregional_center.founded", "visiting_professors.per_year",
)

YAML_HELP = (
    "Look at this line and the one just above it. The usual causes: a quote (\" or ') that is opened "
    "but not closed, a tab instead of spaces, a line indented differently from its neighbours, or a "
    "colon (:) inside a text that is not in quotes."
)


@dataclass(frozen=True)
class Problem:
    file: Path
    line: int
    what: str
    fix: str

    def __str__(self) -> str:
        return f"{self.file}, line {self.line}: {self.what}\n    How to fix: {self.fix}"


@dataclass(frozen=True)
class Example:
    file: Path
    line: int
    intent: str
    text: str
    intent_line: int  # the `- intent:` line above it

    @property
    def key(self) -> str:
        """The words that matter: no entity marks, case or extra spaces."""
        return " ".join(replace_entities(self.text).lower().split())


@dataclass(frozen=True)
class Step:
    file: Path
    line: int
    block: str  # "the rule 'greet'" / "the story '...'"
    kind: str  # "intent" or "action"
    name: str


@dataclass(frozen=True)
class Name:
    """One line of a lookup or synonym list in entities.yml."""

    text: str
    line: int


def _suggest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f"Did you mean '{close[0]}'? " if close else ""


def _block_lines(node: CommentedMap, key: str) -> Iterator[Tuple[str, int]]:
    """The `- text` items of a block such as `examples: |`, with their line numbers."""
    value = node.get(key)
    first = node.lc.key(key)[0] + 1  # 0-based line of the key
    if isinstance(value, str):
        for i, raw in enumerate(value.split("\n")):
            item = raw.strip()
            if item.startswith("- "):
                yield item[2:].strip(), first + 1 + i
    elif isinstance(value, CommentedSeq):
        for i, item in enumerate(value):
            text = item.get("text", "") if isinstance(item, dict) else str(item)
            yield str(text).strip(), value.lc.item(i)[0] + 1


def _intent_name(item: Any) -> str:
    return next(iter(item)) if isinstance(item, dict) else str(item)


def _fact_values(facts: Dict[str, Any], path: str) -> List[Tuple[str, List[Any]]]:
    """(value, path in the file) for a fact that is one text or a list of texts."""
    keys: List[Any] = path.split(".")
    node: Any = facts
    for key in keys:
        node = node[key]
    if isinstance(node, list):
        return [(str(v), keys + [i]) for i, v in enumerate(node)]
    return [(str(node), keys)]


def _fact_forms(facts: Dict[str, Any], path: str) -> List[Tuple[str, List[Any]]]:
    """(value, path in the file) of a fact in every language: its Polish form (`<name>_pl`, or a
    quantity's words said in Polish) after the English one."""
    forms = _fact_values(facts, path)
    if path in TRANSLATED:
        forms += _fact_values(facts, path + POLISH)
    elif path in QUANTITIES:
        forms += [(str(said_in(path, value, "pl")), keys) for value, keys in _fact_values(facts, path)]
    return forms


def _plain_list(node: Any) -> Any:
    """ruamel's round-trip lists and maps as plain ones, for comparing."""
    if isinstance(node, dict):
        return {str(k): _plain_list(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain_list(v) for v in node]
    return node


def _fact_pattern(path: str, value: str) -> "re.Pattern[str]":
    """How the value would be written: phone and fax digits with any separators, else as is."""
    if path in ("contact.phone", "contact.fax"):
        digits = re.sub(r"\D", "", value)[-9:]
        return re.compile(r"[\s()-]*".join(digits))
    return re.compile(rf"(?<!\w){re.escape(value)}(?!\w)", re.IGNORECASE)


class Project:
    """The files of one copy of the project, read once, with the problems found while reading."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: List[Problem] = []
        self.docs: Dict[Path, Any] = {}
        files = [DOMAIN, *sorted(p.relative_to(root) for p in (root / "data").rglob("*.yml")), *TEST_FILES]
        for rel in files:
            if rel != FACTS and (root / rel).exists():
                self.docs[rel] = self._load(rel)
        self.facts, self.facts_doc = self._load_facts()

    def _load(self, rel: Path) -> Any:
        try:
            return YAML(typ="rt").load((self.root / rel).read_text(encoding="utf-8"))
        except MarkedYAMLError as e:
            self.problems.append(_yaml_problem(rel, e))
        except (OSError, UnicodeDecodeError) as e:
            self.problems.append(Problem(rel, 1, f"the file cannot be read ({e}).", "Save it again as plain text (UTF-8)."))
        return None

    def _load_facts(self) -> Tuple[Optional[Dict[str, Any]], Any]:
        """The facts, validated by the same code the assistant uses (actions/facts.py)."""
        try:
            facts = parse_facts(self.root / FACTS)
        except FactsError as e:
            self.problems.append(_facts_problem(e))
            return None, None
        return facts, YAML(typ="rt").load((self.root / FACTS).read_text(encoding="utf-8"))

    def fact_line(self, keys: List[Any]) -> int:
        return _line_of(self.facts_doc, keys) or 1

    def of_kind(self, key: str, tests: bool = False) -> Iterator[Tuple[Path, CommentedMap]]:
        """Each item of the top-level `key:` list (nlu, rules, stories) across the files."""
        for rel, doc in self.docs.items():
            if (rel in TEST_FILES) == tests and isinstance(doc, CommentedMap) and isinstance(doc.get(key), CommentedSeq):
                for item in doc[key]:
                    if isinstance(item, CommentedMap):
                        yield rel, item

    @property
    def domain(self) -> CommentedMap:
        doc = self.docs.get(DOMAIN)
        return doc if isinstance(doc, CommentedMap) else CommentedMap()

    def intents(self) -> Dict[str, int]:
        """Intent name -> its line in domain.yml."""
        seq = self.domain.get("intents") or CommentedSeq()
        return {_intent_name(item): seq.lc.item(i)[0] + 1 for i, item in enumerate(seq)}

    def responses(self) -> Dict[str, CommentedSeq]:
        return dict(self.domain.get("responses") or {})

    def actions(self) -> List[str]:
        return [*(self.domain.get("actions") or []), *(self.domain.get("forms") or {}), *self.responses(), *DEFAULT_ACTION_NAMES]

    def examples(self, tests: bool = False) -> List[Example]:
        return [
            Example(rel, line, str(item["intent"]), text, item.lc.key("intent")[0] + 1)
            for rel, item in self.of_kind("nlu", tests)
            if "intent" in item and "examples" in item
            for text, line in _block_lines(item, "examples")
        ]

    def steps(self, tests: bool = False) -> List[Step]:
        steps = []
        for key in ("rules", "stories"):
            for rel, block in self.of_kind(key, tests):
                label = f"the {key[:-1] if key == 'rules' else 'story'} '{block.get('rule') or block.get('story')}'"
                for step in block.get("steps") or []:
                    alternatives = step.get("or") if isinstance(step, CommentedMap) and "or" in step else [step]
                    for alt in alternatives:
                        for kind in ("intent", "action"):
                            if isinstance(alt, CommentedMap) and kind in alt:
                                steps.append(Step(rel, alt.lc.key(kind)[0] + 1, label, kind, str(alt[kind])))
        return steps

    def name_lists(self, key: str) -> Dict[str, Tuple[Path, int, List[Name]]]:
        """`lookup:` or `synonym:` lists: name -> (file, line, entries)."""
        return {
            str(item[key]): (rel, item.lc.key(key)[0] + 1, [Name(t, n) for t, n in _block_lines(item, "examples")])
            for rel, item in self.of_kind("nlu")
            if key in item and "examples" in item
        }


def _yaml_problem(rel: Path, e: MarkedYAMLError) -> Problem:
    """Where the YAML reader got stuck, and where the part it was reading began (often the mistake)."""
    mark = e.problem_mark or e.context_mark
    line = mark.line + 1 if mark else 1
    what = f"this is not valid YAML: the reader got stuck here ({e.problem or e.context})"
    fix = YAML_HELP
    if e.context_mark and e.problem_mark and e.context_mark.line < e.problem_mark.line:
        start = e.context_mark.line + 1
        what += f", in the part that starts at line {start}"
        fix = f"Look at the lines from {start} to {line}. " + YAML_HELP.split(". ", 1)[1]
    return Problem(rel, line, what + ".", fix)


def _facts_problem(error: FactsError) -> Problem:
    """A FactsError told in plain words, at its line of data/facts.yml."""
    what = f"field '{error.field}': {error.problem}" if error.field else error.problem
    fix = "Correct the value on this line; docs/STAFF.md shows what each fact should look like."
    if error.kind == "unreadable":
        fix = "Restore the file from the last version that worked (ask a developer)."
    elif error.kind == "yaml":
        fix = YAML_HELP
    elif error.kind == "missing" and error.key and error.key.endswith(POLISH):
        english = error.key[:-len(POLISH)]
        what = f"the Polish form of '{english}' is missing ({what})"
        fix = (f"Add the line `{error.key}: ...` right under `{english}:` (this line), indented like it: the same "
               "fact in Polish, as it reads in the Polish answers (docs/STAFF.md, \"Polish answers\").")
    elif error.kind == "translation":
        fix = ("Make the Polish form say what its English fact says: one Polish item for each English item, in the "
               "same order. Change the English fact and its `_pl` lines together.")
    elif error.kind == "missing":
        what = f"the fact '{error.key}' is missing ({what})"
        fix = (f"Add the line `{error.key}: ...` back under this section, indented like its neighbours. "
               "Every fact the assistant uses must be there, even if its value is unchanged.")
    elif error.kind == "unexpected":
        fix = (f"'{error.key}' is not a fact the assistant knows. Check its spelling against the other names "
               "in this section; a new kind of fact needs a developer.")
    elif error.kind == "malformed":
        fix = ("Write it like the original: a phone or fax number such as +48 85 123 45 67 (digits, spaces, "
               "+ ( ) -), an e-mail address such as name@umb.edu.pl, a number per year such as 12 or over 10 "
               "(only over, more than, about, around, nearly, almost, at least or up to before the number: the "
               "assistant says these words in Polish itself).")
    elif error.kind == "empty":
        fix = "Give this fact a value (text after the colon, or at least one `- item` for a list)."
    elif error.kind == "not_a_fact":
        fix = ("Write the place of the fact you changed as the file names it, section and name joined by a dot, "
               "such as contact.phone or visiting_professors.home_institutions.")
    return Problem(FACTS, error.line or 1, what, fix)


def check_intents(p: Project) -> Iterator[Problem]:
    """Enough examples for each intent, each intent answered by a rule or story, no unknown intent."""
    intents = p.intents()
    examples = p.examples()
    counts: Dict[str, int] = defaultdict(int)
    first: Dict[str, Example] = {}
    for ex in examples:
        counts[ex.intent] += 1
        first.setdefault(ex.intent, ex)
    for intent, ex in first.items():
        if intent not in intents:
            yield Problem(ex.file, ex.intent_line, f"the examples are for the intent '{intent}', which is not in domain.yml.",
                          f"{_suggest(intent, list(intents))}Correct the name, or add '- {intent}' under `intents:` in domain.yml.")
        elif intent == FALLBACK_INTENT:
            yield Problem(ex.file, ex.intent_line, f"'{FALLBACK_INTENT}' is how the assistant says 'I did not understand'; it must have no examples.",
                          "Move these examples under the intent each one really means (or under out_of_scope).")
    for intent, line in intents.items():
        n = counts.get(intent, 0)
        if intent == FALLBACK_INTENT:
            continue
        if n == 0:
            yield Problem(DOMAIN, line, f"the intent '{intent}' has no examples, so the assistant can never recognise it.",
                          f"Add at least {MIN_EXAMPLES} ways of asking it in a file in data/nlu/, under `- intent: {intent}`.")
        elif n < MIN_EXAMPLES:
            ex = first[intent]
            yield Problem(ex.file, ex.intent_line, f"the intent '{intent}' has only {n} examples; at least {MIN_EXAMPLES} are needed to recognise it reliably.",
                          f"Add {MIN_EXAMPLES - n} more ways of asking it under this line (other words, short forms, common typos).")
    used = {s.name for s in p.steps() if s.kind == "intent"}
    for intent, line in intents.items():
        if intent not in used:
            yield Problem(DOMAIN, line, f"no rule or story uses the intent '{intent}', so the assistant would not know what to answer.",
                          f"Add a rule to data/rules/faq.yml:\n      - rule: {intent}\n        steps:\n        - intent: {intent}\n        - action: utter_...")
    for ex in p.examples(tests=True):
        if ex.intent not in intents and first.get(ex.intent) is None:
            first[ex.intent] = ex
            yield Problem(ex.file, ex.intent_line, f"the test questions are for the intent '{ex.intent}', which is not in domain.yml.",
                          f"{_suggest(ex.intent, list(intents))}Correct the name to one of the intents in domain.yml.")


def check_polish(p: Project) -> Iterator[Problem]:
    """Every intent has at least MIN_EXAMPLES Polish examples (in data/nlu/pl/), and no example with
    Polish letters sits among the English ones (the language detector would learn it as English)."""
    intents = p.intents()
    examples = p.examples()
    counts: Dict[str, int] = defaultdict(int)
    first: Dict[str, Example] = {}
    for ex in examples:
        if POLISH_DIR in ex.file.parents:
            counts[ex.intent] += 1
            first.setdefault(ex.intent, ex)
        elif POLISH_LETTERS.search(ex.text):
            yield Problem(ex.file, ex.line, f"the example '{ex.text}' is Polish, but it is among the English examples.",
                          f"Move it to the file of the same name in {POLISH_DIR}/, under `- intent: {ex.intent}`.")
    for intent, line in intents.items():
        n = counts.get(intent, 0)
        if intent == FALLBACK_INTENT or n >= MIN_EXAMPLES:
            continue
        where = (first[intent].file, first[intent].intent_line) if intent in first else (DOMAIN, line)
        have = f"only {n} Polish example{'' if n == 1 else 's'}" if n else "no Polish examples"
        yield Problem(*where, f"the intent '{intent}' has {have}; at least {MIN_EXAMPLES} are needed to understand it in Polish.",
                      f"Add {MIN_EXAMPLES - n} more ways of asking it in Polish in a file in {POLISH_DIR}/, under `- intent: {intent}` "
                      "(with and without Polish letters, short forms, common typos).")


def check_steps(p: Project) -> Iterator[Problem]:
    """Every intent and every response or action that a rule or story names exists in domain.yml."""
    intents = list(p.intents())
    actions = p.actions()
    for step in [*p.steps(), *p.steps(tests=True)]:
        if step.kind == "intent" and step.name not in intents:
            yield Problem(step.file, step.line, f"{step.block} uses the intent '{step.name}', which is not in domain.yml.",
                          f"{_suggest(step.name, intents)}Correct the spelling, or add the new intent under `intents:` in domain.yml (with examples in data/nlu/).")
        elif step.kind == "action" and step.name not in actions:
            if step.name.startswith("utter_"):
                fix = f"{_suggest(step.name, list(p.responses()))}Correct the spelling, or add the response under `responses:` in domain.yml."
                what = f"{step.block} sends the response '{step.name}', which is not in domain.yml."
            else:
                fix = f"{_suggest(step.name, actions)}Correct the spelling. A new action_... is code: ask a developer."
                what = f"{step.block} runs the action '{step.name}', which is not in domain.yml."
            yield Problem(step.file, step.line, what, fix)


def check_duplicates(p: Project) -> Iterator[Problem]:
    """No example twice, none under two intents, no test question that is also a training example."""
    seen: Dict[str, Example] = {}
    for ex in p.examples():
        other = seen.setdefault(ex.key, ex)
        if other is ex:
            continue
        if other.intent == ex.intent:
            yield Problem(ex.file, ex.line, f"'{ex.text}' is already an example of '{ex.intent}' ({other.file}, line {other.line}).",
                          "Delete one of the two lines.")
        else:
            yield Problem(ex.file, ex.line, f"'{ex.text}' is an example of '{ex.intent}' here and of '{other.intent}' in {other.file}, line {other.line}; "
                          "the assistant cannot learn two meanings for the same words.",
                          "Keep it only under the intent it really means and delete the other line.")
    for ex in p.examples(tests=True):
        if ex.key in seen:
            other = seen[ex.key]
            yield Problem(ex.file, ex.line, f"the test question '{ex.text}' is also a training example ({other.file}, line {other.line}), so it tests nothing.",
                          "Reword the test question, or delete it here.")


def check_entities(p: Project) -> Iterator[Problem]:
    """Lookups longest first; every name in a synonym list is in a lookup; every partner and region has its names."""
    lookups = p.name_lists("lookup")
    synonyms = p.name_lists("synonym")
    in_lookup = {n.text.lower(): entity for entity, (_, _, names) in lookups.items() for n in names}
    for entity, (rel, _, names) in lookups.items():
        for before, after in zip(names, names[1:]):
            if len(after.text) > len(before.text):
                yield Problem(rel, after.line, f"in the lookup '{entity}', '{after.text}' comes after the shorter '{before.text}' (line {before.line}).",
                              f"Move '{after.text}' up: longer names must come first, or a shorter name that is part of a longer one wins.")
    for canonical, (rel, _, names) in synonyms.items():
        for n in names:
            if n.text.lower() not in in_lookup:
                known = {in_lookup[m.text.lower()] for m in names if m.text.lower() in in_lookup}
                where = f"the lookup '{known.pop()}'" if len(known) == 1 else "the lookup of its entity"
                yield Problem(rel, n.line, f"'{n.text}' is a name for '{canonical}', but it is in no lookup list, so the assistant never recognises it.",
                              f"Add '- {n.text}' to {where} in {ENTITIES} (longer names first).")
    if p.facts is None:
        return
    university = p.facts["university"]["name"]
    by_name = {c.lower(): c for c in synonyms}
    for entity, paths in ENTITY_FACTS.items():
        lookup = {n.text.lower() for n in lookups.get(entity, (None, 0, []))[2]}
        for path in paths:
            for value, keys in _fact_values(p.facts, path):
                if value == university:
                    continue  # the university itself is not one of its partners
                canonical = by_name.get(value.lower())
                if canonical is None:
                    yield Problem(FACTS, p.fact_line(keys), f"'{value}' ({path}) has no synonym list in {ENTITIES}, so questions that name it are not understood.",
                                  f"Add to {ENTITIES}:\n      - synonym: \"{value}\"\n        examples: |\n          - {value.lower()}\n"
                                  f"    and add '- {value.lower()}' (and every other name people use for it) to the lookup '{entity}' too.")
                    continue
                rel, line, names = synonyms[canonical]
                if not any(n.text.lower() in lookup for n in names) and value.lower() not in lookup:
                    yield Problem(rel, line, f"none of the names for '{value}' ({path} in {FACTS}) is in the lookup '{entity}'.",
                                  f"Add its names (e.g. '- {value.lower()}') to the lookup '{entity}' in {ENTITIES} (longer names first).")


def _response_texts(p: Project) -> Iterator[Tuple[str, CommentedMap]]:
    """(response name, variant) for each variant of a response that has a text."""
    for name, variants in p.responses().items():
        for variant in variants or []:
            if isinstance(variant, CommentedMap) and isinstance(variant.get("text"), str):
                yield name, variant


def check_placeholders(p: Project) -> Iterator[Problem]:
    """Every {placeholder} in a response is one the assistant fills in: another would be sent as typed."""
    known = {*PLACEHOLDERS, *CODE_VARIABLES}
    for name, variant in _response_texts(p):
        for unknown in dict.fromkeys(m.group(1) for m in RESPONSE_PLACEHOLDER.finditer(variant["text"]) if m.group(1) not in known):
            yield Problem(DOMAIN, variant.lc.key("text")[0] + 1,
                          f"the response '{name}' uses {{{unknown}}}, which is not a placeholder the assistant fills in.",
                          f"{_suggest(unknown, sorted(known))}Use one of: {', '.join('{' + k + '}' for k in sorted(PLACEHOLDERS))}.")


def check_facts_copied(p: Project) -> Iterator[Problem]:
    """No fact from data/facts.yml written inside a response or a training example."""
    if p.facts is None:
        return
    university = p.facts["university"]["name"]

    def found(paths: Sequence[str], text: str) -> Iterator[Tuple[str, str, List[Any]]]:
        for path in paths:
            for value, keys in _fact_forms(p.facts, path):
                if value != university and _fact_pattern(path, value).search(text):
                    yield path, value, keys

    for name, variant in _response_texts(p):
        for path, value, keys in found(RESPONSE_FACTS, variant["text"]):
            yield Problem(DOMAIN, variant.lc.key("text")[0] + 1,
                          f"the response '{name}' contains '{value}', a fact from {FACTS} (line {p.fact_line(keys)}).",
                          f"Write {{{PLACEHOLDER_OF[path]}}} instead: the assistant fills it in from {FACTS}, so the answer stays right when the fact changes. "
                          "This works in responses sent by the assistant's actions; for one sent directly by a rule, ask a developer.")
    for ex in p.examples():
        for path, value, keys in found(EXAMPLE_FACTS, replace_entities(ex.text)):
            yield Problem(ex.file, ex.line, f"the example '{ex.text}' contains '{value}', a fact from {FACTS} (line {p.fact_line(keys)}).",
                          "Write the question without it (a fact lives only in the facts file; a copy here goes out of date when it changes).")


def _placeholders(variant: CommentedMap) -> List[str]:
    return list(dict.fromkeys(m.group(1) for m in RESPONSE_PLACEHOLDER.finditer(str(variant.get("text", "")))))


def _payloads(variant: CommentedMap) -> List[str]:
    return [str(b.get("payload")) for b in variant.get("buttons") or [] if isinstance(b, dict)]


def check_languages(p: Project) -> Iterator[Problem]:
    """Every response has an English wording and a Polish one (conditioned on the `language` slot)
    that give the same facts (the same placeholders) and the same buttons."""
    responses = p.domain.get("responses") or CommentedMap()
    for name, variants in responses.items():
        line = responses.lc.key(name)[0] + 1
        variants = [v for v in variants or [] if isinstance(v, CommentedMap)]
        english = [v for v in variants if v.get("condition") is None]
        polish = [v for v in variants if v.get("condition") is not None and _plain_list(v["condition"]) == POLISH_CONDITION]
        for v in variants:
            if v.get("condition") is not None and v not in polish:
                yield Problem(DOMAIN, v.lc.key("condition")[0] + 1,
                              f"a wording of the response '{name}' has a condition the assistant does not use.",
                              f"A Polish wording is marked with exactly `{POLISH_CONDITION_YAML}`; an English one has no condition.")
        if not english:
            yield Problem(DOMAIN, line, f"the response '{name}' has no English wording (one without a condition), so English "
                          "conversations would get no answer.", "Add the English wording first, as `- text: \"...\"`, without a condition.")
            continue
        if not polish:
            yield Problem(DOMAIN, line, f"the response '{name}' has no Polish wording, so Polish conversations get it in English.",
                          f"Add after its English wording:\n      - {POLISH_CONDITION_YAML}\n        text: \"...\"  (the same answer in Polish, with the same {{placeholders}}).")
        for v in polish:
            at = v.lc.key("text")[0] + 1 if "text" in v else v.lc.key("condition")[0] + 1
            en, pl = _placeholders(english[0]), _placeholders(v)
            if set(en) != set(pl):
                missing = [x for x in en if x not in pl]
                extra = [x for x in pl if x not in en]
                said = "; ".join(part for part in (
                    f"lacks {', '.join('{' + x + '}' for x in missing)}" if missing else "",
                    f"has {', '.join('{' + x + '}' for x in extra)}, which the English one does not" if extra else "") if part)
                yield Problem(DOMAIN, at, f"the Polish wording of '{name}' does not give the same facts as the English one: it {said}.",
                              "Both wordings must say the same: use the same {placeholders} in the Polish text (no fact added or left out).")
            if _payloads(v) != _payloads(english[0]):
                yield Problem(DOMAIN, at, f"the Polish wording of '{name}' does not have the English one's buttons "
                              f"({', '.join(_payloads(english[0])) or 'none'}).",
                              "Give it the same buttons, in the same order, with Polish titles (the payloads stay as they are).")


CHECKS = (check_intents, check_polish, check_steps, check_duplicates, check_entities, check_placeholders, check_facts_copied, check_languages)
# The checks of a response's wording (the console's answers editor runs these on one changed response).
RESPONSE_CHECKS = (check_placeholders, check_facts_copied, check_languages)


def check(root: Path) -> List[Problem]:
    """All of the project's own checks; the problems found, in file and line order."""
    project = Project(root)
    if project.problems:  # unreadable files: the other checks would only repeat them
        return sorted(project.problems, key=lambda x: (str(x.file), x.line))
    problems = [problem for run in CHECKS for problem in run(project)]
    return sorted(dict.fromkeys(problems), key=lambda x: (str(x.file), x.line))


def summary(root: Path) -> List[str]:
    """What was checked, for a run without problems (so staff see that the numbers make sense)."""
    project = Project(root)
    counts: Dict[str, int] = defaultdict(int)
    polish: Dict[str, int] = defaultdict(int)
    for ex in project.examples():
        counts[ex.intent] += 1
        polish[ex.intent] += POLISH_DIR in ex.file.parents
    fewest = min(counts, key=lambda i: counts[i])
    fewest_pl = min(counts, key=lambda i: polish[i])
    values = sum(len(_fact_values(project.facts, path)) for paths in ENTITY_FACTS.values() for path in paths)
    return [
        f"Facts: {FACTS} matches its schema.",
        f"Intents: {len(counts)} with {sum(counts.values())} examples (and {FALLBACK_INTENT}, with none), each used in a rule or story "
        f"(fewest: '{fewest}' with {counts[fewest]}; at least {MIN_EXAMPLES} needed).",
        f"Polish: {sum(polish.values())} of the examples, in {POLISH_DIR}/ (fewest: '{fewest_pl}' with {polish[fewest_pl]}; "
        f"at least {MIN_EXAMPLES} needed).",
        f"Entities: {values} partner and region names in {FACTS} all have their synonyms and lookups; lookups are longest first.",
        "No duplicated example, no unknown intent, response or placeholder, no fact copied into a response or an example.",
        "Every response has an English and a Polish wording with the same placeholders and buttons.",
    ]


def rasa_validate(root: Path) -> Tuple[bool, List[str]]:
    """`rasa data validate`; on failure, its error lines without colours and progress bars."""
    rasa = str(Path(sys.executable).with_name("rasa"))
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "SQLALCHEMY_SILENCE_UBER_WARNING": "1"}
    result = subprocess.run([rasa, "data", "validate", "--domain", str(DOMAIN), "--data", "data", "--config", "config.yml"],
                            cwd=root, env=env, capture_output=True, text=True)
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", line).strip() for line in (result.stdout + result.stderr).splitlines()]
    errors = [line for line in lines if "ERROR" in line or "Error" in line]
    return result.returncode == 0, errors or lines[-20:]


def main(argv: Optional[List[str]] = None) -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=Path.cwd(), help="the project folder (default: here)")
    parser.add_argument("--skip-rasa", action="store_true", help="only the project's own checks")
    args = parser.parse_args(argv)
    root = args.project.resolve()
    problems = check(root)
    if problems:
        for problem in problems:
            logger.error("%s\n", problem)
        logger.error("%d problem%s found. Fix %s and run `make check` again; docs/STAFF.md explains each message.",
                     len(problems), "" if len(problems) == 1 else "s", "it" if len(problems) == 1 else "them")
        return 1
    for line in summary(root):
        logger.info(line)
    if not args.skip_rasa:
        ok, output = rasa_validate(root)
        if not ok:
            logger.error("Rasa's own validation (rasa data validate) failed:\n  %s", "\n  ".join(output))
            return 1
        logger.info("Rasa's own validation (rasa data validate): passed.")
    logger.info("All checks passed." if not args.skip_rasa else "All of the project's own checks passed (Rasa's own validation skipped).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
