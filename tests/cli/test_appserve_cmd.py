"""`memfun app serve` refuses, in one line and before it listens, what would make the server
useless: no webhook secret, a port it cannot have, a broken [github] section."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from memfun_git.cli.main import run

SECRET = "memfun-cli-test-webhook-secret"


def _one_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    assert out == ""
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_no_secret_is_one_line_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(tmp_path), "app", "serve", "--port", "0"]) == 2
    assert _one_line(capsys) == (
        "memfun: the App's webhook secret is not set: $MEMFUN_WEBHOOK_SECRET is unset"
        " — export MEMFUN_WEBHOOK_SECRET with the secret of the App's webhook settings"
        " (or set [github] webhook_secret_env to the variable holding it)"
    )


def test_an_empty_secret_is_refused_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMFUN_WEBHOOK_SECRET", "  ")
    assert run(["-C", str(tmp_path), "app", "serve"]) == 2
    assert "$MEMFUN_WEBHOOK_SECRET is empty" in _one_line(capsys)


def test_the_variable_named_in_memfun_toml_is_the_one_read(
    git_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (git_repo / "memfun.toml").write_text('[github]\nwebhook_secret_env = "HOOK_SECRET"\n')
    monkeypatch.setenv("MEMFUN_WEBHOOK_SECRET", SECRET)  # not the configured one
    assert run(["-C", str(git_repo), "app", "serve"]) == 2
    assert _one_line(capsys).startswith(
        "memfun: the App's webhook secret is not set: $HOOK_SECRET is unset — export HOOK_SECRET"
    )


def test_a_taken_port_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMFUN_WEBHOOK_SECRET", SECRET)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert run(["-C", str(tmp_path), "app", "serve", "--port", str(port)]) == 2
    line = _one_line(capsys)
    assert line.startswith(f"memfun: cannot listen on 127.0.0.1:{port}: Address already in use")
    assert line.endswith("— pick another --port, or stop what listens there")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "70000"], "memfun: --port 70000 is not a port — use a number from 1 to 65535"),
        (["--port", "x"], "memfun: "),
    ],
)
def test_bad_options_are_one_line(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    says: str,
) -> None:
    monkeypatch.setenv("MEMFUN_WEBHOOK_SECRET", SECRET)
    assert run(["-C", str(tmp_path), "app", "serve", *args]) == 2
    assert _one_line(capsys).startswith(says)


def test_a_broken_github_section_is_one_line(
    git_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMFUN_WEBHOOK_SECRET", SECRET)
    (git_repo / "memfun.toml").write_text('[github]\napi_url = "api.github.com"\n')
    assert run(["-C", str(git_repo), "app", "serve"]) == 2
    assert _one_line(capsys).startswith(
        'memfun: memfun.toml: [github] api_url = "api.github.com" is not an http(s) URL'
    )


def test_in_a_real_process_there_is_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "memfun_git", "app", "serve"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("memfun: the App's webhook secret is not set")
    assert len(proc.stderr.splitlines()) == 1
