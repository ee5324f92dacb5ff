"""The format taught to models parses to what it shows, and summaries name each operation."""

from __future__ import annotations

import pytest

from memfun_git.operations import (
    FORMAT_INSTRUCTIONS,
    DeleteFile,
    EditFile,
    Operation,
    RenameFile,
    RunCommand,
    WriteFile,
    describe,
    parse,
)


def test_the_instructions_examples_are_operations_and_the_rest_is_prose() -> None:
    parsed = parse(FORMAT_INSTRUCTIONS)
    assert parsed.operations == (
        EditFile(
            "src/app.py",
            'def greet():\n    return "hi"\n',
            'def greet(name):\n    return f"hi {name}"\n',
        ),
        WriteFile(
            "tests/test_app.py",
            'from app import greet\n\n\ndef test_greet():\n    assert greet("Ada") == "hi Ada"\n',
        ),
        DeleteFile("src/old.py"),
        RenameFile("src/a.py", "src/b.py"),
        RunCommand(("pytest", "-q", "tests/test_app.py")),
    )
    assert parsed.prose.startswith("Write each change as an operation")
    assert "<<<<<<< SEARCH" not in parsed.prose


@pytest.mark.parametrize(
    ("op", "line"),
    [
        (EditFile("src/app.py", "a\n", "b\n"), "edit src/app.py"),
        (WriteFile("src/new.py", "x = 1\n" * 12), "write src/new.py (12 lines)"),
        (WriteFile("src/one.py", "x = 1"), "write src/one.py (1 line)"),
        (WriteFile("src/empty.py", ""), "write src/empty.py (0 lines)"),
        (DeleteFile("old.py"), "delete old.py"),
        (RenameFile("a.py", "b.py"), "rename a.py → b.py"),
        (RunCommand(("pytest", "-q")), "run pytest -q"),
        (RunCommand(("pytest", "-k", "a and b")), "run pytest -k 'a and b'"),
        (RunCommand(("echo", "x" * 100)), "run echo " + "x" * 66 + "…"),
    ],
)
def test_describe(op: Operation, line: str) -> None:
    assert describe(op) == line
