from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from memfun_git.cli.main import run

FAKE_KEY = "sk-ant-api03-" + "Qm4" * 12 + "wxyz"
PASSWORD = "hunter2hunter2"


@pytest.fixture
def configured(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (git_repo / "memfun.toml").write_text(
        "[llm]\n"
        'provider = "anthropic"\n'
        'model = "claude-sonnet-4-5"\n'
        f'base_url = "http://proxy:{PASSWORD}@127.0.0.1:9/v1"\n'
        "[gate]\n"
        'linters = ["ruff"]\n'
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    monkeypatch.setenv("MEMFUN_LLM_TEMPERATURE", "0.25")
    return git_repo


def test_config_show_prints_toml_with_sources_and_no_secret(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(configured), "config", "show"]) == 0

    out, err = capsys.readouterr()
    assert err == ""
    assert FAKE_KEY not in out
    assert PASSWORD not in out
    assert "# key: $ANTHROPIC_API_KEY set (…wxyz)" in out
    assert (
        "# sources, later ones winning: built-in defaults, memfun.toml, MEMFUN_LLM_TEMPERATURE"
        in out
    )
    data = tomllib.loads(out)
    assert list(data) == [
        "project",
        "llm",
        "backend",
        "sandbox",
        "web",
        "gate",
        "memory",
        "hook",
        "workspace",
        "github",
        "workflow",
    ]
    llm = data["llm"]
    assert (llm["provider"], llm["model"], llm["temperature"]) == (
        "anthropic",
        "claude-sonnet-4-5",
        0.25,
    )
    assert llm["base_url"] == "http://proxy:[REDACTED]@127.0.0.1:9/v1"
    assert data["gate"]["linters"] == ["ruff"]
    assert data["sandbox"]["backend"] == "bubblewrap"


def test_config_show_json(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["-C", str(configured), "config", "show", "--json"]) == 0

    out = capsys.readouterr().out
    assert FAKE_KEY not in out
    assert PASSWORD not in out
    data = json.loads(out)
    assert data["repo_root"] == str(configured)
    assert data["sources"] == ["built-in defaults", "memfun.toml", "MEMFUN_LLM_TEMPERATURE"]
    assert data["llm_key"] == {
        "variable": "ANTHROPIC_API_KEY",
        "status": "$ANTHROPIC_API_KEY set (…wxyz)",
    }
    assert data["config"]["llm"]["temperature"] == 0.25
    assert data["config"]["llm"]["base_url"] == "http://proxy:[REDACTED]@127.0.0.1:9/v1"
    assert data["config"]["memory"] == {"enabled": True, "user_memory": True, "max_recall": 8}


def test_config_show_without_key_or_repository(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(tmp_path), "config", "show", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["repo_root"] is None
    assert data["config"]["llm"]["provider"] is None
    assert data["llm_key"] == {"variable": None, "status": "no provider configured"}

    assert run(["-C", str(tmp_path), "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "# provider = (not set)" in out
    assert "# repository: (none)" in out


def test_config_show_says_when_the_key_is_missing(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "memfun.toml").write_text('[llm]\nprovider = "openai"\nmodel = "gpt-4.1"\n')
    assert run(["-C", str(git_repo), "config", "show"]) == 0
    assert "# key: $OPENAI_API_KEY not set" in capsys.readouterr().out


def test_config_show_of_a_broken_file_is_one_line(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "memfun.toml").write_text('[sandbox]\nbackend = "docker"\n')
    assert run(["-C", str(git_repo), "config", "show", "--json"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(
        'memfun: memfun.toml: [sandbox] backend = "docker": the docker sandbox is not built yet — '
    )
    assert len(err.splitlines()) == 1
