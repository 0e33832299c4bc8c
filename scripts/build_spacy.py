"""Build the spaCy pipeline the NLU uses, offline, from what PyPI ships.

Pretrained spaCy models cannot be downloaded here, so the pipeline is a blank English one (spaCy's
rule-based tokenizer) with a lookup lemmatizer whose tables come from the `spacy-lookups-data`
package. Rasa's SpacyNLP component loads it from the folder this script writes.
"""
import logging
import sys
from pathlib import Path

import spacy

logger = logging.getLogger(__name__)

DEFAULT_TARGET = Path("build/spacy_en_umb")


def build(target: Path = DEFAULT_TARGET) -> Path:
    """Create the pipeline and save it to `target` (replacing what is there)."""
    nlp = spacy.blank("en")
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    nlp.initialize()
    nlp.meta["name"] = "en_umb"
    nlp.meta["description"] = "Blank English tokenizer + lookup lemmatizer, built offline"
    target.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(target)
    logger.info("spaCy pipeline written to %s (%s)", target, ", ".join(nlp.pipe_names))
    return target


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_TARGET)
