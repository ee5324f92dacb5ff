"""A task's change as the gate reads it: the base commit's files against the worktree's.

The base is the commit the task started from (its configuration is what the linters use); the
other side is the worktree on disk, since the linters, the review and the commit all see what
is there now. Files only: a link is read as its target's name (as git stores it), a folder or
anything else that is no file counts as absent. Diffs are made by libgit2 from the two sides'
bytes, so they are exactly what git would show, `\\ No newline at end of file` included.
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pygit2

__all__ = ["Blob", "Change", "put"]

_LINK = 0o120000


@dataclass(frozen=True, slots=True)
class Blob:
    """One side of a file: its bytes and its git mode (0o100644, 0o100755, 0o120000)."""

    data: bytes
    mode: int


class Change:
    """The base commit `base` of the repository `repo` against its worktree `worktree`."""

    def __init__(self, repo: pygit2.Repository, base: str, worktree: Path) -> None:
        import pygit2

        self.repo = repo
        self.worktree = worktree
        self.tree: pygit2.Tree = repo.revparse_single(base).peel(pygit2.Commit).tree

    def base(self, rel: str) -> Blob | None:
        """The file at `rel` in the base commit, or None."""
        import pygit2

        try:
            entry = self.tree[rel]
        except KeyError:
            return None
        obj = self.repo[entry.id]
        if not isinstance(obj, pygit2.Blob):
            return None
        return Blob(obj.data, entry.filemode)

    def task(self, rel: str) -> Blob | None:
        """The file at `rel` in the worktree, or None (absent, or a folder)."""
        full = self.worktree / rel
        try:
            info = full.lstat()
        except OSError:
            return None
        if stat.S_ISLNK(info.st_mode):
            return Blob(os.fsencode(os.readlink(full)), _LINK)
        if not stat.S_ISREG(info.st_mode):
            return None
        mode = 0o100755 if info.st_mode & 0o111 else 0o100644
        try:
            return Blob(full.read_bytes(), mode)
        except OSError:
            return None

    def exists(self, rel: str) -> bool:
        """True when a file is at `rel` in the base commit or the worktree."""
        return self.base(rel) is not None or self.task(rel) is not None

    def changed(self, rel: str) -> bool:
        return self.base(rel) != self.task(rel)

    def base_paths(self, names: frozenset[str]) -> Iterator[str]:
        """Paths of the base commit whose file name is in `names`, at any depth."""
        import pygit2

        stack: list[tuple[str, pygit2.Tree]] = [("", self.tree)]
        while stack:
            prefix, tree = stack.pop()
            for entry in tree:
                name = entry.name or ""
                if entry.type_str == "tree":
                    sub = self.repo[entry.id]
                    if isinstance(sub, pygit2.Tree):
                        stack.append((f"{prefix}{name}/", sub))
                elif name in names:
                    yield prefix + name

    def _lines(self, rel: str, context: int) -> tuple[str, list[tuple[str, int, str]]] | None:
        """libgit2's patch of `rel` from the base to the worktree, read at once: (its text,
        (origin, new line number, content) of each line); None when unchanged or binary.

        Read while the two sides' bytes are held here: a `pygit2.Patch` made from buffers
        does not keep them alive, and its lines read freed memory once they are collected."""
        import pygit2

        old, new = self.base(rel), self.task(rel)
        if old == new:
            return None
        before = old.data if old else None
        after = new.data if new else None
        patch = pygit2.Patch.create_from(
            before, after, old_as_path=rel, new_as_path=rel, context_lines=context
        )
        if patch.delta.is_binary:
            return patch.text or "", []
        lines = [
            (line.origin, line.new_lineno, line.content)
            for hunk in patch.hunks
            for line in hunk.lines
        ]
        text = patch.text or ""
        del patch, before, after
        return text, lines

    def diff(self, paths: Iterable[str]) -> str:
        """The unified diff of `paths` (each once, in order), as `git diff` shows it."""
        parts: list[str] = []
        for rel in dict.fromkeys(paths):
            found = self._lines(rel, 3)
            if found is not None:
                parts.append(found[0])
        return "".join(parts)

    def added_lines(self, rel: str) -> list[tuple[int, str]]:
        """(line number in the worktree's file, text) of each line the task added to `rel`."""
        found = self._lines(rel, 0)
        if found is None:
            return []
        return [(number, text.rstrip("\r\n")) for origin, number, text in found[1] if origin == "+"]


def put(change: Change, rel: str, blob: Blob | None, mode: int | None = None) -> list[str]:
    """Make the worktree's `rel` be `blob` (None: absent) with permission bits `mode` (None:
    as git would check it out), by a rename over it; returns the folders made for it."""
    full = change.worktree / rel
    made: list[str] = []
    if blob is None:
        if full.is_symlink() or full.is_file():
            full.unlink()
        return made
    for parent in reversed(PurePosixPath(rel).parents):
        folder = change.worktree / parent
        if not folder.exists():
            folder.mkdir()
            made.append(parent.as_posix())
    temp = full.with_name(f".{full.name}.memfun-{secrets.token_hex(4)}")
    if blob.mode == 0o120000:
        os.symlink(os.fsdecode(blob.data), temp)
    else:
        temp.write_bytes(blob.data)
        temp.chmod(mode if mode is not None else 0o755 if blob.mode == 0o100755 else 0o644)
    os.replace(temp, full)
    return made
