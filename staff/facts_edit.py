"""Change facts in data/facts.yml from a program (the staff console), the way docs/STAFF.md does by hand.

The file keeps its comments, quotes and layout (ruamel round trip); every changed fact is recorded
under `source.changed_by_staff` (worked example 1: which fact, by whom, when), because a fact staff
changed is no longer on the source page; and the new file is validated by the assistant's own
parser (actions/facts.py) before it replaces the old one, so a wrong value is never written: the
FactsError names the field and the reason.
"""
import datetime
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Union

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import ScalarString

from actions.facts import SCHEMA, FactsError, _plain, parse

Value = Union[str, List[str]]
# Not facts staff edit: the file's format, and where the facts come from (kept by record_change).
NOT_EDITABLE = ("version", "source")


@dataclass(frozen=True)
class Field:
    """One fact the staff can edit: `contact.phone`, and whether it is a list of texts."""

    path: str
    is_list: bool


def editable_fields(schema: Mapping[str, Any] = SCHEMA, prefix: str = "") -> List[Field]:
    """Every fact of the schema, in its order: what the console's form shows."""
    fields: List[Field] = []
    for name, spec in schema.get("properties", {}).items():
        if not prefix and name in NOT_EDITABLE:
            continue
        path = f"{prefix}{name}"
        if spec.get("type") == "object":
            fields += editable_fields(spec, f"{path}.")
        else:
            fields.append(Field(path, spec.get("type") == "array"))
    return fields


def _yaml() -> YAML:
    """A round-trip reader and writer that gives back the file as it was (indents of data/facts.yml)."""
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 1_000_000  # never fold a long value onto two lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def value_of(doc: Any, path: str) -> Value:
    """The value of a fact as text (or list of texts), whatever its YAML type."""
    node = doc
    for key in path.split("."):
        node = node[key]
    plain = _plain(node)
    return [str(v) for v in plain] if isinstance(plain, list) else str(plain)


def _set(doc: Any, path: str, value: Value) -> None:
    """Set one fact, in place, keeping the quoting of a text and the comments around a list."""
    *parents, key = path.split(".")
    node = doc
    for name in parents:
        node = node[name]
    old = node[key]
    if isinstance(value, list):
        seq = old if isinstance(old, CommentedSeq) else CommentedSeq()
        # the comment lines after the list belong to its last item: they stay after the list
        tail = seq.ca.items.pop(len(seq) - 1, None) if len(seq) else None
        del seq[len(value):]
        for i, item in enumerate(value):
            if i < len(seq):
                seq[i] = type(seq[i])(item) if isinstance(seq[i], ScalarString) else item
            else:
                seq.append(item)
        if tail is not None and len(seq):
            seq.ca.items[len(seq) - 1] = tail
        node[key] = seq
    else:
        node[key] = type(old)(value) if isinstance(old, ScalarString) else value


def record_change(doc: Any, field: str, by: str, on: datetime.date) -> None:
    """Say under `source.changed_by_staff` that `by` changed `field` on `on`: one entry per fact,
    the latest change replacing an earlier entry of the same fact."""
    source = doc["source"]
    changes = source.get("changed_by_staff")
    if not isinstance(changes, CommentedSeq) or not changes:
        changes = CommentedSeq()
        changes.fa.set_block_style()  # `changed_by_staff: []` becomes a list of entries
        source["changed_by_staff"] = changes
    for entry in changes:
        if entry.get("field") == field:
            entry["by"], entry["on"] = by, on
            return
    changes.append(CommentedMap([("field", field), ("by", by), ("on", on)]))


def dump(doc: Any) -> str:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue()


def save(path: Path, values: Mapping[str, Value], by: str, on: datetime.date) -> List[str]:
    """Write the facts whose value differs from the file's, recorded as changed by `by`; the fields
    changed. Raises FactsError (field and reason) and writes nothing when the result is not valid."""
    doc = _yaml().load(path.read_text(encoding="utf-8"))
    known = {f.path for f in editable_fields()}
    changed = [field for field, value in values.items() if field in known and value_of(doc, field) != value]
    if not changed:
        return []
    for field in changed:
        _set(doc, field, values[field])
        record_change(doc, field, by, on)
    text = dump(doc)
    # validated where it will live (same folder), then swapped in at once: the assistant, which
    # re-reads the file when it changes, never sees half a file or an invalid one
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    try:
        parse(tmp)
    except FactsError as e:
        tmp.unlink()
        raise FactsError(path, e.problem, e.line, e.field, e.kind, e.key) from None
    os.replace(tmp, path)
    return changed
