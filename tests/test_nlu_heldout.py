"""Intent accuracy on questions the model never saw.

tests/nlu/heldout.yml has guided additions to the training data (its misses showed what users say
that the data lacked), so it flatters the model a little; tests/nlu/heldout_fresh.yml and
heldout_blind.yml were written later, blind, and are only measured; heldout_dev.yml was written
blind and then tuned on. Each must stay above its floor; the reports have each.
"""
import re
from typing import Dict, List

import pytest
from rasa.nlu.classifiers.diet_classifier import DIETClassifier
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

from staff.evaluation import MIN_ACCURACY, questions, score
from tests.conftest import ROOT

TRAINING = ROOT / "data" / "nlu"
# held-out set -> the lowest accuracy accepted, a few points under the figure measured (docs/EVALUATION.md);
# heldout_dev and heldout_dev3 (written blind 2026-11-27, then read and tuned on) are here for their floors and overlap checks
SETS = {"heldout": MIN_ACCURACY, "heldout_fresh": 0.77, "heldout_blind": 0.90, "heldout_dev": 0.94, "heldout_dev3": 0.90, "heldout_final": 0.94}
REPORTS = ROOT / "reports"


def _words(text: str) -> str:
    """A question as its words only: case and punctuation do not make it a new question."""
    return " ".join(re.sub(r"[^\w\s]", "", text.lower()).split())


def _examples(name: str) -> List[Message]:
    return questions(ROOT / "tests" / "nlu" / f"{name}.yml")


@pytest.mark.parametrize("name", SETS)
def test_heldout_questions_are_not_in_training_data(name: str) -> None:
    seen = {_words(m.get("text")) for m in load_data(str(TRAINING)).intent_examples}
    overlap = [m.get("text") for m in _examples(name) if _words(m.get("text")) in seen]
    assert not overlap, f"held-out questions also in training data: {overlap}"


@pytest.mark.parametrize("name", SETS)
async def test_heldout_intent_accuracy(agent, name: str) -> None:
    examples = _examples(name)
    assert len(examples) >= 50
    result = await score(agent, examples)
    REPORTS.mkdir(exist_ok=True)
    lines = [f"{name} intent accuracy: {result.accuracy:.1%} ({result.right}/{result.total})"]
    lines += [f"  {intent}: {right}/{asked}" for intent, (right, asked) in result.by_intent().items()]
    lines += ["misclassified:"] + [f"  {m.text!r}: expected {m.expected}, got {m.got} ({m.confidence:.2f})" for m in result.misses]
    (REPORTS / f"{name}_intents.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    assert result.accuracy >= SETS[name], "\n".join(lines)


async def test_diet_is_asked_only_when_the_logistic_regression_is_unsure(agent, monkeypatch) -> None:
    """rasa_addons.nlu.BackupDIETClassifier: confident messages never reach DIET, unsure ones do."""
    asked: List[str] = []
    unsure_first: Dict[str, bool] = {}
    diet_process, should_fallback = DIETClassifier.process, FallbackClassifier._should_fallback

    def spy_diet(self, messages):
        asked.extend(m.get(TEXT) for m in messages)
        return diet_process(self, messages)

    def spy_rule(self, message):  # first asked by the backup DIET, about the logistic regression's guess
        verdict = should_fallback(self, message)
        unsure_first.setdefault(message.get(TEXT), verdict)
        return verdict

    monkeypatch.setattr(DIETClassifier, "process", spy_diet)
    monkeypatch.setattr(FallbackClassifier, "_should_fallback", spy_rule)
    texts = ("hi", "what's your phone number?", "list the things i can ask", "and so on then", "well hmm", "tell", "maybe", "right so")
    for text in texts:
        await agent.parse_message(text)
    unsure = [t for t in texts if unsure_first[t]]  # the fallback's rule: low confidence, or two intents too close
    assert unsure, f"none of {texts} is unsure now: add a vaguer one"
    assert asked == unsure and "hi" not in asked and "what's your phone number?" not in asked


def test_the_evaluation_command_gives_each_sets_totals_and_on_request_its_misses(agent, monkeypatch, capsys, tmp_path) -> None:
    """`python -m staff.evaluation SET.yml ...` (the figures quoted in docs/EVALUATION.md)."""
    from rasa.core.agent import Agent

    from staff import evaluation

    mini = tmp_path / "mini.yml"
    mini.write_text('version: "3.1"\nnlu:\n- intent: ask_contact\n  examples: |\n    - what is your phone number?\n'
                    "- intent: goodbye\n  examples: |\n    - hello there\n")
    monkeypatch.setattr(Agent, "load", lambda *args, **kwargs: agent)
    assert evaluation.main([str(mini)]) == 0
    out = capsys.readouterr().out
    assert f"{mini}: 1/2 understood (50.0%)" in out and "hello there" not in out
    evaluation.main([str(mini), "--misses"])
    assert "'hello there': goodbye, understood as greet" in capsys.readouterr().out
