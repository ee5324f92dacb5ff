"""The control plane's contract, run unchanged on every tier (tests/backends/conftest.py)."""

from __future__ import annotations

import asyncio

import pytest

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


# -- SessionManager --------------------------------------------------------------------------


async def test_sessions_keep_their_turns_in_order(backend: Backend) -> None:
    sessions = backend.sessions
    first = await sessions.create(title="fix the parser", meta={"repo": "/r"}, session_id="s1")
    assert (first.session_id, first.turns, first.meta) == ("s1", 0, {"repo": "/r"})
    await sessions.append("s1", "user", "why does parse() fail on tabs?")
    await sessions.append("s1", "assistant", "it splits on spaces", meta={"tokens": 12})
    other = await sessions.create(title="second")
    await sessions.append(other.session_id, "user", "hello")
    turns = await sessions.turns("s1")
    assert [(t.index, t.role, t.text) for t in turns] == [
        (0, "user", "why does parse() fail on tabs?"),
        (1, "assistant", "it splits on spaces"),
    ]
    assert turns[1].meta == {"tokens": 12}
    assert [t.text for t in await sessions.turns("s1", last=1)] == ["it splits on spaces"]
    found = await sessions.get("s1")
    assert found is not None
    assert found.turns == 2
    assert found.title == "fix the parser"
    assert [s.session_id for s in await sessions.sessions()] == [other.session_id, "s1"]
    assert await sessions.delete("s1") is True
    assert await sessions.get("s1") is None
    assert await sessions.turns("s1") == []
    assert [s.session_id for s in await sessions.sessions()] == [other.session_id]


async def test_turns_appended_at_once_all_keep_their_own_index(backend: Backend) -> None:
    sessions = backend.sessions
    await sessions.create(session_id="busy")
    await asyncio.gather(*(sessions.append("busy", "user", f"turn {i}") for i in range(6)))
    turns = await sessions.turns("busy")
    assert [t.index for t in turns] == list(range(6))
    assert sorted(t.text for t in turns) == [f"turn {i}" for i in range(6)]
    found = await sessions.get("busy")
    assert found is not None
    assert found.turns == 6


async def test_sessions_refuse_what_they_cannot_keep(backend: Backend) -> None:
    sessions = backend.sessions
    await sessions.create(session_id="one")
    with pytest.raises(ValueError, match="exists already"):
        await sessions.create(session_id="one")
    with pytest.raises(ValueError, match="role"):
        await sessions.append("one", "narrator", "x")
    with pytest.raises(KeyError):
        await sessions.append("none", "user", "x")
    with pytest.raises(ValueError, match="session id"):
        await sessions.create(session_id="a/b")


# -- KnowledgeBase ---------------------------------------------------------------------------


async def test_knowledge_is_searched_by_relevance_and_forgetting_sticks(backend: Backend) -> None:
    from memfun_git.memory.entries import Entry

    knowledge = backend.knowledge
    pooling = Entry.new("The database connection pool is sized by POOL_SIZE in settings.py")
    tabs = Entry.new("Indent with tabs in the Makefile, spaces everywhere else")
    logs = Entry.new("Log with structlog, never print")
    assert await knowledge.add([pooling, tabs, logs]) == 3
    assert await knowledge.add([tabs]) == 0  # known already
    assert {e.id for e in await knowledge.entries()} == {pooling.id, tabs.id, logs.id}
    hits = await knowledge.search("raise the connection pooling limit", limit=2)
    assert [e.id for e in hits] == [pooling.id]
    assert hits[0].text == pooling.text
    assert hits[0].section == pooling.section
    assert await knowledge.search("unrelated words entirely") == []
    assert await knowledge.forget(pooling.id) is True
    assert await knowledge.add([pooling]) == 0  # forgotten stays forgotten
    assert await knowledge.search("connection pool") == []


# -- ToolRegistry ----------------------------------------------------------------------------


async def test_tools_are_registered_listed_and_expire(backend: Backend) -> None:
    from memfun_git.backends.protocols import ToolSpec

    tools = backend.tools
    read = ToolSpec("read_file", "Read a file", {"type": "object"}, "builtin")
    fetch = ToolSpec("fetch", "Fetch a URL", {}, "mcp:web", may_write=False)
    edit = ToolSpec("edit", "Edit a file", {}, "builtin", may_write=True)
    await tools.register(read)
    await tools.register(edit)
    await tools.register(fetch, ttl=0.5)
    assert await tools.get("read_file") == read
    assert [t.name for t in await tools.tools()] == ["edit", "fetch", "read_file"]
    assert [t.name for t in await tools.tools("mcp:")] == ["fetch"]
    edit_found = await tools.get("edit")
    assert edit_found is not None
    assert edit_found.may_write
    await asyncio.sleep(0.8)
    assert await tools.get("fetch") is None  # its provider stopped registering it
    assert await tools.unregister("edit") is True
    assert [t.name for t in await tools.tools()] == ["read_file"]
    with pytest.raises(ValueError, match="name"):
        await tools.register(ToolSpec("bad name", ""))


async def test_knowledge_of_one_scope_stays_apart_from_anothers(backend: Backend) -> None:
    from memfun_git.memory.entries import Entry

    theirs = backend.knowledge.scoped("octo/app")
    ours = backend.knowledge.scoped("octo/app-2")
    secret = Entry.new("The staging database password rotates every Monday")
    assert await theirs.add([secret]) == 1
    assert await ours.search("staging database password") == []
    assert await backend.knowledge.search("staging database password") == []
    assert [e.id for e in await theirs.search("staging database password")] == [secret.id]
    assert await ours.add([secret]) == 1  # forgetting in one scope is that scope's
    assert await theirs.forget(secret.id) is True
    assert [e.id for e in await ours.entries()] == [secret.id]
