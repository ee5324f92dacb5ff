"""`memfun sandbox run`: a command run exactly as a task runs it.

Without `--workspace` it makes a throwaway worktree of HEAD (never the user's own tree) and
removes it afterwards, leaving no branch, worktree or attempt behind, also when the command
cannot be run. The command's output passes through; its exit status is memfun's (124 when the
time limit stopped it).
"""

from __future__ import annotations

import math
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from memfun_git import config
from memfun_git.backends.protocols import RunResult, SandboxAdapter
from memfun_git.errors import RepoError, UsageError
from memfun_git.gitops.repo import RepoPaths, discover, require_repo
from memfun_git.redact import redact, register_environ

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
    from memfun_git.gitops.worktree import Workspace, worktree_root
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
        tree = discover(workspace)
        if tree is None or tree.workdir is None or tree.common_dir != paths.common_dir:
            raise RepoError(
                f"{workspace} is not a worktree of {paths.workdir}",
                "pass the folder of one of this repository's task worktrees",
            )
        if tree.workdir in (paths.workdir, _main_tree(paths)) or tree.git_dir == tree.common_dir:
            raise UsageError(
                "--workspace names your own working tree",
                "pass a task's worktree, or leave --workspace out for a throwaway one",
            )
        branch = _branch_of(tree.workdir)
        if not branch.startswith(("refs/heads/memfun/", "refs/heads/memfun-agents/")):
            raise UsageError(
                f"--workspace {workspace} is not a memfun task's worktree "
                f"(it has {branch.removeprefix('refs/heads/') or 'no branch'} checked out)",
                "pass a task's worktree, or leave --workspace out for a throwaway one",
            )
        sandbox = make_sandbox(
            cfg.sandbox,
            tree.workdir,
            user_tree=paths.workdir,
            common_dir=paths.common_dir,
            confirm=confirm,
        )
        return _show(_run_streamed(sandbox, tree.workdir, command, cwd, timeout))
    root = worktree_root(cfg.workspace.root) if cfg.workspace.root else None
    failure: BaseException | None = None
    result = None
    throwaway = Workspace(
        paths, f"sandbox-{uuid.uuid4().hex[:8]}", root=root, with_changes=with_changes
    )
    with throwaway as ws:
        try:
            sandbox = make_sandbox(
                cfg.sandbox,
                ws.path,
                user_tree=paths.workdir,
                common_dir=paths.common_dir,
                confirm=confirm,
            )
            result = _run_streamed(sandbox, ws.path, command, cwd, timeout)
        except BaseException as exc:
            # Raised inside the Workspace, this would be kept as a failed task's attempt.
            failure = exc
        # A throwaway worktree: what the command left there is not kept.
        _discard(ws.path)
    # With --with-changes the throwaway branch holds a copy of the user's changes: not kept.
    _drop_branch(paths, throwaway.branch)
    if failure is not None:
        raise failure
    return _show(result)


def _run_streamed(
    sandbox: SandboxAdapter,
    worktree: Path,
    command: Sequence[str],
    cwd: str,
    timeout: float | None,
) -> RunResult:
    """Run in `cwd` (the worktree's root when the worktree lacks it), streaming the output."""
    inside = cwd if (worktree / cwd).is_dir() else "."
    stream = _Stream()
    try:
        return sandbox.run(command, timeout=timeout, cwd=inside, on_output=stream)
    finally:
        stream.close()


def _relative(start: Path, workdir: Path) -> str:
    try:
        return str(start.resolve().relative_to(workdir)) or "."
    except ValueError:
        return "."


def _branch_of(worktree: Path) -> str:
    import pygit2

    repo = pygit2.Repository(str(worktree))
    return "" if repo.head_is_detached or repo.head_is_unborn else repo.head.name


def _drop_branch(paths: RepoPaths, branch: str) -> None:
    import pygit2

    assert paths.workdir is not None
    ref = pygit2.Repository(str(paths.workdir)).branches.local.get(branch)
    if ref is not None:
        ref.delete()


def _main_tree(paths: RepoPaths) -> Path | None:
    """The repository's main working tree (where memfun was started may be a linked one)."""
    import pygit2

    workdir = pygit2.Repository(str(paths.common_dir)).workdir
    return Path(workdir).resolve() if workdir else None


def _show(result: RunResult | None) -> int:
    assert result is not None
    if result.truncated:
        print("memfun: output was cut at [sandbox] max_output_bytes", file=sys.stderr)
    if result.timed_out:
        print(
            f"memfun: the command was stopped after {result.seconds:.0f} s — "
            "raise --timeout or [sandbox] timeout_seconds",
            file=sys.stderr,
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
        target.write(redact(data.decode("utf-8", errors="replace")))
        target.flush()

    def close(self) -> None:
        for fd, pending in self._pending.items():
            if pending:
                self._write(fd, bytes(pending))
                pending.clear()


def _discard(worktree: Path) -> None:
    """Put the throwaway worktree back to HEAD without following links the command planted."""
    from memfun_git.gitops.worktree import discard_changes

    discard_changes(worktree)


def _confirm(argv: list[str]) -> bool:
    from rich.prompt import Confirm

    shown = " ".join(argv)
    return Confirm.ask(f"Run without isolation: [bold]{shown}[/bold]?", default=False)
