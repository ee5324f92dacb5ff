"""How much a task may leave in an attempt (or carry over), and progress of long copies.

A sandboxed command makes files of any size and number in an instant: five 99 MB files added
470 MB to the user's object store for 30 days, and 100,000 small files took 102 s to record.
An attempt (and a `--with-changes` carry-over) therefore takes files in path order while they
fit `Limits`; what does not fit is named, and stays in the worktree, which is then kept.

`Reporter` turns a long loop into `Progress` values for a callback, once the loop has run for
`after` seconds (and then at most every `every` seconds): short copies stay silent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from memfun_git.gitops.files import shown_list

__all__ = [
    "MAX_FILE_BYTES",
    "Budget",
    "LeftOut",
    "Limits",
    "Progress",
    "ProgressCallback",
    "Reporter",
    "Why",
    "describe_left_out",
]

MAX_FILE_BYTES = 100 * 1024 * 1024
"""Larger files are never staged (GitHub refuses them too); libgit2 would read and compress a
sparse file of any size whole into the user's object store."""


@dataclass(frozen=True, slots=True)
class Limits:
    max_file_bytes: int = MAX_FILE_BYTES
    max_total_bytes: int = 200 * 1024 * 1024
    """All files together: a failed attempt is kept for weeks in the user's object store."""
    max_files: int = 10_000
    """Files (and links) together; deletions cost nothing and are not counted."""

    def describe(self) -> str:
        return (
            f"{self.max_files:,} files, {_mb(self.max_total_bytes)} in all, "
            f"{_mb(self.max_file_bytes)} a file"
        )


class Budget:
    """Takes files in the order offered while they fit the limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.files = 0
        self.bytes = 0

    def take(self, size: int) -> bool:
        limits = self.limits
        if (
            size > limits.max_file_bytes
            or self.files >= limits.max_files
            or self.bytes + size > limits.max_total_bytes
        ):
            return False
        self.files += 1
        self.bytes += size
        return True


Why = Literal[
    "over the caps",
    "a nested repository",
    "a submodule",
    "in Git LFS",
    "not a regular file",
    "refused by git",
]


@dataclass(frozen=True, slots=True)
class LeftOut:
    """A path an attempt or a carry-over did not take, and why."""

    path: str
    why: Why


def describe_left_out(left_out: tuple[LeftOut, ...] | list[LeftOut], limits: Limits) -> str:
    """`3 over the caps (…): a, b and 1 more; 1 a nested repository: vendor/lib/`."""
    groups: dict[str, list[str]] = {}
    for item in left_out:
        groups.setdefault(item.why, []).append(item.path)
    parts: list[str] = []
    for why, paths in groups.items():
        label = f"over the caps ({limits.describe()})" if why == "over the caps" else why
        parts.append(f"{label}: {shown_list(paths)}")
    return "; ".join(parts)


def _mb(size: int) -> str:
    if size >= 1 << 20:
        return f"{size / (1 << 20):,.0f} MiB"
    return f"{size / 1024:,.0f} KiB" if size >= 1024 else f"{size:,} bytes"


Phase = Literal["carry-over", "attempt"]


@dataclass(frozen=True, slots=True)
class Progress:
    phase: Phase
    """"carry-over": copying the user's changes in; "attempt": recording one."""
    done: int
    total: int
    """Paths handled so far, of all to handle."""
    bytes_done: int
    finished: bool = False


ProgressCallback = Callable[[Progress], None]


class Reporter:
    """Calls `callback` for a loop over `total` paths once it has run `after` seconds."""

    def __init__(
        self,
        callback: ProgressCallback | None,
        phase: Phase,
        total: int = 0,
        *,
        after: float = 1.0,
        every: float = 0.25,
    ) -> None:
        self.callback = callback
        self.phase: Phase = phase
        self.total = total
        self.after = after
        self.every = every
        self._started = time.monotonic()
        self._last = -1.0
        self.shown = False

    def tick(self, done: int, bytes_done: int) -> None:
        if self.callback is None:
            return
        now = time.monotonic() - self._started
        if now < self.after or (self.shown and now - self._last < self.every):
            return
        self._last = now
        self.shown = True
        self.callback(Progress(self.phase, done, self.total, bytes_done))

    def finish(self, done: int, bytes_done: int) -> None:
        """The last report, only when earlier ones were shown (so a renderer can end its line)."""
        if self.callback is not None and self.shown:
            self.callback(Progress(self.phase, done, self.total, bytes_done, finished=True))
