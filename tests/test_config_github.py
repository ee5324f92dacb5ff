"""[github]: the App's settings. Secrets are named, never held; the App's secret variables are
not mistaken for MEMFUN_<SECTION>_<KEY> configuration; each wrong value is one line."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.cli.main import run
from memfun_git.config import GitHubConfig
from memfun_git.errors import ConfigError

HOME = {"HOME": "/nonexistent"}


def test_defaults() -> None:
    github = config.load(None, environ=HOME).github
    assert github == GitHubConfig(
        webhook_secret_env="MEMFUN_WEBHOOK_SECRET",
        app_id_env="MEMFUN_APP_ID",
        private_key_env="MEMFUN_APP_PRIVATE_KEY",
        private_key_file="",
        app_slug="",
        label="memfun",
        api_url="https://api.github.com",
        status_token_env="MEMFUN_STATUS_TOKEN",
    )


def test_sources_apply_in_order(git_repo: Path) -> None:
    (git_repo / "memfun.toml").write_text(
        '[github]\napp_slug = "my-memfun"\nlabel = "agent"\nwebhook_secret_env = "HOOK"\n'
    )
    cfg = config.load(git_repo, environ={**HOME, "MEMFUN_GITHUB_LABEL": "Robot"})
    assert (cfg.github.app_slug, cfg.github.label) == ("my-memfun", "Robot")
    assert cfg.github.webhook_secret_env == "HOOK"
    assert cfg.origin_of("github", "label") == "MEMFUN_GITHUB_LABEL"
    assert cfg.origin_of("github", "app_slug") == "memfun.toml"


def test_the_apps_secret_variables_are_not_configuration() -> None:
    """MEMFUN_WEBHOOK_SECRET would read as section [webhook]: the App's variables, under their
    default names or the names configured, are values, not MEMFUN_<SECTION>_<KEY>."""
    env = {
        **HOME,
        "MEMFUN_WEBHOOK_SECRET": "s3cret-value",
        "MEMFUN_APP_ID": "12345",
        "MEMFUN_APP_PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----",
        "MEMFUN_STATUS_TOKEN": "status-token",
        "MEMFUN_GITHUB_WEBHOOK_SECRET_ENV": "MEMFUN_HOOK_KEY",
        "MEMFUN_HOOK_KEY": "another",
    }
    cfg = config.load(None, environ=env)
    cfg.check()
    assert cfg.github.webhook_secret_env == "MEMFUN_HOOK_KEY"
    assert cfg.sources == ("MEMFUN_GITHUB_WEBHOOK_SECRET_ENV",)
    with pytest.raises(ConfigError, match=r"MEMFUN_WEBHOOK_TYPO: unknown section \[webhook\]"):
        config.load(None, environ={**HOME, "MEMFUN_WEBHOOK_TYPO": "x"})


@pytest.mark.parametrize(
    ("text", "message", "hint"),
    [
        (
            '[github]\nwebhook_secret = "abc"\n',
            "memfun.toml: [github] webhook_secret is not allowed",
            "set [github] webhook_secret_env to its name (default MEMFUN_WEBHOOK_SECRET)",
        ),
        (
            '[github]\nprivate_key = "-----BEGIN"\n',
            "memfun.toml: [github] private_key is not allowed",
            "[github] private_key_env",
        ),
        (
            '[github]\nwebhook_secret_env = "whsec abc!"\n',
            "memfun.toml: [github] webhook_secret_env is not a variable name",
            "never the value",
        ),
        (
            '[github]\nwebhook_secret_env = ""\n',
            'memfun.toml: [github] webhook_secret_env = "" names no variable',
            '"MEMFUN_WEBHOOK_SECRET"',
        ),
        (
            '[github]\napp_slug = "my-app[bot]"\n',
            'memfun.toml: [github] app_slug = "my-app[bot]" is not an App\'s slug',
            "no [bot]",
        ),
        ('[github]\nlabel = " "\n', 'memfun.toml: [github] label = " " is empty', '"memfun"'),
        (
            '[github]\napi_url = "ftp://github.example"\n',
            'memfun.toml: [github] api_url = "ftp://github.example" is not an http(s) URL',
            "/api/v3",
        ),
        (
            "[github]\nlabel = 3\n",
            "memfun.toml: [github] label = 3 is a whole number",
            "use a quoted string",
        ),
        (
            '[github]\nlable = "x"\n',
            'memfun.toml: unknown key [github] lable (did you mean "label"?)',
            "keys of [github] are",
        ),
        (
            '[githb]\nlabel = "x"\n',
            'memfun.toml: unknown section [githb] (did you mean "github"?)',
            "sections are",
        ),
    ],
)
def test_wrong_values_are_one_line_exit_2(
    git_repo: Path, capsys: pytest.CaptureFixture[str], text: str, message: str, hint: str
) -> None:
    (git_repo / "memfun.toml").write_text(text)
    assert run(["-C", str(git_repo), "config", "show"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("memfun: " + message), lines[0]
    assert hint in lines[0].split(" — ", 1)[1]
    assert "abc" not in lines[0].split(" — ", 1)[1]


def test_a_broken_github_section_stops_only_what_reads_it(git_repo: Path) -> None:
    (git_repo / "memfun.toml").write_text('[github]\napi_url = "x"\n[memory]\nmax_recall = 2\n')
    cfg = config.load(git_repo, environ=HOME)
    assert cfg.memory.max_recall == 2
    with pytest.raises(ConfigError, match=r"\[github\] api_url"):
        _ = cfg.github


def test_config_show_lists_the_section_with_its_sources(
    git_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "whsec-" + "Zq9" * 8
    monkeypatch.setenv("MEMFUN_WEBHOOK_SECRET", secret)
    monkeypatch.setenv("MEMFUN_GITHUB_APP_SLUG", "my-memfun")
    (git_repo / "memfun.toml").write_text('[github]\nlabel = "agent"\n')
    assert run(["-C", str(git_repo), "config", "show"]) == 0
    out = capsys.readouterr().out
    assert secret not in out
    assert 'label = "agent" # from memfun.toml' in out
    assert 'app_slug = "my-memfun" # from MEMFUN_GITHUB_APP_SLUG' in out
    github = tomllib.loads(out)["github"]
    assert github["webhook_secret_env"] == "MEMFUN_WEBHOOK_SECRET"
    assert github["api_url"] == "https://api.github.com"
    assert run(["-C", str(git_repo), "config", "show", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["config"]["github"]
    assert shown["label"] == "agent"
    assert set(shown) == {
        "webhook_secret_env",
        "app_id_env",
        "private_key_env",
        "private_key_file",
        "app_slug",
        "label",
        "api_url",
        "status_token_env",
    }
