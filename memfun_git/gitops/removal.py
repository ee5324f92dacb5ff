"""Taking a worktree away: whatever tree a command built in it, never following a link out.

Removal is two steps. Under held stop signals, quick and all-or-nothing: the folder is renamed
to `.trash-<name>-<random>` beside it and git's record of the worktree is pruned, so git and
gc never see a half-removed worktree. Then, interruptible, the trash folder is deleted by
`tidy.remove_tree` (iterative and descriptor-based: any depth, closed folders opened up, pipes
and sockets unlinked, links never followed). A trash folder that an interruption left behind
holds nothing of anyone's: the next removal in that folder, and gc, delete it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.gitops.signals import no_interrupts
from memfun_git.gitops.tidy import remove_tree

if TYPE_CHECKING:
    import pygit2

__all__ = [
    "TRASH_PREFIX",
    "discard_changes",
    "forget_worktree",
    "remove_empty_parents",
    "remove_worktree",
    "sweep_trash",
    "take_aside",
]

logger = logging.getLogger(__name__)

TRASH_PREFIX = ".trash-"


def take_aside(folder: Path) -> Path | None:
    """Rename the worktree folder to a trash name beside it; None when there is no folder.
    Where it cannot be renamed (a mount point), it is deleted in place."""
    if not os.path.lexists(folder):
        return None
    trash = folder.with_name(f"{TRASH_PREFIX}{folder.name}-{secrets.token_hex(4)}")
    try:
        os.rename(folder, trash)
    except OSError:
        remove_tree(folder)
        return None
    return trash


def forget_worktree(user: pygit2.Repository, common: Path, name: str) -> None:
    """Drop git's record of the worktree `name` (its admin folder), whatever state it is in."""
    import pygit2

    with contextlib.suppress(pygit2.GitError, KeyError, ValueError):
        user.lookup_worktree(name).prune(True)
    admin = common / "worktrees" / name
    if os.path.lexists(admin):
        remove_tree(admin)


def remove_worktree(user: pygit2.Repository, common: Path, folder: Path, name: str) -> None:
    """Remove the worktree at `folder` (named `name` in git's metadata) and what it holds."""
    with no_interrupts():
        trash = take_aside(folder)
        forget_worktree(user, common, name)
    if trash is not None:
        remove_tree(trash)
    remove_empty_parents(folder, common)


def sweep_trash(folder: Path) -> list[Path]:
    """Delete the trash folders that interrupted removals left in `folder`; return them."""
    swept: list[Path] = []
    with contextlib.suppress(OSError):
        for entry in os.scandir(folder):
            if entry.name.startswith(TRASH_PREFIX) and entry.is_dir(follow_symlinks=False):
                remove_tree(Path(entry.path))
                logger.info("removed %s, left by an interrupted removal", entry.path)
                swept.append(Path(entry.path))
    return swept


def remove_empty_parents(worktree: Path, common: Path) -> None:
    """Leave no empty folder behind: the repository's folder under the worktree root, and
    `<common>/worktrees` once no worktree is left (git makes both again when needed)."""
    for folder in (worktree.parent, common / "worktrees"):
        with contextlib.suppress(OSError):
            folder.rmdir()


def discard_changes(path: Path) -> None:
    """Put the worktree at `path` back to its HEAD, whatever commands left in it.

    libgit2's checkout (`reset --hard`) writes through a symbolic link standing where a
    tracked folder was (`src -> ~/.config/autostart`): a file of HEAD would land outside the
    worktree. So everything but `.git` is removed first (`remove_tree`, which follows no
    link), and HEAD is then checked out into the empty worktree."""
    import pygit2

    for entry in os.scandir(path):
        if entry.name != ".git":
            remove_tree(Path(entry.path))
    repo = pygit2.Repository(str(path))
    try:
        repo.reset(repo.head.target, pygit2.enums.ResetMode.HARD)
    finally:
        repo.free()
