"""`memfun traces list` and `memfun traces show ID`: each task's trace (traces.py), as the
engine kept it in the configured tier's store.

`list`: the traced tasks of this clone, newest first: id, status, model calls, tokens, cost,
seconds, request. `show`: the task, its usage per step, its events in order (the ladder's
climbs among them), then each model call with its prompt and answer (their first lines;
`--full` prints them whole). `--json` prints the trace itself. Everything was redacted when
the trace was written, and is again on the way out.
"""

from __future__ import annotations

import sys
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

from memfun_git.cli.tasks import console_for, print_columns, print_json, repo_backend, short_line
from memfun_git.errors import UsageError
from memfun_git.redact import redact

if TYPE_CHECKING:
    from pathlib import Path

    from memfun_git.records import Records

__all__ = ["run_traces_list", "run_traces_show", "trace_lines"]

_SHOWN_LINES = 6
"""Lines of each prompt and answer `show` prints without --full."""


@contextmanager
def _store(start: Path, environ: Mapping[str, str] | None) -> Generator[tuple[Records, str]]:
    """The configured tier's store of this repository, and this clone's name."""
    from memfun_git.records import Records, clone_name

    paths, backend = repo_backend(start, environ)
    with Records.open(backend, paths.common_dir) as store:
        yield store, clone_name(paths.common_dir)


def run_traces_list(
    start: Path,
    *,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    from memfun_git.traces import traced_tasks

    out = sys.stdout if stdout is None else stdout
    with _store(start, environ) as (store, clone):
        rows = [_row(t) for t in traced_tasks(store, clone)]
    if json_out:
        print_json(rows, out)
        return 0
    if not rows:
        out.write('No traces yet: each task keeps one (`memfun run "<request>"`).\n')
        return 0
    header = ("ID", "STATUS", "CALLS", "TOKENS", "COST", "SECONDS", "REQUEST")
    print_columns(header, [
        (r["id"], r["status"], str(r["calls"]), f"{r['tokens']:,}", f"${r['cost_usd']:.4f}",
         f"{r['seconds']:.1f}", short_line(r["request"]))
        for r in rows
    ], out)  # fmt: skip
    return 0


def _row(task: Mapping[str, Any]) -> dict[str, Any]:
    usage: Mapping[str, Any] = task.get("usage") or {}
    return {
        "id": task.get("id", ""),
        "status": task.get("status", ""),
        "request": task.get("request", ""),
        "calls": int(usage.get("calls") or 0),
        "tokens": int(usage.get("input_tokens") or 0) + int(usage.get("output_tokens") or 0),
        "cost_usd": float(usage.get("cost_usd") or 0.0),
        "seconds": float(task.get("seconds") or 0.0),
    }


def run_traces_show(
    start: Path,
    name: str,
    *,
    json_out: bool = False,
    full: bool = False,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    from memfun_git.traces import load_trace, traced_tasks

    out = sys.stdout if stdout is None else stdout
    with _store(start, environ) as (store, clone):
        known = [str(t.get("id", "")) for t in traced_tasks(store, clone)]
        exact = [i for i in known if i == name.strip()]
        found = exact or [i for i in known if name.strip() and i.startswith(name.strip())]
        if len(found) != 1:
            if found:
                raise UsageError(
                    f"{name!r} names {len(found)} traced tasks: {', '.join(found[:3])}",
                    "give more of the id",
                )
            latest = ", ".join(known[:3])
            raise UsageError(
                f"no trace of a task {name!r} here",
                f"`memfun traces list` shows them (latest: {latest})" if latest else "run a task",
            )
        trace = load_trace(store, found[0])
    if trace is None:
        raise UsageError(f"the trace of {found[0]} has expired", "traces are kept 30 days")
    if json_out:
        print_json(trace, out)
        return 0
    console = console_for(out, environ)
    plain = not console.is_terminal or console.no_color or console.is_dumb_terminal
    for text, style in trace_lines(trace, full=full):
        if plain or style is None:
            out.write(redact(text) + "\n")
        else:
            from rich.text import Text

            console.print(Text(redact(text), style=style))
    return 0


def trace_lines(trace: Mapping[str, Any], *, full: bool = False) -> list[tuple[str, str | None]]:
    """A trace as (text, style) lines: the task, usage per step, events, calls."""
    usage: Mapping[str, Any] = trace.get("usage") or {}
    lines: list[tuple[str, str | None]] = [
        (f"Task {trace['id']}: {trace['status']} in {float(trace['seconds']):.1f} s", "bold"),
        (f"Request: {trace['request']}", None),
    ]
    if trace.get("error"):
        lines.append((f"Error: {trace['error']}", "red"))
    if trace.get("branch"):
        lines.append((f"Branch: {trace['branch']} (from {str(trace.get('base', ''))[:7]})", None))
    lines.append((
        f"Model calls: {usage.get('calls', 0)}; tokens {usage.get('input_tokens', 0):,} in, "
        f"{usage.get('output_tokens', 0):,} out; cost ${float(usage.get('cost_usd') or 0):.4f}",
        None,
    ))  # fmt: skip
    steps: Mapping[str, Mapping[str, int]] = usage.get("by_step") or {}
    for name, step in steps.items():
        said = f"{step['input_tokens']:,} in, {step['output_tokens']:,} out"
        lines.append((f"  {name}: {step['calls']} call(s), {said}", None))
    events = trace.get("events") or []
    if events:
        lines += [("", None), ("Events:", "bold")]
        lines += [(f"  {e['at']:7.2f} s  {_event_text(e)}", None) for e in events]
    calls = trace.get("calls") or []
    for number, call in enumerate(calls, 1):
        lines += [
            ("", None),
            (f"Call {number}: {call['step']} ({call['seconds']:.2f} s, {call['input_tokens']:,} "
             f"in, {call['output_tokens']:,} out, finish {call['finish_reason']})", "bold"),
        ]  # fmt: skip
        for part in ("prompt", "answer"):
            text = str(call.get(part) or "")
            shown = text.splitlines() if full else text.splitlines()[:_SHOWN_LINES]
            left = len(text.splitlines()) - len(shown)
            lines.append((f"  {part}:", "cyan"))
            lines += [(f"    {line}", None) for line in shown]
            if left > 0:
                lines.append((f"    … {left} more line(s) (--full shows them)", "dim"))
    return lines


def _event_text(event: Mapping[str, Any]) -> str:
    kind = str(event.get("event", ""))
    if kind == "StepStarted":
        detail = event.get("detail") or ""
        return f"{event.get('step')}" + (f": {detail}" if detail else "")
    if kind == "OperationDone":
        result = event.get("result") or {}
        op = result.get("op") or {}
        said = "done" if result.get("ok") else f"refused: {result.get('message', '')}"
        return f"operation on {op.get('path', '?')}: {said}"
    if kind == "CommandRan":
        result = event.get("result") or {}
        return f"ran {' '.join(result.get('argv') or [])} (exit {result.get('exit_code')})"
    if kind == "Committed":
        commit = event.get("commit") or {}
        return f"committed {str(commit.get('oid', ''))[:7]} {commit.get('subject', '')}"
    if kind == "AgentFinished":
        why = f": {event.get('error')}" if event.get("error") else ""
        return f"{event.get('specialist')} {event.get('node_id')} {event.get('status')}{why}"
    if kind == "AgentStarted":
        return f"{event.get('specialist')} started {event.get('node_id')} on {event.get('branch')}"
    rest = {k: v for k, v in event.items() if k not in ("at", "event")}
    return f"{kind} {short_line(str(rest))}" if rest else kind
