"""Data access: the structured facts the answers are made of (data/facts.yml).

The file is validated against a schema when first read and again whenever it changes on disk
(checked by mtime and size on each read, which costs one stat call). A file that fails to parse or
validate is reported in the log with its line and field, and the last good facts stay in use, so
staff can never take the assistant down by a typo. The last good version is also kept on disk so a
restart with a broken file still answers.
"""
import datetime
import logging
import os
import re
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import jsonschema
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

logger = logging.getLogger(__name__)

FACTS_PATH = Path(os.environ.get("UMB_FACTS_FILE", "data/facts.yml"))

_TEXT = {"type": "string", "minLength": 1}
_TEXTS = {"type": "array", "items": _TEXT, "minItems": 1}

# The languages the assistant answers in; English is the facts' own (the page's) language.
LANGUAGES = ("en", "pl")
# Facts whose values are English phrases: each has its Polish form next to it, `<name>_pl`, written
# as it reads in the Polish answers. Numbers, the e-mail, the address and the names of people and
# institutions are the same in both languages and are never written twice.
TRANSLATED = (
    "contact.office", "contact.office_full_name",
    "partnerships.aim", "partnerships.agreements", "partnerships.regions",
    "euroregional_center.location", "euroregional_center.role", "euroregional_center.events",
    "visiting_professors.audience", "visiting_professors.description", "visiting_professors.programme",
    "visiting_professors.funders", "visiting_professors.operational_programme",
)
POLISH = "_pl"
# Facts that are a number said with a word or two ("over 10"): the number is written once, the words
# are said in Polish by the assistant itself (no `_pl`), so only these words are allowed.
QUANTITY_WORDS = {"over": "ponad", "more than": "ponad", "about": "około", "around": "około", "nearly": "prawie",
                  "almost": "prawie", "at least": "co najmniej", "up to": "do"}
QUANTITIES = ("visiting_professors.per_year",)
_QUANTITY = rf"^(?:({'|'.join(QUANTITY_WORDS)}) )?([0-9]+)$"


def translated(path: str, language: str) -> str:
    """Where the fact `path` (contact.office) is written in `language`: contact.office_pl in Polish."""
    return path + POLISH if language == "pl" and path in TRANSLATED else path


def said_in(path: str, value: Any, language: str) -> Any:
    """A fact's value (read from `translated(path, language)`) as said in `language`: a quantity's
    words in Polish ("over 10" -> "ponad 10"), anything else as it is."""
    if language == "pl" and path in QUANTITIES:
        words, number = re.match(_QUANTITY, str(value)).groups()  # the schema allows nothing else
        return f"{QUANTITY_WORDS[words]} {number}" if words else number
    return value


def _section(**props: Any) -> Dict[str, Any]:
    return {"type": "object", "required": list(props), "properties": props, "additionalProperties": False}


# A fact changed by the office's staff: they are its source from then on, not the page.
_CHANGE = _section(field={**_TEXT, "pattern": r"^[a-z_]+(\.[a-z_]+)*$"}, by=_TEXT, on=_TEXT)

SCHEMA: Dict[str, Any] = {
    **_section(
        version={"const": 1},
        source={
            **_section(title=_TEXT, last_updated=_TEXT, updated_by=_TEXT, changed_by_staff={"type": "array", "items": _CHANGE}),
            "required": ["title", "last_updated", "updated_by"],  # no change recorded: no list
        },
        university=_section(name=_TEXT, short_name=_TEXT),
        contact=_section(
            office=_TEXT,
            office_full_name=_TEXT,
            address=_section(street=_TEXT, postcode=_TEXT, city=_TEXT, country=_TEXT),
            phone={**_TEXT, "pattern": r"^\+?[0-9 ()-]{6,}$"},
            fax={**_TEXT, "pattern": r"^\+?[0-9 ()-]{6,}$"},
            email={**_TEXT, "pattern": r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"},
        ),
        partnerships=_section(aim=_TEXT, agreements=_TEXT, regions=_TEXTS),
        euroregional_center=_section(
            name=_TEXT,
            founded={"type": ["string", "integer"]},
            founding_partners=_TEXTS,
            location=_TEXT,
            role=_TEXT,
            events=_TEXTS,
        ),
        visiting_professors=_section(
            audience=_TEXT,
            description=_TEXT,
            programme=_TEXT,
            funders=_TEXTS,
            operational_programme=_TEXT,
            per_year={**_TEXT, "pattern": _QUANTITY},
            home_institutions=_TEXTS,
        ),
    )
}


def _add_translations(schema: Dict[str, Any]) -> None:
    """Each translated fact's `<name>_pl`, required and of the same form, right after its English one."""
    for path in TRANSLATED:
        *sections, name = path.split(".")
        node = schema
        for key in sections:
            node = node["properties"][key]
        node["properties"] = {k: v for key, value in node["properties"].items()
                              for k, v in ((key, value), *(((key + POLISH, value),) if key == name else ()))}
        node["required"] = list(node["properties"])


_add_translations(SCHEMA)


class FactsError(Exception):
    """The facts file cannot be used. The fields say where and what, for tools that explain it
    (staff/check.py); the message says the same in one line, for the log.

    `kind` is what went wrong: "unreadable", "yaml", "missing" (a required fact), "unexpected" (a
    name the schema does not know), "malformed" (a value not in its form), "empty" (no value, or
    not a text or list), "not_a_fact" (a changed_by_staff entry naming no fact), "translation" (a
    Polish list with another number of items than its English one) or
    "invalid". `key` is the fact's name for "missing" and "unexpected" (`location_pl` for a
    missing Polish form, whose line is then its English fact's).
    """

    def __init__(self, path: Path, problem: str, line: Optional[int] = None, field: Optional[str] = None,
                 kind: str = "invalid", key: Optional[str] = None) -> None:
        self.path, self.problem, self.line, self.field, self.kind, self.key = path, problem, line, field, kind, key
        where = f": line {line}" if line else ""
        what = f": field '{field}'" if field else ""
        super().__init__(f"{path}{where}{what}: {problem}")


# jsonschema's keyword for a broken rule -> FactsError.kind
_KINDS = {"required": "missing", "additionalProperties": "unexpected", "pattern": "malformed",
          "minLength": "empty", "minItems": "empty", "type": "empty"}


@dataclass
class _Loaded:
    facts: Dict[str, Any]
    stamp: Tuple[float, int]


def _line_of(doc: Any, path: List[Any]) -> Optional[int]:
    """1-based line of the deepest node on `path` that the YAML document has."""
    line = None
    node = doc
    for key in path:
        if isinstance(node, CommentedMap) and key in node:
            line = node.lc.key(key)[0] + 1
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
            line = node.lc.item(key)[0] + 1
        else:
            break
        node = node[key]
    return line


def _plain(node: Any) -> Any:
    """ruamel's round-trip types turned into plain dicts, lists and strings (a date as 2026-12-01)."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    if isinstance(node, datetime.date):
        return node.isoformat()[:10]
    return node


def _schema_error(path: Path, doc: Any, error: jsonschema.ValidationError) -> FactsError:
    """The file's first schema violation, with its line, field, kind and the fact's name."""
    keys = list(error.absolute_path)
    kind = _KINDS.get(str(error.validator), "invalid")
    key = None
    if kind == "missing":
        key = next(k for k in error.validator_value if k not in error.instance)
        if key.endswith(POLISH) and key[:-len(POLISH)] in error.instance:
            english = key[:-len(POLISH)]  # a missing Polish form: named, at its English fact's line
            return FactsError(path, f"'{key}' is a required property (the Polish form of '{english}')",
                              _line_of(doc, [*keys, english]) or 1, ".".join(str(p) for p in [*keys, key]), kind, key)
    elif kind == "unexpected":
        key = next(str(k) for k in error.instance if k not in error.schema.get("properties", {}))
    field = ".".join(str(p) for p in keys) or "(top level)"
    return FactsError(path, error.message, _line_of(doc, keys) or 1, field, kind, key)


def has_fact(facts: Dict[str, Any], field: str) -> bool:
    """Whether `field` (such as contact.phone) names a fact or a section of facts."""
    node: Any = facts
    for key in field.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def english_names(facts: Dict[str, Any], min_words: int = 3) -> List[str]:
    """The facts written in English words, of `min_words` or more (the programme's title, the center's
    and the partners' names), as a Polish message may quote them; not their Polish forms (`_pl`)."""
    found: List[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if not k.endswith(POLISH) and k not in ("source", "version"):
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, str) and len(node.split()) >= min_words:
            found.append(node)

    walk(facts)
    return found


def _check_changes(path: Path, doc: Any, facts: Dict[str, Any]) -> None:
    """Each fact recorded as changed by staff is one the file has."""
    for i, change in enumerate(facts["source"].get("changed_by_staff", [])):
        if not has_fact(facts, change["field"]) or change["field"].split(".")[0] in ("version", "source"):
            keys = ["source", "changed_by_staff", i, "field"]
            raise FactsError(path, f"'{change['field']}' is not a fact in this file", _line_of(doc, keys) or 1,
                             f"source.changed_by_staff.{i}.field", "not_a_fact")


def _check_translations(path: Path, doc: Any, facts: Dict[str, Any]) -> None:
    """Each translated list has one Polish item for each English item."""
    for english in TRANSLATED:
        *sections, name = english.split(".")
        section: Any = facts
        for key in sections:
            section = section[key]
        en, pl = section[name], section[name + POLISH]
        keys: List[Any] = [*sections, name + POLISH]
        if isinstance(en, list) and len(en) != len(pl):
            raise FactsError(path, f"has {len(pl)} item{'s' * (len(pl) != 1)}, but '{name}' has {len(en)}: "
                             "each item needs its Polish form, in the same order", _line_of(doc, keys) or 1,
                             ".".join(keys), "translation")


def parse(path: Path) -> Dict[str, Any]:
    """Read and validate one facts file, or raise FactsError naming file, line and field."""
    try:
        doc = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise FactsError(path, f"not valid YAML: {e.problem or e.context}", mark.line + 1 if mark else None, kind="yaml") from e
    except (OSError, UnicodeDecodeError) as e:
        raise FactsError(path, f"cannot be read: {e}", kind="unreadable") from e
    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(SCHEMA).iter_errors(_plain(doc)))
    if error is not None:
        raise _schema_error(path, doc, error)
    facts = _plain(doc)
    _check_changes(path, doc, facts)
    _check_translations(path, doc, facts)
    facts["euroregional_center"]["founded"] = str(facts["euroregional_center"]["founded"])
    return facts


class FactsStore:
    """The current facts, reloaded when the file changes; keeps the last good version on errors."""

    def __init__(self, path: Path = FACTS_PATH, last_good: Optional[Path] = None) -> None:
        self.path = path
        self.last_good = last_good or Path("build") / f"{path.stem}.last-good.yml"
        self._loaded: Optional[_Loaded] = None
        self._failed_stamp: Optional[Tuple[float, int]] = None
        self._lock = threading.Lock()

    def _stamp(self) -> Tuple[float, int]:
        st = self.path.stat()
        return st.st_mtime, st.st_size

    def get(self) -> Dict[str, Any]:
        """The facts to answer with; raises FactsError only if no good version was ever seen."""
        with self._lock:
            try:
                stamp = self._stamp()
            except OSError as e:
                stamp = None
                self._report(FactsError(self.path, f"cannot be read: {e}", kind="unreadable"), None)
            if stamp is not None and (self._loaded is None or self._loaded.stamp != stamp) and stamp != self._failed_stamp:
                try:
                    self._loaded = _Loaded(parse(self.path), stamp)
                    self._failed_stamp = None
                    self._save_last_good()
                    logger.info("Facts loaded from %s", self.path)
                except FactsError as e:
                    self._report(e, stamp)
            if self._loaded is None:
                self._loaded = self._load_last_good()
            return self._loaded.facts

    def _report(self, error: FactsError, stamp: Optional[Tuple[float, int]]) -> None:
        self._failed_stamp = stamp
        kept = "keeping the last good facts" if self._loaded else "falling back to the last good copy"
        logger.error("Facts file rejected, %s. %s", kept, error)

    def _save_last_good(self) -> None:
        try:
            self.last_good.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self.path, self.last_good)
        except OSError as e:
            logger.warning("Could not keep a copy of the good facts at %s: %s", self.last_good, e)

    def _load_last_good(self) -> _Loaded:
        if not self.last_good.exists():
            raise FactsError(self.path, f"not usable, and there is no last good copy at {self.last_good}", kind="unreadable")
        return _Loaded(parse(self.last_good), (0.0, -1))


store = FactsStore()
# The Rasa server's reading of the same file (rasa_addons: the response generator's contact details, the
# NLU's institutions on the page), with its own last-good copy, so the two servers never write the same file.
RASA_LAST_GOOD = Path("build") / f"{FACTS_PATH.stem}.last-good.rasa.yml"
