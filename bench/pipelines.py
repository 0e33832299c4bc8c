"""Which NLU pipeline: held-out intent accuracy and training time of candidate pipelines.

Each candidate is the project's config.yml with its intent classifier or features swapped; each is
trained (NLU only) and scored on both held-out sets (tests/nlu/heldout.yml, heldout_fresh.yml),
in one run on this machine.

    .venv/bin/python bench/pipelines.py
"""
import copy
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import accuracy, run_rasa  # noqa: E402

logger = logging.getLogger("pipelines")

DIET = {"name": "DIETClassifier", "epochs": 100, "entity_recognition": False, "constrain_similarities": True}
CLASSIFIER = "rasa_addons.nlu.TunedLogisticRegressionClassifier"
BACKUP = "rasa_addons.nlu.BackupDIETClassifier"


def _swap(pipeline: List[Dict[str, Any]], name: str, new: Any) -> List[Dict[str, Any]]:
    """The pipeline with component `name` replaced by `new` (a dict, or None to drop it)."""
    return [new if c["name"] == name else c for c in pipeline if not (c["name"] == name and new is None)]


def candidates(base: List[Dict[str, Any]]) -> Dict[str, List[Dict[str, Any]]]:
    char = next(c for c in base if c.get("analyzer") == "char_wb")
    words = next(c for c in base if c["name"] == "CountVectorsFeaturizer" and "analyzer" not in c)
    classifier = next(c for c in base if c["name"] == CLASSIFIER)
    alone = _swap(base, BACKUP, None)  # the logistic regression without the DIET behind it
    return {
        "config.yml: LogReg C=%g, small DIET when unsure" % classifier["C"]: base,
        "LogReg alone": alone,
        "LogReg alone, C=1 (Rasa's fixed value)": _swap(alone, CLASSIFIER, dict(classifier, C=1)),
        "LogReg alone, words 1 only": [dict(c, max_ngram=1) if c is words else c for c in alone],
        "LogReg alone, no char n-grams": [c for c in alone if c is not char],
        "DIET alone, Rasa's default size, 100 epochs": _swap(alone, CLASSIFIER, DIET),
        "DIET alone, 1 transformer layer of 64, 60 epochs": _swap(
            alone, CLASSIFIER, dict(DIET, epochs=60, number_of_transformer_layers=1, transformer_size=64)),
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    rows = []
    with tempfile.TemporaryDirectory(prefix="umb-pipelines-") as tmp:
        work = Path(tmp)
        for i, (label, pipeline) in enumerate(candidates(config["pipeline"]).items()):
            path = work / f"config{i}.yml"
            path.write_text(yaml.safe_dump({**copy.deepcopy(config), "pipeline": pipeline}))
            seconds, _ = run_rasa(["train", "nlu", "--config", str(path), "--out", str(work), "--fixed-model-name", f"m{i}"],
                                  ROOT, work / f"cache{i}")
            scores = accuracy(work / f"m{i}.tar.gz")
            logger.info("%s: %s in %.0f s", label, scores, seconds)
            rows.append(f"| {label} | {100 * scores['heldout']:.1f} % | {100 * scores['fresh']:.1f} % "
                        f"| {100 * scores['both']:.1f} % | {seconds:.0f} s |")
    print("\n| NLU pipeline | held-out (169) | fresh held-out (60) | both | train (NLU only) |\n| --- | ---: | ---: | ---: | ---: |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
