"""The operation format: how a solver's answer says what to change, as text our code parses.

A model answers in text (no JSON, no repair): SEARCH/REPLACE blocks to edit files, WRITE
blocks for whole files, and `DELETE`, `RENAME` and `RUN` lines; the rest is its explanation.
`parse(text)` reads an answer into `Parsed` (operations in order, plus that prose) or raises
`OperationFormatError`, whose message names the line and is short enough to hand back to the
model; `render(operations)` writes operations in the same format, and
`parse(render(ops)).operations == ops` for everything `render` accepts. `FORMAT_INSTRUCTIONS`
teaches the format to a model; `describe(op)` names an operation in a summary line.

The grammar, with examples and the reasons for each choice, is in docs/DESIGN.md, "Operation
format". In short: a block is the lines between an opening marker (`<<<<<<< SEARCH` or
`<<<<<<< WRITE`), a divider (`=======`, SEARCH only) and a closing marker (`>>>>>>> REPLACE`
or `>>>>>>> WRITE`), all at the start of their line; its content is verbatim. A block opened
with N `<` divides with exactly N `=` and closes with exactly N `>`: `render` uses more than
any run of those characters starting a content line, so any content round-trips, and models
write the plain 7. Its path is the nearest line above it outside blocks that is not blank or a
code fence. Directives are lines starting with `DELETE `, `RENAME ` or `RUN `.

Modules: values.py (the operations, `Parsed`, `describe`), syntax.py (every line shape, decided
once for both directions), parse.py, render.py.
"""

from __future__ import annotations

from memfun_git.errors import OperationFormatError
from memfun_git.operations.parse import parse
from memfun_git.operations.render import render
from memfun_git.operations.values import (
    DeleteFile,
    EditFile,
    Operation,
    Parsed,
    RenameFile,
    RunCommand,
    WriteFile,
    describe,
)

__all__ = [
    "FORMAT_INSTRUCTIONS",
    "DeleteFile",
    "EditFile",
    "Operation",
    "OperationFormatError",
    "Parsed",
    "RenameFile",
    "RunCommand",
    "WriteFile",
    "describe",
    "parse",
    "render",
]

FORMAT_INSTRUCTIONS = """\
Write each change as an operation; text outside operations is read as your explanation.

To edit a file, write its path alone on a line, then a SEARCH/REPLACE block. SEARCH holds
lines copied exactly from the file, blank lines and indentation included, enough of them to
match one place; REPLACE holds the lines to put in their place (nothing, to delete them).
Each block has its own path line, even for the same file.

src/app.py
<<<<<<< SEARCH
def greet():
    return "hi"
=======
def greet(name):
    return f"hi {name}"
>>>>>>> REPLACE

To create a file, or replace all of it, write its path, then a WRITE block with the whole
content:

tests/test_app.py
<<<<<<< WRITE
from app import greet


def test_greet():
    assert greet("Ada") == "hi Ada"
>>>>>>> WRITE

Delete, rename and run commands are single lines:

DELETE src/old.py
RENAME src/a.py -> src/b.py
RUN pytest -q tests/test_app.py

Markers and these lines start at the beginning of the line, with nothing after the keyword.
Lines inside a block are taken exactly as written. SEARCH is never empty: use WRITE to create
a file. If the code itself has lines starting with <<<<<<<, ======= or >>>>>>>, make that
block's three markers longer than those lines' runs (9 `<`, 9 `=`, 9 `>`). A path with
spaces goes in backticks. Any line starting with "DELETE ", "RENAME " or "RUN " is an
operation, so do not start a line of explanation that way.
"""
