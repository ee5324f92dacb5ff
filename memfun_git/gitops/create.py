"""Making a branch and a worktree for a piece of work, outside the user's tree, and recorded.

Worktrees live under `$XDG_CACHE_HOME/memfun/worktrees/<repo-name>-<short-hash>/` (`[workspace]
root` moves them): tools started in a worktree look for configuration by walking up.

A worktree is made by pygit2 (in-process) unless git has to check it out: when the commit's
top-level `.gitattributes` routes files through Git LFS (libgit2 runs no smudge filter), and
for a detached worktree (libgit2 can only add a worktree on a branch, and makes one when given
none). git runs with hooks off (the checkout holds the task's content, not the user's) and
without git's repository-local variables (`run_git`). Once made, the worktree's admin folder
gets memfun's record (`gitops.records`); callers hold stop signals around all of this.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.errors import RepoError
from memfun_git.gitops.git import run_git
from memfun_git.gitops.records import RecordKind, admin_dir_of, write_record
from memfun_git.gitops.repo import RepoPaths

if TYPE_CHECKING:
    import pygit2

__all__ = [
    "add_worktree",
    "base_commit",
    "new_branch",
    "open_checks",
    "refuse_inside",
    "repo_key",
    "uses_lfs",
    "worktree_root",
]


def worktree_root(root: str = "", environ: Mapping[str, str] | None = None) -> Path:
    """Where worktrees live: `[workspace] root`, else `$XDG_CACHE_HOME/memfun/worktrees`."""
    env = os.environ if environ is None else environ
    if root:
        return Path(os.path.expanduser(root)).resolve()
    cache = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME", "~"), ".cache")
    return (Path(os.path.expanduser(cache)) / "memfun" / "worktrees").resolve()


def repo_key(paths: RepoPaths) -> str:
    """`<repo-name>-<short-hash>`: one folder per clone under the worktree root."""
    name = (paths.workdir or paths.common_dir).name or "repo"
    digest = hashlib.sha256(str(paths.common_dir).encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def open_checks(paths: RepoPaths) -> None:
    """A worktree needs a repository with a working tree and a first commit."""
    if paths.bare or paths.workdir is None:
        raise RepoError(
            f"{paths.git_dir} is a bare repository", "run memfun in a clone with a working tree"
        )
    if paths.unborn:
        raise RepoError(
            f"{paths.workdir} has no commits yet", "make a first commit, then run memfun again"
        )


def refuse_inside(folder: Path, paths: RepoPaths) -> None:
    """A worktree inside the user's tree would be found by tools walking up from the tree."""
    assert paths.workdir is not None
    try:
        folder.resolve().relative_to(paths.workdir.resolve())
    except ValueError:
        return
    raise RepoError(
        f"the worktree folder {folder} is inside the repository's working tree",
        "set [workspace] root to a folder outside the repository",
    )


def base_commit(user: pygit2.Repository, base: str) -> pygit2.Commit:
    import pygit2

    try:
        return user.revparse_single(base).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise RepoError(
            f"{base!r} is not a commit in this repository",
            "pass a branch, tag or commit that exists",
        ) from None


def new_branch(user: pygit2.Repository, short: str, commit: pygit2.Commit) -> pygit2.Reference:
    if user.branches.local.get(short) is not None:
        raise RepoError(
            f"branch {short} already exists",
            "continue it, or remove it with `memfun gc --force`",
        )
    return user.branches.local.create(short, commit)


def uses_lfs(user: pygit2.Repository, commit_oid: str) -> bool:
    """True when the commit's top-level .gitattributes routes files through Git LFS."""
    import pygit2

    tree = user.revparse_single(commit_oid).peel(pygit2.Commit).tree
    if ".gitattributes" not in tree:
        return False
    blob = tree[".gitattributes"]
    return isinstance(blob, pygit2.Blob) and b"filter=lfs" in blob.data


def add_worktree(
    user: pygit2.Repository,
    folder: Path,
    *,
    kind: RecordKind,
    name: str,
    branch: pygit2.Reference | None,
    commit_oid: str,
    environ: Mapping[str, str] | None = None,
) -> str:
    """Make the worktree at `folder` (on `branch`, or detached at `commit_oid`), record it
    as memfun's, and return its name in git's metadata."""
    if os.path.lexists(folder):
        raise RepoError(
            f"the worktree folder {folder} already exists",
            "remove it, or run `memfun gc` to clean up old worktrees",
        )
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RepoError(
            f"cannot make the worktree folder {folder.parent} ({exc.strerror})",
            "set [workspace] root to a folder you can write",
        ) from None
    if branch is not None and not uses_lfs(user, commit_oid):
        user.add_worktree(name, str(folder), branch)
    else:
        target = ["--detach", str(folder), commit_oid] if branch is None else [str(folder)]
        run_git(
            ["-c", "core.hooksPath=/dev/null", "worktree", "add", "--quiet", *target]
            + ([branch.shorthand] if branch is not None else []),
            cwd=user.workdir,
            environ={**os.environ, **(environ or {})},
        )
    admin = admin_dir_of(folder)
    if admin is None:
        raise RepoError(f"git made no worktree at {folder}", "run `memfun doctor` to check git")
    # The folder as git wrote it down: what gc will compare the record with.
    recorded = (admin / "gitdir").read_text(errors="surrogateescape").strip()
    write_record(admin, kind, Path(recorded).parent)
    return admin.name
