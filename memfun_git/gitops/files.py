"""What a path in a worktree is, looked at without following any link, and how to name it.

A command may leave links where folders were, names that are not UTF-8, and anything else its
user can make. Host-side code that stages, copies or records paths asks `Kinds.of(rel)`,
which never follows a link: a path below a link (or below a file) does not exist, as git
sees it (git never descends into a link).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = ["Kind", "Kinds", "PathKind", "shown", "shown_list"]

Kind = Literal["file", "link", "folder", "missing", "special"]


@dataclass(frozen=True, slots=True)
class PathKind:
    kind: Kind
    size: int = 0
    """A file's size in bytes, a link's target length; 0 otherwise."""


class Kinds:
    """Answers `of(rel)` for paths of one tree; remembers which folders are real folders."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[str, bool] = {"": True}

    def of(self, rel: str) -> PathKind:
        parent, _, _ = rel.rstrip("/").rpartition("/")
        if not self._is_folder(parent):
            return PathKind("missing")
        try:
            st = os.lstat(self.root / rel)
        except OSError:
            return PathKind("missing")
        if stat.S_ISLNK(st.st_mode):
            return PathKind("link", st.st_size)
        if stat.S_ISREG(st.st_mode):
            return PathKind("file", st.st_size)
        if stat.S_ISDIR(st.st_mode):
            return PathKind("folder")
        return PathKind("special")

    def forget(self) -> None:
        """Forget what was learnt about folders (after the tree was changed)."""
        self._folders = {"": True}

    def _is_folder(self, rel: str) -> bool:
        """True when every component of `rel` is a real folder (no link, no file)."""
        known = self._folders.get(rel)
        if known is not None:
            return known
        parent, _, _ = rel.rpartition("/")
        result = self._is_folder(parent)
        if result:
            try:
                result = stat.S_ISDIR(os.lstat(self.root / rel).st_mode)
            except OSError:
                result = False
        self._folders[rel] = result
        return result


def shown(rel: str) -> str:
    """`rel` as text that can go into a message or a commit: bytes that are not UTF-8 (kept
    by pygit2 and os as surrogates) appear as `\\xff` escapes."""
    return rel.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def shown_list(paths: list[str] | tuple[str, ...], most: int = 3) -> str:
    """The first `most` paths, and how many more."""
    head = ", ".join(shown(p) for p in paths[:most])
    return head + (f" and {len(paths) - most} more" if len(paths) > most else "")
