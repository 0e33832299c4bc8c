"""Add an example question to its intent's topic file under data/nlu/ (the staff console's "label").

Worked example 3 of docs/STAFF.md done by a program: the line goes at the end of the intent's
`examples: |` block, with the same indentation, and nothing else of the file changes (the text is
inserted, not re-dumped, so comments and layout stay as staff wrote them). An example that is
already there, under this intent or another, in either language, is refused, as `make check` would
refuse it. A Polish example (the language given, else Polish letters in it) goes to the same topic's
file in data/nlu/pl/ (issue 12).
"""
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from staff.check import FALLBACK_INTENT, POLISH_LETTERS, Example, _block_lines
from staff.unanswered import _example


class ExampleRefused(ValueError):
    """The example cannot be added; the message says why, for the staff member."""


@dataclass(frozen=True)
class Block:
    """Where an intent's examples are: the file and the 0-based line of its `examples:` key."""

    file: Path
    line: int


def _items(nlu_dir: Path, *files: Path) -> List[Tuple[Path, CommentedMap]]:
    """The items of the `nlu:` lists of the folder's files (or of the files given)."""
    items = []
    for path in files or sorted(nlu_dir.glob("*.yml")):
        doc = YAML(typ="rt").load(path.read_text(encoding="utf-8"))
        if isinstance(doc, CommentedMap) and isinstance(doc.get("nlu"), CommentedSeq):
            items += [(path, item) for item in doc["nlu"] if isinstance(item, CommentedMap)]
    return items


def intent_blocks(nlu_dir: Path) -> Dict[str, Block]:
    """Each intent that has examples -> its (first) block: the intents staff can label with."""
    blocks: Dict[str, Block] = {}
    for path, item in _items(nlu_dir):
        if "intent" in item and "examples" in item and str(item["intent"]) != FALLBACK_INTENT:
            blocks.setdefault(str(item["intent"]), Block(path, item.lc.key("examples")[0]))
    return blocks


def existing(nlu_dir: Path, *files: Path) -> Dict[str, Example]:
    """Every example, by the words that matter (Example.key, as `make check` compares them); the
    folder's Polish examples (its pl/ folder) too."""
    found: Dict[str, Example] = {}
    polish = nlu_dir / "pl"
    items = _items(nlu_dir, *files) if files else _items(nlu_dir) + (_items(polish) if polish.is_dir() else [])
    for path, item in items:
        if "intent" in item and "examples" in item:
            for text, line in _block_lines(item, "examples"):
                ex = Example(path, line, str(item["intent"]), text, item.lc.key("intent")[0] + 1)
                found.setdefault(ex.key, ex)
    return found


def as_example(text: str) -> str:
    """A message as one example line: one line, no entity brackets (they would be read as marks)."""
    return _example(" ".join(text.split()))


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def add_example(nlu_dir: Path, intent: str, text: str, language: Optional[str] = None) -> Tuple[Path, int]:
    """Append `text` to `intent`'s examples; the file and the 1-based line it is on. `language`
    ("en", "pl"; e.g. staff.unanswered's, the language it was asked in) picks data/nlu/ or data/nlu/pl/;
    without it, Polish letters say Polish."""
    line_text = as_example(text)
    if not line_text:
        raise ExampleRefused("The message is empty: there is nothing to learn from it.")
    if language is None:
        language = "pl" if POLISH_LETTERS.search(line_text) else "en"
    polish = nlu_dir / "pl"
    blocks = intent_blocks(polish if language == "pl" and polish.is_dir() else nlu_dir)
    if intent not in blocks:
        raise ExampleRefused(f"'{intent}' is not an intent with examples in {nlu_dir}.")
    key = Example(Path(), 0, intent, line_text, 0).key
    other = existing(nlu_dir).get(key)
    if other is not None:
        shown = other.file.relative_to(nlu_dir) if other.file.is_relative_to(nlu_dir) else other.file.name  # pl/contact.yml
        where = f"{shown}, line {other.line}"
        raise ExampleRefused(
            f"'{line_text}' is already an example of '{other.intent}' ({where})."
            if other.intent == intent else
            f"'{line_text}' is already an example of '{other.intent}' ({where}); the assistant cannot learn two meanings for the same words.")
    block = blocks[intent]
    lines = block.file.read_text(encoding="utf-8").splitlines(keepends=True)
    key_indent = _indent(lines[block.line])
    last = block.line
    item_indent = key_indent + 2
    for i in range(block.line + 1, len(lines)):
        if not lines[i].strip():
            continue
        if _indent(lines[i]) <= key_indent:
            break  # the literal block ends at the first line indented no deeper than its key
        last = i
        item_indent = _indent(lines[i])
    if not lines[last].endswith("\n"):
        lines[last] += "\n"
    lines.insert(last + 1, f"{' ' * item_indent}- {line_text}\n")
    new_text = "".join(lines)
    tmp = block.file.with_name(f".{block.file.name}.{os.getpid()}.tmp")
    tmp.write_text(new_text, encoding="utf-8")
    try:
        # the file still reads, and the example landed in the intent's block
        landed = existing(nlu_dir, tmp).get(key)
        if landed is None or landed.intent != intent:
            raise ExampleRefused(f"'{line_text}' could not be added to {block.file.name}; add it by hand (docs/STAFF.md, worked example 3).")
    except Exception:
        tmp.unlink()
        raise
    os.replace(tmp, block.file)
    return block.file, last + 2
