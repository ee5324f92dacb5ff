"""Finding the user's repository and memfun's machine-local state folder, read-only.

Nothing here writes to the user's repository; reads go through pygit2 (never `git status`,
which rewrites the index file).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from memfun_git.errors import RepoError

__all__ = [
    "RepoPaths",
    "common_dir_fast",
    "discover",
    "require_repo",
    "state_dir",
    "user_state_dir",
]


@dataclass(frozen=True, slots=True)
class RepoPaths:
    workdir: Path | None
    """The working tree's root; None for a bare repository."""
    git_dir: Path
    """This checkout's git dir (`.git`, or `.git/worktrees/<name>` in a linked worktree)."""
    common_dir: Path
    """The git dir shared by every worktree of the clone."""
    bare: bool
    unborn: bool
    """True when HEAD points at a branch with no commits yet."""


def discover(start: Path | None = None) -> RepoPaths | None:
    """The repository containing `start` (default: the current folder), or None."""
    import pygit2

    begin = Path(start) if start is not None else Path.cwd()
    found = pygit2.discover_repository(str(begin))
    if found is None:
        return None
    repo = pygit2.Repository(found)
    git_dir = Path(repo.path).resolve()
    common = git_dir
    commondir_file = git_dir / "commondir"
    if commondir_file.is_file():
        common = (git_dir / commondir_file.read_text().strip()).resolve()
    workdir = Path(repo.workdir).resolve() if repo.workdir else None
    return RepoPaths(
        workdir=workdir,
        git_dir=git_dir,
        common_dir=common,
        bare=repo.is_bare,
        unborn=repo.head_is_unborn,
    )


def require_repo(start: Path | None = None) -> RepoPaths:
    """Like `discover`, but a missing or bare repository is a RepoError."""
    begin = Path(start) if start is not None else Path.cwd()
    if not begin.exists():
        raise RepoError(f"{begin} does not exist", "pass an existing folder with -C")
    paths = discover(begin)
    if paths is None:
        raise RepoError(
            f"{begin} is not inside a git repository",
            "run memfun inside a repository, pass one with -C, or create one with `git init`",
        )
    if paths.bare or paths.workdir is None:
        raise RepoError(
            f"{paths.git_dir} is a bare repository",
            "run memfun in a clone with a working tree",
        )
    return paths


def state_dir(paths: RepoPaths) -> Path:
    """`<git-common-dir>/memfun`: task records, caches and logs shared by every worktree."""
    return paths.common_dir / "memfun"


def user_state_dir(environ: dict[str, str] | None = None) -> Path:
    """Where logs go when there is no repository: `$XDG_STATE_HOME/memfun`."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or os.path.join(
        env.get("HOME", str(Path.home())), ".local", "state"
    )
    return Path(base) / "memfun"


def common_dir_fast(start: Path) -> Path | None:
    """The git common dir above `start`, found without loading pygit2 (for log files).

    Walks up for `.git` (a folder, or a file naming the git dir) and follows `commondir`.
    """
    here = Path(os.path.abspath(start))
    for folder in (here, *here.parents):
        dot = folder / ".git"
        if dot.is_dir():
            git_dir = dot
        elif dot.is_file():
            text = dot.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            git_dir = (folder / text[len("gitdir:") :].strip()).resolve()
        else:
            continue
        common = git_dir / "commondir"
        if common.is_file():
            return (git_dir / common.read_text().strip()).resolve()
        return git_dir
    return None
