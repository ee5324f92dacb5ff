"""What the model sees of a project: a listing to plan from, and file contents to solve with.

Until the code map lands (its own issue), the listing is each tracked text file with its size
and its top-level names (classes, functions), found by one regular expression per language.
A project under `SMALL_PROJECT` bytes needs no planner: every text file fits. Contents go into
the prompt within a token budget (about four characters a token), most wanted files first,
each redacted; what did not fit is named, never silently dropped.

Read from the task's worktree (tracked files of its HEAD, plus what the task wrote), never
from the user's tree.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from memfun_git.redact import redact

__all__ = [
    "SMALL_PROJECT",
    "Context",
    "FileInfo",
    "estimate_tokens",
    "gather",
    "listing",
    "project_files",
]

SMALL_PROJECT = 200 * 1024
"""Bytes of text under which the whole project goes into the prompt (no planner call)."""
_MAX_FILE = 256 * 1024
_PROBE = 8000
_SKIPPED_PARTS = frozenset(
    ("node_modules", "vendor", "third_party", "dist", "build", ".venv", "venv", "__pycache__",
     ".git", "target", ".tox", ".mypy_cache")
)  # fmt: skip
_GENERATED = (".min.js", ".min.css", ".lock", "-lock.json", ".map", ".pb.go", "_pb2.py")
_NAMES: dict[str, re.Pattern[str]] = {
    ".py": re.compile(r"^(?:async\s+)?(?:def|class)\s+(\w+)", re.M),
    ".js": re.compile(
        r"^(?:export\s+(?:default\s+)?)?(?:async\s+)?(?:function\*?|class|const|let)\s+(\w+)", re.M
    ),
    ".go": re.compile(r"^(?:func(?:\s+\([^)]*\))?|type)\s+(\w+)", re.M),
    ".rs": re.compile(
        r"^(?:pub(?:\([^)]*\))?\s+)?(?:async\s+)?(?:fn|struct|enum|trait|mod|impl)\s+(\w+)", re.M
    ),
    ".java": re.compile(
        r"^\s*(?:public|protected|private)?\s*(?:static\s+)?(?:final\s+)?"
        r"(?:class|interface|enum|record)\s+(\w+)",
        re.M,
    ),
}
for _alias, _lang in ((".ts", ".js"), (".tsx", ".js"), (".jsx", ".js"), (".mjs", ".js")):
    _NAMES[_alias] = _NAMES[_lang]
_SHOWN_NAMES = 12


@dataclass(frozen=True, slots=True)
class FileInfo:
    path: str
    size: int
    names: tuple[str, ...] = ()
    """Top-level classes and functions (from a regular expression per language)."""


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


def project_files(worktree: Path) -> list[FileInfo]:
    """The worktree's text files that a model may read: tracked ones (its index), not binary,
    not vendored or generated, not over 256 KB; links and submodules left out."""
    import pygit2

    repo = pygit2.Repository(str(worktree))
    try:
        entries = [(e.path, e.mode) for e in repo.index]
    finally:
        repo.free()
    files: list[FileInfo] = []
    for rel, mode in entries:
        if mode not in (0o100644, 0o100755) or _skipped(rel):
            continue
        full = worktree / rel
        try:
            # One lstat and one read a file: a task lists every file of the project.
            st = os.lstat(full)
            if not stat.S_ISREG(st.st_mode) or st.st_size > _MAX_FILE:
                continue
            size = st.st_size
            pattern = _NAMES.get(os.path.splitext(rel)[1])
            with full.open("rb") as handle:
                data = handle.read() if pattern is not None else handle.read(_PROBE)
            if b"\0" in data[:_PROBE]:
                continue
            names: tuple[str, ...] = ()
            if pattern is not None:
                text = data.decode("utf-8", errors="replace")
                names = tuple(dict.fromkeys(pattern.findall(text)))
        except OSError:
            continue
        files.append(FileInfo(rel, size, names))
    return files


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


def _skipped(rel: str) -> bool:
    parts = rel.split("/")
    if any(part in _SKIPPED_PARTS for part in parts[:-1]):
        return True
    return rel.endswith(_GENERATED)


def _size(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KB"
