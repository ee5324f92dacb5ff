"""What the model sees of a project: a map to plan from, and file contents to solve with.

The files and what they define come from the code map (`memfun_git.codemap`): tree-sitter
definitions, cached by blob id for every worktree of the clone, so listing a large project
before each request costs a cache read. A project under `SMALL_PROJECT` bytes needs no
planner: every text file fits. Contents go into the prompt within a token budget (about four
characters a token), most wanted files first, each redacted; what did not fit is named, never
silently dropped.

Read from the task's worktree (its HEAD's files, plus what the task wrote), never from the
user's tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.redact import redact

if TYPE_CHECKING:
    from memfun_git.codemap import CodeMap

__all__ = [
    "SMALL_PROJECT",
    "Context",
    "FileInfo",
    "estimate_tokens",
    "gather",
    "listing",
    "project_files",
    "project_map",
]

SMALL_PROJECT = 200 * 1024
"""Bytes of text under which the whole project goes into the prompt (no planner call)."""
_MAX_FILE = 256 * 1024
_SHOWN_NAMES = 12


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int
    names: tuple[str, ...] = ()
    """Top-level definitions (classes, functions, types), from the code map."""


@dataclass(frozen=True, slots=True)
class Context:
    text: str
    """The files, each under a `### path` heading, redacted."""
    paths: tuple[str, ...]
    """The files shown, in the order shown."""
    bytes: int
    left_out: tuple[str, ...] = ()
    """Files wanted but over the budget."""


def estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def project_map(worktree: Path) -> CodeMap:
    """The code map of the worktree's files as they are (the clone's cache is used)."""
    from memfun_git.codemap import build

    return build(worktree)


def project_files(worktree: Path, cmap: CodeMap | None = None) -> list[FileInfo]:
    """The worktree's text files that a model may read: not ignored, not binary, vendored or
    generated, not over 256 KB; links and submodules left out."""
    cmap = cmap if cmap is not None else project_map(worktree)
    return [
        FileInfo(entry.path, entry.size, tuple(dict.fromkeys(entry.top_names)))
        for entry in cmap.files
        if entry.size <= _MAX_FILE
    ]


def listing(files: list[FileInfo]) -> str:
    """One line per file: `path (size) names...`, for the planner."""
    lines: list[str] = []
    for info in files:
        shown = ", ".join(info.names[:_SHOWN_NAMES])
        more = f" +{len(info.names) - _SHOWN_NAMES}" if len(info.names) > _SHOWN_NAMES else ""
        names = f": {shown}{more}" if shown else ""
        lines.append(f"{info.path} ({_size(info.size)}){names}")
    return redact("\n".join(lines))


def gather(worktree: Path, paths: list[str], budget_tokens: int) -> Context:
    """The contents of `paths` (in order, duplicates and unknown files dropped) within
    `budget_tokens`, redacted."""
    parts: list[str] = []
    shown: list[str] = []
    left_out: list[str] = []
    used = 0
    total = 0
    for rel in dict.fromkeys(paths):
        full = worktree / rel
        if full.is_symlink() or not full.is_file():
            continue
        try:
            text = full.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        block = f"### {rel}\n{redact(text)}"
        if not block.endswith("\n"):
            block += "\n"
        cost = estimate_tokens(block)
        if used + cost > budget_tokens:
            left_out.append(rel)
            continue
        parts.append(block)
        shown.append(rel)
        used += cost
        total += len(text.encode("utf-8", errors="replace"))
    return Context("\n".join(parts), tuple(shown), total, tuple(left_out))


def _size(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KB"
