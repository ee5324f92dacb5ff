"""The explore tier, the ladder's last step: DSPy's RLM working the task in a sandboxed REPL.

The model writes Python, step by step, in a persistent REPL (`sandbox/repl.py`: no network,
no secrets, the worktree read-only, its variables kept in that process rather than in the
prompt, which shows only what the code printed). From the REPL it calls host tools: the same
tools the specialists have (agents/loop.py: `read_file`, `search_code`, `recall`, `edit_file`,
`write_file`, `run` in the sandbox), and the RLM's own `llm_query` for sub-questions. Files
change only through the workspace's guarded operations; the REPL cannot write them itself.
It ends when the model SUBMITs a summary, or at `[workflow] explore_iterations` steps; its
model calls are the session's (step `explore`), so the [llm] caps bound them too, and
`[workflow] explore_llm_calls` bounds the sub-questions.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git.agents.loop import LoopResult, Tools
from memfun_git.agents.specialists import Specialist
from memfun_git.redact import redact

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    import dspy

    from memfun_git.backends.protocols import SandboxAdapter
    from memfun_git.edits.ops import Op, OpResult
    from memfun_git.events import EventSink
    from memfun_git.llm.session import LMSession

__all__ = ["EXPLORER", "Explored", "explore"]

logger = logging.getLogger(__name__)

EXPLORER = Specialist(
    "explorer",
    "Work the whole change in a Python REPL.",
    ("read", "search", "recall", "edit", "write", "run"),
    20,
    may_write=True,
)
"""The explore tier's tools, as a specialist's (its iteration cap comes from [workflow])."""


@dataclass
class Explored:
    summary: str
    steps: int
    work: LoopResult
    """What its tools changed and ran."""


class _OneAtATime:
    """The explore tier's tool calls, one at a time, each only in the step that made it, none
    after `close`. A step that runs out of time is ended with its REPL, but DSPy leaves the
    tool call it was waiting for running in a thread (and any queued behind it): a queued
    call is refused once another step has begun, and `close` refuses the rest and waits for
    the one in flight, so no tool changes the worktree once the tier has returned."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._closed = False
        self.step = 0
        """The step now running (the tier counts them as the REPL executes each)."""

    @contextmanager
    def turn(self, step: int) -> Generator[bool]:
        with self._lock:
            yield not self._closed and step == self.step

    def close(self, wait: float) -> None:
        self._closed = True
        if self._lock.acquire(timeout=wait):
            self._lock.release()
        else:
            logger.warning("a tool call of the explore tier was still running %g s after the "
                           "tier ended", wait)  # fmt: skip


def explore(
    session: LMSession,
    worktree: Path,
    request: str,
    *,
    apply: Callable[[Sequence[Op]], list[OpResult]],
    sandbox: SandboxAdapter,
    earlier: str,
    conventions: str = "",
    recall: Callable[[str], str] | None = None,
    iterations: int = 20,
    llm_calls: int = 30,
    step_seconds: float = 360.0,
    emit: EventSink | None = None,
) -> Explored:
    """Let the RLM work `request` in `worktree`; `earlier`: why the tiers before it failed;
    `step_seconds`: what one step's code may take, its tools' commands included (longer than
    a sandboxed command may run, so a slow test run ends as the sandbox ends it)."""
    import dspy
    from dspy.primitives.code_interpreter import CodeInterpreterError
    from dspy.primitives.facade import SHIM_SETUP

    from memfun_git.errors import TaskFailed
    from memfun_git.events import CommandRan, OperationDone, StepStarted
    from memfun_git.llm.signatures import Explore
    from memfun_git.sandbox.repl import SandboxInterpreter

    def applied(ops: Sequence[Op]) -> list[OpResult]:
        done = apply(ops)
        for result in done:
            if emit is not None:
                emit(OperationDone(result))
        return done

    work = LoopResult("", 0)
    tools = Tools(worktree, EXPLORER, apply=applied, sandbox=sandbox, recall=recall)

    calls = _OneAtATime()

    def call(tool: str, **action: Any) -> str:
        with calls.turn(calls.step) as allowed:
            if not allowed:
                return "refused: its step has ended; nothing was done"
            ran = len(work.commands)
            shown, _ = tools.call({"tool": tool, **action}, work)
            if emit is not None:
                for result in work.commands[ran:]:
                    emit(CommandRan(result, sandbox.which(result.argv[0])))
            return shown

    def read_file(path: str) -> str:
        """The text of a project file (path relative to the project's root)."""
        return call("read", path=path)

    def search_code(pattern: str, glob: str = "") -> str:
        """Lines of the project matching a regular expression, as path:line: text."""
        return call("search", pattern=pattern, glob=glob)

    def recall_memory(query: str) -> str:
        """What the project remembers about a subject."""
        return call("recall", query=query)

    def edit_file(path: str, search: str, replace: str) -> str:
        """Replace the exact lines `search` of a project file with `replace`."""
        return call("edit", path=path, search=search, replace=replace)

    def write_file(path: str, content: str) -> str:
        """Write a new project file (or rewrite a small one) whole."""
        return call("write", path=path, content=content)

    def run(command: list[str]) -> str:
        """Run a command (a list of words, e.g. ["pytest", "-q"]) in the project, in a
        sandbox without network; returns its exit status and the end of its output."""
        return call("run", command=command)

    steps = 0

    def step(code: str) -> None:
        nonlocal steps
        if code == SHIM_SETUP:  # the RLM installing its sub-agent bridge: not a step
            return
        steps += 1
        calls.step = steps
        if emit is not None:
            emit(StepStarted("explore step", f"{steps} of {iterations}"))

    def factory() -> SandboxInterpreter:
        return SandboxInterpreter(sandbox, on_execute=step, execution_timeout=step_seconds)

    rlm = dspy.RLM(
        Explore,
        max_iters=iterations,
        max_llm_calls=llm_calls,
        tools=[read_file, search_code, recall_memory, edit_file, write_file, run],
        interpreter_factory=factory,
    )
    try:
        found: dspy.Prediction = session.run(
            "explore",
            rlm,
            request=redact(request),
            conventions=redact(conventions).strip() or "(none)",
            earlier=redact(earlier).strip() or "(none)",
        )
    except CodeInterpreterError as exc:
        raise TaskFailed(
            f"the explore tier's REPL failed: {redact(str(exc))}",
            "see [sandbox]: the REPL runs python3 in the sandbox",
        ) from exc
    finally:  # a step's time-out leaves its tool call running: it ends before the gate runs
        calls.close(step_seconds + 60)
    summary = str(found.get("summary") or "").strip()
    work.summary = summary
    work.steps = steps
    return Explored(summary, steps, work)
