"""The local sandbox (`[sandbox] backend = "local"`): no isolation, the same limits.

A program in `[sandbox] allow` runs; any other command runs only after a person confirmed
that very command (the front end passes `confirm` when a terminal is attached), and is refused
with a one-line message naming `[sandbox] allow` when no one can confirm. The environment is
the same allowlist as bubblewrap's, and the time limit and output cap hold.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memfun_git.backends.protocols import SandboxAdapter
from memfun_git.config import SandboxConfig
from memfun_git.errors import SandboxUnavailable, UsageError
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from memfun_git.sandbox import make_sandbox
from tests.helpers.sandboxes import SECRETS


@pytest.fixture
def ws(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Workspace]:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    with Workspace(require_repo(git_repo), "local-" + uuid.uuid4().hex[:6]) as workspace:
        yield workspace


def local(
    ws: Workspace,
    git_repo: Path,
    *,
    allow: tuple[str, ...] = (),
    confirm: Callable[[list[str]], bool] | None = None,
    **config: object,
) -> SandboxAdapter:
    settings: dict[str, object] = {"backend": "local", "allow": allow, "timeout_seconds": 30.0}
    settings.update(config)
    return make_sandbox(
        SandboxConfig(**settings),  # type: ignore[arg-type]
        ws.path,
        user_tree=git_repo,
        common_dir=git_repo / ".git",
        confirm=confirm,
    )


def test_allowed_command_runs_with_the_allowlisted_environment(
    ws: Workspace, git_repo: Path
) -> None:
    sandbox = local(ws, git_repo, allow=("sh",))
    assert sandbox.name == "local"
    result = sandbox.run(["sh", "-c", "pwd; env"])
    assert result.ok, result
    lines = result.stdout.splitlines()
    assert lines[0] == str(ws.path.resolve())
    names = {line.split("=", 1)[0] for line in lines[1:] if "=" in line}
    assert not names & set(SECRETS)
    for value in SECRETS.values():
        assert value not in result.stdout
    assert "PYTHONDONTWRITEBYTECODE" in names
    assert not names & {"GIT_CONFIG_GLOBAL", "XDG_CONFIG_HOME", "SSH_AUTH_SOCK"}


def test_confirmation_is_asked_per_command(ws: Workspace, git_repo: Path) -> None:
    asked: list[list[str]] = []

    def yes(argv: list[str]) -> bool:
        asked.append(argv)
        return True

    sandbox = local(ws, git_repo, confirm=yes)
    first = ["sh", "-c", "echo one > one.txt"]
    assert sandbox.run(first).ok
    assert sandbox.run(first).ok  # the same command: confirmed already
    assert asked == [first]
    second = ["sh", "-c", "echo two > two.txt"]
    assert sandbox.run(second).ok  # the same program, another command: asked again
    assert asked == [first, second]
    assert (ws.path / "one.txt").read_text() == "one\n"
    assert (ws.path / "two.txt").read_text() == "two\n"


@pytest.mark.parametrize("answer", ["declined", "no-terminal"])
def test_unconfirmed_command_is_refused_and_not_run(
    ws: Workspace, git_repo: Path, answer: str
) -> None:
    asked: list[list[str]] = []

    def no(argv: list[str]) -> bool:
        asked.append(argv)
        return False

    sandbox = local(ws, git_repo, allow=("true",), confirm=no if answer == "declined" else None)
    argv = ["sh", "-c", "echo ran > ran.txt"]
    with pytest.raises(SandboxUnavailable) as caught:
        sandbox.run(argv)
    message = str(caught.value)
    assert "\n" not in message
    if answer == "declined":
        assert asked == [argv]
        assert message == "running sh was declined — nothing was run"
    else:
        assert message.startswith("the local sandbox runs sh only after confirmation")
        assert 'add "sh" to [sandbox] allow' in message
    assert not (ws.path / "ran.txt").exists()
    assert sandbox.run(["true"]).ok  # the allowlist still applies


def test_time_limit_and_output_cap(ws: Workspace, git_repo: Path) -> None:
    sandbox = local(ws, git_repo, allow=("sh",), max_output_bytes=100)
    loop = sandbox.run(["sh", "-c", "while :; do :; done"], timeout=1)
    assert (loop.exit_code, loop.timed_out) == (124, True)
    assert loop.seconds >= 1  # how soon after the limit it stops: bench/limits.py
    big = sandbox.run(["sh", "-c", "yes | head -c 5000"])
    assert big.truncated
    assert len(big.stdout) == 100


def test_cwd_outside_the_worktree_is_refused(ws: Workspace, git_repo: Path) -> None:
    sandbox = local(ws, git_repo, allow=("sh",))
    with pytest.raises(UsageError, match="outside the worktree"):
        sandbox.run(["sh", "-c", "true"], cwd="..")


def test_output_reaches_on_output_as_it_arrives(ws: Workspace, git_repo: Path) -> None:
    """The command waits for a file that the sink makes on the first chunk: it can finish
    only if its output arrives while it runs (held back to the end, it meets its limit)."""
    seen: list[tuple[str, bytes]] = []
    answered = ws.path / "answered"

    class Sink:
        def stdout(self, chunk: bytes) -> None:
            seen.append(("out", chunk))
            answered.touch()

        def stderr(self, chunk: bytes) -> None:
            seen.append(("err", chunk))

    sandbox = local(ws, git_repo, allow=("sh",), max_output_bytes=100)
    script = "echo first; while [ ! -e answered ]; do sleep 0.05; done; echo second; echo oops >&2"
    result = sandbox.run(["sh", "-c", script], on_output=Sink(), timeout=30)
    answered.unlink()
    assert not result.timed_out
    assert result.stdout == "first\nsecond\n"
    assert b"".join(c for kind, c in seen if kind == "out") == b"first\nsecond\n"
    assert b"".join(c for kind, c in seen if kind == "err") == b"oops\n"
