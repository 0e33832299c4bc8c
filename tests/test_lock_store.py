"""The Redis lock store of the scaled setup (rasa_addons.stores.AtomicRedisLockStore), on the machine's Redis.

Two instances changing one conversation's ticket lock at the same moment must not both draw the same
ticket (Rasa's own RedisLockStore can: read, change, write back); the race is made to happen here,
not waited for. The lock stays in Rasa's format, so Rasa's store and this one read each other's.
"""
import asyncio
import threading
from typing import Any, List

import pytest
import redis

from rasa.core.lock_store import RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from rasa_addons.stores import AtomicRedisLockStore
from tests.conftest import redis_prefix

prefix = pytest.fixture(name="prefix")(redis_prefix)


def atomic(prefix: str) -> AtomicRedisLockStore:
    return AtomicRedisLockStore(EndpointConfig(url="127.0.0.1", port=6379, db=0, key_prefix=prefix))


def plain(prefix: str) -> RedisLockStore:
    return RedisLockStore(host="127.0.0.1", port=6379, db=0, key_prefix=prefix)


def racing(first: RedisLockStore, second: RedisLockStore, conversation: str) -> List[int]:
    """`first` draws a ticket, and `second` draws one between `first`'s read and its write."""
    read = first.red.get
    seconds: List[int] = []

    def read_then_let_the_other_in(*args: Any, **kwargs: Any) -> Any:
        value = read(*args, **kwargs)
        if not seconds:
            seconds.append(second.issue_ticket(conversation))
        return value

    first.red.get = read_then_let_the_other_in
    return [first.issue_ticket(conversation), *seconds]


@pytest.mark.parametrize("store", [atomic, plain])
def test_a_ticket_drawn_between_anothers_read_and_write_is_not_drawn_twice(store: Any, prefix: str) -> None:
    tickets = racing(store(prefix), store(prefix), "race")
    if store is plain:  # the race this store is for: Rasa's gives both the same ticket
        assert tickets == [0, 0]
    else:
        assert tickets == [1, 0]  # the second wrote first; the first read again and drew the next
        assert [t.number for t in atomic(prefix).get_lock("race").tickets] == [0, 1]


def test_many_threads_of_two_stores_draw_distinct_tickets_and_leave_no_lock(prefix: str) -> None:
    stores = [atomic(prefix), atomic(prefix)]
    drawn: List[int] = []

    def draw(store: AtomicRedisLockStore) -> None:
        for _ in range(25):
            drawn.append(store.issue_ticket("busy"))

    threads = [threading.Thread(target=draw, args=(stores[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(drawn) == list(range(150))
    for number in drawn:
        stores[number % 2].cleanup("busy", number)
    assert not redis.Redis(host="127.0.0.1", port=6379).exists(f"{prefix}:lock:busy")


def test_cleanup_keeps_the_lock_while_someone_waits_and_rasa_reads_it(prefix: str) -> None:
    store, rasa = atomic(prefix), plain(prefix)
    first, second = store.issue_ticket("queue"), rasa.issue_ticket("queue")
    assert [t.number for t in store.get_lock("queue").tickets] == [first, second]
    store.cleanup("queue", first)
    assert [t.number for t in rasa.get_lock("queue").tickets] == [second]
    store.update_lock("queue")
    assert not rasa.get_lock("queue").is_locked(second)
    store.cleanup("queue", second)
    assert rasa.get_lock("queue") is None


async def test_turns_of_one_conversation_on_two_stores_take_the_lock_one_after_the_other(prefix: str) -> None:
    order: List[str] = []

    async def turn(store: AtomicRedisLockStore, name: str) -> None:
        async with store.lock("turns", wait_time_in_seconds=0.01):
            order.append(f"{name} in")
            await asyncio.sleep(0.05)
            order.append(f"{name} out")

    await asyncio.gather(turn(atomic(prefix), "a"), turn(atomic(prefix), "b"))
    assert order == ["a in", "a out", "b in", "b out"]
    assert atomic(prefix).get_lock("turns") is None

