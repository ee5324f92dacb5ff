"""`memfun list`, `show`, `diff`, `merge` and `undo`: living with tasks after `memfun run`.

Thin: the tasks come from `memfun_git.tasklist` (the engine's records joined with git), the
changes to the user's branch from `memfun_git.gitops.deliver`. Output is styled on a
terminal and plain for a pipe, a file or NO_COLOR; `--json` prints one JSON document.
`diff` runs `git diff` itself, so colour and paging are git's own (and the user's settings).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from memfun_git import config
from memfun_git.errors import UsageError
from memfun_git.gitops.repo import require_repo
from memfun_git.redact import redact

if TYPE_CHECKING:
    from pathlib import Path

    from memfun_git.config import BackendConfig
    from memfun_git.gitops.repo import RepoPaths
    from memfun_git.tasklist import TaskView

__all__ = [
    "console_for",
    "print_columns",
    "print_json",
    "repo_backend",
    "run_diff",
    "run_list",
    "run_merge",
    "run_show",
    "run_undo",
    "short_line",
    "show_lines",
]

_STATUS_STYLE = {"done": "green", "failed": "red", "interrupted": "yellow", "running": "cyan"}
_REQUEST_CHARS = 60


def repo_backend(start: Path, environ: Mapping[str, str] | None) -> tuple[RepoPaths, BackendConfig]:
    paths = require_repo(start)
    backend = config.BackendConfig()
    if paths.workdir is not None:
        backend = config.load(paths.workdir, environ=environ).backend
    return paths, backend


def console_for(out: TextIO, environ: Mapping[str, str] | None) -> Any:
    from rich.console import Console

    env = dict(os.environ if environ is None else environ)
    return Console(file=out, highlight=False, soft_wrap=True, _environ=env)


def print_json(value: Any, out: TextIO) -> None:
    out.write(redact(json.dumps(value, ensure_ascii=False, indent=2)) + "\n")


def print_columns(header: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Rows in aligned columns, every value whole (a pipe or a file gets no 80-column cut);
    the last column unpadded."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header) - 1)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
        out.write(redact("  ".join([*cells, row[-1]]).rstrip()) + "\n")


# -- list ----------------------------------------------------------------------------------


def run_list(
    start: Path,
    *,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    from memfun_git.tasklist import age_text, load_tasks

    out = sys.stdout if stdout is None else stdout
    paths, backend = repo_backend(start, environ)
    tasks = load_tasks(paths, backend)
    if json_out:
        print_json([_list_entry(t) for t in tasks], out)
        return 0
    if not tasks:
        out.write('No tasks yet: `memfun run "<request>"` makes one.\n')
        return 0
    now = time.time()
    header = ("ID", "STATUS", "BRANCH", "DELIVERED", "AGE", "REQUEST")
    rows = [
        (
            task.id,
            task.status,
            task.branch if task.branch_exists else "(deleted)",
            _delivered_text(task),
            age_text(now - task.started),
            short_line(task.request),
        )
        for task in tasks
    ]
    console = console_for(out, environ)
    if not console.is_terminal or console.no_color or console.is_dumb_terminal:
        print_columns(header, rows, out)
        return 0
    from rich.markup import escape
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold")
    for column in header:
        table.add_column(column, no_wrap=column != "REQUEST")
    for row in rows:
        style = _STATUS_STYLE.get(row[1], "")
        cells = [escape(cell) for cell in row]
        cells[1] = f"[{style}]{cells[1]}[/]" if style else cells[1]
        table.add_row(*cells)
    console.print(table)
    return 0


def _list_entry(task: TaskView) -> dict[str, Any]:
    return {
        "id": task.id,
        "request": task.request,
        "status": task.status,
        "branch": task.branch,
        "branch_exists": task.branch_exists,
        "delivered": task.delivered,
        "started": task.started,
        "updated": task.updated,
        "age_seconds": round(max(0.0, time.time() - task.started), 1),
        "error": task.record.get("error", ""),
    }


def _delivered_text(task: TaskView) -> str:
    if not task.branch_exists:
        return "-"
    if task.delivered is None:
        return "no"
    return task.delivered.removeprefix("refs/heads/").removeprefix("refs/remotes/")


def short_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _REQUEST_CHARS else line[: _REQUEST_CHARS - 1] + "…"


# -- show ----------------------------------------------------------------------------------


def run_show(
    start: Path,
    name: str,
    *,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    from memfun_git.tasklist import find_task

    out = sys.stdout if stdout is None else stdout
    paths, backend = repo_backend(start, environ)
    task = find_task(paths, name, backend)
    if json_out:
        print_json(task.as_dict(), out)
        return 0
    from rich.text import Text

    console = console_for(out, environ)
    plain = not console.is_terminal or console.no_color or console.is_dumb_terminal
    for text, style in show_lines(task):
        if plain:
            out.write(redact(text) + "\n")
        else:
            console.print(Text(redact(text), style=style or ""))
    return 0


def show_lines(task: TaskView) -> list[tuple[str, str | None]]:
    """What `memfun show` prints, as (text, rich style) lines."""
    from memfun_git.tasklist import age_text

    record = task.record
    lines: list[tuple[str, str | None]] = [
        (f"Task {task.id}", "bold"),
        (f"Request: {task.request}", None),
        (f"Status: {task.status}", _STATUS_STYLE.get(task.status)),
    ]
    if record.get("error") and task.status != "done":
        lines.append((f"Why: {record['error']}", "red"))
    lines.append((f"Started: {age_text(time.time() - task.started)} ago", None))
    state = "" if task.branch_exists else " (deleted)"
    lines.append((f"Branch: {task.branch}{state}", None))
    if task.base:
        lines.append((f"Base: {task.base[:12]}", None))
    if task.branch_exists:
        lines.append((f"Delivered: {_delivered_text(task)}", None))
    programs: dict[str, str] = record.get("programs") or {}
    if programs:
        shown = ", ".join(f"{step} ({file})" for step, file in programs.items())
        lines.append((f"Compiled programs: {shown}", None))
    for run in record.get("runs", []):
        earlier = short_line(run.get("request", ""))
        lines.append((f"Earlier run: {run.get('status', '?')}: {earlier}", "dim"))
    if len(record.get("runs", [])) and record.get("request") != task.request:
        lines.append((f"Last request: {record.get('request', '')}", None))
    summary = str(record.get("summary", "")).strip()
    if summary:
        lines += [("", None), ("Summary:", "bold")]
        lines += [(f"  {line}", None) for line in summary.splitlines()]
    operations = record.get("operations", [])
    if operations:
        lines += [("", None), ("Operations:", "bold")]
        for op in operations:
            mark = "" if op.get("ok") else f"  (refused: {op.get('message', '')})"
            lines.append((f"  {op.get('operation', '')}{mark}", None if op.get("ok") else "red"))
    gate = record.get("gate") or {}
    if gate:
        lines += [("", None), ("Gate:", "bold")]
        for verdict in gate.get("verdicts", []):
            program = f" ({verdict['program']})" if verdict.get("program") else ""
            lines.append((f"  {verdict.get('linter')}: {verdict.get('status')}{program}", None))
        if gate.get("fix_rounds"):
            lines.append((f"  fix rounds: {gate['fix_rounds']}", None))
        review = gate.get("review") or {}
        if review:
            lines.append((f"  review: {review.get('summary', '')}", None))
            for finding in review.get("findings", []):
                where = f"{finding.get('path')}:{finding.get('line')}"
                lines.append((f"    {where}: {finding.get('severity')}: {finding.get('message')}",
                              "yellow"))  # fmt: skip
    if task.commits:
        lines += [("", None), ("Commits:", "bold")]
        for commit in task.commits:
            lines.append((f"  {commit.oid[:10]} {commit.subject}  [{commit.gate}]", None))
            lines += [(f"      {line}", "dim") for line in commit.note.splitlines()[:8]]
    usage = record.get("usage") or {}
    if usage:
        cost = usage.get("cost_usd", 0.0)
        lines += [
            ("", None),
            (
                f"Usage: {usage.get('calls', 0)} calls, {usage.get('input_tokens', 0):,} tokens "
                f"in, {usage.get('output_tokens', 0):,} out, ${cost:.4f}",
                None,
            ),
        ]
        for step, numbers in (usage.get("by_step") or {}).items():
            lines.append((f"  {step}: {numbers.get('calls', 0)} calls", "dim"))
    if task.attempts:
        lines += [("", None), ("Attempts kept:", "bold")]
        lines += [(f"  {ref}", None) for ref in task.attempts]
    return lines


# -- diff ----------------------------------------------------------------------------------


def run_diff(
    start: Path,
    name: str,
    *,
    stat: bool = False,
    environ: Mapping[str, str] | None = None,
) -> int:
    """`git diff <first base> memfun/<id>`, git's colour and pager (a terminal only)."""
    from memfun_git.gitops.git import git_environ
    from memfun_git.tasklist import find_task

    paths, backend = repo_backend(start, environ)
    task = find_task(paths, name, backend)
    if not task.base:
        raise UsageError(f"task {task.id} never started: there is nothing to diff", "")
    target = task.branch if task.branch_exists else (task.attempts[-1] if task.attempts else "")
    if not target:
        raise UsageError(
            f"{task.branch} is gone and no attempt of {task.id} is kept", "nothing to show"
        )
    env = git_environ(environ)
    args = [
        "git",
        "--no-optional-locks",
        "diff",
        *(["--stat"] if stat else []),
        task.base,
        target,
        "--",
    ]
    cwd = paths.workdir or paths.common_dir
    # git's own output: colour and pager as the user configured them (stdout inherited).
    sys.stdout.flush()
    return subprocess.run(args, cwd=cwd, env=env, check=False).returncode


# -- merge ---------------------------------------------------------------------------------


def run_merge(
    start: Path,
    name: str | None,
    *,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    from memfun_git.gitops.deliver import merge_task

    out = sys.stdout if stdout is None else stdout
    paths, backend = repo_backend(start, environ)
    task = _named_or_latest(paths, name, backend, "merge")
    if task.status != "done":
        raise UsageError(
            f"task {task.id} is {task.status}: only a done task's branch is merged",
            f'continue it with `memfun run --task {task.id} "..."`',
        )
    merged = merge_task(paths, task.id, short_line(task.request), environ)
    _record(paths, backend, task.id, {"merged": {"into": merged.into, "kind": merged.kind,
                                                     "commit": merged.commit}})  # fmt: skip
    if json_out:
        print_json({"id": task.id, "kind": merged.kind, "into": merged.into,
                     "commit": merged.commit}, out)  # fmt: skip
    elif merged.kind == "up to date":
        out.write(f"{merged.into} already holds {task.branch}: nothing to merge.\n")
    else:
        out.write(f"Merged {task.branch} into {merged.into} ({merged.kind}, "
                  f"now at {merged.commit[:10]}).\n")  # fmt: skip
    return 0


# -- undo ----------------------------------------------------------------------------------


def run_undo(
    start: Path,
    name: str | None,
    *,
    yes: bool = False,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    ask: Callable[[str], bool] | None = None,
) -> int:
    from memfun_git.gitops.deliver import undo_task

    out = sys.stdout if stdout is None else stdout
    paths, backend = repo_backend(start, environ)
    task = _named_or_latest(paths, name, backend, "undo")
    if not task.base:
        raise UsageError(f"task {task.id} never started: there is nothing to undo", "")

    def confirm() -> bool:
        if yes:
            return True
        question = f"Delete {task.branch} (not delivered anywhere; its tip is kept)?"
        if ask is not None:
            return ask(question)
        if not sys.stdin.isatty():
            return False
        import typer

        return typer.confirm(question, default=False)

    undone = undo_task(
        paths,
        task.id,
        task.base,
        subject=short_line(task.request),
        confirm=confirm,
        environ=environ,
    )
    _record(paths, backend, task.id, {"undone": {"kind": undone.kind, "detail": undone.detail,
                                                     "at": time.time()}})  # fmt: skip
    if json_out:
        print_json({"id": task.id, "kind": undone.kind, "detail": undone.detail,
                     "commit": undone.commit, "attempt": undone.attempt}, out)  # fmt: skip
    else:
        out.write(undone.detail[:1].upper() + undone.detail[1:] + ".\n")
    return 1 if undone.kind == "delivered elsewhere" else 0


def _named_or_latest(
    paths: RepoPaths, name: str | None, backend: BackendConfig, what: str
) -> TaskView:
    from memfun_git.tasklist import find_task, load_tasks

    if name is not None:
        return find_task(paths, name, backend)
    done = [t for t in load_tasks(paths, backend) if t.status == "done" and t.branch_exists]
    if not done:
        raise UsageError(f"there is no done task to {what}", "`memfun list` shows the tasks")
    latest = max(done, key=lambda t: t.updated)
    return find_task(paths, latest.id, backend)


def _record(paths: RepoPaths, backend: BackendConfig, task_id: str, value: dict[str, Any]) -> None:
    from memfun_git.records import Records

    with Records.open(backend, paths.common_dir) as store:
        found = store.get(f"task/{task_id}")
        if found is not None:
            store.put(f"task/{task_id}", {**found.value, **value})
