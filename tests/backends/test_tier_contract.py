"""The control plane's contract, run unchanged on every tier (tests/backends/conftest.py)."""

from __future__ import annotations

import asyncio

from memfun_git.backends.protocols import Backend
from tests.backends.conftest import MAX_ATTEMPTS, VISIBILITY

# -- StateStore ------------------------------------------------------------------------------


async def test_values_are_kept_replaced_and_deleted(backend: Backend) -> None:
    state = backend.state
    assert await state.get("task/a") is None
    await state.put("task/a", b"one")
    await state.put("task/b", b"\x00\xff")
    await state.put("other", b"x")
    assert await state.get("task/a") == b"one"
    assert await state.get("task/b") == b"\x00\xff"
    await state.put("task/a", b"two")
    assert await state.get("task/a") == b"two"
    assert await state.keys("task/") == ["task/a", "task/b"]
    assert await state.delete("task/a") is True
    assert await state.delete("task/a") is False
    assert await state.get("task/a") is None


async def test_compare_and_set_lets_one_writer_win(backend: Backend) -> None:
    state = backend.state
    assert await state.cas("done/t1", None, b"worker-1") is True
    assert await state.cas("done/t1", None, b"worker-2") is False
    assert await state.get("done/t1") == b"worker-1"
    assert await state.cas("done/t1", b"worker-2", b"x") is False
    assert await state.cas("done/t1", b"worker-1", b"worker-1+") is True
    assert await state.get("done/t1") == b"worker-1+"
    wins = await asyncio.gather(*(state.cas("race", None, f"{i}".encode()) for i in range(8)))
    assert wins.count(True) == 1


async def test_values_expire_at_their_time_to_live(backend: Backend) -> None:
    state = backend.state
    await state.put("short", b"1", ttl=0.3)
    await state.put("long", b"2", ttl=30)
    assert await state.get("short") == b"1"
    await asyncio.sleep(0.5)
    assert await state.get("short") is None
    assert await state.keys("") == ["long"]
    assert await state.cas("short", None, b"again") is True  # an expired key is absent


# -- TaskQueue -------------------------------------------------------------------------------


async def test_tasks_are_leased_in_order_once_and_acked(backend: Backend) -> None:
    queue = backend.queue
    first = await queue.enqueue({"request": "one"})
    await queue.enqueue({"request": "two"}, task_id="t-2")
    assert await queue.enqueue({"request": "again"}, task_id="t-2") == "t-2"  # idempotent
    assert await queue.depth() == 2
    a = await queue.lease("w1")
    b = await queue.lease("w2")
    assert a is not None
    assert b is not None
    assert (a.task_id, a.payload, a.attempt) == (first, {"request": "one"}, 1)
    assert (b.task_id, b.payload) == ("t-2", {"request": "two"})
    assert await queue.lease("w3") is None  # both are leased
    await queue.ack(a)
    await queue.ack(b)
    assert await queue.depth() == 0
    assert await queue.lease("w1", wait=0.2) is None


async def test_a_lease_not_acked_in_time_is_leased_again(backend: Backend) -> None:
    queue = backend.queue
    await queue.enqueue({"n": 1}, task_id="slow")
    lost = await queue.lease("dies")
    assert lost is not None
    again = await queue.lease("survivor", wait=VISIBILITY + 2)
    assert again is not None
    assert (again.task_id, again.attempt) == ("slow", 2)
    await queue.ack(lost)  # the dead worker's late ack does not remove the new lease
    assert await queue.depth() == 1
    await queue.ack(again)
    assert await queue.depth() == 0


async def test_extend_keeps_a_long_tasks_lease(backend: Backend) -> None:
    queue = backend.queue
    await queue.enqueue({"n": 1})
    lease = await queue.lease("w1")
    assert lease is not None
    for _ in range(3):
        await asyncio.sleep(VISIBILITY / 2)
        await queue.extend(lease)
        assert await queue.lease("w2") is None
    await queue.ack(lease)


async def test_a_nacked_task_waits_its_delay_then_dies_after_the_last_attempt(
    backend: Backend,
) -> None:
    queue = backend.queue
    await queue.enqueue({"poison": True}, task_id="p")
    lease = await queue.lease("w1")
    assert lease is not None
    assert await queue.nack(lease, "boom 1", delay=0.3) is True
    assert await queue.lease("w1") is None  # not before its delay
    lease = await queue.lease("w1", wait=2.0)
    assert lease is not None
    assert lease.attempt == MAX_ATTEMPTS
    assert await queue.nack(lease, "boom 2") is False
    assert await queue.depth() == 0
    (dead,) = await queue.dead()
    assert (dead.task_id, dead.payload, dead.error, dead.attempts) == (
        "p", {"poison": True}, "boom 2", MAX_ATTEMPTS,
    )  # fmt: skip


async def test_a_waiting_lease_gets_a_task_enqueued_meanwhile(backend: Backend) -> None:
    queue = backend.queue

    async def later() -> None:
        await asyncio.sleep(0.2)
        await queue.enqueue({"late": True})

    task = asyncio.create_task(later())
    lease = await queue.lease("w1", wait=3.0)
    await task
    assert lease is not None
    assert lease.payload == {"late": True}


# -- EventBus --------------------------------------------------------------------------------


async def test_subscribers_get_the_events_of_their_topic(backend: Backend) -> None:
    bus = backend.events
    mine = await bus.subscribe("task.t1")
    other = await bus.subscribe("task.t2")
    await bus.publish("task.t1", {"step": "solve"})
    await bus.publish("task.t2", {"step": "other"})
    await bus.publish("task.t1", {"step": "lint", "ok": True})
    got: list[dict[str, object]] = []

    async def read() -> None:
        async for event in mine:
            got.append(event)
            if len(got) == 2:
                return

    await asyncio.wait_for(read(), timeout=5)
    assert got == [{"step": "solve"}, {"step": "lint", "ok": True}]
    await mine.close()
    await other.close()


# -- AgentRegistry ---------------------------------------------------------------------------


async def test_agents_are_live_while_their_heartbeats_come(backend: Backend) -> None:
    agents = backend.agents
    await agents.register("w1", {"host": "a"}, ttl=0.5)
    await agents.register("w2", {"host": "b"}, ttl=30)
    assert [a.agent_id for a in await agents.live()] == ["w1", "w2"]
    assert (await agents.live())[0].info == {"host": "a"}
    for _ in range(3):
        await asyncio.sleep(0.25)
        assert await agents.heartbeat("w1") is True
    await asyncio.sleep(0.7)
    assert [a.agent_id for a in await agents.live()] == ["w2"]
    assert await agents.heartbeat("w1") is False  # expired: register again
    await agents.unregister("w2")
    assert await agents.live() == []
