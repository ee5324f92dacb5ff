"""Where a pull request review may comment: the new-side (RIGHT) lines of the diff's hunks.

GitHub accepts a review comment only on a line shown in the pull request's diff, and a
multi-line one (`start_line`..`line`) only within one hunk; anything else fails the whole review
with 422. So every finding is checked here before posting: placed (its lines inside one hunk
of its file), or kept for the summary. Hunks are read from the same unified diff the review
read (base...head), so what is checked is what GitHub shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from memfun_git.quality.diffpack import split_diff

__all__ = ["DiffMap"]

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(?P<start>\d+)(?:,(?P<count>\d+))? @@")


@dataclass(frozen=True, slots=True)
class DiffMap:
    hunks: dict[str, tuple[tuple[int, int], ...]] = field(default_factory=dict)
    """path -> the new-side line ranges (first, last) of its hunks."""

    @classmethod
    def of(cls, diff: str) -> DiffMap:
        hunks: dict[str, tuple[tuple[int, int], ...]] = {}
        for part in split_diff(diff):
            ranges: list[tuple[int, int]] = []
            for line in part.text.splitlines():
                match = _HUNK.match(line)
                if match is None:
                    continue
                start = int(match["start"])
                count = int(match["count"]) if match["count"] is not None else 1
                if count > 0:
                    ranges.append((start, start + count - 1))
            if part.path and ranges:
                hunks[part.path] = tuple(ranges)
        return cls(hunks)

    def commentable(self, path: str, line: int, end: int | None = None) -> bool:
        """True when lines `line`..`end` of `path` (new side) are all inside one hunk."""
        last = end if end is not None else line
        if line < 1 or last < line:
            return False
        return any(first <= line and last <= final for first, final in self.hunks.get(path, ()))

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(self.hunks)
