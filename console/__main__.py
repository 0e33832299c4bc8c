"""`python -m console`: the staff console on STAFF_HOST:STAFF_PORT (default 127.0.0.1:5006).

`make run` starts it beside the assistant (scripts/serve.py); it reads the same settings (.env),
tracker store, facts file and training data.
"""
import argparse
import logging
import os
import sys
import warnings
from pathlib import Path
from typing import List, Optional

from console.settings import ROOT, Settings, load_env, session_secret
from rasa_addons import logs

logger = logging.getLogger("console")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="address to listen on (default: STAFF_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default: STAFF_PORT or 5006)")
    args = parser.parse_args(argv)
    os.chdir(ROOT)  # the endpoints file and the SQLite path are relative to the project
    load_env()
    if logs.configure() is None:
        return 1
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # Rasa's dependencies' noise, not ours
    # imported here: they load Rasa's tracker store code, not needed for --help
    from actions.facts import FactsError
    from console.app import Console, check_facts_file, create_app
    from staff.unanswered import fallback_action, tracker_db_url

    try:
        settings = Settings.from_env()
        settings.secret = session_secret()
        check_facts_file(settings)
    except (ValueError, FactsError) as e:
        logger.error("The staff console cannot start: %s", e)
        return 1
    settings.host, settings.port = args.host or settings.host, args.port or settings.port
    url = tracker_db_url(Path(os.environ.get("RASA_ENDPOINTS", "endpoints.yml")))
    app = create_app(Console(settings, url, fallback_action(Path("config.yml"))))
    logger.info("Staff console on http://%s:%s/ (accounts: make staff-user NAME=...)", settings.host, settings.port)
    app.run(host=settings.host, port=settings.port, access_log=False, motd=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
