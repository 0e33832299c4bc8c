"""Lookup-table patterns matched through a dictionary: Rasa's matches, without its long regexes.

Rasa turns each lookup table into one regex, `(\\bA\\b|\\bB\\b|...)`, and its RegexFeaturizer and
RegexEntityExtractor run `re.finditer` with it on every message. With a few thousand names the regex
engine tries every alternative at every position of the message: 0.5 ms (case-sensitive) and 1.3 ms
(case-insensitive) a message for the project's six tables (docs/PERFORMANCE.md). `finditer` here gives the same matches another way:

- a match starts and ends where `\\b` holds, so the candidates are the stretches of the message
  between two of its word boundaries;
- a stretch can match a name only if both are equal once each character is put in its class under
  the engine's case-insensitive rule (sre_compile: equal lowercase, or lowercase forms the engine
  treats as one, such as "s" and the long s): one dictionary lookup per stretch;
- the engine scans the message from left to right and, at each position, takes the first name in
  the table's order that matches there, then goes on after it. The candidates are taken the same
  way, each confirmed by that name's own regex (`\\bName\\b`, the same flags) before it is returned.

A pattern that is not exactly such a table (a regex of the training data, an empty name) is left to
`re.finditer`. tests/test_speedups.py checks the two give the same matches.
"""
import functools
import re
import sre_compile
from typing import Dict, Iterator, List, Optional, Pattern, Text, Tuple

import _sre

_PREFIX, _SEPARATOR, _SUFFIX = "(\\b", "\\b|\\b", "\\b)"
_BOUNDARY = re.compile(r"\b")
# each lowercase form the engine treats as one with others, mapped to the first of its set
_SAME_CASE = {member: chr(group[0]) for group in sre_compile._equivalences for member in map(chr, group)}


class _CaseClasses(dict):
    """str.translate table: a character to its class under re.IGNORECASE, worked out once per character."""

    def __missing__(self, code: int) -> str:
        lower = chr(_sre.unicode_tolower(code))
        self[code] = value = _SAME_CASE.get(lower, lower)
        return value


_CASE_CLASSES = _CaseClasses()


def _key(text: Text, flags: int) -> Text:
    return text.translate(_CASE_CLASSES) if flags & re.IGNORECASE else text


# the longest stretch looked up: a table with a longer name is left to re.finditer
_LONGEST = 100


# every name of every table made so far, by key, per flags: a stretch that is none of them is dropped
_KNOWN: Dict[int, set] = {}


@functools.lru_cache(maxsize=8)
def _stretches(text: Text, flags: int, known: int) -> Tuple[Tuple[int, Text], ...]:
    """Each stretch of the text between two word boundaries (up to _LONGEST characters) that is a name
    of some table, by key: worked out once per message for all the tables (`known`: how many names
    there were then), for both the featurizer and the extractor."""
    names = _KNOWN.get(flags, set())
    key = _key(text, flags)
    bounds = [m.start() for m in _BOUNDARY.finditer(text)]
    stretches = []
    for a, start in enumerate(bounds):
        for end in bounds[a + 1:]:
            if end - start > _LONGEST:
                break
            if key[start:end] in names:
                stretches.append((start, key[start:end]))
    return tuple(stretches)


def _unescape(part: Text) -> Text:
    return re.sub(r"\\(.)", r"\1", part, flags=re.DOTALL)


class LookupPattern:
    """One lookup table's pattern: its names by key, each name's own regex made when first needed."""

    def __init__(self, names: List[Text], flags: int) -> None:
        self.names, self.flags = names, flags
        self.first: Dict[Text, int] = {}
        for index, name in enumerate(names):
            self.first.setdefault(_key(name, flags), index)  # the engine tries names in their order
        _KNOWN.setdefault(flags, set()).update(self.first)
        self._regexes: Dict[int, Pattern] = {}

    def _regex(self, index: int) -> Pattern:
        if index not in self._regexes:
            self._regexes[index] = re.compile("\\b" + re.escape(self.names[index]) + "\\b", self.flags)
        return self._regexes[index]

    def finditer(self, text: Text) -> Iterator["re.Match"]:
        candidates = sorted(  # (start, index of the name)
            (start, index) for start, stretch in _stretches(text, self.flags, len(_KNOWN[self.flags]))
            if (index := self.first.get(stretch)) is not None
        )
        position = 0
        for start, index in candidates:
            if start < position:
                continue
            match = self._regex(index).match(text, start)
            if match is None:  # a stretch equal by key only: the engine would not take it either
                continue
            position = match.end()
            yield match


@functools.lru_cache(maxsize=64)
def lookup_pattern(pattern: Text, flags: int) -> Optional[LookupPattern]:
    """The table behind a pattern Rasa built from a lookup table, or None for any other pattern."""
    if not (pattern.startswith(_PREFIX) and pattern.endswith(_SUFFIX)) or len(pattern) < len(_PREFIX + _SUFFIX):
        return None
    if flags & ~re.IGNORECASE:
        return None
    parts = pattern[len(_PREFIX): -len(_SUFFIX)].split(_SEPARATOR)
    names = [_unescape(part) for part in parts]
    if not all(0 < len(name) <= _LONGEST for name in names) or [re.escape(name) for name in names] != parts:
        return None
    return LookupPattern(names, flags)


def finditer(pattern: Text, string: Text, flags: int = 0) -> Iterator["re.Match"]:
    """re.finditer, by dictionary for a lookup table's pattern."""
    lookup = lookup_pattern(pattern, flags) if isinstance(pattern, str) else None
    if lookup is None:
        return re.finditer(pattern, string, flags)
    return lookup.finditer(string)
