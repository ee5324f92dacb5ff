"""The context-first solver: the files that matter in one prompt, every change in one answer.

    context ─ a project under SMALL_PROJECT bytes: every file (no call)
            └ a larger one: the planner picks files from the code map ranked for the
              request (1 call, step "plan"; solvers/planning.py)
    solve   ─ one raw-text call (step "solve") answered in the operation format
              unreadable or cut off: one retry with the error (1 call, step "solve"), then
              `LLMUnparseable` / `LLMTruncated`
    apply   ─ file operations through the caller's `apply` (the workspace's file operations)
              refused ones: one call (step "repair") with each reason and the closest lines of
              the file; refused again: `TaskFailed`
    run     ─ `RUN` commands in the sandbox, after every file operation, output kept

So a task on a large project costs 2 calls when nothing is refused (plan + solve), a small
project 1. File contents go into the prompt within `files_budget` tokens, redacted (the
listing and `gather` redact; so is everything else sent). Progress goes out as events
(`StepStarted`, `FilesGathered`, `OperationDone`, `CommandRan`); the caller (the engine) gates
and commits. The solver knows no workspace: it reads the worktree's files and changes them
only through `apply`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.config import LLMConfig
from memfun_git.errors import (
    LLMTruncated,
    LLMUnparseable,
    OperationFormatError,
    ProgramNotExecutable,
    ProgramNotFound,
    SandboxUnavailable,
    TaskFailed,
    UsageError,
)
from memfun_git.events import CommandRan, FilesGathered, OperationDone, StepStarted
from memfun_git.operations import (
    FORMAT_INSTRUCTIONS,
    Operation,
    Parsed,
    RenameFile,
    RunCommand,
    parse,
)
from memfun_git.redact import redact
from memfun_git.solvers.context import (
    SMALL_PROJECT,
    Context,
    gather,
    project_files,
    project_map,
)
from memfun_git.solvers.planning import others, plan_files

if TYPE_CHECKING:
    from memfun_git.backends.protocols import RunResult, SandboxAdapter
    from memfun_git.edits.ops import Op, OpResult
    from memfun_git.events import EventSink
    from memfun_git.llm.session import LMSession

__all__ = [
    "ASSUMED_WINDOW",
    "Apply",
    "Solution",
    "changed_paths",
    "files_budget",
    "solve",
]

ASSUMED_WINDOW = 128_000
"""Tokens of context assumed for the model. Today's hosted models hold 128k to 1M; a smaller
local model answers `LLMContextTooLarge`, and a lower [llm] max_tokens leaves more room."""
FILES_CAP = 64_000
"""At most this many tokens of file contents (about 256 KB): a 200 KB project fits whole,
and no call costs more than it must."""
PROMPT_RESERVE = 8_000
"""Tokens kept for everything else in the prompt: instructions, request, feedback."""
MIN_FILES_BUDGET = 8_000
PREVIOUS_CAP = 32_000
"""Characters of an unreadable answer shown back to the model with the error."""

Apply = Callable[["Sequence[Op]"], "list[OpResult]"]
"""Applies file operations to the task's worktree, in order, one result each."""


@dataclass(frozen=True, slots=True)
class Solution:
    """What the solver did: every operation's result, the commands' runs, the model's words."""

    operations: tuple[OpResult, ...]
    commands: tuple[RunResult, ...]
    summary: str
    """The model's prose around its operations (its account of the change)."""
    files: tuple[str, ...]
    """The files whose contents the model saw."""
    context_bytes: int
    planned: bool
    """True when a planner call chose the files (a project over SMALL_PROJECT)."""

    @property
    def paths(self) -> tuple[str, ...]:
        """The paths the applied operations changed: what the gate lints, reviews and
        commits, and nothing else (not a carried-over change of the user's)."""
        return changed_paths(self.operations)


def changed_paths(results: Sequence[OpResult]) -> tuple[str, ...]:
    """The paths applied operations changed (a rename's both), in order, once each."""
    changed: list[str] = []
    for result in results:
        if result.ok:
            changed.append(result.op.path)
            if isinstance(result.op, RenameFile):
                changed.append(result.op.new_path)
    return tuple(dict.fromkeys(changed))


def files_budget(llm: LLMConfig) -> int:
    """Tokens of file contents one prompt may hold: the assumed window less the answer's
    room ([llm] max_tokens) and the rest of the prompt, at most FILES_CAP."""
    room = ASSUMED_WINDOW - llm.max_tokens - PROMPT_RESERVE
    return max(MIN_FILES_BUDGET, min(FILES_CAP, room))


def solve(
    session: LMSession,
    worktree: Path,
    request: str,
    *,
    apply: Apply,
    sandbox: SandboxAdapter,
    emit: EventSink,
    budget: int,
    conventions: str = "",
    boost: Sequence[str] = (),
    read_only: str = "",
) -> Solution:
    """Make the change `request` asks for in `worktree`; see the module's docstring.

    `read_only`: why file operations are refused (a specialist that reads and reports): the
    answer's file operations are refused with that reason, without a repair call, and its
    words (and commands) are the result.

    `conventions` (memory's recall and the project's agent instructions) goes into the
    planner's and the solver's prompts; `boost` (names memory mentions) into the map's ranking.
    Raises `LLMUnparseable` or `LLMTruncated` after the one retry, `TaskFailed` when
    operations are refused again after the repair call, and the session's `LLMError`s."""
    emit(StepStarted("context"))
    cmap = project_map(worktree)
    files = project_files(worktree, cmap)
    total = sum(info.size for info in files)
    planned = total >= SMALL_PROJECT
    if planned:
        emit(StepStarted("plan", f"{len(files):,} files, {total // 1024:,} KB"))
        wanted = plan_files(
            session, request, files, budget, cmap=cmap, boost=boost, conventions=conventions
        )
    else:
        wanted = [info.path for info in files]
    context = gather(worktree, wanted, budget)
    emit(FilesGathered(context.paths, context.bytes, planned))
    prompt = {
        "request": redact(request),
        "conventions": redact(conventions).strip() or "(none)",
        "files": context.text or "(no files)",
        "project": others(files, context),
        "format": FORMAT_INSTRUCTIONS,
    }
    emit(StepStarted("solve"))
    parsed = _answer(session, "solve", prompt, emit, retries=1)
    if read_only:
        apply = _refusing(read_only)
    results, commands = _apply(parsed.operations, apply, emit)
    summary = parsed.prose
    refused = [r for r in results if not r.ok]
    if refused and not read_only:
        emit(StepStarted("repair", f"{len(refused)} refused"))
        again = _repair(session, prompt, results, worktree, context, budget, emit)
        more, more_commands = _apply(again.operations, apply, emit)
        results += more
        commands += more_commands
        summary = "\n\n".join(p for p in (summary, again.prose) if p)
        _refuse_twice([r for r in more if not r.ok])
    runs = _run_all(commands, sandbox, emit)
    return Solution(tuple(results), tuple(runs), summary, context.paths, context.bytes, planned)


def _answer(
    session: LMSession,
    step: str,
    prompt: dict[str, str],
    emit: EventSink,
    *,
    retries: int,
    feedback: str = "(none)",
) -> Parsed:
    """One solving call, parsed; an answer cut off or unreadable is asked for again
    `retries` times, with the error (every call visible in the session's usage)."""
    from memfun_git.llm.signatures import SolveTask

    while True:
        try:
            text = session.text(step, SolveTask, **prompt, feedback=feedback)
        except LLMTruncated:
            if retries <= 0:
                raise
            feedback = _cut_off(session.config.max_tokens)
            why = "the answer was cut off"
        else:
            try:
                return parse(text)
            except OperationFormatError as exc:
                if retries <= 0:
                    raise LLMUnparseable(
                        f"the model's answer to {step} is not in the operation format "
                        f"({exc.message})",
                        "try again, or use a stronger model",
                        raw=text,
                        step=step,
                    ) from exc
                feedback = _unreadable(exc, text)
                why = f"the answer could not be read ({exc.message})"
        retries -= 1
        emit(StepStarted(step, f"retry: {why}"))


def _cut_off(max_tokens: int) -> str:
    return (
        f"Your previous answer was cut off at the limit of {max_tokens:,} tokens before it "
        "ended, so none of it was used. Answer again, shorter: change existing files with "
        "SEARCH/REPLACE blocks quoting only the lines around each change instead of writing "
        "whole files, and keep the explanation to a sentence or two."
    )


def _unreadable(error: OperationFormatError, text: str) -> str:
    shown = text if len(text) <= PREVIOUS_CAP else text[:PREVIOUS_CAP] + "\n… (cut here)"
    return redact(
        f"Your previous answer could not be read, so none of it was used: {error}. "
        "Answer again with the whole change, exactly in the format. Your previous answer "
        f"was:\n\n{shown}"
    )


def _refusing(why: str) -> Apply:
    def refuse(operations: Sequence[Op]) -> list[OpResult]:
        from memfun_git.edits.ops import OpResult

        return [OpResult(op, False, why) for op in operations]

    return refuse


def _apply(
    operations: Sequence[Operation], apply: Apply, emit: EventSink
) -> tuple[list[OpResult], list[RunCommand]]:
    """Apply the file operations in order; the commands are returned to run afterwards."""
    file_ops: list[Op] = []
    commands: list[RunCommand] = []
    for op in operations:
        if isinstance(op, RunCommand):
            commands.append(op)
        else:
            file_ops.append(op)
    results = apply(file_ops) if file_ops else []
    for result in results:
        emit(OperationDone(result))
    return results, commands


def _repair(
    session: LMSession,
    prompt: dict[str, str],
    results: list[OpResult],
    worktree: Path,
    context: Context,
    budget: int,
    emit: EventSink,
) -> Parsed:
    """One call with every refusal (its reason and the file's closest lines) and the files as
    they are now (those refused first, then those changed, then the rest it saw); no retry
    of its own."""
    refused = [r for r in results if not r.ok]
    paths = [r.op.path for r in refused] + [*changed_paths(results), *context.paths]
    now = gather(worktree, paths, budget)
    reasons = "\n\n".join(_refusal_text(r) for r in refused)
    feedback = redact(
        "Some operations of your previous answer were refused; the others were applied, and "
        "the files are shown as they are now. Answer with corrected operations for the "
        "refused ones only, quoting the files exactly as shown.\n\n" + reasons
    )
    repair_prompt = {**prompt, "files": now.text or "(no files)"}
    return _answer(session, "repair", repair_prompt, emit, retries=0, feedback=feedback)


def _refusal_text(result: OpResult) -> str:
    from memfun_git.operations import describe

    text = f"- {describe(result.op)}: refused: {result.message}"
    closest = result.refusal.closest if result.refusal is not None else None
    if closest is not None:
        text += (
            f"\n  The closest lines of the file ({closest.start_line}-{closest.end_line}), "
            f"exactly as they are:\n{closest.text}"
        )
    return text


def _refuse_twice(still: list[OpResult]) -> None:
    if not still:
        return
    first = still[0].message.splitlines()[0] if still[0].message else "refused"
    more = f" (and {len(still) - 1} more)" if len(still) > 1 else ""
    raise TaskFailed(
        f"the model's operations were refused twice: {first}{more}",
        "the attempt keeps what was applied; name the files involved in the request, "
        "or try a stronger model",
    )


def _run_all(
    commands: list[RunCommand], sandbox: SandboxAdapter, emit: EventSink
) -> list[RunResult]:
    if commands:
        emit(StepStarted("run", f"{len(commands)} command{'s' * (len(commands) != 1)}"))
    runs: list[RunResult] = []
    for command in commands:
        result, program = _run(command, sandbox)
        emit(CommandRan(result, program))
        runs.append(result)
    return runs


def _run(command: RunCommand, sandbox: SandboxAdapter) -> tuple[RunResult, str]:
    """Run one command; one the sandbox cannot run is reported as a shell would (126/127),
    with the reason as its output, and the task goes on."""
    from memfun_git.backends.protocols import RunResult

    argv = command.argv
    try:
        program = sandbox.which(argv[0])
        return sandbox.run(argv), program
    except (ProgramNotFound, ProgramNotExecutable) as exc:
        return RunResult(argv, int(exc.exit_code), "", str(exc), 0.0), ""
    except (UsageError, SandboxUnavailable) as exc:
        return RunResult(argv, 126, "", str(exc), 0.0), ""
