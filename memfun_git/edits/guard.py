"""Confinement: the paths a task may touch are files inside its worktree, and nothing else.

`clean(rel)` turns the path the model named into a normalised worktree-relative path, or
refuses it: empty, absolute (`/x`, `~/x`, `C:/x`), a `..` component, a backslash, a NUL byte or
control character, or any component git itself would treat as `.git` (case-insensitively, with
trailing dots or spaces, Unicode ignorables, the NTFS short name `git~1`: the worktree's `.git`
is a file pointing at the common dir, and git refuses these names for the same reason).

`resolve(tree, rel)` also looks at the disk: no component may be a symbolic link (a linked
folder, even one pointing inside, or the file itself: nothing is written through a link), no
folder on the way may be a nested repository, the real path must stay inside the worktree, and,
for writes, the workspace's own `readonly_reason` (submodules, Git LFS files) must not object.
Every refusal is an `EditError` whose message names the path and says why, for the model, and
whose `refusal` says the same as data (`Reason.PATH_REFUSED` and the path as named).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

from memfun_git.edits.results import Reason, Refusal
from memfun_git.errors import EditError

__all__ = ["Tree", "clean", "is_dot_git", "resolve"]

# Code points HFS+ ignores in names (git's is_hfs_dotgit), plus the zero-width space.
_IGNORABLE = dict.fromkeys(
    [*range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x206A, 0x2070), 0xFEFF]
)
# NTFS drops trailing dots and spaces and reads `name:stream` as `name` (git's is_ntfs_dotgit).
_DOT_GIT = re.compile(r"(\.git[. ]*|git~1)(:.*)?", re.DOTALL)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Tree(Protocol):
    """What confinement needs of a workspace (`gitops.worktree.Workspace` is one)."""

    @property
    def path(self) -> Path: ...

    def readonly_reason(self, rel: str) -> str | None: ...


def _refuse(rel: str, why: str, hint: str = "") -> EditError:
    return EditError(
        f"path {rel!r} is refused: {why}",
        hint,
        refusal=Refusal(Reason.PATH_REFUSED, path=rel),
    )


def is_dot_git(name: str) -> bool:
    """True when git (on any file system) would take `name` for `.git`."""
    return _DOT_GIT.fullmatch(name.translate(_IGNORABLE).casefold()) is not None


def clean(rel: str) -> str:
    """`rel` as a normalised, '/'-separated path inside the worktree; else EditError."""
    if "\0" in rel:
        raise _refuse(rel, "it holds a NUL byte")
    if not rel.strip():
        raise EditError(
            "the path is empty",
            "name a file relative to the repository root",
            refusal=Refusal(Reason.PATH_REFUSED, path=rel),
        )
    if _CONTROL.search(rel):
        raise _refuse(rel, "it holds a control character")
    if rel != rel.strip():
        raise _refuse(rel, "it starts or ends with whitespace")
    if "\\" in rel:
        raise _refuse(rel, "it holds a backslash", "separate folders with '/'")
    if rel.startswith(("/", "~/")) or rel == "~" or re.match(r"[A-Za-z]:(/|$)", rel):
        raise _refuse(rel, "it is absolute", "name files relative to the repository root")
    parts = [part for part in rel.split("/") if part not in ("", ".")]
    if not parts:
        raise _refuse(rel, "it names the worktree itself, not a file")
    for part in parts:
        if part == "..":
            raise _refuse(rel, "'..' leads out of its folder", "name the file from the root")
        if is_dot_git(part):
            raise _refuse(rel, f"{part!r} is git's own folder name; files there belong to git")
    return "/".join(parts)


def resolve(tree: Tree, rel: str, *, for_write: bool = True) -> Path:
    """The absolute path of `rel` inside `tree`'s worktree, checked on disk; else EditError.

    With `for_write` false (reading), submodule and Git LFS paths are allowed.
    """
    rel = clean(rel)
    parts = rel.split("/")
    root = Path(os.path.realpath(tree.path))
    current = root
    for depth, part in enumerate(parts):
        current = current / part
        shown = "/".join(parts[: depth + 1])
        last = depth == len(parts) - 1
        if current.is_symlink():
            if last:
                raise _refuse(rel, "it is a symbolic link, and nothing is written through a link")
            raise _refuse(rel, f"{shown} is a linked folder (a symbolic link)")
        if not current.exists():
            break
        if not last and not current.is_dir():
            raise _refuse(rel, f"{shown} is a file, not a folder")
    real = os.path.realpath(root / rel)
    if os.path.commonpath([real, str(root)]) != str(root):
        raise _refuse(rel, "it leads outside the worktree")
    if for_write:
        reason = tree.readonly_reason(rel)
        if reason is not None:
            raise _refuse(rel, reason)
        for depth in range(1, len(parts)):
            folder = root.joinpath(*parts[:depth])
            if os.path.lexists(folder / ".git"):
                shown = "/".join(parts[:depth])
                raise _refuse(rel, f"{shown} is a nested git repository (read-only to tasks)")
    return tree.path / rel
