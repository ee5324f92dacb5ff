"""The Protocols every backend member satisfies (ARCHITECTURE.md "Backends").

- `SandboxAdapter` runs untrusted commands for one worktree (members: sandbox/bubblewrap.py,
  sandbox/local.py), with its `RunResult` and `OutputSink`: they live here so that this module
  and `sandbox/process.py` do not import each other.
- The control plane, one member per tier (in-process, SQLite, Redis, NATS JetStream):
  `StateStore` (keys to bytes, compare-and-set, time to live), `TaskQueue` (at-least-once:
  lease with a visibility timeout, ack, nack with a delay, a dead letter after the last
  attempt), `EventBus` (publish and subscribe by topic, live only), `AgentRegistry` (workers
  announce themselves and stay listed while their heartbeats come). All are asyncio.
- `Backend` bundles one tier's members and closes them together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AgentInfo",
    "AgentRegistry",
    "Backend",
    "DeadLetter",
    "EventBus",
    "Lease",
    "OutputSink",
    "RunResult",
    "SandboxAdapter",
    "StateStore",
    "Subscription",
    "TaskQueue",
]


# -- the sandbox ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunResult:
    argv: tuple[str, ...]
    exit_code: int
    """The command's exit status as a shell reports it: 128 + N when signal N ended it, 124
    when the time ran out."""
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    truncated: bool = False
    """Output beyond [sandbox] max_output_bytes was dropped."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class OutputSink(Protocol):
    """Receives a command's output as it arrives (for `memfun sandbox run` to stream it)."""

    def stdout(self, chunk: bytes) -> None: ...

    def stderr(self, chunk: bytes) -> None: ...


class SandboxAdapter(Protocol):
    """Runs untrusted commands (model-proposed ones, linters, tests) for one worktree."""

    name: str
    """"bubblewrap" or "local"."""

    def which(self, program: str, cwd: str = ".") -> str:
        """The path `program` runs from, as `run` finds it (to tell the user which one ran).
        Raises as `run` does when it cannot be run."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = ".",
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        on_output: OutputSink | None = None,
    ) -> RunResult:
        """Run `argv` with `cwd` relative to the worktree; never raises for a failing command.

        The whole command (every process it starts) ends when `timeout` (default:
        [sandbox] timeout_seconds) runs out; output is captured and capped. `env` adds
        variables to the allowlisted environment; `on_output` receives the output as it arrives
        (within the same cap) as well. Raises SandboxUnavailable or UsageError
        when the command cannot be run at all (no sandbox, unresolvable program, refused).
        """
        ...


# -- the control plane ----------------------------------------------------------------------


class StateStore(Protocol):
    """Keys (strings) to values (bytes), shared by every process on the tier."""

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        """Set `key`; with `ttl`, it is gone `ttl` seconds later."""
        ...

    async def cas(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        """Set `key` to `value` only if it holds `expected` (None: only if it is absent);
        True when it was set. What makes a task's completion count once."""
        ...

    async def delete(self, key: str) -> bool:
        """True when the key was there."""
        ...

    async def keys(self, prefix: str) -> list[str]:
        """The live keys starting with `prefix`, sorted."""
        ...


@dataclass(frozen=True, slots=True)
class Lease:
    task_id: str
    payload: dict[str, Any]
    attempt: int
    """1 on the first delivery, 2 on the next..."""
    receipt: str = field(default="", compare=False)
    """The tier's handle of this delivery (what ack and nack name)."""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    task_id: str
    payload: dict[str, Any]
    error: str
    attempts: int


class TaskQueue(Protocol):
    """Tasks delivered at least once to one worker at a time.

    A leased task is invisible to other workers for the queue's visibility timeout; a worker
    that dies leaves it to be leased again when that runs out (`extend` keeps a long task's
    lease). `nack` puts it back after `delay` seconds, or in the dead letter when it was the
    last of `max_attempts`."""

    async def enqueue(self, payload: dict[str, Any], *, task_id: str | None = None) -> str: ...

    async def lease(self, worker: str, *, wait: float = 0.0) -> Lease | None:
        """The next task, waiting up to `wait` seconds for one; None when there is none."""
        ...

    async def extend(self, lease: Lease) -> None:
        """Start the lease's visibility timeout over (the worker is still at it)."""
        ...

    async def ack(self, lease: Lease) -> None:
        """Done: the task leaves the queue."""
        ...

    async def nack(self, lease: Lease, error: str, *, delay: float = 0.0) -> bool:
        """Failed: back in the queue after `delay` seconds, or dead after the last attempt
        (False)."""
        ...

    async def depth(self) -> int:
        """Tasks waiting or leased (not dead, not done)."""
        ...

    async def dead(self) -> list[DeadLetter]: ...


class Subscription(Protocol):
    """Events of one topic published after it began; iterate, then close."""

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]: ...

    async def close(self) -> None: ...


class EventBus(Protocol):
    """Live events by topic (progress of tasks, for displays): no history, no delivery
    guarantee to a subscriber that is not listening."""

    async def publish(self, topic: str, event: dict[str, Any]) -> None: ...

    async def subscribe(self, topic: str) -> Subscription: ...


@dataclass(frozen=True, slots=True)
class AgentInfo:
    agent_id: str
    info: dict[str, Any]
    seen: float
    """When its last heartbeat came (seconds since the epoch)."""


class AgentRegistry(Protocol):
    """Workers announce themselves; one is live while its heartbeats come within `ttl`."""

    async def register(self, agent_id: str, info: dict[str, Any], *, ttl: float) -> None: ...

    async def heartbeat(self, agent_id: str) -> bool:
        """False when the agent is no longer registered (it expired: register again)."""
        ...

    async def unregister(self, agent_id: str) -> None: ...

    async def live(self) -> list[AgentInfo]: ...


@dataclass
class Backend:
    """One tier's members."""

    tier: str
    state: StateStore
    queue: TaskQueue
    events: EventBus
    agents: AgentRegistry
    closers: list[Any] = field(default_factory=list[Any])
    """Awaitables' factories run by `close`, in order."""

    async def close(self) -> None:
        for closer in self.closers:
            await closer()
