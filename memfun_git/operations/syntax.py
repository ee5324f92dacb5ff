"""The shapes of the lines of the operation format, shared by its parser and its renderer.

A line outside blocks is an opening marker, a directive, a path line, a code fence or prose; a
line inside a block is content or one of that block's markers. Each shape is decided here once,
so that `render` writes only what `parse` reads back (it checks each line it writes with these).
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass

from memfun_git.errors import OperationFormatError
from memfun_git.operations.values import DeleteFile, Operation, RenameFile, RunCommand

__all__ = [
    "DIRECTIVES",
    "MIN_RUN",
    "NO_NEWLINE",
    "Marker",
    "directive",
    "error",
    "is_fence",
    "is_no_newline",
    "marker",
    "path_line",
]

NO_NEWLINE = "\\ No newline at end of file"
MIN_RUN = 7
_MARKER = re.compile(r"(<{7,}|={7,}|>{7,}) *(SEARCH|REPLACE|WRITE)?[ \t\r]*")
_KEYWORDS = {"<": ("SEARCH", "WRITE"), "=": ("",), ">": ("REPLACE", "WRITE")}
_FENCE = re.compile(r"[ \t]{0,3}(?:`{3,}[^`]*|~{3,}.*)")
_ARROW = re.compile(r"\s->\s")
DIRECTIVES = ("DELETE ", "RENAME ", "RUN ")


@dataclass(frozen=True, slots=True)
class Marker:
    char: str
    """`<` opens, `=` divides, `>` closes."""
    run: int
    keyword: str


def marker(line: str) -> Marker | None:
    """The marker `line` is, if any: an opener names SEARCH or WRITE, a closer REPLACE or
    WRITE, a divider nothing."""
    found = _MARKER.fullmatch(line)
    if found is None or (found.group(2) or "") not in _KEYWORDS[found.group(1)[0]]:
        return None
    return Marker(found.group(1)[0], len(found.group(1)), found.group(2) or "")


def is_no_newline(line: str) -> bool:
    """True for diff's `\\ No newline at end of file` line (trailing spaces or `\r` aside)."""
    return line.rstrip(" \t\r") == NO_NEWLINE


def is_fence(line: str) -> bool:
    """True for a Markdown code fence line: models wrap blocks in them, and they are no path."""
    return _FENCE.fullmatch(line) is not None


def _wrapped(text: str, quote: str) -> bool:
    return len(text) >= 2 * len(quote) and text.startswith(quote) and text.endswith(quote)


def _code_span(text: str) -> str | None:
    """The text of a Markdown code span (`x`, or ``` `` a`b `` ``` for text holding backticks:
    as many backticks on each side, one space inside each stripped), else None."""
    k = len(text) - len(text.lstrip("`"))
    if k == 0 or len(text) <= 2 * k or len(text) - len(text.rstrip("`")) != k:
        return None
    inner = text[k:-k]
    if len(inner) >= 2 and inner[0] == inner[-1] == " " and inner.strip():
        return inner[1:-1]
    return inner


def _unwrap(text: str) -> tuple[str, bool]:
    """(path, in backticks) of a path as written: surrounding whitespace, one trailing `:`, then
    wrapping `**` and a code span's backticks are not part of it."""
    text = text.strip()
    if text.endswith(":"):
        text = text[:-1].rstrip()
    if _wrapped(text, "**"):
        text = text[2:-2]
    inner = _code_span(text)
    return (text, False) if inner is None else (inner, True)


def path_line(line: str) -> str | None:
    """The path `line` names, or None when it is no path line. Outside backticks a path holds
    no whitespace, so a sentence above a block is not taken for a path."""
    if not line.strip() or is_fence(line) or marker(line) or line.startswith(DIRECTIVES):
        return None
    path, quoted = _unwrap(line)
    if not path or (not quoted and any(c.isspace() for c in path)):
        return None
    return path


def _rename_args(rest: str) -> tuple[str, str] | None:
    """(from, to) of `RENAME from -> to`: the one split at a `->` between two paths; a path
    holding ` -> ` is written in backticks."""
    splits = [(rest[: a.start()], rest[a.end() :]) for a in _ARROW.finditer(rest)]
    found = [
        (_unwrap(old)[0], _unwrap(new)[0])
        for old, new in splits
        if _one_path(old) and _one_path(new)
    ]
    return found[0] if len(found) == 1 else None


def _one_path(side: str) -> bool:
    text = side.strip()
    return _code_span(text) is not None or (bool(text) and _ARROW.search(text) is None)


def error(index: int, what: str, hint: str = "") -> OperationFormatError:
    """The error for line `index` (0-based) of an answer; its message names the line."""
    return OperationFormatError(f"line {index + 1}: {what}", hint, line=index + 1)


def directive(line: str, i: int) -> Operation:
    """The operation of a directive line (one that starts with a `DIRECTIVES` keyword), line
    `i` of an answer; OperationFormatError when it is malformed."""
    keyword, _, rest = line.rstrip(" \t\r").partition(" ")
    if keyword == "DELETE":
        path = _unwrap(rest)[0]
        if not path:
            raise error(i, "DELETE needs a path", "DELETE <path>")
        return DeleteFile(path)
    if keyword == "RENAME":
        paths = _rename_args(rest)
        if paths is None:
            raise error(
                i,
                "a RENAME line is written RENAME <from> -> <to>",
                "a path holding ' -> ' goes in backticks",
            )
        return RenameFile(*paths)
    try:
        argv = tuple(shlex.split(rest))
    except ValueError as exc:
        raise error(i, f"the RUN command cannot be split into words ({exc})", "") from None
    if not argv:
        raise error(i, "RUN needs a command", "RUN <command>")
    return RunCommand(argv)
