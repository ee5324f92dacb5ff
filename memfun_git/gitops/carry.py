"""Copying the user's uncommitted changes into a new worktree (`--with-changes`).

The user's tree is only read (pygit2 status never writes the index). Every changed,
untracked (not ignored) or deleted path is brought over as the user has it:
- files and links are copied (links as links, never followed), within `Limits`;
- deletions are applied; a path below a link or a file (in either tree) does not exist, as
  git sees it, and nothing is ever written through a link;
- a type change is carried over: a tracked link the user replaced with a folder, or a folder
  replaced with a link (the old entry is removed first, in the worktree);
- nested repositories, submodules and Git LFS files are left out and named, and so are files
  over the caps; the caller says so (the carry-over commit's message, and the front end).
Progress past a second goes to a `Reporter`.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.errors import RepoError
from memfun_git.gitops.files import Kinds, PathKind
from memfun_git.gitops.limits import Budget, LeftOut, Limits, Reporter
from memfun_git.gitops.readonly import not_recordable
from memfun_git.gitops.status import dirty_paths
from memfun_git.gitops.tidy import remove_tree

if TYPE_CHECKING:
    import pygit2

__all__ = ["CarryOver", "carry_over", "refuse_conflicts"]


@dataclass(frozen=True, slots=True)
class CarryOver:
    paths: tuple[str, ...]
    """Paths changed in the worktree (to commit)."""
    left_out: tuple[LeftOut, ...]
    bytes: int


def refuse_conflicts(user: pygit2.Repository) -> None:
    """Carrying over conflict markers would pass them off as the user's work: git refuses too."""
    from pygit2.enums import FileStatus

    conflicted = sorted(
        rel
        for rel, status in user.status(untracked_files="no").items()
        if status & FileStatus.CONFLICTED
    )
    if conflicted:
        which = (
            f"{conflicted[0]} and {len(conflicted) - 1} more paths have"
            if len(conflicted) > 1
            else f"{conflicted[0]} has"
        )
        raise RepoError(
            f"{which} unresolved conflicts, which cannot be carried over",
            "resolve them first, or start the task without --with-changes",
        )


def carry_over(
    user: pygit2.Repository,
    worktree: pygit2.Repository,
    limits: Limits,
    reporter: Reporter,
) -> CarryOver:
    """Make the worktree's files what the user's are, path by path; the user's tree is read."""
    src_root, dst_root = Path(user.workdir), Path(worktree.workdir)
    source, target = Kinds(src_root), Kinds(dst_root)
    budget = Budget(limits)
    changed: list[str] = []
    left_out: list[LeftOut] = []
    dirty = dirty_paths(user)
    reporter.total = len(dirty)
    for done, rel in enumerate(dirty):
        reporter.tick(done, budget.bytes)
        why = not_recordable(user, rel, (user.index, worktree.index))
        if why is not None:
            left_out.append(LeftOut(rel, why))
            continue
        kind = source.of(rel)
        if kind.kind in ("file", "link") and not budget.take(kind.size):
            left_out.append(LeftOut(rel, "over the caps"))
            continue
        if kind.kind == "special":
            left_out.append(LeftOut(rel, "not a regular file"))
            continue
        _copy(src_root, dst_root, rel, kind, target)
        changed.append(rel)
    reporter.finish(len(dirty), budget.bytes)
    return CarryOver(tuple(changed), tuple(left_out), budget.bytes)


def _copy(src_root: Path, dst_root: Path, rel: str, kind: PathKind, target: Kinds) -> None:
    """Make `rel` in the worktree what it is in the user's tree (`kind`): a file, a link, or
    nothing (deleted, or now a folder whose own files come as paths of their own)."""
    dst = dst_root / rel
    if kind.kind in ("file", "link"):
        _clear_parents(dst_root, rel)
        target.forget()
    elif target.of(rel).kind == "missing":
        return  # below a link or a file in the worktree: already gone, as git sees it
    if os.path.lexists(dst):
        remove_tree(dst)  # a file, a link (unlinked, not followed) or a whole folder
    src = src_root / rel
    if kind.kind == "link":
        os.symlink(os.readlink(src), dst)
    elif kind.kind == "file":
        shutil.copy2(src, dst, follow_symlinks=False)


def _clear_parents(root: Path, rel: str) -> None:
    """Make every folder on the way to `rel` a real folder: a link or file standing where the
    user now has a folder is removed (never followed), a missing folder made."""
    parts = rel.split("/")[:-1]
    here = root
    for part in parts:
        here = here / part
        if os.path.lexists(here) and (here.is_symlink() or not here.is_dir()):
            os.unlink(here)
        if not os.path.lexists(here):
            os.mkdir(here)
