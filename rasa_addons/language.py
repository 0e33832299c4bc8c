"""Which language a message is written in: English or Polish, or "cannot tell" (issue 12).

A naive Bayes classifier over the words and the character n-grams of the assistant's own training
examples (data/nlu/*.yml English, data/nlu/pl/*.yml Polish), trained with the model in milliseconds;
no package and no download. Polish letters (ą ć ę ł ń ó ś ź ż) settle it at once. A message whose
evidence is weak either way ("ok", "hi", "?", "UMB", "e-mail?") gets no language: the conversation
keeps the one it had (the `language` slot is filled only from a detected language).

Measured on tests/nlu/language.yml (docs/EVALUATION.md, "Language detection").
"""
import math
import re
from collections import Counter
from typing import Any, Dict, Iterable, List, Optional, Tuple

ENGLISH, POLISH = "en", "pl"
LANGUAGES = (ENGLISH, POLISH)
# How many words the letter pieces of one word are worth together.
PIECES_WEIGHT = 2.0
POLISH_LETTERS = re.compile(r"[ąćęłńóśźż]", re.IGNORECASE)
WORD = re.compile(r"[^\W\d_]+")
# Words both languages use, which say nothing about the language: greetings and acknowledgements
# borrowed across, the names of the page, contact words written the same way.
NEUTRAL = frozenset("""
ok okay oki okey k kk hi hey yo hmm hm lol xd thx tnx thnx thanx umb emc nih hms upenn penn mayo harvard grodno vilnius
bialystok białystok usa eu uk email mail e mail www http https com pl edu tel nr super
""".split())
# A name of two or more capitalised words ("International Cooperation Office", "Mayo Clinic"), with "of",
# "for", "and", "in" between them: a Polish message may name the page's English names as they are, so
# their words say nothing about the message's language, unless the message is nothing but names
# ("Euroregionalne Centrum Medyczne").
NAME = re.compile(r"\b[A-ZĄĆĘŁŃÓŚŹŻ][a-ząćęłńóśźż]+(?:\s+(?:(?:of|for|and|in)\s+)?[A-ZĄĆĘŁŃÓŚŹŻ][a-ząćęłńóśźż]+)+\b")
# A title in quotation marks (the programme's English title in a Polish question) is a name too.
QUOTED = re.compile(r"[\"„“”«»][^\"„“”«»]{3,}[\"„“”«»]")


def _words(text: str) -> List[str]:
    words = WORD.findall(NAME.sub(" ", QUOTED.sub(" ", text)).lower())
    return words if any(w not in NEUTRAL for w in words) else WORD.findall(text.lower())


def _word_keys(text: str) -> List[Tuple[str, Optional[str]]]:
    """Each word's feature, with the word whose letter pieces count too (None: the first word's feature)."""
    words = _words(text)
    found: List[Tuple[str, Optional[str]]] = []
    if len(words) > 1 and words[0] not in NEUTRAL:
        # the first word of a longer message apart: "a faks?", "a ulica?" begin as only Polish does
        found.append(("s:" + words[0], None))
    return found + [("w:" + word, word) for word in words if word not in NEUTRAL]


def _pieces(word: Optional[str]) -> List[str]:
    """A word's 1- to 4-letter pieces (with its edges)."""
    if word is None:
        return []
    padded = f" {word} "
    return [padded[i:i + n] for n in (1, 2, 3, 4) for i in range(len(padded) - n + 1) if padded[i:i + n].strip()]


def word_features(text: str) -> List[List[str]]:
    """For each word of a message: the word itself, then its letter pieces."""
    return [[key, *_pieces(word)] for key, word in _word_keys(text)]


def features(text: str) -> List[str]:
    return [f for word in word_features(text) for f in word]


class LanguageModel:
    """Multinomial naive Bayes, English vs Polish; `detect` answers "en", "pl" or None."""

    ALPHA = 0.5  # additive smoothing
    # The log-likelihood ratio (per message, summed over its features) below which it cannot tell.
    # A word seen in one language only is worth about 2-4; a Polish letter settles it before this.
    # Chosen with PIECES_WEIGHT by 5-fold cross-validation on the examples of up to three words (few
    # wrong, few undecided; docs/EVALUATION.md).
    MARGIN = 1.5

    def __init__(self, counts: Dict[str, Dict[str, int]]) -> None:
        self.counts = counts
        self.totals = {lang: sum(counts.get(lang, {}).values()) for lang in LANGUAGES}
        self.size = len({f for lang in LANGUAGES for f in counts.get(lang, {})}) or 1
        self._seen: Dict[str, Tuple[float, float]] = {}  # word feature -> its terms of the score

    @classmethod
    def train(cls, texts: Dict[str, Iterable[str]]) -> "LanguageModel":
        """texts: language -> its examples."""
        return cls({lang: dict(Counter(f for t in texts.get(lang, ()) for f in features(t))) for lang in LANGUAGES})

    def as_dict(self) -> Dict[str, Any]:
        return {"counts": self.counts}

    @classmethod
    def from_dict(cls, data: Dict[str, Any]) -> "LanguageModel":
        return cls(data["counts"])

    def _log_p(self, lang: str, feature: str) -> float:
        return math.log((self.counts[lang].get(feature, 0) + self.ALPHA) / (self.totals[lang] + self.ALPHA * self.size))

    def _ratio(self, feature: str) -> float:
        return self._log_p(POLISH, feature) - self._log_p(ENGLISH, feature)

    def score(self, text: str) -> float:
        """Evidence for Polish over English (log-likelihood ratio), summed over the words: a word seen
        in training counts in full, and the mean of its letter pieces adds one more word's worth (so
        an unseen word, such as an inflected form, still tells). 0 when nothing tells."""
        total = 0.0
        for key, word in _word_keys(text):
            whole, parts = self._terms(key, word)
            total += whole
            total += parts  # 0.0 for a word of no pieces: the same sum, to the bit
        return total

    def _terms(self, key: str, word: Optional[str]) -> Tuple[float, float]:
        """A word's two terms of the score, which depend on the word alone: remembered, as the same words
        come back in message after message, and its pieces made only for a word not seen before."""
        terms = self._seen.get(key)
        if terms is None:
            if len(self._seen) >= 50_000:  # bounded: anyone on the internet can send new words
                self._seen.clear()
            pieces = _pieces(word)
            whole = self._ratio(key) if key in self.counts[POLISH] or key in self.counts[ENGLISH] else 0.0
            parts = PIECES_WEIGHT * sum(self._ratio(p) for p in pieces) / len(pieces) if pieces else 0.0
            terms = self._seen[key] = (whole, parts)
        return terms

    def detect(self, text: str) -> Optional[str]:
        """"pl", "en", or None when the message does not tell (the conversation keeps its language)."""
        if POLISH_LETTERS.search(text):
            return POLISH
        s = self.score(text)
        if s >= self.MARGIN:
            return POLISH
        if s <= -self.MARGIN:
            return ENGLISH
        return None


def evaluate(model: LanguageModel, labelled: Iterable[Tuple[str, Optional[str]]]) -> Dict[str, Any]:
    """Accuracy on (text, expected) pairs; expected None means "cannot tell" (no language emitted),
    and a message that may be either is counted right when nothing is emitted for it."""
    rows = [(text, expected, model.detect(text)) for text, expected in labelled]
    wrong = [(t, e, got) for t, e, got in rows if got != e]
    return {"total": len(rows), "right": len(rows) - len(wrong), "wrong": wrong}


def _main(argv: Optional[List[str]] = None) -> int:
    """Accuracy of the detector trained on data/nlu on a labelled file such as tests/nlu/language.yml."""
    import argparse
    from pathlib import Path

    import yaml
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("labelled", type=Path)
    parser.add_argument("--data", type=Path, default=Path("data/nlu"), help="training examples; <data>/pl are Polish")
    parser.add_argument("--conversations", type=Path, nargs="*", default=[],
                        help="blind conversation sets (tests/eval/): the language in context, totals only")
    args = parser.parse_args(argv)
    texts: Dict[str, List[str]] = {ENGLISH: [], POLISH: []}
    for file in sorted(args.data.rglob("*.yml")):
        data = RasaYAMLReader().reads(file.read_text(encoding="utf-8"))
        language = POLISH if (args.data / "pl") in file.parents else ENGLISH
        texts[language] += [m.get("text") for m in data.intent_examples if m.get("text")]
    model = LanguageModel.train(texts)
    # 5-fold cross-validation on the training examples of up to three words (how MARGIN and
    # PIECES_WEIGHT were chosen): right, undecided (the conversation keeps its language), wrong
    items = [(t, language) for language, ts in texts.items() for t in ts]
    folds, tally = 5, Counter()
    for k in range(folds):
        fold = LanguageModel.train({lang: [t for i, (t, l) in enumerate(items) if i % folds != k and l == lang] for lang in LANGUAGES})
        for t, language in items[k::folds]:
            if len(t.split()) <= 3:
                got = fold.detect(t)
                tally["right" if got == language else "undecided" if got is None else "wrong"] += 1
    print(f"cross-validation, training examples of up to 3 words: {tally['right']} right, {tally['undecided']} undecided, "
          f"{tally['wrong']} wrong of {sum(tally.values())}")
    labelled = yaml.safe_load(args.labelled.read_text(encoding="utf-8"))
    pairs = [(str(text), None if language == "none" else language) for language, items in labelled.items() for text in items]
    result = evaluate(model, pairs)
    for language in ("en", "pl", "none"):
        expected = None if language == "none" else language
        rows = [(t, e) for t, e in pairs if e == expected]
        right = sum(1 for t, e in rows if model.detect(t) == e)
        print(f"{language}: {right}/{len(rows)}")
    print(f"all: {result['right']}/{result['total']} ({100 * result['right'] / result['total']:.1f}%)")
    for text, expected, got in result["wrong"]:
        print(f"  {text!r}: expected {expected}, got {got}")
    for path in args.conversations:
        print(f"{path}, in context: {in_context(model, yaml.safe_load(path.read_text(encoding='utf-8'))['conversations'])}")
    return 0


def in_context(model: LanguageModel, conversations: List[Dict[str, Any]]) -> str:
    """The conversation's language after each turn that names the language of its reply: the one
    detected, else the one it had (a conversation starts in English), as the `language` slot does.
    Totals only: the sets are blind, their failures are not for reading."""
    tally = Counter()
    for conversation in conversations:
        language = ENGLISH
        for turn in conversation["turns"]:
            language = model.detect(turn["user"]) or language
            if turn.get("language"):
                short = "short " if len(turn["user"].split()) <= 2 else ""
                tally[short + "total"] += 1
                tally[short + "right"] += language == turn["language"]
    return (f"{tally['right'] + tally['short right']}/{tally['total'] + tally['short total']} turns in the right language "
            f"(one- and two-word messages {tally['short right']}/{tally['short total']})")


if __name__ == "__main__":
    raise SystemExit(_main())
