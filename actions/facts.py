"""Data access: the structured facts the answers are made of (data/facts.yml).

The file is validated against a schema when first read and again whenever it changes on disk
(checked by mtime and size on each read, which costs one stat call). A file that fails to parse or
validate is reported in the log with its line and field, and the last good facts stay in use, so
staff can never take the assistant down by a typo. The last good version is also kept on disk so a
restart with a broken file still answers.
"""
import logging
import os
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


def _section(**props: Any) -> Dict[str, Any]:
    return {"type": "object", "required": list(props), "properties": props, "additionalProperties": False}


SCHEMA: Dict[str, Any] = {
    **_section(
        version={"const": 1},
        source=_section(title=_TEXT, last_updated=_TEXT, updated_by=_TEXT),
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
            per_year=_TEXT,
            home_institutions=_TEXTS,
        ),
    )
}


class FactsError(Exception):
    """The facts file cannot be used; the message names the file, line and field."""


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
    """ruamel's round-trip types turned into plain dicts, lists and strings."""
    if isinstance(node, dict):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def parse(path: Path) -> Dict[str, Any]:
    """Read and validate one facts file, or raise FactsError naming file, line and field."""
    try:
        doc = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
    except MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"line {mark.line + 1}" if mark else "unknown line"
        raise FactsError(f"{path}: {where}: not valid YAML: {e.problem or e.context}") from e
    except (OSError, UnicodeDecodeError) as e:
        raise FactsError(f"{path}: cannot be read: {e}") from e
    error = jsonschema.exceptions.best_match(jsonschema.Draft7Validator(SCHEMA).iter_errors(_plain(doc)))
    if error is not None:
        field = ".".join(str(p) for p in error.absolute_path) or "(top level)"
        line = _line_of(doc, list(error.absolute_path))
        raise FactsError(f"{path}: line {line or 1}: field '{field}': {error.message}")
    facts = _plain(doc)
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
                self._report(FactsError(f"{self.path}: cannot be read: {e}"), None)
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
            raise FactsError(f"{self.path} is not usable and there is no last good copy at {self.last_good}")
        return _Loaded(parse(self.last_good), (0.0, -1))


store = FactsStore()
