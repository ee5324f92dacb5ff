"""The one typed event stream of a task, from `Engine.run` to whoever renders it.

The engine knows no terminal, webhook or hook: it calls `emit(event)` for each step, and each
front end subscribes a renderer (rich progress for the CLI, the App's progress comment, the
Action's job summary, the hook's finding lines). Events are frozen values: a renderer may keep
them, send them to another process (the EventBus of the backends issue), or drop them.

The model's call events (`CallStarted`, `CallRetrying`, `CallFinished`, from `llm/observe.py`)
are part of the stream as they are: the session's observer is the engine's `emit`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memfun_git.llm.observe import CallFinished, CallRetrying, CallStarted
from memfun_git.quality.verdicts import Finding, LintVerdict, Review

if TYPE_CHECKING:
    from memfun_git.backends.protocols import RunResult
    from memfun_git.edits.ops import OpResult
    from memfun_git.tasks import CommitInfo, TaskResult

__all__ = [
    "AgentFinished",
    "AgentStarted",
    "BranchMerged",
    "CommandRan",
    "Committed",
    "Event",
    "EventSink",
    "Events",
    "FilesGathered",
    "FixRound",
    "LintRan",
    "OperationDone",
    "Reviewed",
    "SetupRan",
    "StepStarted",
    "TaskFinished",
    "TaskStarted",
    "WorkflowPlanned",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TaskStarted:
    task_id: str
    request: str
    branch: str
    base: str
    worktree: str


@dataclass(frozen=True, slots=True)
class StepStarted:
    """A stage of the task began: "context", "solve", "apply", "lint", "fix", "review",
    "polish", "commit" (what a progress display names while it waits)."""

    step: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class SetupRan:
    """The user's `[workspace] setup` command finished well (a failure fails the task)."""

    command: str
    seconds: float


@dataclass(frozen=True, slots=True)
class FilesGathered:
    paths: tuple[str, ...]
    bytes: int
    planned: bool
    """True when a planner call chose them (a large project); False: all files fitted."""


@dataclass(frozen=True, slots=True)
class OperationDone:
    """An operation was applied, or refused (`result.ok` False, with its refusal)."""

    result: OpResult


@dataclass(frozen=True, slots=True)
class CommandRan:
    result: RunResult
    program: str
    """The binary that ran, by its full path."""


@dataclass(frozen=True, slots=True)
class LintRan:
    verdict: LintVerdict


@dataclass(frozen=True, slots=True)
class FixRound:
    number: int
    findings: tuple[Finding, ...]
    """What the model is asked to fix in this round."""


@dataclass(frozen=True, slots=True)
class Reviewed:
    review: Review
    blocking: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class Committed:
    commit: CommitInfo


@dataclass(frozen=True, slots=True)
class WorkflowPlanned:
    """The decomposer's plan: each sub-task as (id, specialist, request, ids it follows)."""

    subtasks: tuple[tuple[str, str, str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class AgentStarted:
    """A specialist began a sub-task (or a revision round of it) on its own branch."""

    node_id: str
    specialist: str
    request: str
    branch: str
    round: int = 0


@dataclass(frozen=True, slots=True)
class AgentFinished:
    """A sub-task ended: "done", "failed" or "skipped" (a sub-task it follows failed)."""

    node_id: str
    specialist: str
    status: str
    error: str = ""
    commits: int = 0
    round: int = 0


@dataclass(frozen=True, slots=True)
class BranchMerged:
    """The reviewer merged a specialist's branch into the task branch (`oid`), settling
    `settled` conflicts itself; or could not (`oid` empty, `conflicts` named)."""

    branch: str
    oid: str
    settled: tuple[str, ...] = ()
    conflicts: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TaskFinished:
    """The last event of every task, done, failed or interrupted."""

    result: TaskResult


Event = (
    TaskStarted
    | StepStarted
    | WorkflowPlanned
    | AgentStarted
    | AgentFinished
    | BranchMerged
    | SetupRan
    | FilesGathered
    | OperationDone
    | CommandRan
    | LintRan
    | FixRound
    | Reviewed
    | Committed
    | TaskFinished
    | CallStarted
    | CallRetrying
    | CallFinished
)
EventSink = Callable[[Event], None]


class Events:
    """Fans each event out to the subscribed sinks, in order, from any thread.

    A sink that raises is logged and dropped from this emit only: a broken renderer must not
    fail the task (the task's work is in git either way)."""

    def __init__(self, *sinks: EventSink) -> None:
        self._sinks: list[EventSink] = list(sinks)
        self._lock = threading.Lock()

    def subscribe(self, sink: EventSink) -> None:
        with self._lock:
            self._sinks.append(sink)

    def emit(self, event: Event) -> None:
        with self._lock:
            sinks = list(self._sinks)
        for sink in sinks:
            try:
                sink(event)
            except Exception:
                logger.exception("an event renderer failed on %s", type(event).__name__)

    __call__ = emit
