"""The one way to start the Rasa server: Rasa's own CLI, with this project's patches applied first.

    python -m rasa_addons.server run <arguments of `rasa run`>

used by `make run` (scripts/serve.py) and deploy/rasa.yaml. In this process, before `rasa run`:
- it checks that the installed Rasa is the version pinned in requirements.lock: the patches replace
  pieces of Rasa's own code and are tested against that version only;
- it applies the speed fixes (rasa_addons.speedups);
- it bounds the wait for a custom action to ACTION_TIMEOUT seconds (default 10): Rasa 3.6 waits
  up to 5 minutes (a constant, not a setting), so a hung action server would cost the user minutes;
- it sets the server's timeouts (REQUEST_TIMEOUT, RESPONSE_TIMEOUT, KEEP_ALIVE_TIMEOUT, seconds)
  on the Sanic app Rasa makes, so a slow or idle client cannot hold a connection: Rasa leaves
  Sanic's 60 s to send a request, gives a response an hour and keeps idle connections 120 s;
- it adds the health endpoints /health/live and /health/ready (rasa_addons.health) to that app;
- it makes the stop graceful: on SIGTERM the server says it is not ready and goes on serving for
  STOP_NOTICE seconds (default 0), then stops taking connections, finishes the requests it holds
  (closing their connections after the reply) and exits; a request still running after
  GRACEFUL_TIMEOUT seconds (default 15, Sanic's GRACEFUL_SHUTDOWN_TIMEOUT) is cut;
- it logs one line per user message (rasa_addons.logs), in JSON with every other line when
  LOG_FORMAT=json.

Importing a module of this project never patches Rasa; only this entry point does, explicitly, so
no server runs with the fixes by chance or without them by accident.
"""
import functools
import importlib.metadata
import logging
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional

from rasa_addons import logs

# Rasa (and through it TensorFlow, Sanic-CORS, ...) is imported by the functions that patch it, not
# here: main() sets up logging first, so what those imports log or warn is in the chosen format.

logger = logging.getLogger("rasa_addons.server")

LOCK = Path(__file__).resolve().parent.parent / "requirements.lock"
DEFAULT_ACTION_TIMEOUT = "10"
# seconds: to receive a whole request (a slow client), to answer one (above ACTION_TIMEOUT and
# engine.io's 25 s long-poll), an idle keep-alive connection stays open
TIMEOUTS = {"REQUEST_TIMEOUT": "10", "RESPONSE_TIMEOUT": "60", "KEEP_ALIVE_TIMEOUT": "5"}
# seconds a stopping server waits for the requests it holds: above ACTION_TIMEOUT, so a message
# waiting for a custom action still gets its answer
DEFAULT_GRACEFUL_TIMEOUT = "15"
# seconds a stopping server goes on serving, /health/ready saying 503, before it closes its port
# (rasa_addons.health): 0 for one server; for balancers that follow readiness, above their check interval
DEFAULT_STOP_NOTICE = "0"


class RasaVersionError(RuntimeError):
    """The installed Rasa is not the one the patches were written and tested for."""


def pinned_rasa(lock: Path = LOCK) -> str:
    """The Rasa version requirements.lock pins."""
    for line in lock.read_text().splitlines():
        name, _, version = line.partition("==")
        if name.strip().lower() == "rasa":
            return version.split(";")[0].strip()
    raise RasaVersionError(f"{lock} pins no version of rasa")


def check_rasa_version(lock: Path = LOCK) -> str:
    """The installed Rasa version, if it is the pinned one; RasaVersionError otherwise."""
    installed, pinned = importlib.metadata.version("rasa"), pinned_rasa(lock)
    if installed != pinned:
        raise RasaVersionError(
            f"Rasa {installed} is installed, but {lock.name} pins {pinned}: this project's patches to Rasa "
            "are written and tested for that version only. Run `make setup` to install it."
        )
    return installed


def limit_action_wait(seconds: float) -> None:
    """How long Rasa waits for a custom action before giving up on it."""
    import rasa.core.actions.action

    rasa.core.actions.action.DEFAULT_REQUEST_TIMEOUT = seconds


def server_timeouts(env: Mapping[str, str] = os.environ) -> Dict[str, float]:
    """The Sanic timeouts from the settings (TIMEOUTS for those unset)."""
    timeouts = {}
    for name, default in TIMEOUTS.items():
        value = float(env.get(name) or default)
        if value <= 0:
            raise ValueError(f"{name} must be a positive number of seconds, not {env.get(name)!r}")
        timeouts[name] = value
    return timeouts


def stop_timeouts(env: Mapping[str, str] = os.environ) -> Dict[str, float]:
    """GRACEFUL_TIMEOUT (finishing the requests held) and STOP_NOTICE (serving on while not ready),
    as the app config keys of Sanic and rasa_addons.health."""
    values = {}
    for name, key, default in (("GRACEFUL_TIMEOUT", "GRACEFUL_SHUTDOWN_TIMEOUT", DEFAULT_GRACEFUL_TIMEOUT),
                               ("STOP_NOTICE", "STOP_NOTICE", DEFAULT_STOP_NOTICE)):
        value = float(env.get(name) or default)
        if value < 0:
            raise ValueError(f"{name} must be 0 or more seconds, not {env.get(name)!r}")
        values[key] = value
    return values


def set_server_timeouts(timeouts: Mapping[str, float], json_logs: bool = False) -> None:
    """Set `timeouts` (Sanic config names) on the Sanic app `rasa run` makes, after Rasa sets its
    own, and add the health endpoints; with `json_logs`, the loggers Sanic has just set up write JSON."""
    import rasa.core.run

    from rasa_addons import health

    configure_app = getattr(rasa.core.run.configure_app, "__wrapped__", rasa.core.run.configure_app)

    @functools.wraps(configure_app)
    def configured(*args: Any, **kwargs: Any) -> Any:
        app = configure_app(*args, **kwargs)
        app.config.update(dict(timeouts))
        health.register(app)
        if json_logs:
            logs.use_json()
        root_level = logging.getLogger().level

        async def restore_log_level(_app: Any, _loop: Any) -> None:
            # loading the model imports numpy.distutils, whose log (setuptools') sets the root
            # logger to WARNING: every INFO line after it, the one per message too, would be lost
            logging.getLogger().setLevel(root_level)

        app.register_listener(restore_log_level, "after_server_start")
        return app

    rasa.core.run.configure_app = configured


def keep_json_logs() -> None:
    """Rasa's CLI installs coloured plain-text logging (coloredlogs) on the root logger; keep JSON."""
    import rasa.utils.io

    def json_logging(loglevel: Any = None) -> None:
        logging.getLogger().setLevel(loglevel or os.environ.get("LOG_LEVEL") or "INFO")
        logs.use_json()

    rasa.utils.io.configure_colored_logging = json_logging


def prepare(env: Mapping[str, str] = os.environ, lock: Path = LOCK) -> str:
    """Everything done before Rasa runs; what was done, in one line."""
    from rasa_addons import speedups

    version = check_rasa_version(lock)
    speedups.apply()
    seconds = float(env.get("ACTION_TIMEOUT") or DEFAULT_ACTION_TIMEOUT)
    limit_action_wait(seconds)
    timeouts = server_timeouts(env)
    if timeouts["RESPONSE_TIMEOUT"] <= seconds:
        logger.warning("RESPONSE_TIMEOUT (%g s) is not above ACTION_TIMEOUT (%g s): a slow action gets a 503 "
                       "instead of the office's contact details", timeouts["RESPONSE_TIMEOUT"], seconds)
    stop = stop_timeouts(env)
    graceful = stop["GRACEFUL_SHUTDOWN_TIMEOUT"]
    if graceful <= seconds:
        logger.warning("GRACEFUL_TIMEOUT (%g s) is not above ACTION_TIMEOUT (%g s): a stopping server may cut a "
                       "message waiting for a custom action", graceful, seconds)
    from rasa_addons import health

    health.finish_fresh_connections()
    json_logs = logs.log_format(env) == "json"
    if json_logs:
        keep_json_logs()
    logs.log_messages(env)
    set_server_timeouts({**timeouts, **stop}, json_logs)
    logger.info("Stop: %g s notice, then up to %g s for the requests held; health at /health/live and /health/ready; "
                "%s logs, one line per message", stop["STOP_NOTICE"], graceful, "JSON" if json_logs else "plain")
    return (f"Rasa {version} (as pinned): speed fixes applied, server timeouts request {timeouts['REQUEST_TIMEOUT']:g} s, "
            f"response {timeouts['RESPONSE_TIMEOUT']:g} s, keep-alive {timeouts['KEEP_ALIVE_TIMEOUT']:g} s, "
            f"custom actions bounded to {seconds:g} s")


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        logs.configure()
    except ValueError as e:
        logging.basicConfig(level=logging.INFO, format=logs.PLAIN)
        logger.error("%s", e)
        return 2
    if args[:1] != ["run"]:
        logger.error("Usage: python -m rasa_addons.server run <arguments of `rasa run`>")
        return 2
    try:
        logger.info(prepare())
    except (RasaVersionError, ValueError) as e:
        logger.error("%s", e)
        return 1
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *args]  # Rasa's CLI reads its arguments from there
    rasa_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
