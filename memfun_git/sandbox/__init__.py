"""Running untrusted commands: the SandboxAdapter family.

Members: `bubblewrap` (the default: no network, no secrets, nothing outside the worktree) and
`local` (an explicit opt-in: the same environment allowlist, time limit and output caps, no
isolation). `make_sandbox` picks the configured one; a missing bubblewrap is refused with the
fix, never silently replaced.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from memfun_git.backends.protocols import SandboxAdapter
from memfun_git.config import SandboxConfig

__all__ = ["close_sandbox", "make_sandbox"]


def make_sandbox(
    config: SandboxConfig,
    worktree: Path,
    *,
    user_tree: Path,
    common_dir: Path,
    environ: Mapping[str, str] | None = None,
    confirm: Callable[[list[str]], bool] | None = None,
) -> SandboxAdapter:
    """The configured sandbox for `worktree` (a task's worktree of the repo at `user_tree`)."""
    if config.backend == "local":
        from memfun_git.sandbox.local import LocalSandbox

        return LocalSandbox(config, worktree, user_tree=user_tree, environ=environ, confirm=confirm)
    from memfun_git.sandbox.bubblewrap import BubblewrapSandbox

    return BubblewrapSandbox(
        config, worktree, user_tree=user_tree, common_dir=common_dir, environ=environ
    )


def close_sandbox(sandbox: SandboxAdapter) -> None:
    """Release what a sandbox holds (bubblewrap's cgroup and object cache), if it holds any."""
    close = getattr(sandbox, "close", None)
    if callable(close):
        close()
