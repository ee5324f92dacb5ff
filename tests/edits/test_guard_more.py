"""More attempts on confinement: names that look like a way out, and what a sandboxed command
can leave in the worktree for the next operation (named pipes, sockets)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memfun_git.edits.guard import resolve
from memfun_git.edits.ops import FileOps
from memfun_git.edits.results import Reason
from memfun_git.errors import EditError
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace


@pytest.fixture
def ws(git_repo: Path) -> Iterator[Workspace]:
    with Workspace(require_repo(git_repo), "guard-more") as workspace:
        yield workspace


@pytest.mark.parametrize(
    "rel",
    [
        "%2e%2e/escape.py",  # URL-encoded: a name, never decoded
        "\uff0e\uff0e/escape.py",  # fullwidth dots
        "..\u200b/escape.py",  # a zero-width space: not '..' to the kernel
        ".../escape.py",
        "\u2025/escape.py",  # two-dot leader
        "-rf",  # a leading dash: a name, never an option (no path reaches a command line)
        "--output=../escape.py",
        "src/\u202eyp.evil",  # right-to-left override: shown reversed, still inside
    ],
)
def test_names_that_look_like_a_way_out_stay_inside(ws: Workspace, rel: str) -> None:
    full = resolve(ws, rel)
    assert os.path.commonpath([os.path.realpath(full), str(ws.path.resolve())]) == str(
        ws.path.resolve()
    )
    FileOps(ws).write_file(rel, "X = 1\n")
    assert full.read_text() == "X = 1\n"
    assert not (ws.path.parent / "escape.py").exists()


def _with_deadline(action: Callable[[], object], seconds: float = 5) -> BaseException | None:
    """Run `action` in a thread; fail the test if it blocks (on a named pipe) past `seconds`."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert outcome, "the operation blocked"
    return outcome[0]


def test_named_pipes_and_sockets_are_refused_without_waiting(ws: Workspace) -> None:
    """A command can leave a named pipe (or a socket) where a file was; opening a pipe to
    read it waits for a writer that never comes. Every operation refuses it at once."""
    (ws.path / "src" / "app.py").unlink()
    os.mkfifo(ws.path / "src" / "app.py")
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(ws.path / "README.md.sock"))
    try:
        ops = FileOps(ws)
        attempts = {
            "read": lambda: ops.read("src/app.py"),
            "edit": lambda: ops.edit_file("src/app.py", "a", "b"),
            "write": lambda: ops.write_file("src/app.py", "X = 1\n"),
            "read socket": lambda: ops.read("README.md.sock"),
            "write socket": lambda: ops.write_file("README.md.sock", "X = 1\n"),
        }
        for name, attempt in attempts.items():
            error = _with_deadline(attempt)
            assert isinstance(error, EditError), name
            assert "not a regular file" in str(error), name
            assert error.refusal.reason is Reason.NOT_A_FILE, name
    finally:
        server.close()
        (ws.path / "README.md.sock").unlink()
        (ws.path / "src" / "app.py").unlink()
        (ws.path / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
