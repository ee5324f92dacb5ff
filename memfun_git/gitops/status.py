"""Which paths of a worktree hold uncommitted work, whatever a command built or broke there.

libgit2's status is fast, but it refuses a tree with folders nested more than 100 deep
("directory nesting too deep"), and a `.gitmodules` that does not parse: a command makes
either in an instant. Then the same answer comes from diffs that leave submodules alone
(HEAD to index, index to working tree), with untracked files from a walk of our own where
even the diff refuses the tree: iterative (no recursion limit), ignored folders skipped
whole, a nested repository reported as `<folder>/` as libgit2 does. A submodule's folder
that holds anything is reported as work, whatever `.gitmodules` says. Callers tidy the
worktree first (`gitops.tidy`): a named pipe where libgit2 reads `.gitignore` would block it.

Ignored files are not work; an LFS file whose content matches its pointer is not a change
(libgit2 runs no clean filter, so it calls every smudged file modified).
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from memfun_git.gitops.lfs import lfs_unchanged
from memfun_git.gitops.readonly import GITLINK_MODE

if TYPE_CHECKING:
    import pygit2

__all__ = ["dirty_paths"]


def dirty_paths(repo: pygit2.Repository) -> list[str]:
    """Sorted paths of the worktree `repo` that hold uncommitted work."""
    import pygit2
    from pygit2.enums import FileStatus

    try:
        entries = repo.status(untracked_files="all")
    except pygit2.GitError:
        return _from_diffs(repo)
    return sorted(
        rel
        for rel, status in entries.items()
        if not status & FileStatus.IGNORED
        and status != FileStatus.CURRENT
        and not (status == FileStatus.WT_MODIFIED and lfs_unchanged(repo, rel))
    )


def _from_diffs(repo: pygit2.Repository) -> list[str]:
    import pygit2
    from pygit2.enums import DeltaStatus, DiffOption

    quiet = DiffOption.IGNORE_SUBMODULES
    found = {d.new_file.path for d in repo.diff("HEAD", cached=True, flags=quiet).deltas}
    untracked = DiffOption.INCLUDE_UNTRACKED | DiffOption.RECURSE_UNTRACKED_DIRS
    try:
        deltas = repo.diff(flags=quiet | untracked).deltas
    except pygit2.GitError:
        deltas = repo.diff(flags=quiet).deltas
        found.update(_untracked(repo))
    for delta in deltas:
        rel = delta.new_file.path
        if not (delta.status == DeltaStatus.MODIFIED and lfs_unchanged(repo, rel)):
            found.add(rel)
    found.update(_filled_submodules(repo))
    return sorted(found)


def _filled_submodules(repo: pygit2.Repository) -> list[str]:
    """Gitlinks whose folder in the worktree holds anything (memfun never fills them)."""
    filled: list[str] = []
    for entry in repo.index:
        if entry.mode != GITLINK_MODE:
            continue
        try:
            if os.listdir(os.path.join(repo.workdir, entry.path)):
                filled.append(entry.path)
        except OSError:
            continue
    return filled


def _untracked(repo: pygit2.Repository) -> list[str]:
    """Untracked, unignored files (and nested repositories as `<folder>/`), by our own walk."""
    root = repo.workdir
    tracked = {entry.path for entry in repo.index}
    folders = {rel.rpartition("/")[0] for rel in tracked}
    for rel in list(folders):
        while rel:
            rel = rel.rpartition("/")[0]
            folders.add(rel)
    found: list[str] = []
    stack = [""]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(root, rel) if rel else root))
        except OSError:
            continue  # gone, or too long a path to open: nothing git could record either
        for entry in entries:
            path = f"{rel}/{entry.name}" if rel else entry.name
            if path == ".git" or path in tracked:
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError:
                continue
            if stat.S_ISDIR(mode):
                if path in folders:
                    stack.append(path)
                elif not _ignored(repo, path + "/"):
                    if os.path.lexists(os.path.join(entry.path, ".git")):
                        found.append(path + "/")
                    else:
                        stack.append(path)
            elif (stat.S_ISREG(mode) or stat.S_ISLNK(mode)) and not _ignored(repo, path):
                found.append(path)
    return found


def _ignored(repo: pygit2.Repository, rel: str) -> bool:
    import pygit2

    try:
        return repo.path_is_ignored(rel)
    except (pygit2.GitError, UnicodeError):
        return False
