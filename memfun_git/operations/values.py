"""The operations a solver's answer holds, as values: what to change, and how to name it.

Frozen dataclasses, so an event or a recorded answer that holds one cannot change it.
`Operation` is everything an answer can ask for; the file operations among them are what
`edits.ops.FileOps` applies (its `Op`), and `RunCommand` runs in the sandbox.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

__all__ = [
    "DeleteFile",
    "EditFile",
    "Operation",
    "Parsed",
    "RenameFile",
    "RunCommand",
    "WriteFile",
    "describe",
]

_MAX_COMMAND = 72


@dataclass(frozen=True, slots=True)
class WriteFile:
    """Create `path` with `content`, or replace its whole content."""

    path: str
    content: str


@dataclass(frozen=True, slots=True)
class EditFile:
    """Replace the part of `path` that `search` stands for with `replace` (edits/match.py)."""

    path: str
    search: str
    replace: str


@dataclass(frozen=True, slots=True)
class DeleteFile:
    path: str


@dataclass(frozen=True, slots=True)
class RenameFile:
    path: str
    new_path: str


@dataclass(frozen=True, slots=True)
class RunCommand:
    """Run a command in the sandbox after the file operations; its output is kept."""

    argv: tuple[str, ...]


Operation = WriteFile | EditFile | DeleteFile | RenameFile | RunCommand


@dataclass(frozen=True, slots=True)
class Parsed:
    """A parsed answer: its operations in order, and the text outside them."""

    operations: tuple[Operation, ...]
    prose: str
    """The model's explanation: lines outside blocks that are not paths or directives, with
    code fences left empty by the blocks removed; "" when there is none."""


def describe(op: Operation) -> str:
    """A short line naming `op`, for summaries: "edit src/app.py", "run pytest -q"."""
    match op:
        case EditFile(path):
            return f"edit {path}"
        case WriteFile(path, content):
            count = content.count("\n") + (not content.endswith("\n") and bool(content))
            return f"write {path} ({count} line{'' if count == 1 else 's'})"
        case DeleteFile(path):
            return f"delete {path}"
        case RenameFile(path, new_path):
            return f"rename {path} → {new_path}"
        case RunCommand(argv):
            command = shlex.join(argv)
            if len(command) > _MAX_COMMAND:
                command = command[: _MAX_COMMAND - 1] + "…"
            return f"run {command}"
