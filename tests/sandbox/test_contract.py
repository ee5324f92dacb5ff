"""The SandboxAdapter contract, run unchanged against every member (bubblewrap, local).

What a caller (the engine, the gate, `memfun sandbox run`) may rely on whichever member the
user chose: the allowlisted environment, the time limit ending every process, the output cap
and streaming, exit statuses as a shell reports them, refusals as typed errors, a memory
limit, `setsid` daemons ended with the command, output stripped of terminal control
sequences, and the worktree tidied for the host afterwards. Isolation itself (what bubblewrap
hides) is the subject of test_bubblewrap.py and the escape suites.
"""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest

from memfun_git.backends.protocols import SandboxAdapter
from memfun_git.errors import ProgramNotFound, UsageError
from memfun_git.gitops.worktree import Workspace
from tests.helpers.require import need_tool
from tests.helpers.sandboxes import SECRETS, User, processes_with, sandbox_for

MEMBERS = ["bubblewrap", "local"]


@pytest.fixture(params=MEMBERS)
def member(request: pytest.FixtureRequest) -> str:
    if request.param == "bubblewrap":
        need_tool("bwrap")
    return str(request.param)


def make(ws: Workspace, user: User, member: str, **config: object) -> SandboxAdapter:
    return sandbox_for(ws, user, None, backend=member, **config)


class Collected:
    """An OutputSink that keeps what arrives."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.err = bytearray()

    def stdout(self, chunk: bytes) -> None:
        self.out += chunk

    def stderr(self, chunk: bytes) -> None:
        self.err += chunk


def test_the_environment_is_an_allowlist(ws: Workspace, user: User, member: str) -> None:
    result = make(ws, user, member).run(["sh", "-c", "env"])
    assert result.ok, result
    names = {line.split("=", 1)[0] for line in result.stdout.splitlines() if "=" in line}
    assert not names & set(SECRETS)
    assert {"HOME", "PATH", "PYTHONDONTWRITEBYTECODE"} <= names
    for value in SECRETS.values():
        assert value not in result.stdout


def test_exit_statuses_are_the_commands(ws: Workspace, user: User, member: str) -> None:
    sandbox = make(ws, user, member)
    assert sandbox.run(["sh", "-c", "exit 3"]).exit_code == 3
    killed = sandbox.run(["sh", "-c", "kill -9 $$"])
    assert killed.exit_code == 137  # 128 + SIGKILL, as a shell says
    assert not killed.ok


def test_refusals_are_typed_errors(ws: Workspace, user: User, member: str) -> None:
    sandbox = make(ws, user, member)
    with pytest.raises(UsageError, match="no command"):
        sandbox.run([])
    with pytest.raises(UsageError, match="outside the worktree"):
        sandbox.run(["true"], cwd="..")
    with pytest.raises(ProgramNotFound):
        sandbox.run(["no-such-program-" + uuid.uuid4().hex[:6]])


def test_the_time_limit_ends_the_command(ws: Workspace, user: User, member: str) -> None:
    result = make(ws, user, member).run(["sh", "-c", "while :; do :; done"], timeout=1)
    assert (result.exit_code, result.timed_out, result.ok) == (124, True, False)


def test_setsid_daemons_do_not_outlive_the_command(ws: Workspace, user: User, member: str) -> None:
    marker = f"1000.{uuid.uuid4().int % 10**9:09d}"
    script = (
        f"setsid sleep {marker} </dev/null >/dev/null 2>&1 & "
        f"setsid sh -c 'trap \"\" TERM HUP; sleep {marker}1' </dev/null >/dev/null 2>&1 & "
        f"(setsid sleep {marker}2 &) ; sleep 0.2; echo started"
    )
    for limits in ({}, {"max_memory_mb": 0}):
        result = make(ws, user, member, **limits).run(["sh", "-c", script])
        assert result.stdout == "started\n", result
        assert processes_with(marker) == []


def test_output_is_capped_and_streamed(ws: Workspace, user: User, member: str) -> None:
    sink = Collected()
    sandbox = make(ws, user, member, max_output_bytes=1000)
    result = sandbox.run(
        ["sh", "-c", "echo first; yes | head -c 5000; echo oops >&2"], on_output=sink
    )
    assert result.truncated
    assert len(result.stdout) == 1000
    assert result.stdout.startswith("first\ny\n")
    assert bytes(sink.out).decode() == result.stdout
    assert bytes(sink.err) == b"oops\n"


def test_output_arrives_while_the_command_runs(ws: Workspace, user: User, member: str) -> None:
    """The command waits for a file that the sink makes when the first line arrives: output
    held back until the end would leave it waiting until the time limit."""
    go = ws.path / "go"

    class Releasing(Collected):
        def stdout(self, chunk: bytes) -> None:
            super().stdout(chunk)
            go.touch()

    script = "echo first; while [ ! -e go ]; do sleep 0.01; done; echo second"
    sink = Releasing()
    result = make(ws, user, member).run(["sh", "-c", script], timeout=20, on_output=sink)
    go.unlink()
    assert not result.timed_out
    assert result.stdout == "first\nsecond\n"
    assert bytes(sink.out) == b"first\nsecond\n"


def test_terminal_control_sequences_never_come_through(
    ws: Workspace, user: User, member: str
) -> None:
    """OSC 52 writes the clipboard, OSC 0 the title; CSI moves and recolours; a carriage
    return or backspaces overwrite what was shown. None reaches the caller."""
    payload = (
        r"printf 'a\033]52;c;ZXZpbA==\007b\033]0;title\033\\c\033[2J\033[31md\033[8me\r"
        r"f\bg\233h\302\233i\033'"
    )
    sink = Collected()
    result = make(ws, user, member).run(["sh", "-c", payload], on_output=sink)
    assert result.ok, result
    for text in (result.stdout, bytes(sink.out).decode()):
        for control in ("\x1b", "\x9b", "\r", "\b", "ZXZpbA", "title"):
            assert control not in text
        assert text == "abcde\nfg\ufffdh", repr(text)  # \u009b i: a CSI, ended by "i"


def test_a_memory_hog_is_stopped(ws: Workspace, user: User, member: str) -> None:
    """One command allocated and touched 3 GiB: `[sandbox] max_memory_mb` holds it."""
    hog = "b = bytearray(1024 * 1024 * 1024); b[::4096] = b'x' * len(b[::4096]); print('all')"
    result = make(ws, user, member, max_memory_mb=256).run([sys.executable, "-c", hog])
    assert not result.ok
    assert "all" not in result.stdout
    small = make(ws, user, member, max_memory_mb=256).run([sys.executable, "-c", "print('ok')"])
    assert small.stdout == "ok\n", small


def test_the_worktree_is_tidied_after_each_command(ws: Workspace, user: User, member: str) -> None:
    script = "mkfifo pipe && mkdir closed && mkfifo closed/.gitignore && chmod 0 closed"
    result = make(ws, user, member).run(["sh", "-c", script])
    assert result.ok, result
    assert not os.path.lexists(ws.path / "pipe")
    assert not os.path.lexists(ws.path / "closed" / ".gitignore")
    assert (ws.path / "closed").stat().st_mode & 0o700 == 0o700
    Path(ws.path / "closed").rmdir()


def test_programs_are_found_in_the_users_venv_first(ws: Workspace, user: User, member: str) -> None:
    """As the quality gate will look: the main tree's `.venv/bin` before PATH, and `which`
    names the program that runs."""
    import venv

    venv.EnvBuilder(with_pip=False, symlinks=True).create(user.tree / ".venv")
    tool = user.tree / ".venv" / "bin" / "memfun-probe-tool"
    tool.write_text("#!/bin/sh\necho from the venv\n")
    tool.chmod(0o755)
    sandbox = make(ws, user, member)
    assert sandbox.which("memfun-probe-tool") == str(tool)
    assert sandbox.which("sh") in ("/bin/sh", "/usr/bin/sh")
    result = sandbox.run(["memfun-probe-tool"])
    assert result.stdout == "from the venv\n", result
