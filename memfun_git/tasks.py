"""A task and its result: what a front end hands the engine, and what it gets back.

`Task` is built by a front end (the CLI from argv, the App from a webhook, the Action from
its event file, the chat from a message) and given to `Engine.run`; `TaskResult` comes back,
whatever happened (done, failed, interrupted), with everything a front end shows or stores:
the branch and its commits, each operation and command, the gate's verdicts and review, the
model's usage per step. Values only; `as_dict()` is the JSON the front ends print (`--json`)
and the task store keeps.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from memfun_git.quality.verdicts import GateOutcome

if TYPE_CHECKING:
    from memfun_git.backends.protocols import RunResult
    from memfun_git.edits.ops import OpResult
    from memfun_git.llm.usage import Usage

__all__ = [
    "FIX_FRAME",
    "TASK_VERBS",
    "CommitInfo",
    "Kind",
    "Origin",
    "SkillUse",
    "Task",
    "TaskResult",
    "TaskStatus",
    "UsageReport",
    "fix_request",
    "new_task_id",
    "plainly_a_task",
]

TaskStatus = Literal["running", "done", "failed", "interrupted"]
Origin = Literal["cli", "chat", "app", "action", "hook", "worker"]
Tier = Literal["auto", "context-first", "workflow", "explore"]
Kind = Literal["change", "fix"]

FIX_FRAME = (
    "Fix this bug: {bug}\n\n"
    "Find its cause in the code and fix the cause, not the symptom. Where the project has tests, "
    "add or update one that fails without the fix."
)
"""How `memfun fix` states a bug report as a task's request."""


def fix_request(bug: str) -> str:
    """The request of a task that fixes the bug `bug` describes."""
    return FIX_FRAME.format(bug=bug.strip())


TASK_VERBS = frozenset((
    "add", "fix", "implement", "refactor", "remove", "delete", "rename", "update", "write",
    "create", "make", "change", "move", "convert", "replace", "support", "handle", "extract",
    "split", "introduce", "migrate", "upgrade", "bump", "document", "test", "optimize",
    "optimise", "clean", "drop", "improve", "port", "wire", "rewrite", "simplify",
))  # fmt: skip
"""First words that make a request plainly a change (no model is asked what it is)."""


def plainly_a_task(text: str) -> bool:
    """Whether `text` starts with a verb of change ("add a flag", "Fix: the redirect")."""
    words = text.lower().split(maxsplit=1)
    return bool(words) and words[0].strip(",.:!") in TASK_VERBS


@dataclass(frozen=True, slots=True)
class SkillUse:
    """The skill a task follows: its instructions go into the prompts as the project's
    conventions do, and its folder (scripts) is shown read-only to sandboxed commands."""

    name: str
    instructions: str
    folder: str


_SLUG_WORDS = 4
_SLUG_CHARS = 32


def new_task_id(request: str) -> str:
    """A short id that says what the task is: `add-jwt-auth-to-3f9a1c` (a slug of the
    request's first words and 6 random hex digits; valid in a branch name)."""
    words = re.findall(r"[a-z0-9]+", request.lower())[:_SLUG_WORDS]
    slug = "-".join(words)[:_SLUG_CHARS].strip("-") or "task"
    return f"{slug}-{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class Task:
    id: str
    request: str
    repo: Path
    """The user's working tree (a clone, for workers)."""
    base: str = "HEAD"
    """What the task's branch starts from (any commit-ish); ignored for a follow-up."""
    origin: Origin = "cli"
    follow_up: bool = False
    """Continue the existing branch `memfun/<id>` instead of making it."""
    trust_config_changes: bool = False
    """Lint with the linter config the task itself changed (`--trust-config-changes`)."""
    with_changes: bool = False
    """Copy the user's uncommitted changes into the worktree first (a bookkeeping commit)."""
    kind: Kind = "change"
    skill: SkillUse | None = None
    """The skill it follows (`memfun skill run`), if any."""
    """"fix": a bug report (`memfun fix`): in the workflow the debugger specialist fixes it."""
    tier: Tier = "auto"
    """How to solve: "auto" climbs the ladder when [workflow] escalate (context-first, then
    the workflow when it fails or is cut off, then explore), else runs context-first;
    "context-first", "workflow" or "explore" only that tier."""

    @classmethod
    def create(cls, request: str, repo: Path, **options: Any) -> Task:
        """A new task for `request` in `repo`, with a fresh id."""
        return cls(id=new_task_id(request), request=request, repo=repo, **options)


@dataclass(frozen=True, slots=True)
class CommitInfo:
    oid: str
    subject: str
    paths: tuple[str, ...]
    gate: str
    """The `Memfun-Gate` trailer's value."""
    signed: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "oid": self.oid,
            "subject": self.subject,
            "paths": list(self.paths),
            "gate": self.gate,
            "signed": self.signed,
        }


@dataclass(frozen=True, slots=True)
class UsageReport:
    """The model's use by one task, frozen at its end: totals and per step."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    unpriced_calls: int = 0
    by_step: tuple[tuple[str, int, int, int], ...] = ()
    """(step, calls, input tokens, output tokens), in the order steps first ran."""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def of(cls, usage: Usage) -> UsageReport:
        steps = tuple(
            (name, step.calls, step.input_tokens, step.output_tokens)
            for name, step in usage.by_step.items()
        )
        return cls(
            calls=usage.calls,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cost=usage.cost,
            unpriced_calls=usage.unpriced_calls,
            by_step=steps,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost, 6),
            "unpriced_calls": self.unpriced_calls,
            "by_step": {
                step: {"calls": calls, "input_tokens": tin, "output_tokens": tout}
                for step, calls, tin, tout in self.by_step
            },
        }


@dataclass(frozen=True, slots=True)
class TaskResult:
    task: Task
    status: TaskStatus
    branch: str
    base: str
    """The commit the branch started from (an id)."""
    commits: tuple[CommitInfo, ...] = ()
    operations: tuple[OpResult, ...] = ()
    """Every operation the model asked for, applied or refused, in order."""
    commands: tuple[RunResult, ...] = ()
    """`run` operations, as they ran in the sandbox."""
    gate: GateOutcome | None = None
    usage: UsageReport = field(default_factory=UsageReport)
    seconds: float = 0.0
    files_gathered: tuple[str, ...] = ()
    context_bytes: int = 0
    summary: str = ""
    """The model's own account of what it did (its prose around the operations)."""
    attempt: str | None = None
    """The ref that keeps a failed or interrupted attempt."""
    error: str = ""
    """One line: why the task failed or stopped ('' when done)."""

    @property
    def ok(self) -> bool:
        return self.status == "done"

    def as_dict(self) -> dict[str, Any]:
        from memfun_git.operations import describe
        from memfun_git.redact import redact

        return {
            "id": self.task.id,
            "request": self.task.request,
            "status": self.status,
            "branch": self.branch,
            "base": self.base,
            "commits": [c.as_dict() for c in self.commits],
            "operations": [
                {
                    "operation": describe(r.op),
                    "ok": r.ok,
                    "message": r.message,
                    "match": r.match.kind.value if r.match is not None else None,
                }
                for r in self.operations
            ],
            "commands": [
                {
                    "argv": list(c.argv),
                    "exit_code": c.exit_code,
                    "seconds": round(c.seconds, 3),
                    "stdout": redact(c.stdout),
                    "stderr": redact(c.stderr),
                }
                for c in self.commands
            ],
            "gate": self.gate.as_dict() if self.gate is not None else None,
            "usage": self.usage.as_dict(),
            "seconds": round(self.seconds, 3),
            "files_gathered": list(self.files_gathered),
            "context_bytes": self.context_bytes,
            "summary": self.summary,
            "attempt": self.attempt,
            "error": self.error,
        }
