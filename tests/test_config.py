from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.cli.main import run
from memfun_git.errors import ConfigError
from tests.helpers.require import need_tool

BROKEN = [
    pytest.param(
        "[llm\nmodel = 'x'\n", "memfun.toml: not valid TOML", "fix the syntax", id="bad-toml"
    ),
    pytest.param(
        "[llm]\nmodle = 'x'\n",
        'memfun.toml: unknown key [llm] modle (did you mean "model"?)',
        "keys of [llm] are",
        id="unknown-key",
    ),
    pytest.param(
        "[lmm]\nmodel = 'x'\n",
        'memfun.toml: unknown section [lmm] (did you mean "llm"?)',
        "sections are",
        id="unknown-section",
    ),
    pytest.param(
        "[llm]\ntemperature = 'hot'\n",
        'memfun.toml: [llm] temperature = "hot" is a string',
        "use a number",
        id="wrong-type",
    ),
    pytest.param(
        "[llm]\nnum_retries = 1.5\n",
        "memfun.toml: [llm] num_retries = 1.5 is a number",
        "use a whole number",
        id="float-for-int",
    ),
    pytest.param(
        "[llm]\nprovider = 'antropic'\n",
        'memfun.toml: [llm] provider = "antropic" is not allowed (did you mean "anthropic"?)',
        'use one of "anthropic", "openai", "ollama", "custom"',
        id="bad-enum",
    ),
    pytest.param(
        "[backend]\ntier = 'kafka'\n",
        'memfun.toml: [backend] tier = "kafka" is not allowed',
        'use one of "in-process", "sqlite", "redis", "nats"',
        id="unknown-tier",
    ),
    pytest.param(
        "[sandbox]\nbackend = 'docker'\n",
        'memfun.toml: [sandbox] backend = "docker": the docker sandbox is not built yet',
        'use "bubblewrap" or "local"',
        id="unbuilt-sandbox",
    ),
    pytest.param(
        "[llm]\napi_key = 'sk-abc'\n",
        "memfun.toml: [llm] api_key is not allowed",
        "configuration holds no secrets",
        id="secret-in-file",
    ),
    pytest.param(
        "[llm]\nprovider = 'custom'\nmodel = 'm'\n",
        'memfun.toml: [llm] provider = "custom" needs base_url',
        "base_url",
        id="custom-without-url",
    ),
    pytest.param(
        "[gate]\nlinters = 'ruff'\n",
        'memfun.toml: [gate] linters = "ruff" is a string',
        "use a list of strings",
        id="string-for-list",
    ),
    pytest.param(
        "llm = 3\n", "memfun.toml: llm = 3 is not a table", "[llm] section", id="not-a-table"
    ),
    pytest.param(
        'model = "gpt-4.1"\n[llm]\nprovider = "openai"\n',
        'memfun.toml: model = "gpt-4.1" is a key outside any [section] (it belongs in [llm])',
        "move it under [llm]",
        id="key-outside-sections",
    ),
    pytest.param(
        "timeout_seconds = 5\n",
        "memfun.toml: timeout_seconds = 5 is a key outside any [section]"
        " (it belongs in [llm] or [sandbox] or [hook])",
        "move it under [llm]",
        id="key-outside-sections-two-homes",
    ),
    pytest.param(
        "modle = 'x'\n",
        'memfun.toml: modle = "x" is a key outside any [section] (did you mean "model" in [llm]?)',
        "put keys under their section",
        id="misspelt-key-outside-sections",
    ),
]


@pytest.mark.parametrize(("text", "message", "hint"), BROKEN)
def test_broken_memfun_toml_is_one_line_exit_2(
    git_repo: Path, capsys: pytest.CaptureFixture[str], text: str, message: str, hint: str
) -> None:
    (git_repo / "memfun.toml").write_text(text)
    code = run(["-C", str(git_repo), "config", "show"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("memfun: " + message), lines[0]
    assert " — " in lines[0]
    assert hint in lines[0].split(" — ", 1)[1]
    assert "Traceback" not in err


def test_broken_config_in_a_real_process_has_no_traceback(git_repo: Path) -> None:
    (git_repo / "memfun.toml").write_text("[backend]\ntier = 'nat'\n")
    proc = subprocess.run(
        [sys.executable, "-m", "memfun_git", "config", "show"],
        cwd=git_repo,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        'memfun: memfun.toml: [backend] tier = "nat" is not allowed (did you mean "nats"?)'
        ' — use one of "in-process", "sqlite", "redis", "nats"'
    )
    assert proc.stdout == ""


def test_sources_apply_in_order(git_repo: Path, isolated_env: Path) -> None:
    user = isolated_env / ".memfun" / "config.toml"
    user.parent.mkdir()
    user.write_text(
        "[llm]\nprovider = 'openai'\nmodel = 'from-user'\ntimeout_seconds = 5\n"
        "[workspace]\nkeep_attempts_days = 3\n"
    )
    (git_repo / "memfun.toml").write_text(
        "# team settings\n[llm]\nmodel = 'from-repo'\ntemperature = 0.2\nmax_tokens = 900\n"
    )
    env = {
        "HOME": str(isolated_env),
        "MEMFUN_LLM_TEMPERATURE": "0.7",
        "MEMFUN_LLM_MAX_TOKENS": "1200",
        "MEMFUN_GATE_LINTERS": "ruff, eslint",
        "MEMFUN_REQUIRE_TOOLS": "1",  # not a config section: ignored
    }
    cfg = config.load(git_repo, environ=env, overrides={"llm.max_tokens": 2000, "llm.model": None})
    assert cfg.llm.provider == "openai"
    assert cfg.llm.timeout_seconds == 5.0
    assert cfg.llm.model == "from-repo"
    assert cfg.llm.temperature == 0.7
    assert cfg.llm.max_tokens == 2000
    assert cfg.gate.linters == ("ruff", "eslint")
    assert cfg.workspace.keep_attempts_days == 3
    assert cfg.llm.key_env == "OPENAI_API_KEY"
    assert cfg.repo_root == git_repo
    assert cfg.sources == (
        "~/.memfun/config.toml",
        "memfun.toml",
        "MEMFUN_GATE_LINTERS",
        "MEMFUN_LLM_MAX_TOKENS",
        "MEMFUN_LLM_TEMPERATURE",
        "--max-tokens",
    )
    assert cfg.origin_of("llm", "provider") == "~/.memfun/config.toml"
    assert cfg.origin_of("llm", "model") == "memfun.toml"
    assert cfg.origin_of("llm", "temperature") == "MEMFUN_LLM_TEMPERATURE"
    assert cfg.origin_of("llm", "max_tokens") == "--max-tokens"
    assert cfg.origin_of("llm", "cache") == "default"
    with pytest.raises(AttributeError):
        cfg.llm.model = "x"  # type: ignore[misc]


def test_defaults_without_any_file() -> None:
    cfg = config.load(None, environ={"HOME": "/nonexistent"})
    assert cfg.backend.tier == "sqlite"
    assert cfg.sandbox.backend == "bubblewrap"
    assert cfg.llm.provider is None
    assert cfg.llm.cache is False
    assert cfg.sources == ()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"MEMFUN_LLM_MODL": "x"},
            'MEMFUN_LLM_MODL: unknown key [llm] modl (did you mean "model"?)',
        ),
        ({"MEMFUN_LLM_CACHE": "maybe"}, 'MEMFUN_LLM_CACHE: [llm] cache = "maybe" is a string'),
        (
            {"MEMFUN_LLM_MAX_TOKENS": "-5"},
            "MEMFUN_LLM_MAX_TOKENS: [llm] max_tokens = -5 is negative",
        ),
        ({"MEMFUN_BACKEND_TIER": "inprocess"}, '[backend] tier = "inprocess" is not allowed'),
    ],
)
def test_bad_environment_values(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(None, environ={"HOME": "/nonexistent", **env}).check()
    assert message in str(info.value)


def test_bad_flag_is_named_as_a_flag(git_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["-C", str(git_repo), "ask", "hi", "--engine", "fast"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith('memfun: --engine: [llm] engine = "fast" is not allowed')


def test_user_config_errors_name_the_user_file(isolated_env: Path) -> None:
    user = isolated_env / ".memfun" / "config.toml"
    user.parent.mkdir()
    user.write_text("[hook]\nthreshold = 'critical'\n")
    with pytest.raises(ConfigError) as info:
        config.load(None, environ={"HOME": str(isolated_env)}).check()
    assert str(info.value).startswith('~/.memfun/config.toml: [hook] threshold = "critical"')


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MEMFUN_LLM_TIMEOUT_SECONDS": "0"}, "[llm] timeout_seconds = 0.0 is out of range"),
        ({"MEMFUN_LLM_TIMEOUT_SECONDS": "nan"}, "[llm] timeout_seconds = NaN is not a finite"),
        ({"MEMFUN_SANDBOX_TIMEOUT_SECONDS": "1e12"}, "[sandbox] timeout_seconds = 1000000000000.0"),
        (
            {"MEMFUN_LMM_MODEL": "x"},
            'MEMFUN_LMM_MODEL: unknown section [lmm] (did you mean "llm"?)',
        ),
        ({"MEMFUN_LLM_API_KEY_ENV": "sk-live-abc"}, "[llm] api_key_env is not a variable name"),
    ],
)
def test_values_that_would_break_later_are_refused_now(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(None, environ={"HOME": "/nonexistent", **env}).check()
    assert message in str(info.value)
    assert "sk-live-abc" not in str(info.value)


def test_config_show_marks_the_source_of_every_kind_of_value(
    git_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMFUN_LLM_CACHE", "yes")
    (git_repo / "memfun.toml").write_text("[memory]\nenabled = false\nmax_recall = 3\n")
    assert run(["-C", str(git_repo), "config", "show"]) == 0
    out = capsys.readouterr().out
    assert "cache = true # from MEMFUN_LLM_CACHE" in out
    assert "enabled = false # from memfun.toml" in out
    assert "max_recall = 3 # from memfun.toml" in out


BROKEN_LLM = "[llm]\nprovider = 'custom'\nmodel = 'm'\nmodle = 'x'\n"


def test_commands_that_need_no_model_run_with_a_broken_llm_section(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A fault in [llm] stops only what reads [llm]: gc and sandbox run work; ask and config
    show refuse."""
    need_tool("bwrap")
    (git_repo / "memfun.toml").write_text(BROKEN_LLM + "[workspace]\nkeep_attempts_days = 3\n")
    assert run(["-C", str(git_repo), "gc", "--dry-run"]) == 0
    assert capsys.readouterr() == ("nothing of memfun's to clean up\n", "")
    assert run(["-C", str(git_repo), "sandbox", "run", "--", "echo", "ran"]) == 0
    assert capsys.readouterr() == ("ran\n", "")
    for argv in (["ask", "hi"], ["config", "show"]):
        assert run(["-C", str(git_repo), *argv]) == 2
        assert capsys.readouterr().err.startswith(
            'memfun: memfun.toml: unknown key [llm] modle (did you mean "model"?)'
        )
    cfg = config.load(git_repo, environ={})
    assert cfg.workspace.keep_attempts_days == 3
    with pytest.raises(ConfigError, match="unknown key \\[llm\\] modle"):
        _ = cfg.llm


def test_a_misspelt_section_is_refused_by_every_command(git_repo: Path) -> None:
    """An unknown section may be the one a command needs ([worksapce] for gc): never skipped."""
    (git_repo / "memfun.toml").write_text("[worksapce]\nkeep_attempts_days = 90\n")
    with pytest.raises(
        ConfigError, match='unknown section \\[worksapce\\] \\(did you mean "workspace"'
    ):
        config.load(git_repo, environ={})
    assert run(["-C", str(git_repo), "gc", "--dry-run"]) == 2


def test_check_reports_the_first_fault_in_source_order(git_repo: Path) -> None:
    (git_repo / "memfun.toml").write_text("[gate]\nreview = 'maybe'\n[llm]\ncache = 3\n")
    cfg = config.load(git_repo, environ={"MEMFUN_HOOK_THRESHOLD": "loud"})
    with pytest.raises(ConfigError, match=r"\[gate\] review"):
        cfg.check()
    assert [name for name, _ in cfg.faults] == ["gate", "llm", "hook"]
    assert cfg.fault_of("memory") is None
    assert cfg.memory.max_recall == 8
