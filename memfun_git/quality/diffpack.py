"""A unified diff cut into files, and packed under a token budget, most relevant files first.

The review sees whole files' hunks or nothing of a file: half a file's change invites findings
about what was cut. Relevance, most first: files the intent names (by path, file name or stem),
then code, then tests, then documentation and configuration, then lock files, generated and
vendored files. Within a rank the diff's own order decides. A file that does not fit is left
out and named (`unreviewed`), and smaller ones after it may still fit. The packed diff keeps
the diff's own order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from memfun_git.solvers.context import estimate_tokens

__all__ = ["FileDiff", "Packed", "pack_diff", "split_diff"]

_GIT_HEADER = re.compile(r"^diff --git (?:\"?a/(.*?)\"?) (?:\"?b/(.*?)\"?)$")
_TESTS = re.compile(
    r"(^|/)(tests?|__tests__|spec)/|(^|/)test_[^/]*$|_test\.\w+$|\.(test|spec)\.\w+$"
)
_DOCS = (".md", ".rst", ".txt", ".toml", ".yaml", ".yml", ".json", ".cfg", ".ini", ".adoc")
_LOW = re.compile(
    r"(^|/)(vendor|third_party|node_modules|dist|build)/|\.lock$|-lock\.(json|yaml)$|"
    r"\.min\.(js|css)$|\.map$|_pb2\.py$|\.pb\.go$|(^|/)go\.sum$"
)


@dataclass(frozen=True, slots=True)
class FileDiff:
    path: str
    """The file's path after the change (before it, for a deleted file)."""
    text: str
    """Its part of the diff, headers included, exactly as in the whole."""


@dataclass(frozen=True, slots=True)
class Packed:
    text: str
    paths: tuple[str, ...]
    """The files in `text`, in the diff's order."""
    unreviewed: tuple[str, ...]
    """The files left out (over the budget), in the diff's order."""


def _unquote(path: str) -> str:
    return path[2:] if path.startswith(("a/", "b/")) else path


def _path_of(lines: Sequence[str]) -> str:
    """The path a file's section names: `+++ b/x`, else `--- a/x`, else its git header."""
    new = old = ""
    for line in lines:
        if line.startswith("+++ ") and not new:
            new = line[4:].split("\t")[0].strip()
        elif line.startswith("--- ") and not old:
            old = line[4:].split("\t")[0].strip()
        elif line.startswith("@@"):
            break
    for candidate in (new, old):
        if candidate and candidate != "/dev/null":
            return _unquote(candidate.strip('"'))
    header = _GIT_HEADER.match(lines[0].rstrip("\r\n")) if lines else None
    if header is not None:
        return header[2] or header[1]
    return ""


def split_diff(diff: str) -> list[FileDiff]:
    """The diff's files in order: sections starting at `diff --git`, or, in a diff without
    git's headers, at a `--- ` line followed by a `+++ ` line."""
    lines = diff.splitlines(keepends=True)
    starts: list[int] = []
    git = any(line.startswith("diff --git ") for line in lines)
    for i, line in enumerate(lines):
        if (git and line.startswith("diff --git ")) or (
            not git
            and line.startswith("--- ")
            and i + 1 < len(lines)
            and lines[i + 1].startswith("+++ ")
        ):
            starts.append(i)
    if not starts:
        return [FileDiff("", diff)] if diff.strip() else []
    files: list[FileDiff] = []
    if starts[0] > 0 and "".join(lines[: starts[0]]).strip():
        files.append(FileDiff("", "".join(lines[: starts[0]])))
    for start, end in zip(starts, [*starts[1:], len(lines)], strict=True):
        section = lines[start:end]
        files.append(FileDiff(_path_of(section), "".join(section)))
    return files


def _rank(path: str, intent: str) -> int:
    lowered = intent.lower()
    name = PurePosixPath(path).name.lower()
    stem = PurePosixPath(path).stem.lower()
    named = (path.lower(), name, *([stem] if len(stem) >= 4 else []))
    if path and any(word in lowered for word in named):
        return 0
    if _LOW.search(path):
        return 4
    if _TESTS.search(path):
        return 2
    if path.endswith(_DOCS) or not PurePosixPath(path).suffix:
        return 3
    return 1


def pack_diff(diff: str, budget_tokens: int, intent: str = "") -> Packed:
    """The files of `diff` that fit in `budget_tokens`, most relevant to `intent` first."""
    files = split_diff(diff)
    order = sorted(range(len(files)), key=lambda i: (_rank(files[i].path, intent), i))
    kept: set[int] = set()
    used = 0
    for i in order:
        cost = estimate_tokens(files[i].text)
        if used + cost <= budget_tokens:
            kept.add(i)
            used += cost
    left = [i for i in range(len(files)) if i not in kept]
    return Packed(
        text="".join(files[i].text for i in sorted(kept)),
        paths=tuple(files[i].path for i in sorted(kept)),
        unreviewed=tuple(files[i].path or "(unnamed part)" for i in left),
    )
