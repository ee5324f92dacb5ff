"""The Protocols every backend member satisfies (ARCHITECTURE.md "Backends").

- `SandboxAdapter` runs untrusted commands for one worktree (members: sandbox/bubblewrap.py,
  sandbox/local.py), with its `RunResult` and `OutputSink`: they live here so that this module
  and `sandbox/process.py` do not import each other.
- The control plane, one member per tier (in-process, SQLite, Redis, NATS JetStream):
  `StateStore` (keys to bytes, compare-and-set, time to live), `TaskQueue` (at-least-once:
  lease with a visibility timeout, ack, nack with a delay, a dead letter after the last
  attempt), `EventBus` (publish and subscribe by topic, live only), `AgentRegistry` (workers
  announce themselves and stay listed while their heartbeats come). All are asyncio.
- Built on a tier's StateStore, so the same on every tier (backends/shared.py):
  `SessionManager` (chat sessions and their turns), `KnowledgeBase` (memory entries shared by
  workers, searched as the memory index ranks them), `ToolRegistry` (the tools agents may
  call, with who provides them).
- `Backend` bundles one tier's members and closes them together.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from memfun_git.memory.entries import Entry
    from memfun_git.sandbox.process import Started

__all__ = [
    "AgentInfo",
    "AgentRegistry",
    "Backend",
    "DeadLetter",
    "EventBus",
    "KnowledgeBase",
    "Lease",
    "OutputSink",
    "RunResult",
    "SandboxAdapter",
    "SessionInfo",
    "SessionManager",
    "StateStore",
    "Subscription",
    "TaskQueue",
    "ToolRegistry",
    "ToolSpec",
    "Turn",
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

    def spawn(self, argv: Sequence[str], *, cwd: str = ".", read_only: bool = False) -> Started:
        """Start `argv` to talk with over text pipes (its stdin and stdout; stderr dropped),
        isolated as `run` isolates: a REPL. No time limit: `Started.end` ends it, whole, and
        so does memfun's own end. `read_only`: it may read the worktree, not write it.
        Raises as `run` does when it cannot be started."""
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


# -- built on the StateStore ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionInfo:
    session_id: str
    title: str
    created: float
    updated: float
    turns: int
    meta: dict[str, Any] = field(default_factory=dict[str, Any])


@dataclass(frozen=True, slots=True)
class Turn:
    session_id: str
    index: int
    """0 for the first turn of the session, then 1, 2..."""
    role: str
    """"user", "assistant" or "tool"."""
    text: str
    at: float
    meta: dict[str, Any] = field(default_factory=dict[str, Any])


class SessionManager(Protocol):
    """Chat sessions and their turns, in order; several processes may append to one session
    (each turn gets an index of its own)."""

    async def create(
        self, *, title: str = "", meta: dict[str, Any] | None = None, session_id: str = ""
    ) -> SessionInfo: ...

    async def get(self, session_id: str) -> SessionInfo | None: ...

    async def append(
        self, session_id: str, role: str, text: str, *, meta: dict[str, Any] | None = None
    ) -> Turn:
        """Add a turn at the end (KeyError when there is no such session)."""
        ...

    async def turns(self, session_id: str, *, last: int = 0) -> list[Turn]:
        """The session's turns in order; `last`: only that many, the latest."""
        ...

    async def sessions(self) -> list[SessionInfo]:
        """Every session, the most recently updated first."""
        ...

    async def delete(self, session_id: str) -> bool: ...


class KnowledgeBase(Protocol):
    """Memory entries shared by the workers of a tier (what one task learned, before its
    branch is merged, recalled by the next), ranked as the local memory index ranks them."""

    async def add(self, entries: Sequence[Entry]) -> int:
        """Keep these entries (an entry forgotten here is not added again); how many were
        new."""
        ...

    async def forget(self, entry_id: str) -> bool: ...

    async def entries(self) -> list[Entry]: ...

    async def search(self, query: str, limit: int = 8) -> list[Entry]:
        """The entries best matching `query`, best first (BM25 over text and section)."""
        ...

    def scoped(self, scope: str) -> KnowledgeBase:
        """The entries of one project (e.g. "owner/name"), apart from every other's."""
        ...


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=dict[str, Any])
    """Its arguments as a JSON schema."""
    provider: str = "builtin"
    """Who runs it: "builtin", "mcp:<server>", "skill:<name>"."""
    may_write: bool = False
    """Whether it changes files (read-only specialists are refused such tools)."""


class ToolRegistry(Protocol):
    """The tools agents may call, by name, shared by every process of the tier."""

    async def register(self, spec: ToolSpec, *, ttl: float | None = None) -> None:
        """Add or replace `spec` (ValueError for a name that is not `[A-Za-z0-9_.:-]+`); with
        `ttl`, it goes unless registered again in time (a provider that stops)."""
        ...

    async def unregister(self, name: str) -> bool: ...

    async def get(self, name: str) -> ToolSpec | None: ...

    async def tools(self, provider: str = "") -> list[ToolSpec]:
        """Every tool, by name; `provider`: only those whose provider starts with it."""
        ...


@dataclass
class Backend:
    """One tier's members (sessions, knowledge and tools built on its state store)."""

    tier: str
    state: StateStore
    queue: TaskQueue
    events: EventBus
    agents: AgentRegistry
    closers: list[Any] = field(default_factory=list[Any])
    """Awaitables' factories run by `close`, in order."""
    sessions: SessionManager = field(init=False)
    knowledge: KnowledgeBase = field(init=False)
    tools: ToolRegistry = field(init=False)

    def __post_init__(self) -> None:
        from memfun_git.backends.shared import StateKnowledge, StateSessions, StateTools

        self.sessions = StateSessions(self.state)
        self.knowledge = StateKnowledge(self.state)
        self.tools = StateTools(self.state)

    async def close(self) -> None:
        for closer in self.closers:
            await closer()
