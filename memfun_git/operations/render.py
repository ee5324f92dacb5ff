"""Writing operations in the format `parse` reads: for recorded answers, examples and tests.

Every line written is checked with the parser's own reading of it (syntax.py), and each block's
markers are longer than any run of `<`, `=` or `>` starting one of its lines, so
`parse(render(ops)).operations == ops` for whatever `render` accepts.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable

from memfun_git.errors import OperationFormatError
from memfun_git.operations.syntax import MIN_RUN, NO_NEWLINE, directive, is_no_newline, path_line
from memfun_git.operations.values import (
    DeleteFile,
    EditFile,
    Operation,
    RenameFile,
    RunCommand,
    WriteFile,
)

__all__ = ["render"]


def render(operations: Iterable[Operation]) -> str:
    """`operations` in the format `parse` reads, a blank line between two.

    ValueError for what the format cannot hold: an edit with an empty search (write the file
    instead), an empty or all-space path, a path or a command word with a line break, an
    empty command.
    """
    return "\n".join(_render(operation) for operation in operations)


def _render(op: Operation) -> str:
    match op:
        case EditFile(path, search, replace):
            if not search:
                raise ValueError(f"an edit of {path} with an empty search: use WriteFile")
            n = _marker_length(search, replace)
            return "".join(
                [
                    _path_text(path),
                    f"{'<' * n} SEARCH\n",
                    *_content_lines(search),
                    f"{'=' * n}\n",
                    *_content_lines(replace),
                    f"{'>' * n} REPLACE\n",
                ]
            )
        case WriteFile(path, content):
            n = _marker_length(content)
            return "".join(
                [
                    _path_text(path),
                    f"{'<' * n} WRITE\n",
                    *_content_lines(content),
                    f"{'>' * n} WRITE\n",
                ]
            )
        case DeleteFile(path):
            return _line(op, [f"DELETE {p}" for p in _forms(path)])
        case RenameFile(path, new_path):
            return _line(op, [f"RENAME {a} -> {b}" for a in _forms(path) for b in _forms(new_path)])
        case RunCommand(argv):
            if any("\n" in word for word in argv):
                raise ValueError(f"a command word with a line break: {argv!r}")
            return _line(op, [f"RUN {shlex.join(argv)}"] if argv else [])


def _forms(path: str) -> list[str]:
    """The ways to write `path`, plainest first; the last, a code span with more backticks
    than any run in the path, holds any path without a line break that is not all spaces."""
    ticks = "`" * (max((len(run) for run in re.findall("`+", path)), default=0) + 1)
    return [path, f"`{path}`", f"**{path}**", f"{ticks} {path} {ticks}"]


def _line(op: Operation, candidates: list[str]) -> str:
    """The first candidate directive line that the parser reads back as `op`."""
    for line in candidates:
        if "\n" not in line and _reads(line) == op:
            return line + "\n"
    raise ValueError(f"{op!r} cannot be written in the operation format")


def _reads(line: str) -> Operation | None:
    try:
        return directive(line, 0)
    except OperationFormatError:
        return None


def _path_text(path: str) -> str:
    """The first form of `path` that the parser reads back as that path line."""
    for line in _forms(path):
        if "\n" not in line and path_line(line) == path:
            return line + "\n"
    raise ValueError(f"the path {path!r} cannot be written in the operation format")


def _marker_length(*texts: str) -> int:
    """More than the longest run of `<`, `=` or `>` starting a line of `texts` (at least 7)."""
    longest = 0
    for text in texts:
        for line in text.split("\n"):
            if line[:1] in ("<", "=", ">"):
                longest = max(longest, len(line) - len(line.lstrip(line[0])))
    return max(MIN_RUN, longest + 1)


def _content_lines(text: str) -> list[str]:
    """The lines of a block's content, each with its "\\n", as `parse` reads them back."""
    if not text:
        return []
    if text.endswith("\n"):
        lines = text[:-1].split("\n")
        if is_no_newline(lines[-1]):
            # Read as the marker it looks like, it would cut the final newline: write the
            # content as lines ending in an empty one, without a final newline.
            lines += ["", NO_NEWLINE]
    else:
        lines = [*text.split("\n"), NO_NEWLINE]
    return [line + "\n" for line in lines]
