"""Change the wording of a response in domain.yml from a program (the staff console's answers editor).

The file keeps its comments, anchors and layout (the ruamel round trip of staff.facts_edit), and a
new wording passes the checks `make check` makes of every response (staff.check.RESPONSE_CHECKS:
known placeholders only, no fact copied into it) before anything is written; a refusal names the
problem and its fix in `make check`'s words. A new wording reaches the assistant at the next
training (the response is part of the model).
"""
import os
from pathlib import Path
from typing import Any, List, Sequence, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import ScalarString

from actions.facts import parse as parse_facts
from staff.check import DOMAIN, RESPONSE_CHECKS, Project
from staff.facts_edit import _yaml, dump


class WordingRefused(ValueError):
    """A wording that cannot be saved; the message says why, for staff."""


def _text_variants(doc: Any, name: str) -> List[CommentedMap]:
    variants = (doc.get("responses") or {}).get(name)
    if variants is None:
        raise WordingRefused(f"there is no response '{name}' in domain.yml (any more): reload the page.")
    return [v for v in variants if isinstance(v, CommentedMap) and isinstance(v.get("text"), str)]


def _when(variant: CommentedMap) -> str:
    """A variant's condition in words ("language = pl"); "" for the one sent otherwise."""
    return ", ".join(f"{c.get('name')} = {c.get('value')}" for c in variant.get("condition") or [] if isinstance(c, dict))


def wordings(domain: Path) -> List[Tuple[str, List[Tuple[str, str]]]]:
    """Each response with a text, in the file's order: (name, [(condition, text) of each variant])."""
    doc = _yaml().load(domain.read_text(encoding="utf-8"))
    return [(name, [(_when(v), str(v["text"])) for v in _text_variants(doc, name)]) for name in doc.get("responses") or {}
            if _text_variants(doc, name)]


def problems_of(doc: Any, name: str, project: Path, facts: Path) -> List[str]:
    """What `make check` finds wrong with the response `name` of `doc` (the rest of the project as it is,
    with the facts of `facts`): each problem and how to fix it."""
    checked = Project(project)
    checked.docs[DOMAIN] = doc
    checked.facts = parse_facts(facts)
    checked.facts_doc = YAML(typ="rt").load(facts.read_text(encoding="utf-8"))
    lines = {v.lc.key("text")[0] + 1 for v in _text_variants(doc, name)}
    return [f"{p.what} {p.fix}" for check in RESPONSE_CHECKS for p in check(checked) if p.file == DOMAIN and p.line in lines]


def save_wording(domain: Path, name: str, texts: Sequence[str], project: Path, facts: Path) -> List[Tuple[str, str]]:
    """Write the new texts of the response `name`'s variants; the (old, new) pairs changed. Raises
    WordingRefused, writing nothing, when a text is empty or fails a check."""
    doc = _yaml().load(domain.read_text(encoding="utf-8"))
    variants = _text_variants(doc, name)
    if len(texts) != len(variants):
        raise WordingRefused(f"the response '{name}' was changed meanwhile: reload the page and make your change again.")
    changed = []
    for variant, raw in zip(variants, texts):
        text = "\n".join(line.rstrip() for line in raw.replace("\r\n", "\n").strip().split("\n"))
        if not text:
            raise WordingRefused(f"the response '{name}' cannot be empty: the assistant would say nothing.")
        old = variant["text"]
        if text != str(old):
            variant["text"] = type(old)(text) if isinstance(old, ScalarString) else text
            changed.append((str(old), text))
    if not changed:
        return []
    found = problems_of(doc, name, project, facts)
    if found:
        raise WordingRefused(" ".join(found))
    tmp = domain.with_name(f".{domain.name}.{os.getpid()}.tmp")
    tmp.write_text(dump(doc), encoding="utf-8")
    os.replace(tmp, domain)  # Rasa's training never reads half a file
    return changed
