"""`make train`: train the model, say where it is and how long it took, hand it to the running assistant.

`make` calls this only when a training file changed (config.yml, domain.yml, data/ except the
facts); Rasa's own fingerprinting then retrains only the parts of the model those changes affect
(the rest comes from its cache in .rasa/). A running assistant is switched over to the new model
with Rasa's `PUT /model`, which loads the new model beside the old one and swaps them, so it keeps
answering meanwhile. That needs Rasa's HTTP API, which scripts/serve.py turns on only behind
RASA_AUTH_TOKEN (from .env); without it the new model is used from the next `make run`. With several
instances (endpoints.scaled.yml), RASA_URLS names them all: each one is switched, and the switch
counts as done only when every one of them took the new model.

Usage: python -m staff.train [--no-reload | --reload-only [--model FILE]]
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from dotenv import load_dotenv

from staff import setup_logging

logger = logging.getLogger("staff.train")

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "current"
MODEL = Path("models") / f"{MODEL_NAME}.tar.gz"
UNREACHABLE = "no assistant answers there"


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


def rasa_urls(env: Mapping[str, str] = os.environ) -> List[str]:
    """The Rasa servers to switch: RASA_URLS (space separated, one per instance), else the one that
    RASA_URL or RASA_PORT gives; a model switched on only some instances would answer differently."""
    urls = [url.rstrip("/") for url in (env.get("RASA_URLS") or "").split()]
    return urls or [env.get("RASA_URL") or f"http://127.0.0.1:{env.get('RASA_PORT') or '5005'}"]


def _switch_one(url: str, token: str, model: Path) -> Optional[str]:
    """PUT /model on one server: None when it switched, else why not (in words for the staff)."""
    request = urllib.request.Request(
        f"{url}/model?{urllib.parse.urlencode({'token': token})}", method="PUT",
        data=json.dumps({"model_file": str(model.resolve())}).encode(), headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=300):
            return None
    except urllib.error.HTTPError as e:
        return {
            401: "it refused the token: RASA_AUTH_TOKEN in .env must be the one the assistant was started with",
            403: "it refused the token: RASA_AUTH_TOKEN in .env must be the one the assistant was started with",
            404: "its HTTP API is off: start it with RASA_AUTH_TOKEN set in .env",
            405: "its HTTP API is off: start it with RASA_AUTH_TOKEN set in .env",
        }.get(e.code, f"it answered {e.code}: {e.read().decode(errors='replace')[:300]}")
    except (urllib.error.URLError, OSError) as e:
        return f"{UNREACHABLE} ({getattr(e, 'reason', e)})"


@dataclass
class Switch:
    """Which Rasa servers took the new model and which did not (with why); true only when all did."""
    switched: List[str] = field(default_factory=list)
    failed: Dict[str, str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.switched) and not self.failed


def reload_all(urls: List[str], token: Optional[str], model: Path) -> Switch:
    """Switch every server in `urls` to `model`, one after the other (each keeps answering while it
    loads); the ones that could not are logged by name with the reason."""
    result = Switch()
    if not token:
        logger.info("The running assistant uses the new model after its next restart (`make run`). "
                    "To switch it over without a restart, set RASA_AUTH_TOKEN in .env (docs/STAFF.md).")
        result.failed = {url: "RASA_AUTH_TOKEN is not set" for url in urls}
        return result
    for url in urls:
        problem = _switch_one(url, token, model)
        if problem is None:
            result.switched.append(url)
            logger.info("The assistant at %s now answers with the new model (switched over without a restart).", url)
            continue
        result.failed[url] = problem
        if problem.startswith(UNREACHABLE):  # nothing running there: no harm, it starts with the new model
            logger.info("No assistant is running at %s (%s): the new model is used from the next `make run`.",
                        url, problem[len(UNREACHABLE):].strip(" ()"))
        else:
            logger.warning("The assistant at %s keeps its old model: %s. Restart it (`make run`) to use the new one.", url, problem)
    if len(urls) > 1:
        if result:
            logger.info("All %d assistants now answer with the new model.", len(urls))
        else:
            logger.warning("Not switched: %d of %d assistants keep their old model (%s)%s.", len(result.failed), len(urls),
                           ", ".join(result.failed), "; until they take it, they answer differently from the others"
                           if result.switched else "")
    return result


def reload(url: str, token: Optional[str], model: Path) -> bool:
    """Ask the Rasa server at `url` to switch to `model` (PUT /model); True when it did."""
    return bool(reload_all([url], token, model))


def main(argv: Optional[List[str]] = None) -> int:
    setup_logging()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-reload", action="store_true", help="do not switch a running assistant over")
    parser.add_argument("--reload-only", action="store_true", help="only switch a running assistant to the current model")
    parser.add_argument("--model", type=Path, default=ROOT / MODEL, help="with --reload-only: the model to switch to "
                        "(default: models/current.tar.gz)")
    args = parser.parse_args(argv)
    load_dotenv(os.environ.get("ENV_FILE") or ROOT / ".env")
    if not args.reload_only and not train():
        return 1
    if not args.no_reload:
        switched = reload_all(rasa_urls(), os.environ.get("RASA_AUTH_TOKEN"), args.model if args.reload_only else ROOT / MODEL)
        if args.reload_only and not switched:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
