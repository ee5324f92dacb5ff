"""Reading a solver's answer: its operations, in order, and its prose (docs/DESIGN.md,
"Operation format"). One pass over the lines; a block's path is looked up when its opening
marker is met. A malformed answer raises `OperationFormatError` naming the line, for the model.
"""

from __future__ import annotations

import re

from memfun_git.errors import OperationFormatError
from memfun_git.operations.syntax import (
    DIRECTIVES,
    Marker,
    directive,
    error,
    is_fence,
    is_no_newline,
    marker,
    path_line,
)
from memfun_git.operations.values import EditFile, Operation, Parsed, WriteFile

__all__ = ["parse"]

# A code fence that held only blocks and path lines: nothing of the explanation.
_EMPTY_FENCE = re.compile(
    r"^[ \t]*(?:`{3,}|~{3,})[^\n]*\n(?:[ \t]*\n)*[ \t]*(?:`{3,}|~{3,})[ \t]*$\n?", re.MULTILINE
)


def parse(text: str) -> Parsed:
    """The operations of an answer, in order, and its prose; else OperationFormatError."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()  # the text's final newline ends its last line
    operations: list[Operation] = []
    used: set[int] = set()
    floor = 0  # the first line after the last block: a path is looked for no higher
    i = 0
    while i < len(lines):
        found = marker(lines[i])
        if found is not None and found.char == "<":
            at, path = _path_above(lines, i, floor, found.keyword)
            end, operation = _block(lines, i, found, path)
            operations.append(operation)
            used.update([at, *range(i, end + 1)])
            i = floor = end + 1
            continue
        if found is not None and found.char == ">":
            raise error(
                i,
                f"{lines[i].strip()} closes a block that was not opened",
                "open a block with <<<<<<< SEARCH or <<<<<<< WRITE, after the file's path",
            )
        if lines[i].startswith(DIRECTIVES):
            operations.append(directive(lines[i], i))
            used.add(i)
        i += 1
    return Parsed(tuple(operations), _prose(lines, used))


def _path_above(lines: list[str], i: int, floor: int, keyword: str) -> tuple[int, str]:
    """(index, path) of the path line of the block opened at `i`: the nearest line above it,
    below the last block, that is neither blank nor a code fence."""
    for j in range(i - 1, floor - 1, -1):
        if not lines[j].strip() or is_fence(lines[j]):
            continue
        path = path_line(lines[j])
        if path is None:
            raise error(
                i,
                f"the {keyword} block has no path: line {j + 1} above it is not one",
                "write the file's path alone on the line before the block (in backticks if it "
                "has spaces)",
            )
        return j, path
    raise error(
        i,
        f"the {keyword} block has no path",
        "write the file's path alone on the line before each block",
    )


def _block(lines: list[str], i: int, opener: Marker, path: str) -> tuple[int, Operation]:
    """(index of the closing line, operation) of the block opened at `i`."""
    n, keyword = opener.run, opener.keyword
    parts: list[list[str]] = [[]]
    near: tuple[int, Marker] | None = None  # a divider or closer of another length

    def fail(j: int, what: str, hint: str) -> OperationFormatError:
        if near is not None:
            k, m = near
            what = (
                f"{'=' * m.run if m.char == '=' else lines[k].strip()} has {m.run} "
                f"'{m.char}' but the {keyword} block of line {i + 1} opened with {n} '<'"
            )
            return error(k, what, "a block's three markers have the same length")
        return error(j, what, hint)

    closing = f"{'>' * n} {'REPLACE' if keyword == 'SEARCH' else 'WRITE'}"
    for j in range(i + 1, len(lines)):
        m = marker(lines[j])
        if m is None or m.run != n:
            if m is not None and m.char != "<" and near is None:
                near = (j, m)
            parts[-1].append(lines[j])
        elif m.char == "<":
            raise fail(j, f"a block opens inside the {keyword} block of line {i + 1}", closing)
        elif m.char == "=" and keyword == "WRITE":
            raise fail(
                j, "a WRITE block has no ======= line", "to change part of a file, use SEARCH"
            )
        elif m.char == "=" and len(parts) == 2:
            raise fail(j, f"a second ======= in the SEARCH block of line {i + 1}", closing)
        elif m.char == "=":
            parts.append([])
        elif keyword == "SEARCH" and len(parts) == 1:
            raise fail(
                j,
                f"the SEARCH block of line {i + 1} has no ======= line",
                f"divide SEARCH from REPLACE with {'=' * n}",
            )
        elif m.keyword != closing.split()[1]:
            raise fail(j, f"the {keyword} block of line {i + 1} closes with {m.keyword}", closing)
        else:
            return j, _operation(i, keyword, path, [_content(part) for part in parts])
    if keyword == "SEARCH" and len(parts) == 1:
        raise fail(
            i, "the SEARCH block has no ======= line", f"divide SEARCH from REPLACE with {'=' * n}"
        )
    raise fail(i, f"the {keyword} block is not closed", f"end it with {closing}")


def _operation(i: int, keyword: str, path: str, contents: list[str]) -> Operation:
    if keyword == "WRITE":
        return WriteFile(path, contents[0])
    if not contents[0]:
        raise error(
            i, "the SEARCH part is empty", "to create a file use WRITE; to edit one, quote lines"
        )
    return EditFile(path, contents[0], contents[1])


def _content(lines: list[str]) -> str:
    r"""Lines between markers, verbatim: each gives its text and "\n", except the last before a
    final `\ No newline at end of file` line, which is not content (diff's convention)."""
    if lines and is_no_newline(lines[-1]):
        return "\n".join(lines[:-1])
    return "".join(line + "\n" for line in lines)


def _prose(lines: list[str], used: set[int]) -> str:
    """The lines no operation used: the model's explanation, for logs and summaries."""
    text = "\n".join(line.rstrip("\r") for k, line in enumerate(lines) if k not in used)
    text = _EMPTY_FENCE.sub("", text)
    return re.sub(r"\n[ \t]*\n(?:[ \t]*\n)+", "\n\n", text).strip()
