"""Held-out intent accuracy: the one scoring of questions the model was never trained on.

Used by `make test-bot` (staff/test_bot.py), the held-out tests (tests/test_nlu_heldout.py) and the
benchmark (bench/run.py), so that all three count a question as understood in the same way: the
intent the trained assistant gives it is the one the set labels it with.

Usage: python -m staff.evaluation [--model FILE] [--misses] SET.yml ...  (totals per set; `--misses`
lists the misunderstood questions too: not for the sets kept blind, tests/nlu/heldout_blind.yml and
heldout_fresh.yml, docs/EVALUATION.md)
"""
import argparse
import asyncio
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from rasa.shared.nlu.training_data.loading import load_data
from rasa.shared.nlu.training_data.message import Message

MIN_ACCURACY = 0.90  # on tests/nlu/heldout.yml: the pass mark of `make test-bot` and of the tests


@dataclass(frozen=True)
class Miss:
    """A question understood as another intent."""

    text: str
    expected: str
    got: str
    confidence: float


@dataclass
class Score:
    total: int = 0
    misses: List[Miss] = field(default_factory=list)
    per_intent: Counter = field(default_factory=Counter)  # (labelled intent, understood?) -> questions

    @property
    def right(self) -> int:
        return self.total - len(self.misses)

    @property
    def accuracy(self) -> float:
        return self.right / self.total if self.total else 0.0

    def by_intent(self) -> Dict[str, Tuple[int, int]]:
        """Labelled intent -> (understood, asked)."""
        intents = sorted({intent for intent, _ in self.per_intent})
        return {i: (self.per_intent[i, True], self.per_intent[i, True] + self.per_intent[i, False]) for i in intents}


def questions(path: Path) -> List[Message]:
    """The labelled questions of a held-out set in Rasa's NLU format."""
    return load_data(str(path)).intent_examples


async def score(agent: Any, examples: List[Message]) -> Score:
    """Ask the trained assistant (a rasa Agent) each question; what it understood."""
    result = Score(total=len(examples))
    for example in examples:
        expected = example.get("intent")
        intent = (await agent.parse_message(example.get("text")))["intent"]
        result.per_intent[expected, intent["name"] == expected] += 1
        if intent["name"] != expected:
            result.misses.append(Miss(example.get("text"), expected, intent["name"], intent["confidence"]))
    return result


def main(argv: Optional[List[str]] = None) -> int:
    from rasa.core.agent import Agent

    from staff import setup_model_tool
    from staff.conversations import MODEL

    setup_model_tool()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", type=Path, nargs="+")
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--misses", action="store_true", help="list the misunderstood questions")
    args = parser.parse_args(argv)
    agent = Agent.load(str(args.model))
    for path in args.sets:
        result = asyncio.run(score(agent, questions(path)))
        lines = [f"{path}: {result.right}/{result.total} understood ({result.accuracy:.1%})"]
        if args.misses:
            lines += [f"  {m.text!r}: {m.expected}, understood as {m.got} ({m.confidence:.2f})" for m in result.misses]
        logging.getLogger("staff.evaluation").info("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
