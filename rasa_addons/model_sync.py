"""One model in every worker process: Rasa's PUT /model switches only the worker that takes it.

With several workers (LOCK_STORE=redis, docs/DEPLOY.md "Workers") each process holds its own model,
and Rasa's `PUT /model` (the staff console's switch, `make train`) reaches one of them: the others
kept answering with the old model (19 of 40 /status calls saw the new one). Here the worker that
switched announces the model file on Redis (the lock store's server, which several workers need
anyway), and every other worker of the same server loads the same file beside its old model and swaps it in, as Rasa's
own PUT /model does, answering with the old one meanwhile. A worker started later loads the file
`--model` names, which the switch has replaced (staff.train writes models/current.tar.gz).
Other servers on the same Redis are not told: each is switched by its own PUT /model (RASA_URLS).
"""
import asyncio
import json
import logging
import os
import socket
from typing import Any, Optional

import redis.asyncio as aioredis
from rasa.core.lock_store import RedisLockStore
from sanic import Sanic
from sanic.request import Request
from sanic.response import HTTPResponse

from rasa_addons.stores import own_prefix

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0
CONNECTION_KEYS = ("host", "port", "db", "username", "password")


def _channel(store: RedisLockStore) -> str:
    return f"{own_prefix(store)}model-switched"


def _server() -> str:
    """This worker's server: its parent process (the one that forked the workers) on this host."""
    return f"{socket.gethostname()}:{os.getppid()}"


def _redis_store(app: Sanic) -> Optional[RedisLockStore]:
    agent = getattr(app.ctx, "agent", None)
    store = getattr(agent, "lock_store", None)
    return store if isinstance(store, RedisLockStore) else None


async def _follow(app: Sanic, store: RedisLockStore) -> None:
    """Load every model another worker switched to; on a lost connection, subscribe again."""
    kwargs = {k: v for k, v in store.red.connection_pool.connection_kwargs.items() if k in CONNECTION_KEYS}
    loop = asyncio.get_running_loop()
    while True:
        client = aioredis.Redis(**kwargs)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(_channel(store))
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    switched = json.loads(message["data"])
                    if switched.get("pid") == os.getpid() or switched.get("server") != _server():
                        continue
                    try:
                        await loop.run_in_executor(None, app.ctx.agent.load_model, switched["model_file"])
                    except Exception as e:  # a file gone or unreadable: keep answering with the model held
                        logger.error("Worker pid %d keeps its model: loading %s failed: %s", os.getpid(), switched["model_file"], e)
                        continue
                    logger.info("Worker pid %d switched to %s, as worker pid %s did", os.getpid(), switched["model_file"], switched.get("pid"))
        except asyncio.CancelledError:
            raise
        except Exception as e:
            logger.warning("Worker pid %d lost Redis for model switches (%s): subscribing again in %g s", os.getpid(), e, RETRY_SECONDS)
            await asyncio.sleep(RETRY_SECONDS)
        finally:
            await client.close()


def register(app: Sanic) -> None:
    """Announce this worker's successful PUT /model; follow the others' (only with Redis's lock store)."""

    async def announce(request: Request, response: HTTPResponse) -> None:
        store = _redis_store(app)
        if store is None or request.method != "PUT" or request.path != "/model" or response.status != 204:
            return
        switched = {"model_file": (request.json or {}).get("model_file"), "pid": os.getpid(), "server": _server()}
        try:
            store.red.publish(_channel(store), json.dumps(switched))
        except Exception as e:
            logger.error("The other workers were not told to switch to %s (Redis: %s): restart the server to switch them",
                         switched["model_file"], e)

    async def start(app: Sanic, _loop: Any) -> None:
        store = _redis_store(app)
        if store is not None:
            app.add_task(_follow(app, store), name="model_sync")  # named: Sanic cancels it when the server stops

    app.register_middleware(announce, "response")
    app.register_listener(start, "after_server_start")
