"""`memfun sandbox run`: a command run exactly as a task runs it.

Without `--workspace` it runs in a throwaway worktree of HEAD (`gitops.throwaway`: never the
user's own tree, no branch, no note, no attempt, gone afterwards whatever happened); with it,
in a task's worktree that memfun made. The command's output passes through; its exit status
is memfun's (124 when the time limit stopped it). This module only renders: progress of a long
copy of the user's changes and what was left out of it go to stderr.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git import config
from memfun_git.backends.protocols import RunResult, SandboxAdapter
from memfun_git.errors import UsageError
from memfun_git.gitops.repo import require_repo
from memfun_git.redact import redact, register_environ

if TYPE_CHECKING:
    from memfun_git.gitops.limits import Progress
    from memfun_git.gitops.throwaway import Throwaway

__all__ = ["run_sandbox"]

_MAX_TIMEOUT = 86_400


def run_sandbox(
    start: Path,
    command: Sequence[str],
    *,
    workspace: Path | None,
    timeout: float | None,
    with_changes: bool = False,
) -> int:
    from memfun_git.gitops.create import worktree_root
    from memfun_git.gitops.throwaway import Throwaway, task_worktree
    from memfun_git.sandbox import make_sandbox

    if not command or not command[0].strip():
        raise UsageError("no command given", "put it after --, e.g. memfun sandbox run -- ls")
    if timeout is not None and not (math.isfinite(timeout) and 0 < timeout <= _MAX_TIMEOUT):
        raise UsageError(
            f"--timeout {timeout:g} is not a time limit",
            f"give a number of seconds over 0, at most {_MAX_TIMEOUT:,}",
        )
    paths = require_repo(start)
    assert paths.workdir is not None
    cfg = config.load(paths.workdir)
    # The same subfolder as the one memfun was started in.
    cwd = _relative(start, paths.workdir)
    register_environ(os.environ, cfg.sandbox.extra_env)
    confirm = _confirm if sys.stdin.isatty() else None
    if workspace is not None:
        tree = task_worktree(paths, workspace)
        sandbox = make_sandbox(
            cfg.sandbox, tree, user_tree=paths.workdir, common_dir=paths.common_dir, confirm=confirm
        )
        return _show(_run_streamed(sandbox, tree, command, cwd, timeout))  # closes the sandbox
    root = worktree_root(cfg.workspace.root) if cfg.workspace.root else None
    with Throwaway(
        paths,
        root=root,
        with_changes=with_changes,
        on_progress=_progress,
        include=cfg.workspace.include,
        link=cfg.workspace.link,
    ) as tw:
        if tw.carried is not None and tw.carried.left_out:
            print(f"memfun: not copied in: {_left_out(tw)}", file=sys.stderr, flush=True)
        shown = tuple(str(paths.workdir / name) for name in tw.linked)
        sandbox = make_sandbox(
            replace(cfg.sandbox, extra_ro_paths=(*cfg.sandbox.extra_ro_paths, *shown)),
            tw.path,
            user_tree=paths.workdir,
            common_dir=paths.common_dir,
            confirm=confirm,
        )
        result = _run_streamed(sandbox, tw.path, command, cwd, timeout)
    return _show(result)


def _left_out(tw: Throwaway) -> str:
    from memfun_git.gitops.limits import describe_left_out

    assert tw.carried is not None
    return describe_left_out(tw.carried.left_out, tw.limits)


def _progress(progress: Progress) -> None:
    """Progress of a long copy on stderr: one line updated in place on a terminal."""
    line = (
        f"memfun: copying your uncommitted changes: {progress.done:,} of {progress.total:,} "
        f"paths, {progress.bytes_done / 1_000_000:,.0f} MB"
    )
    if sys.stderr.isatty():
        end = "\n" if progress.finished else ""
        print(f"\r\x1b[K{line}", end=end, file=sys.stderr, flush=True)
    else:
        print(line, file=sys.stderr, flush=True)


def _run_streamed(
    sandbox: SandboxAdapter,
    worktree: Path,
    command: Sequence[str],
    cwd: str,
    timeout: float | None,
) -> RunResult:
    """Run in `cwd` (the worktree's root when the worktree lacks it), streaming the output;
    say first which program runs when it is not the system's (your .venv's pytest, a tool in
    your home), as a task's commands would find it."""
    from memfun_git.sandbox.installs import is_system

    inside = cwd if (worktree / cwd).is_dir() else "."
    stream = _Stream()
    try:
        program = Path(sandbox.which(command[0], inside))
        if not is_system(program) and worktree not in program.parents:
            _say(f"memfun: running {program}")
        return sandbox.run(command, timeout=timeout, cwd=inside, on_output=stream)
    finally:
        stream.close()
        close = getattr(sandbox, "close", None)
        if callable(close):
            close()


def _relative(start: Path, workdir: Path) -> str:
    try:
        return str(start.resolve().relative_to(workdir)) or "."
    except ValueError:
        return "."


def _show(result: RunResult | None) -> int:
    assert result is not None
    if result.truncated:
        _say("memfun: output was cut at [sandbox] max_output_bytes")
    if result.timed_out:
        _say(
            f"memfun: the command was stopped after {_seconds(result.seconds)} — "
            "raise --timeout or [sandbox] timeout_seconds"
        )
    return result.exit_code if result.exit_code >= 0 else 128 - result.exit_code


class _Stream:
    """Passes the command's output through as it arrives, line by line, redacted."""

    _FLUSH_AT = 65_536

    def __init__(self) -> None:
        self._pending = {1: bytearray(), 2: bytearray()}

    def stdout(self, chunk: bytes) -> None:
        self._add(1, chunk)

    def stderr(self, chunk: bytes) -> None:
        self._add(2, chunk)

    def _add(self, fd: int, chunk: bytes) -> None:
        pending = self._pending[fd]
        pending += chunk
        cut = pending.rfind(b"\n") + 1
        if cut == 0 and len(pending) >= self._FLUSH_AT:
            cut = len(pending)  # a very long line: pass it on in parts
        if cut:
            self._write(fd, bytes(pending[:cut]))
            del pending[:cut]

    def _write(self, fd: int, data: bytes) -> None:
        target = sys.stdout if fd == 1 else sys.stderr
        # A terminal closed under the run (SIGHUP) answers EIO: the output has nowhere to go,
        # and the run still ends as the signal says.
        with contextlib.suppress(OSError):
            target.write(redact(data.decode("utf-8", errors="replace")))
            target.flush()

    def close(self) -> None:
        for fd, pending in self._pending.items():
            if pending:
                self._write(fd, bytes(pending))
                pending.clear()


def _say(line: str) -> None:
    with contextlib.suppress(OSError):
        print(line, file=sys.stderr, flush=True)


def _seconds(seconds: float) -> str:
    """'1.5 s', '12 s': a time limit as it was given (1.5 is not '2 s')."""
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _confirm(argv: list[str]) -> bool:
    from rich.prompt import Confirm

    shown = " ".join(argv)
    return Confirm.ask(f"Run without isolation: [bold]{shown}[/bold]?", default=False)
