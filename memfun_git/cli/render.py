"""How `memfun run` shows a task: live progress from its events, then the summary.

- `TaskProgress` is the engine's event sink for the CLI: on a terminal (stderr), a spinner
  with the step in progress (or the model call, its endpoint and the seconds waited, as
  `memfun ask` shows it: `cli/progress.py`), and a line above it as each step ends. Off a
  terminal, or with TERM=dumb, it draws nothing: the summary and the log say it all.
- `summary_lines(result)` is the seed's summary as (text, style) lines: files gathered,
  each operation, the verification with the linter that ran, the review, the model's words,
  time, tokens and cost, then the branch and its commits (or why it failed and the attempt).
  `print_summary` writes them on stdout with rich: styled on a terminal, plain text for a
  pipe, a file or NO_COLOR.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, TextIO

from memfun_git.events import (
    AgentFinished,
    AgentStarted,
    BranchMerged,
    CommandRan,
    Committed,
    Event,
    FilesGathered,
    FixRound,
    LintRan,
    OperationDone,
    Reviewed,
    SetupRan,
    StepStarted,
    TaskFinished,
    TaskStarted,
)
from memfun_git.llm.observe import CallFinished, CallRetrying, CallStarted
from memfun_git.operations import describe
from memfun_git.redact import redact

if TYPE_CHECKING:
    from memfun_git.cli.progress import CallSpinner
    from memfun_git.edits.ops import OpResult
    from memfun_git.quality.verdicts import GateOutcome, LintVerdict
    from memfun_git.tasks import TaskResult, UsageReport

__all__ = ["TaskProgress", "print_summary", "summary_lines"]

Line = tuple[str, str | None]
"""A line of output and its rich style (None: plain)."""

_STEPS = {
    "setup": "running [workspace] setup",
    "context": "gathering context",
    "plan": "planning: choosing the files to read",
    "solve": "solving",
    "repair": "repairing refused operations",
    "run": "running commands",
    "lint": "linting",
    "fix": "fixing lint findings",
    "review": "reviewing the change",
    "polish": "polishing",
    "commit": "committing",
    "decompose": "decomposing the request into sub-tasks",
    "workflow": "running the workflow",
    "resolve": "settling merge conflicts",
    "cross-review": "reviewing everyone's merged work",
    "explore": "exploring",
}
_KEPT_STEPS = {"escalate": ("↑", "yellow"), "resolve": ("·", "yellow"), "warning": ("!", "yellow")}
"""Steps whose every event stays as a line above the spinner (the ladder's climbs, a merge's
conflicts being settled), with their mark and style."""
_SHOWN_OUTPUT = 20
"""Lines of a failing linter's output the summary shows."""
_SHOWN_TAIL = 5
"""Last lines of a failed command's output the summary shows."""


class TaskProgress:
    """The task's live progress on stderr, drawn with `spinner` (a `CallSpinner`, entered
    by the caller); an `EventSink`."""

    def __init__(self, spinner: CallSpinner) -> None:
        self.spinner = spinner
        self.result: TaskResult | None = None
        """The task's result once it finished (also when it was interrupted)."""

    def __call__(self, event: Event) -> None:
        spinner = self.spinner
        if isinstance(event, CallStarted | CallRetrying | CallFinished):
            spinner(event)
        elif isinstance(event, StepStarted):
            label = _STEPS.get(event.step, event.step)
            if event.detail.startswith("retry:"):
                spinner.line(f"  {event.step}: {event.detail}", "yellow")
            kept = _KEPT_STEPS.get(event.step)
            if kept is not None:
                mark, style = kept
                spinner.line(f"{mark} {event.step}: {redact(event.detail)}", style)
            spinner.status(f"{label} ({event.detail})" if event.detail else label)
        elif isinstance(event, TaskFinished):
            self.result = event.result
            spinner.status(None)
        else:
            for text, style in _progress_line(event):
                spinner.line(text, style)

    def confirm(self, argv: list[str]) -> bool:
        """Ask before the local sandbox runs a command unisolated (the spinner paused)."""
        from rich.prompt import Confirm

        self.spinner.status(None)
        return Confirm.ask(f"Run without isolation: [bold]{' '.join(argv)}[/bold]?", default=False)


def _progress_line(event: Event) -> list[Line]:
    match event:
        case TaskStarted(task_id=task_id, branch=branch, base=base):
            return [(f"Task {task_id} on {branch} (from {base[:7]})", "bold")]
        case SetupRan(command=command, seconds=seconds):
            return [(f"✓ setup {command} ({seconds:.1f} s)", "green")]
        case FilesGathered(paths=paths, bytes=size, planned=planned):
            chosen = ", chosen by the planner" if planned else ""
            return [(f"✓ gathered {_files(len(paths))} ({_kb(size)}){chosen}", "green")]
        case OperationDone(result=result):
            return [_operation(result)]
        case CommandRan(result=run):
            return [(f"  run    {_command(run.argv)}  (exit {run.exit_code})", None)]
        case LintRan(verdict=verdict):
            return [(f"  {_verdict(verdict)}", "green" if verdict.passed else "red")]
        case FixRound(number=number, findings=findings):
            return [(f"  fix round {number}: {_count(len(findings), 'finding')}", "yellow")]
        case Reviewed(review=review, blocking=blocking):
            style = "red" if blocking else "green"
            return [(f"  review: {_count(len(review.findings), 'finding')}", style)]
        case Committed(commit=commit):
            return [(f"✓ committed {commit.oid[:7]} {commit.subject}", "green")]
        case AgentStarted(node_id=node, specialist=who, branch=branch, round=round_):
            again = f" (revision {round_})" if round_ else ""
            return [(f"· {who} started {node}{again} on {branch}", None)]
        case AgentFinished(node_id=node, specialist=who, status=status, error=error):
            style = "green" if status == "done" else "red" if status == "failed" else "yellow"
            return [(f"{'✓' if status == 'done' else '✗'} {who} {node} {status}"
                     + (f": {redact(error)}" if error else ""), style)]  # fmt: skip
        case BranchMerged(branch=branch, oid=oid, settled=settled, conflicts=conflicts):
            if not oid:
                return [(f"  {branch} conflicts in {', '.join(conflicts)}", "yellow")]
            said = f" (conflicts settled: {', '.join(settled)})" if settled else ""
            return [(f"✓ merged {branch}{said}", "green")]
        case _:
            return []


# -- the summary ---------------------------------------------------------------------------


def summary_lines(result: TaskResult) -> list[Line]:
    """The seed's summary of a finished task (see the module's docstring)."""
    lines: list[Line] = []
    if result.files_gathered or result.context_bytes:
        size = f"{_files(len(result.files_gathered))} ({_kb(result.context_bytes)})"
        lines += [(f"Context-first: gathered {size}", None), ("", None)]
    if result.operations or result.commands:
        lines.append(("Operations:", "bold"))
        lines += [_operation(r) for r in result.operations]
        for run in result.commands:
            outcome = "passed" if run.ok else f"exit {run.exit_code}"
            lines.append((f"  run    {_command(run.argv)}  ({outcome})", None))
            if not run.ok:
                tail = redact(run.stderr or run.stdout).strip().splitlines()[-_SHOWN_TAIL:]
                lines += [(f"         {text}", "dim") for text in tail]
        lines.append(("", None))
    if result.gate is not None:
        lines += _gate_lines(result.gate)
    if result.summary:
        lines += [(redact(text), "dim") for text in result.summary.strip().splitlines()]
        lines.append(("", None))
    lines.append((_totals(result.seconds, result.usage), None))
    lines += _ending(result)
    return lines


def _gate_lines(gate: GateOutcome) -> list[Line]:
    lines: list[Line] = []
    errors = sum(len(v.findings) for v in gate.verdicts if v.status == "fail")
    ran = "; ".join(_verdict(v) for v in gate.verdicts) or "no linter found for this project"
    style = "green" if all(v.passed for v in gate.verdicts) else "red"
    lines.append((f"Verified: {_count(errors, 'lint error')} — {ran}", style))
    if gate.fix_rounds:
        lines.append((f"  after {_count(gate.fix_rounds, 'fix round')}", None))
    for verdict in gate.verdicts:
        if not verdict.passed and verdict.output:
            shown = verdict.output.splitlines()
            lines += [(f"  {text}", None) for text in shown[:_SHOWN_OUTPUT]]
            if len(shown) > _SHOWN_OUTPUT:
                lines.append((f"  … {len(shown) - _SHOWN_OUTPUT} more lines", None))
    lines += [(f"  configuration change: {c}", "yellow") for c in gate.config_changes]
    lines += [(f"  new suppression: {s}", "yellow") for s in gate.suppressions]
    if gate.review is not None:
        review = gate.review
        found = _count(len(review.findings), "finding") if review.findings else "no findings"
        blocks = f", {len(gate.blocking)} blocking" if gate.blocking else ""
        lines.append((f"Review: {found}{blocks} — {review.summary}", "red" if blocks else None))
        for finding in review.findings:
            style = "red" if finding in gate.blocking else "yellow"
            lines.append((f"  {finding.render()}", style))
        if gate.polished:
            lines.append(("  polished", None))
    lines.append(("", None))
    return lines


def _ending(result: TaskResult) -> list[Line]:
    lines: list[Line] = []
    if result.commits:
        count = _count(len(result.commits), "commit")
        lines.append((f"Branch {result.branch} ({count})", "bold"))
        lines += [(f"  {c.oid[:7]} {c.subject}", None) for c in result.commits]
    if result.status == "done":
        if not result.commits:
            lines.append(("Nothing to commit: the commands ran, no file changed", None))
        return lines
    lines.append((f"{result.status.capitalize()}: {result.error}", "red bold"))
    if result.attempt:
        lines.append((f"Attempt kept: {result.attempt}", None))
    return lines


def print_summary(
    result: TaskResult, stream: TextIO | None = None, environ: Mapping[str, str] | None = None
) -> None:
    """The summary on `stream` (stdout): styled on a terminal, plain text for a pipe, a file,
    NO_COLOR or TERM=dumb (FORCE_COLOR styles it anywhere, as rich reads it)."""
    import os

    from rich.console import Console
    from rich.text import Text

    out = sys.stdout if stream is None else stream
    env = os.environ if environ is None else environ
    console = Console(file=out, highlight=False, _environ=dict(env))
    plain = not console.is_terminal or console.no_color or console.is_dumb_terminal
    for text, style in summary_lines(result):
        if plain:
            out.write(text + "\n")
        else:
            console.print(Text(text, style=style or ""), soft_wrap=True)
    out.flush()


# -- pieces ----------------------------------------------------------------------------------


def _operation(result: OpResult) -> Line:
    kind, _, rest = describe(result.op).partition(" ")
    if result.ok:
        return (f"  {kind:<6} {rest}", None)
    reason = redact(result.message.splitlines()[0]) if result.message else "refused"
    return (f"  {kind:<6} {rest}  (refused: {reason})", "red")


def _verdict(verdict: LintVerdict) -> str:
    where = f" ({verdict.program})" if verdict.program else ""
    return f"{verdict.linter} {verdict.status}{where}"


def _command(argv: tuple[str, ...]) -> str:
    from memfun_git.operations import RunCommand

    return describe(RunCommand(argv)).removeprefix("run ")


def _totals(seconds: float, usage: UsageReport) -> str:
    calls = _count(usage.calls, "call")
    if usage.calls and usage.unpriced_calls == usage.calls:
        cost = "cost unknown"
    else:
        cost = f"${usage.cost:.4f}" + (" + unpriced calls" if usage.unpriced_calls else "")
    return f"{_seconds(seconds)}  •  {_tokens(usage.tokens)} ({calls})  •  {cost}"


def _seconds(seconds: float) -> str:
    if seconds < 10:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} m {rest} s" if minutes else f"{rest} s"


def _tokens(tokens: int) -> str:
    return f"{tokens} tokens" if tokens < 1000 else f"{tokens / 1000:.1f}k tokens"


def _kb(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.0f} KB"


def _files(count: int) -> str:
    return _count(count, "file")


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"
