"""Health endpoints of the Rasa server, for probes and load balancers, and its graceful stop.

- `GET /health/live`: 200 while the process serves requests (liveness: restart it if this fails).
- `GET /health/ready`: 200 when it can answer a message: the model is loaded, the custom actions
  load in this process (rasa_addons.inprocess) or the action server answers its /health, the
  tracker store and the lock store answer; 503 otherwise, and from the moment the server is told
  to stop. The body names each check and its state (`ok`, `down`,
  `timeout`, `not loaded`, `stopping`), never a host name or a secret; why a check failed goes to
  the log, once per change.

Each check is bounded by CHECK_TIMEOUT seconds, so a probe never hangs on a hung database; a store
check still running from an earlier probe is awaited, not started again, so probes cannot pile up
threads.

Graceful stop: on SIGTERM (or SIGINT) Sanic closes its port and waits up to its
GRACEFUL_SHUTDOWN_TIMEOUT (set from GRACEFUL_TIMEOUT by rasa_addons.server) for the requests in
progress. Closing a port that still receives connections resets those the kernel has queued but the
server has not taken yet: a balancer that still sends there gets a reset, and must not resend a
POST. So for STOP_NOTICE seconds (app config, from the setting of that name) the server first goes
on serving while /health/ready says 503, time for the balancer (Kubernetes' endpoints, a health-
checking proxy) to stop sending, and only then closes its port. Two more gaps are closed here:
- it would keep a kept-alive connection open after its request, holding the stop up until the
  keep-alive timeout; here a response given while stopping says `Connection: close`, so the server
  exits as soon as its last request is answered;
- it closes every connection that is between requests, also one accepted a moment ago whose request
  has not been read yet: that client (nginx, a balancer) sees the connection closed without an
  answer, and must not resend a POST. `finish_fresh_connections` leaves a connection active in the
  last FRESH_SECONDS open; its request is answered (with `Connection: close`), or the keep-alive
  timeout closes it.

`register(app)` and `finish_fresh_connections()` are called by the entry point (rasa_addons.server).
"""
import asyncio
import functools
import logging
from typing import Any, Awaitable, Callable, Dict, Optional

import aiohttp
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa_addons import inprocess

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 2.0
OK = "ok"
# a connection that had traffic this recently may be about to send a request: not closed at the stop
FRESH_SECONDS = 1.0


def _innermost(store: Any) -> Any:
    """The store Rasa wraps (FailSafeTrackerStore, AwaitableTrackerStore) in its wrappers."""
    while hasattr(store, "_tracker_store"):
        store = store._tracker_store
    return store


def _store_probe(store: Any) -> Optional[Callable[[], Any]]:
    """A blocking call that fails when the store is unreachable; None for an in-memory store."""
    store = _innermost(store)
    if hasattr(store, "engine"):  # SQL tracker store
        import sqlalchemy as sa

        def select_one() -> None:
            with store.engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))

        return select_one
    red = getattr(store, "red", None)  # Redis tracker or lock store
    return red.ping if red is not None else None


def health_url(action_url: str) -> str:
    """The action server's /health beside its webhook (http://actions:5055/webhook -> .../health)."""
    return action_url.rstrip("/").rsplit("/", 1)[0] + "/health"


class Readiness:
    """The readiness checks, bounded in time; remembers the last states to log changes only."""

    def __init__(self, timeout: float = CHECK_TIMEOUT) -> None:
        self.timeout = timeout
        self._running: Dict[str, "asyncio.Future[Any]"] = {}
        self._last: Dict[str, str] = {}

    async def _bounded(self, name: str, check: Callable[[], Awaitable[Any]]) -> str:
        try:
            await asyncio.wait_for(check(), self.timeout)
            state, why = OK, ""
        except asyncio.TimeoutError:
            state, why = "timeout", f"no answer within {self.timeout:g} s"
        except Exception as e:
            state, why = "down", f"{type(e).__name__}: {e}"
        if state != self._last.get(name):
            if state == OK:
                logger.info("Readiness: %s ok", name)
            else:
                logger.warning("Readiness: %s %s (%s)", name, state, why.splitlines()[0] if why else "")
            self._last[name] = state
        return state

    def _in_thread(self, name: str, probe: Callable[[], Any]) -> Callable[[], Awaitable[Any]]:
        """Run a blocking probe in a thread; one at a time per check (shielded from the timeout)."""
        async def check() -> Any:
            future = self._running.get(name)
            if future is None or future.done():
                future = self._running[name] = asyncio.get_running_loop().run_in_executor(None, probe)
                future.add_done_callback(lambda f: f.cancelled() or f.exception())  # read even if late
            return await asyncio.shield(future)

        return check

    async def _action_server(self, url: str) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout)) as session:
            async with session.get(url) as answer:
                answer.raise_for_status()

    @staticmethod
    async def _actions(endpoint: Any) -> None:
        inprocess.executor(endpoint)

    async def states(self, agent: Any, stopping: bool) -> Dict[str, str]:
        """Each check's state; the checks that do not apply (an in-memory store) are left out."""
        if agent is None or not agent.is_ready():
            return {"server": "stopping" if stopping else OK, "model": "not loaded"}
        checks: Dict[str, Callable[[], Awaitable[Any]]] = {}
        if inprocess.module(agent.action_endpoint):  # the custom actions load in this process
            endpoint = agent.action_endpoint
            checks["actions"] = lambda: self._actions(endpoint)
        elif agent.action_endpoint is not None and agent.action_endpoint.url:
            url = health_url(agent.action_endpoint.url)
            checks["action_server"] = lambda: self._action_server(url)
        for name, store in (("tracker_store", agent.tracker_store), ("lock_store", agent.lock_store)):
            probe = _store_probe(store)
            if probe is not None:
                checks[name] = self._in_thread(name, probe)
        results = await asyncio.gather(*(self._bounded(name, check) for name, check in checks.items()))
        return {"server": "stopping" if stopping else OK, "model": OK, **dict(zip(checks, results))}


def register(app: Sanic, timeout: float = CHECK_TIMEOUT) -> None:
    """Add the health endpoints and the stop handling to the Rasa server's app."""
    readiness = Readiness(timeout)
    app.ctx.stopping = False

    async def live(_request: Request) -> HTTPResponse:
        return response.json({"status": "live"})

    async def ready(request: Request) -> HTTPResponse:
        states = await readiness.states(getattr(request.app.ctx, "agent", None), request.app.ctx.stopping)
        ok = all(state == OK for state in states.values())
        return response.json({"status": "ready" if ok else "not ready", "checks": states}, status=200 if ok else 503)

    async def stopping(app: Sanic, _loop: Any) -> None:
        app.ctx.stopping = True
        notice = float(app.config.get("STOP_NOTICE", 0))
        if notice:
            logger.info("Stopping: not ready; still serving for %g s while balancers stop sending here", notice)
            await asyncio.sleep(notice)  # the loop goes on serving meanwhile
        logger.info("Stopping: no new connections; finishing the requests in progress (up to %g s)",
                    app.config.GRACEFUL_SHUTDOWN_TIMEOUT)

    async def close_when_stopping(request: Request, _response: HTTPResponse) -> None:
        if request.app.ctx.stopping and request.stream is not None:
            request.stream.keep_alive = False  # Connection: close, so the stop need not wait for it

    app.add_route(live, "/health/live", methods=["GET"], name="health_live")
    app.add_route(ready, "/health/ready", methods=["GET"], name="health_ready")
    app.register_listener(stopping, "before_server_stop")
    app.register_middleware(close_when_stopping, "response")


def finish_fresh_connections() -> None:
    """At the stop, Sanic closes only the connections that have been quiet for FRESH_SECONDS."""
    from sanic.http import Stage
    from sanic.server.protocols import http_protocol

    protocol = http_protocol.HttpProtocol
    close_if_idle = getattr(protocol.close_if_idle, "__wrapped__", protocol.close_if_idle)

    @functools.wraps(close_if_idle)
    def close_if_quiet(self: Any) -> bool:
        if self._http is None:
            if self._task is not None:
                return False  # accepted, its handler not started yet: its request is on the way
        elif self._http.stage is Stage.IDLE and http_protocol.current_time() - self._time < FRESH_SECONDS:
            return False
        return close_if_idle(self)

    protocol.close_if_idle = close_if_quiet
