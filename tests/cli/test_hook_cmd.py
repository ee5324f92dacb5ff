"""`memfun hook review|install|uninstall`: what a person sees at `git commit`, with the local
OpenAI-compatible stub server as the model; real git commits through the installed hook."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from tests.conftest import git
from tests.helpers.stub_llm import StubLLMServer

BUG = "src/calc.py:2: error: divides by zero when count is 0\nSUMMARY: adds mean, with a bug."
CLEAN = "SUMMARY: adds mean as written."
MEAN = "def mean(total, count):\n    return total / count\n"


@pytest.fixture
def staged(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CI", raising=False)
    (git_repo / "src" / "calc.py").write_text(MEAN)
    git(git_repo, "add", "src/calc.py")
    return git_repo


def _model(monkeypatch: pytest.MonkeyPatch, stub: StubLLMServer) -> None:
    for key, value in {
        "PROVIDER": "custom",
        "MODEL": "stub-model",
        "BASE_URL": stub.url,
        "NUM_RETRIES": "0",
    }.items():
        monkeypatch.setenv(f"MEMFUN_LLM_{key}", value)


def test_a_blocking_finding_is_printed_as_every_front_end_prints_it(
    staged: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with StubLLMServer([BUG]) as stub:
        _model(monkeypatch, stub)
        code = run(["-C", str(staged), "hook", "review"])
        out, err = capsys.readouterr()
        assert code == 1
        assert out.splitlines() == [
            "src/calc.py:2: error: divides by zero when count is 0",
            "memfun review: 1 error — commit blocked: 1 at or over error ([hook] threshold; "
            "SKIP=memfun-review git commit to skip it)",
        ]
        assert err == ""
        code = run(["-C", str(staged), "hook", "review", "--json"])
    out, _ = capsys.readouterr()
    assert code == 1
    verdict = json.loads(out)
    assert (verdict["blocked"], verdict["cached"], verdict["paths"]) == (
        True,
        True,
        ["src/calc.py"],
    )
    assert verdict["findings"][0]["line"] == 2


def test_a_clean_change_passes_and_no_model_passes_with_a_line(
    staged: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with StubLLMServer([CLEAN]) as stub:
        _model(monkeypatch, stub)
        assert run(["-C", str(staged), "hook", "review"]) == 0
    out, _ = capsys.readouterr()
    assert out == "memfun review: no findings — adds mean as written.\n"
    for key in ("PROVIDER", "MODEL", "BASE_URL"):
        monkeypatch.delenv(f"MEMFUN_LLM_{key}")
    assert run(["-C", str(staged), "hook", "review"]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("memfun review: not reviewed: no model is configured")
    assert err.endswith("the commit goes ahead ([hook] block_on_llm_error = false)\n")


def test_bad_input_is_one_line_and_exit_2(
    staged: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(staged), "hook", "review", "--threshold", "severe"]) == 2
    _, err = capsys.readouterr()
    assert len(err.splitlines()) == 1
    assert "threshold" in err
    (tmp_path / "plain").mkdir()
    assert run(["-C", str(tmp_path / "plain"), "hook", "review"]) == 2
    _, err = capsys.readouterr()
    assert len(err.splitlines()) == 1
    assert "Traceback" not in err


def _commit(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "commit", "-qm", "add mean"], cwd=repo, env=env, capture_output=True, text=True
    )


def _stub_env(stub: StubLLMServer) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    return env | {
        "MEMFUN_LLM_PROVIDER": "custom",
        "MEMFUN_LLM_MODEL": "stub-model",
        "MEMFUN_LLM_BASE_URL": stub.url,
        "MEMFUN_LLM_NUM_RETRIES": "0",
    }


def test_the_installed_git_hook_blocks_a_commit_and_lets_a_clean_one_through(
    staged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(staged), "hook", "install"]) == 0
    assert "Installed" in capsys.readouterr().out
    head = git(staged, "rev-parse", "HEAD")
    with StubLLMServer([BUG, CLEAN]) as stub:
        env = _stub_env(stub)
        blocked = _commit(staged, env)
        assert blocked.returncode == 1
        assert "src/calc.py:2: error: divides by zero" in blocked.stderr  # git shows hooks there
        assert git(staged, "rev-parse", "HEAD") == head
        assert git(staged, "diff", "--cached", "--name-only") == "src/calc.py\n"
        (staged / "src" / "calc.py").write_text(MEAN.replace("count\n", "max(count, 1)\n"))
        git(staged, "add", "src/calc.py")
        done = _commit(staged, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(staged, "log", "-1", "--format=%s") == "add mean\n"
    # SKIP, as the pre-commit framework honours it.
    (staged / "b.py").write_text("x = 1\n")
    git(staged, "add", "b.py")
    with StubLLMServer([]) as stub:
        assert _commit(staged, _stub_env(stub) | {"SKIP": "other,memfun-review"}).returncode == 0


def test_an_existing_hook_is_kept_run_first_and_put_back(
    staged: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hooks = staged / ".git" / "hooks"
    hooks.mkdir(exist_ok=True)
    mine = "#!/bin/sh\necho my hook ran\nexit ${MY_HOOK_EXIT:-0}\n"
    (hooks / "pre-commit").write_text(mine)
    (hooks / "pre-commit").chmod(0o755)
    assert run(["-C", str(staged), "hook", "install"]) == 0
    out = capsys.readouterr().out
    assert f"Kept your hook: it runs first, as {hooks / 'pre-commit.memfun-chained'}" in out
    assert run(["-C", str(staged), "hook", "install"]) == 0  # again: updated, nothing lost
    assert "Updated" in capsys.readouterr().out
    assert (hooks / "pre-commit.memfun-chained").read_text() == mine
    with StubLLMServer([]) as stub:  # the own hook fails first: no model call
        failed = _commit(staged, _stub_env(stub) | {"MY_HOOK_EXIT": "3"})
    assert failed.returncode == 1  # git commit fails as the hook failed
    assert "my hook ran" in failed.stderr
    assert run(["-C", str(staged), "hook", "uninstall"]) == 0
    assert (hooks / "pre-commit").read_text() == mine
    assert not (hooks / "pre-commit.memfun-chained").exists()
    assert run(["-C", str(staged), "hook", "uninstall"]) == 2
    assert "is not memfun's: nothing to uninstall" in capsys.readouterr().err


def test_install_follows_core_hooks_path(staged: Path) -> None:
    git(staged, "config", "core.hooksPath", ".githooks")
    assert run(["-C", str(staged), "hook", "install"]) == 0
    assert (staged / ".githooks" / "pre-commit").stat().st_mode & 0o111
    assert not (staged / ".git" / "hooks" / "pre-commit").exists()
