"""The in-process tier: the control plane in one asyncio process's memory (tests, one-shot runs).

Same semantics as the shared tiers (tests/backends/test_contract.py runs on all of them):
values expire at their time to live, a lease is invisible for the visibility timeout, a nack
waits its delay, the last failed attempt goes to the dead letter.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from memfun_git.backends.protocols import AgentInfo, Backend, DeadLetter, Lease

__all__ = [
    "MemoryAgents",
    "MemoryBus",
    "MemoryQueue",
    "MemoryState",
    "open_inprocess",
]


def open_inprocess(*, visibility: float = 300.0, max_attempts: int = 3) -> Backend:
    state = MemoryState()
    return Backend(
        "in-process",
        state,
        MemoryQueue(visibility=visibility, max_attempts=max_attempts),
        MemoryBus(),
        MemoryAgents(),
    )


class MemoryState:
    def __init__(self) -> None:
        self._values: dict[str, tuple[bytes, float | None]] = {}

    def _live(self, key: str) -> bytes | None:
        found = self._values.get(key)
        if found is None:
            return None
        value, expires = found
        if expires is not None and expires <= time.monotonic():
            del self._values[key]
            return None
        return value

    async def get(self, key: str) -> bytes | None:
        return self._live(key)

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self._values[key] = (value, time.monotonic() + ttl if ttl is not None else None)

    async def cas(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        if self._live(key) != expected:
            return False
        await self.put(key, value, ttl=ttl)
        return True

    async def delete(self, key: str) -> bool:
        present = self._live(key) is not None
        self._values.pop(key, None)
        return present

    async def keys(self, prefix: str) -> list[str]:
        return sorted(k for k in list(self._values) if k.startswith(prefix) and self._live(k))


@dataclass
class _Task:
    task_id: str
    payload: dict[str, Any]
    order: int
    attempts: int = 0
    visible_at: float = 0.0
    receipt: str = ""


@dataclass
class MemoryQueue:
    visibility: float
    max_attempts: int
    _tasks: dict[str, _Task] = field(default_factory=dict[str, _Task])
    _dead: list[DeadLetter] = field(default_factory=list[DeadLetter])
    _order: itertools.count[int] = field(default_factory=itertools.count)
    _arrived: asyncio.Event | None = None

    def _event(self) -> asyncio.Event:
        if self._arrived is None:
            self._arrived = asyncio.Event()
        return self._arrived

    async def enqueue(self, payload: dict[str, Any], *, task_id: str | None = None) -> str:
        task_id = task_id or uuid.uuid4().hex
        if task_id not in self._tasks:
            self._tasks[task_id] = _Task(task_id, dict(payload), next(self._order))
        self._event().set()
        return task_id

    def _take(self, worker: str) -> Lease | None:
        now = time.monotonic()
        ready = [t for t in self._tasks.values() if t.visible_at <= now]
        if not ready:
            return None
        task = min(ready, key=lambda t: t.order)
        task.attempts += 1
        task.visible_at = now + self.visibility
        task.receipt = f"{worker}:{uuid.uuid4().hex}"
        return Lease(task.task_id, dict(task.payload), task.attempts, task.receipt)

    async def lease(self, worker: str, *, wait: float = 0.0) -> Lease | None:
        deadline = time.monotonic() + wait
        while True:
            found = self._take(worker)
            if found is not None or time.monotonic() >= deadline:
                return found
            event = self._event()
            event.clear()
            remaining = deadline - time.monotonic()
            soonest = min((t.visible_at for t in self._tasks.values()), default=deadline)
            pause = max(0.0, min(remaining, soonest - time.monotonic()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout=max(pause, 0.005))

    def _held(self, lease: Lease) -> _Task | None:
        task = self._tasks.get(lease.task_id)
        return task if task is not None and task.receipt == lease.receipt else None

    async def extend(self, lease: Lease) -> None:
        task = self._held(lease)
        if task is not None:
            task.visible_at = time.monotonic() + self.visibility

    async def ack(self, lease: Lease) -> None:
        if self._held(lease) is not None:
            del self._tasks[lease.task_id]

    async def nack(self, lease: Lease, error: str, *, delay: float = 0.0) -> bool:
        task = self._held(lease)
        if task is None:
            return True
        if task.attempts >= self.max_attempts:
            del self._tasks[lease.task_id]
            self._dead.append(DeadLetter(task.task_id, task.payload, error, task.attempts))
            return False
        task.visible_at = time.monotonic() + delay
        task.receipt = ""
        self._event().set()
        return True

    async def depth(self) -> int:
        return len(self._tasks)

    async def dead(self) -> list[DeadLetter]:
        return list(self._dead)


class _MemorySubscription:
    def __init__(self, bus: MemoryBus, topic: str) -> None:
        self.bus = bus
        self.topic = topic
        self.queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            event = await self.queue.get()
            if event is None:
                return
            yield event

    async def close(self) -> None:
        self.bus.subscribers.get(self.topic, set()).discard(self)
        self.queue.put_nowait(None)


class MemoryBus:
    def __init__(self) -> None:
        self.subscribers: dict[str, set[_MemorySubscription]] = {}

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        for subscription in list(self.subscribers.get(topic, ())):
            subscription.queue.put_nowait(dict(event))

    async def subscribe(self, topic: str) -> _MemorySubscription:
        subscription = _MemorySubscription(self, topic)
        self.subscribers.setdefault(topic, set()).add(subscription)
        return subscription


class MemoryAgents:
    def __init__(self) -> None:
        self._agents: dict[str, tuple[dict[str, Any], float, float]] = {}

    def _expire(self) -> None:
        now = time.time()
        for agent_id, (_, seen, ttl) in list(self._agents.items()):
            if seen + ttl <= now:
                del self._agents[agent_id]

    async def register(self, agent_id: str, info: dict[str, Any], *, ttl: float) -> None:
        self._agents[agent_id] = (dict(info), time.time(), ttl)

    async def heartbeat(self, agent_id: str) -> bool:
        self._expire()
        found = self._agents.get(agent_id)
        if found is None:
            return False
        self._agents[agent_id] = (found[0], time.time(), found[2])
        return True

    async def unregister(self, agent_id: str) -> None:
        self._agents.pop(agent_id, None)

    async def live(self) -> list[AgentInfo]:
        self._expire()
        return [
            AgentInfo(a, dict(info), seen) for a, (info, seen, _) in sorted(self._agents.items())
        ]
