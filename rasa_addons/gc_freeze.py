"""The loaded model kept out of Python's full garbage collections (gc.freeze).

A loaded model is some 600,000 objects that live as long as the server. Python's full collection
walks every one of them, and it runs once every few hundred messages, as the objects a message
leaves behind pile up: a pause of about 0.3 s for whichever request is running, 0.4-0.9 ms a
message on average (docs/PERFORMANCE.md, "Per message, 2026-11-28, late morning"). Once the model is loaded, its
objects are moved to the permanent generation the collector skips (gc.freeze, as pre-fork servers
do); what the messages make is collected as before.

A model switched in (Rasa's PUT /model, rasa_addons.model_sync) is frozen in its turn, and the old
one unfrozen first, so that it is collected once nothing refers to it (a model left frozen would
never be: its objects refer to each other). DELETE /model lets the old one go the same way.
"""
import asyncio
import gc
import logging
import os
import time
import weakref
from typing import Any, Optional

from sanic import Sanic

logger = logging.getLogger(__name__)

# how often a worker looks whether its model was switched
CHECK_SECONDS = 5.0


def refreeze() -> None:
    """Everything unfrozen and collected, then what is left frozen."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def check(app: Any, frozen: Optional["weakref.ref"]) -> Optional["weakref.ref"]:
    """Freeze again if the model being served is not the one frozen last; the model frozen now."""
    processor = getattr(getattr(app.ctx, "agent", None), "processor", None)
    if (frozen() if frozen is not None else None) is processor:
        return frozen
    started = time.perf_counter()
    refreeze()
    logger.info("Worker pid %d keeps its model out of full garbage collections: %d objects frozen in %.2f s",
                os.getpid(), gc.get_freeze_count(), time.perf_counter() - started)
    return weakref.ref(processor) if processor is not None else None


async def _watch(app: Sanic, frozen: Optional["weakref.ref"]) -> None:
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        frozen = check(app, frozen)


def register(app: Sanic) -> None:
    """Freeze the model once the server is up (Rasa loads it before), then after every switch; the
    watch is a named Sanic task, which Sanic cancels when the server stops."""

    async def start(app: Sanic, _loop: Any) -> None:
        app.add_task(_watch(app, check(app, None)), name="gc_freeze")

    app.register_listener(start, "after_server_start")
