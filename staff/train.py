"""`make train`: train the model, say where it is and how long it took, hand it to the running assistant.

`make` calls this only when a training file changed (config.yml, domain.yml, data/ except the
facts); Rasa's own fingerprinting then retrains only the parts of the model those changes affect
(the rest comes from its cache in .rasa/). A running assistant is switched over to the new model
with Rasa's `PUT /model`, which loads the new model beside the old one and swaps them, so it keeps
answering meanwhile. That needs Rasa's HTTP API, which scripts/serve.py turns on only behind
RASA_AUTH_TOKEN (from .env); without it the new model is used from the next `make run`.

Usage: python -m staff.train [--no-reload]
"""
import argparse
import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import List, Optional

from dotenv import load_dotenv

from staff import setup_logging

logger = logging.getLogger("staff.train")

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "current"
MODEL = Path("models") / f"{MODEL_NAME}.tar.gz"


def duration(seconds: float) -> str:
    minutes, seconds = divmod(round(seconds), 60)
    return f"{minutes} min {seconds} s" if minutes else f"{seconds} s"


def train() -> bool:
    """`rasa train` into models/current.tar.gz; True when it worked."""
    rasa = str(Path(sys.executable).with_name("rasa"))
    started = time.monotonic()
    result = subprocess.run([rasa, "train", "--fixed-model-name", MODEL_NAME, "--out", str(MODEL.parent)], cwd=ROOT)
    took = duration(time.monotonic() - started)
    if result.returncode != 0 or not (ROOT / MODEL).exists():
        logger.error("Training failed after %s (see the messages above). Run `make check`: it names the file and line to fix.", took)
        return False
    logger.info("Model trained in %s: %s", took, ROOT / MODEL)
    return True


def reload(url: str, token: Optional[str], model: Path) -> bool:
    """Ask the Rasa server at `url` to switch to `model` (PUT /model); True when it did."""
    if not token:
        logger.info("The running assistant uses the new model after its next restart (`make run`). "
                    "To switch it over without a restart, set RASA_AUTH_TOKEN in .env (docs/STAFF.md).")
        return False
    request = urllib.request.Request(
        f"{url}/model?{urllib.parse.urlencode({'token': token})}", method="PUT",
        data=json.dumps({"model_file": str(model.resolve())}).encode(), headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=300):
            pass
    except urllib.error.HTTPError as e:
        reason = {
            401: "it refused the token: RASA_AUTH_TOKEN in .env must be the one the assistant was started with",
            403: "it refused the token: RASA_AUTH_TOKEN in .env must be the one the assistant was started with",
            404: "its HTTP API is off: start it with RASA_AUTH_TOKEN set in .env",
            405: "its HTTP API is off: start it with RASA_AUTH_TOKEN set in .env",
        }.get(e.code, f"it answered {e.code}: {e.read().decode(errors='replace')[:300]}")
        logger.warning("The assistant at %s keeps its old model: %s. Restart it (`make run`) to use the new one.", url, reason)
        return False
    except (urllib.error.URLError, OSError) as e:
        logger.info("No assistant is running at %s (%s): the new model is used from the next `make run`.", url, getattr(e, "reason", e))
        return False
    logger.info("The assistant at %s now answers with the new model (switched over without a restart).", url)
    return True


def main(argv: Optional[List[str]] = None) -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-reload", action="store_true", help="do not switch a running assistant over")
    parser.add_argument("--reload-only", action="store_true", help="only switch a running assistant to the current model")
    args = parser.parse_args(argv)
    load_dotenv(os.environ.get("ENV_FILE") or ROOT / ".env")
    if not args.reload_only and not train():
        return 1
    if not args.no_reload:
        url = os.environ.get("RASA_URL") or f"http://127.0.0.1:{os.environ.get('RASA_PORT', '5005')}"
        ok = reload(url, os.environ.get("RASA_AUTH_TOKEN"), ROOT / MODEL)
        if args.reload_only and not ok:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
