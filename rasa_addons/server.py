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
- it keeps the loaded model out of Python's full garbage collections (rasa_addons.gc_freeze);
- it makes the stop graceful: on SIGTERM the server says it is not ready and goes on serving for
  STOP_NOTICE seconds (default 0), then stops taking connections, finishes the requests it holds
  (closing their connections after the reply) and exits; a request still running after
  GRACEFUL_TIMEOUT seconds (default 15, Sanic's GRACEFUL_SHUTDOWN_TIMEOUT) is cut;
- it logs one line per user message (rasa_addons.logs), in JSON with every other line when
  LOG_FORMAT=json;
- it says how many worker processes will serve (SANIC_WORKERS, which Rasa honours only with a Redis
  or custom lock store, silently otherwise), and runs them supervised: a worker that dies is started
  again while the others serve on, and no worker outlives the server's main process.

`worker_plan` is the rule by which `make run` (scripts/serve.py) chooses the number of workers
(RASA_WORKERS, LOCK_STORE; docs/DEPLOY.md, "Workers").

Importing a module of this project never patches Rasa; only this entry point does, explicitly, so
no server runs with the fixes by chance or without them by accident.
"""
import asyncio
import functools
import importlib.metadata
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import yaml

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
    own, and add the health endpoints, the model switch for every worker (rasa_addons.model_sync) and the
    model kept out of full garbage collections (rasa_addons.gc_freeze); with `json_logs`, the loggers Sanic has just set up write JSON."""
    import rasa.core.run

    from rasa_addons import gc_freeze, health, model_sync

    configure_app = getattr(rasa.core.run.configure_app, "__wrapped__", rasa.core.run.configure_app)

    @functools.wraps(configure_app)
    def configured(*args: Any, **kwargs: Any) -> Any:
        app = configure_app(*args, **kwargs)
        app.config.update(dict(timeouts))
        health.register(app)
        model_sync.register(app)
        gc_freeze.register(app)
        if json_logs:
            logs.use_json()
        root_level = logging.getLogger().level

        async def restore_log_level(_app: Any, _loop: Any) -> None:
            # loading the model imports numpy.distutils, whose log (setuptools') sets the root
            # logger to WARNING: every INFO line after it, the one per message too, would be lost
            logging.getLogger().setLevel(root_level)
            # Rasa's "Rasa server is up and running." was lost that way: said again, once per worker
            logger.info("Rasa server up: model loaded, serving (pid %d)", os.getpid())

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
    from rasa_addons import inprocess, speedups

    version = check_rasa_version(lock)
    speedups.apply()
    inprocess.apply()
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


# --- worker processes -----------------------------------------------------------------------------

# The lock store make run adds to an endpoints file that has none when LOCK_STORE=redis (as in
# endpoints.scaled.yml): the ${...} are filled in by Rasa from REDIS_* (defaults in scripts/serve.py).
REDIS_LOCK_STORE = """
# Added by `make run` (LOCK_STORE=redis, rasa_addons/server.py): one message at a time per conversation
# across the worker processes (Rasa's RedisLockStore, with atomic ticket updates: rasa_addons/stores.py)
lock_store:
  type: rasa_addons.stores.AtomicRedisLockStore
  url: ${REDIS_HOST}
  port: ${REDIS_PORT}
  db: ${REDIS_DB}
  key_prefix: ${REDIS_KEY_PREFIX}
"""


@dataclass
class WorkerPlan:
    """How many worker processes `make run` starts, and whether it adds the Redis lock store."""

    workers: int
    add_lock_store: bool
    why: str


def cores() -> int:
    """The cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def file_lock_store(endpoints: Path) -> Optional[str]:
    """The lock store type an endpoints file names (None: none, Rasa's in-memory one)."""
    section = (yaml.safe_load(endpoints.read_text()) or {}).get("lock_store") or {}
    kind = str(section.get("type") or "").strip()
    return None if kind in ("", "in_memory") else kind


def worker_plan(env: Mapping[str, str], lock_store_in_file: Optional[str], redis_answers: Callable[[], bool],
                cpu_count: Optional[int] = None) -> WorkerPlan:
    """The worker rule of `make run` (docs/DEPLOY.md, "Workers").

    Several workers need one lock store for all of them (Rasa 3.6 runs SANIC_WORKERS workers only with
    a Redis or custom lock store: an in-memory lock would let two workers answer one conversation at
    once). So: LOCK_STORE=redis (or an endpoints file with a lock store, endpoints.scaled.yml) gives
    RASA_WORKERS workers, `auto` (the default) meaning one per core; without it, 1 worker whatever
    RASA_WORKERS says. LOCK_STORE=redis adds the Redis lock store to a file without one, if Redis
    answers; if it does not, 1 worker and no lock store, so `make run` still works without Redis.
    """
    lock = (env.get("LOCK_STORE") or "memory").strip().lower()
    if lock not in ("memory", "redis"):
        raise ValueError(f"LOCK_STORE must be memory or redis, not {env.get('LOCK_STORE')!r}")
    asked = (env.get("RASA_WORKERS") or "auto").strip().lower()
    if asked != "auto" and not (asked.isdigit() and int(asked) >= 1):
        raise ValueError(f"RASA_WORKERS must be auto or a whole number from 1, not {env.get('RASA_WORKERS')!r}")
    add = False
    if lock_store_in_file:
        why = f"lock store {lock_store_in_file} in the endpoints file"
    elif lock == "redis":
        if not redis_answers():
            return WorkerPlan(1, False, "LOCK_STORE=redis, but Redis does not answer: 1 worker, locks in memory")
        add, why = True, "LOCK_STORE=redis: Redis lock store added"
    else:
        if asked not in ("auto", "1"):
            return WorkerPlan(1, False, f"RASA_WORKERS={asked} needs LOCK_STORE=redis: 1 worker, locks in memory")
        return WorkerPlan(1, False, "locks in memory (LOCK_STORE=memory): 1 worker")
    workers = (cpu_count or cores()) if asked == "auto" else int(asked)
    return WorkerPlan(workers, add, f"{why}; RASA_WORKERS={asked}")


def redis_answers(env: Mapping[str, str], timeout: float = 2.0) -> bool:
    """Whether the Redis of REDIS_* answers a PING."""
    import redis

    try:
        client = redis.Redis(host=env.get("REDIS_HOST") or "127.0.0.1", port=int(env.get("REDIS_PORT") or 6379),
                             db=int(env.get("REDIS_DB") or 0), password=env.get("REDIS_PASSWORD") or None,
                             socket_timeout=timeout, socket_connect_timeout=timeout)
        return bool(client.ping())
    except Exception as e:
        logger.warning("Redis at %s:%s does not answer (%s: %s)", env.get("REDIS_HOST") or "127.0.0.1",
                       env.get("REDIS_PORT") or 6379, type(e).__name__, e)
        return False


def with_lock_store(endpoints: Path, out: Path) -> Path:
    """A copy of the endpoints file with the Redis lock store added (`out`)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(endpoints.read_text().rstrip("\n") + "\n" + REDIS_LOCK_STORE)
    return out


# a worker that dies this soon after the one before it, this many times in a row, is not started again
WORKER_RESTART_WINDOW = 60.0
WORKER_RESTARTS_MAX = 5
WORKERS_FAILED: List[bool] = []  # set when serve_workers gave up: the exit code is then 1


def _bind_to_parent(parent: int) -> None:
    """In a worker: be sent SIGTERM when the main process dies (even by kill -9), so no worker
    keeps the port after it: the supervisor could then never start the server again."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


class TablesRace(logging.Filter):
    """Workers starting on a new database each create its tables; all but the first find them made
    in between and Rasa logs that as an ERROR ("Could not create tables: ... already exists"), though
    the tables are there: said at INFO instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno == logging.ERROR and "Could not create tables" in str(record.msg) and "already exists" in str(record.msg):
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg = "Tables created by another worker"
            record.args = ()
        return True


def serve_workers(server_settings: Dict[str, Any], workers: int) -> None:
    """Sanic 21.12's serve_multiple (one listening socket, `workers` forked processes), supervised:
    a worker that dies (crash, kill, out of memory) is started again while the others go on serving;
    Sanic's own waits for the workers in turn and never notices. SIGTERM/SIGINT stop the workers,
    each finishing its requests (its graceful stop). Workers that keep dying (WORKER_RESTARTS_MAX in
    a row, each within WORKER_RESTART_WINDOW s) stop the server, exit code 1, for its supervisor."""
    from sanic.server.events import trigger_events
    from sanic.server.runners import serve
    from sanic.server.socket import bind_socket

    server_settings["reuse_port"] = True
    server_settings["run_multiple"] = True
    main_start = server_settings.pop("main_start", None)
    main_stop = server_settings.pop("main_stop", None)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    trigger_events(main_start, loop)
    sock = server_settings.get("sock")
    if sock is None:
        sock = bind_socket(server_settings["host"], server_settings["port"], backlog=server_settings["backlog"])
        sock.set_inheritable(True)
        server_settings.update(sock=sock, host=None, port=None)
    parent = os.getpid()
    stopping: List[int] = []
    logging.getLogger("rasa.core.tracker_store").addFilter(TablesRace())

    def run_worker() -> None:
        # A worker forked after `stop` below was installed (a replacement) inherits it as its SIGTERM
        # handler: a SIGTERM while it loads the model (seconds, before Sanic installs its own) would run
        # the main process's handler in the worker and be swallowed, and the worker would then serve on
        # after the server stopped (seen in tests/test_workers.py). Until Sanic's, the defaults.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        _bind_to_parent(parent)
        serve(**server_settings)

    context = multiprocessing.get_context("fork")

    def start() -> multiprocessing.process.BaseProcess:
        process = context.Process(target=run_worker, daemon=True)
        process.start()
        return process

    def stop(signum: int, _frame: Any) -> None:
        logger.info("Received signal %s: stopping the %d workers", signal.Signals(signum).name, len(processes))
        stopping.append(signum)
        for process in processes:
            if process.is_alive():
                os.kill(process.pid, signal.SIGTERM)

    processes = [start() for _ in range(workers)]
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    logger.info("Serving with %d worker processes (pids %s)", workers, " ".join(str(p.pid) for p in processes))
    deaths: List[float] = []
    failed = False
    while processes:
        multiprocessing.connection.wait([p.sentinel for p in processes])
        for process in [p for p in processes if not p.is_alive()]:
            processes.remove(process)
            process.join()
            if stopping or failed:
                continue
            code = process.exitcode or 0
            how = f"killed by signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
            now = time.monotonic()
            deaths = [t for t in deaths if now - t < WORKER_RESTART_WINDOW] + [now]
            if len(deaths) > WORKER_RESTARTS_MAX:
                logger.error("Worker pid %s died (%s), %d workers died within %g s: stopping the server",
                             process.pid, how, len(deaths), WORKER_RESTART_WINDOW)
                failed = True
                stop(signal.SIGTERM, None)
                continue
            replacement = start()
            processes.append(replacement)
            logger.error("Worker pid %s died (%s); started worker pid %s in its place (the others serve meanwhile)",
                         process.pid, how, replacement.pid)
    trigger_events(main_stop, loop)
    sock.close()
    loop.close()
    if failed:
        WORKERS_FAILED.append(True)


def supervise_workers() -> None:
    """Sanic runs several workers with serve_workers instead of its own serve_multiple."""
    import sanic.app

    sanic.app.serve_multiple = serve_workers


def log_workers(endpoints: Optional[str], env: Mapping[str, str] = os.environ) -> int:
    """How many workers Rasa will start (its own rule, rasa.core.utils.number_of_sanic_workers), said
    at INFO, and a warning when SANIC_WORKERS asks for more than Rasa allows (Rasa says it at DEBUG)."""
    from rasa.core.utils import number_of_sanic_workers
    from rasa.utils.endpoints import read_endpoint_config

    try:
        lock_store = read_endpoint_config(endpoints, "lock_store") if endpoints else None
    except Exception:  # e.g. a ${VARIABLE} not set: Rasa says so itself when it reads the file
        return 1
    workers = number_of_sanic_workers(lock_store)
    asked = env.get("SANIC_WORKERS") or "1"
    if asked.strip() not in ("", "1") and workers == 1:
        logger.warning("SANIC_WORKERS=%s, but Rasa runs several workers only with a Redis (or custom) lock store "
                       "in the endpoints file: 1 worker", asked)
    logger.info("Rasa server: %d worker process%s", workers, "es" if workers > 1 else "")
    return workers


def _option(args: List[str], name: str) -> Optional[str]:
    """The value of `--name value` or `--name=value` in `rasa run`'s arguments."""
    for i, arg in enumerate(args):
        if arg == name and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return None


def import_skops_first() -> None:
    """Import skops (the format of the logistic regression's file) before Rasa and TensorFlow.

    On import it names the numpy and scipy functions it trusts, finding each one's module by a walk
    over every module loaded (pickle.whichmodule): about 1 s with numpy and scipy alone, 6 s or more
    once Rasa has loaded TensorFlow's thousands, at every start of a server or of an in-process
    model (staff.conversations, the tests). The names it finds are the same. Its scan imports
    numpy.distutils, which turns the root logger into its own print-based logger (a line logged on
    the root would bypass the handlers, LOG_FORMAT=json's too): the root logger is made Python's again."""
    import skops.io  # noqa: F401

    root = logging.getLogger()
    if type(root) is not logging.RootLogger:
        root.__class__ = logging.RootLogger


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    import_skops_first()
    if logs.configure() is None:
        return 2
    if args[:1] != ["run"]:
        logger.error("Usage: python -m rasa_addons.server run <arguments of `rasa run`>")
        return 2
    try:
        logger.info(prepare())
        supervise_workers()
        log_workers(_option(args, "--endpoints") or "endpoints.yml")
    except (RasaVersionError, ValueError) as e:
        logger.error("%s", e)
        return 1
    from rasa.__main__ import main as rasa_main

    sys.argv = ["rasa", *args]  # Rasa's CLI reads its arguments from there
    rasa_main()
    return 1 if WORKERS_FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
