"""The served model kept out of Python's full garbage collections, and let go when switched (rasa_addons.gc_freeze)."""
import gc
import weakref
from types import SimpleNamespace
from typing import Any, Iterator, List

import pytest

from rasa_addons.gc_freeze import check


class Model:
    """Stands for a loaded model: objects that refer to each other, as a graph's do."""

    def __init__(self) -> None:
        self.parts: List[Any] = [{"model": self} for _ in range(100)]


@pytest.fixture
def collections() -> Iterator[List[int]]:
    """The full garbage collections run meanwhile; nothing left frozen afterwards."""
    runs: List[int] = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 2:
            runs.append(1)

    gc.callbacks.append(count)
    yield runs
    gc.callbacks.remove(count)
    gc.unfreeze()


def collected_generations_hold(obj: Any) -> bool:
    return any(o is obj for o in gc.get_objects())


def test_the_model_is_frozen_then_let_go_when_switched_or_deleted(collections: List[int]) -> None:
    app = SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(processor=None)))
    assert check(app, None) is None and not collections  # no model yet: nothing to do

    first = Model()
    app.ctx.agent.processor = first
    frozen = check(app, None)
    assert frozen is not None and frozen() is first
    assert gc.get_freeze_count() > 0 and not collected_generations_hold(first) and not collected_generations_hold(first.parts[0])

    runs = len(collections)
    assert check(app, frozen) is frozen and len(collections) == runs  # the same model: no collection

    gone = weakref.ref(first)
    app.ctx.agent.processor = second = Model()
    del first
    frozen = check(app, frozen)
    assert gone() is None  # the switched-out model, whose parts refer to it, is collected
    assert frozen is not None and frozen() is second and not collected_generations_hold(second)

    gone = weakref.ref(second)
    app.ctx.agent.processor = None  # Rasa's DELETE /model
    del second
    assert check(app, frozen) is None and gone() is None
