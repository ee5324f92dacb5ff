"""Which paths of a worktree a task may not write, decided from what the task cannot change.

- any path component `.git`: git's own;
- a path beyond a symbolic link: it leads outside the worktree (git refuses it too);
- a submodule and everything in it: submodules are the gitlinks (mode 160000 entries) of the
  worktree's index, which holds the base commit and memfun's own commits. Sandboxed commands
  see the index read-only, and `.gitmodules` is not asked at all: one edit that broke it made
  the submodule's path writable, and the next commit replaced the submodule with a tree. When
  `.gitmodules` no longer names a gitlink, the refusal says so;
- a Git LFS path, by the worktree's `.gitattributes` or by the base commit's (a task that
  dropped the attribute does not make the file ordinary).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from memfun_git.gitops.lfs import is_lfs
from memfun_git.gitops.limits import Why

if TYPE_CHECKING:
    import pygit2

__all__ = ["GITLINK_MODE", "gitlink_of", "not_recordable", "readonly_reason"]

GITLINK_MODE = 0o160000


def gitlink_of(index: pygit2.Index, rel: str) -> str | None:
    """The submodule (gitlink entry of `index`) that `rel` is, or lies in; else None."""
    parts = PurePosixPath(rel).parts
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        try:
            if prefix in index and index[prefix].mode == GITLINK_MODE:
                return prefix
        except (KeyError, UnicodeError):
            continue
    return None


def not_recordable(
    repo: pygit2.Repository, rel: str, indexes: tuple[pygit2.Index, ...]
) -> Why | None:
    """Why a dirty path of `repo` cannot go into a commit of memfun's (an attempt, a
    carry-over), or None: a nested repository (status says `<folder>/`), a submodule of any
    of `indexes`, a Git LFS file (memfun runs no clean filter)."""
    if rel.endswith("/"):
        return "a nested repository"
    if any(gitlink_of(index, rel) is not None for index in indexes):
        return "a submodule"
    if is_lfs(repo, rel):
        return "in Git LFS"
    return None


def readonly_reason(repo: pygit2.Repository, worktree: Path, base_oid: str, rel: str) -> str | None:
    """Why a task may not write `rel` in the worktree `repo` (at `worktree`), or None."""
    parts = PurePosixPath(rel).parts
    if any(part == ".git" for part in parts):
        return "paths named .git belong to git"
    for depth in range(1, len(parts)):
        if worktree.joinpath(*parts[:depth]).is_symlink():
            link = "/".join(parts[:depth])
            return f"it is beyond the symbolic link {link} (outside the worktree)"
    sub = gitlink_of(repo.index, rel)
    if sub is not None:
        return f"{sub} is a submodule (read-only to tasks){_gitmodules_note(repo, sub)}"
    if _lfs(repo, rel, base_oid):
        return "it is stored in Git LFS (read-only to tasks)"
    return None


def _gitmodules_note(repo: pygit2.Repository, sub: str) -> str:
    try:
        named = sub in repo.listall_submodules()
    except Exception:  # libgit2 raises several kinds on a broken .gitmodules
        named = False
    return "" if named else "; .gitmodules does not name it, the base commit does"


def _lfs(repo: pygit2.Repository, rel: str, base_oid: str) -> bool:
    import pygit2
    from pygit2.enums import AttrCheck

    path = os.fsencode(rel)
    if repo.get_attr(path, "filter") == "lfs":
        return True
    if not base_oid:
        return False
    try:
        flags = AttrCheck.INDEX_ONLY | AttrCheck.INCLUDE_COMMIT
        return repo.get_attr(path, "filter", flags, commit=base_oid) == "lfs"
    except (pygit2.GitError, ValueError):
        return False
