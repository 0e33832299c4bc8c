"""Intent accuracy on questions the model never saw (tests/nlu/heldout.yml); must stay >= 90%."""
import re
from collections import Counter

from rasa.shared.nlu.training_data.loading import load_data

from tests.conftest import ROOT

HELDOUT = ROOT / "tests" / "nlu" / "heldout.yml"
TRAINING = ROOT / "data" / "nlu"
REPORT = ROOT / "reports" / "heldout_intents.txt"
MIN_ACCURACY = 0.90


def _words(text: str) -> str:
    """A question as its words only: case and punctuation do not make it a new question."""
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def test_heldout_questions_are_not_in_training_data() -> None:
    seen = {_words(m.get("text")) for m in load_data(str(TRAINING)).intent_examples}
    overlap = [m.get("text") for m in load_data(str(HELDOUT)).intent_examples if _words(m.get("text")) in seen]
    assert not overlap, f"held-out questions also in training data: {overlap}"


async def test_heldout_intent_accuracy(agent) -> None:
    examples = load_data(str(HELDOUT)).intent_examples
    assert len(examples) >= 150
    misses = []
    per_intent: Counter = Counter()
    for example in examples:
        expected = example.get("intent")
        parsed = await agent.parse_message(example.get("text"))
        got = parsed["intent"]["name"]
        per_intent[expected, got == expected] += 1
        if got != expected:
            misses.append(f"{example.get('text')!r}: expected {expected}, got {got} ({parsed['intent']['confidence']:.2f})")
    accuracy = 1 - len(misses) / len(examples)
    REPORT.parent.mkdir(exist_ok=True)
    lines = [f"held-out intent accuracy: {accuracy:.1%} ({len(examples) - len(misses)}/{len(examples)})"]
    lines += [f"  {intent}: {per_intent[intent, True]}/{per_intent[intent, True] + per_intent[intent, False]}"
              for intent in sorted({i for i, _ in per_intent})]
    lines += ["misclassified:"] + [f"  {m}" for m in misses]
    REPORT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    assert accuracy >= MIN_ACCURACY, "\n".join(lines)
