from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git import doctor
from memfun_git.cli.main import run
from memfun_git.config import Config, SandboxConfig, load
from memfun_git.doctor import Status
from memfun_git.gitops.repo import discover
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer

PONG = "[[ ## answer ## ]]\npong\n\n[[ ## completed ## ]]"


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        yield server


def _configure(repo: Path, base_url: str) -> None:
    (repo / "memfun.toml").write_text(
        '[llm]\nprovider = "custom"\nmodel = "stub-model"\n'
        f'base_url = "{base_url}"\ntimeout_seconds = 10\n'
        '[sandbox]\nbackend = "local"\n'
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _lines(text: str) -> dict[str, str]:
    """Each check's line by its name ("model", "linter ruff"), mark included."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name = line[2:].partition(":")[0]
        if line[:1] in "✓·!✗" and name:
            found[name] = line
    return found


def test_doctor_renders_every_check_and_stays_offline(
    git_repo: Path, stub: StubLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(git_repo, stub.url)
    index = (git_repo / ".git" / "index").read_bytes()

    assert run(["-C", str(git_repo), "doctor"]) == 0

    out = capsys.readouterr().out
    lines = _lines(out)
    assert list(lines) == [
        "git",
        "repository",
        "config",
        "model",
        "sandbox",
        "linter ruff",
        "linter eslint",
        "linter go",
        "linter cargo",
        "backend",
    ]
    assert lines["git"].startswith("✓ git: git version ")
    assert lines["repository"] == f"✓ repository: {git_repo}"
    assert lines["config"] == "✓ config: loads (built-in defaults, memfun.toml)"
    assert lines["model"].startswith(f"✓ model: custom stub-model at {stub.url}, no key needed")
    assert lines["sandbox"].startswith("! sandbox: local backend: commands the model proposes")
    assert all(lines[f"linter {n}"][0] in "✓·" for n in doctor.LINTERS)
    assert lines["backend"].startswith("✓ backend: sqlite ")
    assert f"{git_repo / '.git' / 'memfun'} is writable" in lines["backend"]
    assert stub.requests == []
    assert (git_repo / ".git" / "index").read_bytes() == index
    assert [p.name for p in (git_repo / ".git" / "memfun").iterdir()] == []


def test_doctor_online_calls_the_model_once(
    git_repo: Path, stub: StubLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(git_repo, stub.url)
    stub.add([PONG])

    assert run(["-C", str(git_repo), "doctor", "--online"]) == 0

    model = _lines(capsys.readouterr().out)["model"]
    assert model.startswith(f"✓ model: custom stub-model at {stub.url} answered in ")
    assert len(stub.requests) == 1
    assert "ping" in stub.requests[0].text


def test_doctor_online_reports_an_unreachable_endpoint(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    _configure(git_repo, url)

    began = time.monotonic()
    assert run(["-C", str(git_repo), "doctor", "--online"]) == 1
    assert time.monotonic() - began < 10

    out = capsys.readouterr().out
    assert _lines(out)["model"] == (
        f"✗ model: cannot reach {url} — check [llm] base_url and that the server is running"
    )
    assert out.rstrip().endswith("1 problem to fix (✗ above).")


def test_doctor_reports_a_broken_config_without_crashing(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "memfun.toml").write_text("[llm]\nmodle = 'x'\n")

    assert run(["-C", str(git_repo), "doctor"]) == 1

    out, err = capsys.readouterr()
    lines = _lines(out)
    assert lines["config"].startswith(
        '✗ config: memfun.toml: unknown key [llm] modle (did you mean "model"?) — keys of [llm] are'
    )
    assert lines["model"] == "! model: not checked: the configuration does not load"
    assert lines["backend"] == "! backend: not checked: the configuration does not load"
    assert "Traceback" not in out + err


def test_doctor_names_the_fix_for_a_missing_key(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "memfun.toml").write_text('[llm]\nprovider = "openai"\nmodel = "gpt-4.1"\n')
    assert run(["-C", str(git_repo), "doctor"]) == 1
    model = _lines(capsys.readouterr().out)["model"]
    assert model == (
        "✗ model: openai gpt-4.1 at https://api.openai.com/v1: $OPENAI_API_KEY is not set"
        " — export OPENAI_API_KEY=<your key>, or name another variable in [llm] api_key_env"
    )


def test_repository_checks(tmp_path: Path, git_repo: Path) -> None:
    outside, paths = doctor.check_repository(tmp_path / "nowhere")
    assert (outside.status, paths) == (Status.FAILURE, None)
    assert "does not exist" in outside.detail

    (tmp_path / "empty").mkdir()
    subprocess.run(["git", "init", "-q", str(tmp_path / "empty")], check=True)
    unborn, paths = doctor.check_repository(tmp_path / "empty")
    assert unborn.status is Status.FAILURE
    assert "no commits yet" in unborn.detail
    assert "first commit" in unborn.fix

    good, paths = doctor.check_repository(git_repo / "src")
    assert (good.status, good.detail) == (Status.OK, str(git_repo))
    assert paths is not None


def test_tools_are_looked_up_on_the_given_path(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    ruff = bin_dir / "ruff"
    ruff.write_text("#!/bin/sh\nexit 0\n")
    ruff.chmod(0o755)
    env = {"PATH": str(bin_dir)}

    git = doctor.check_git(env)
    assert (git.status, git.detail) == (Status.FAILURE, "git is not on PATH")
    linters = {c.name: c for c in doctor.check_linters(env)}
    assert linters["linter ruff"] == doctor.Check("linter ruff", Status.OK, str(ruff))
    assert linters["linter go"].status is Status.INFO

    sandbox = doctor.check_sandbox(SandboxConfig(), env)
    assert sandbox.status is Status.FAILURE
    assert sandbox.detail == "bubblewrap: bwrap is not on PATH"
    assert 'set [sandbox] backend = "local"' in sandbox.fix
    local = doctor.check_sandbox(SandboxConfig(backend="local"), env)
    assert local.status is Status.WARNING


def test_bubblewrap_check_runs_bwrap() -> None:
    need_tool("bwrap")
    check = doctor.check_sandbox(SandboxConfig(), os.environ)
    assert check.status is Status.OK, check


def test_backend_check_reports_an_unwritable_folder(git_repo: Path) -> None:
    paths = discover(git_repo)
    blocker = git_repo / "not-a-folder"
    blocker.write_text("")
    broken = load(git_repo, environ={"MEMFUN_BACKEND_SQLITE_PATH": str(blocker / "x.db")})

    check = doctor.check_backend(broken, paths)

    assert check.status is Status.FAILURE
    assert f"cannot write a database in {blocker}" in check.detail
    assert doctor.check_backend(Config(), None).detail == "not checked: no repository"
