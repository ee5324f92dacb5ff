"""Which hook repositories of a pre-commit configuration are not installed in the user's
pre-commit cache, read from pre-commit's own database and folders, as `pre-commit
install-hooks` leaves them (the gate's sandboxed runs are offline and use the cache read-only);
and where that cache is."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from memfun_git.sandbox.precommit import not_installed, pre_commit_cache

CONFIG = """\
repos:
  - repo: local
    hooks:
      - {id: no-todo, name: no TODO, entry: TODO, language: pygrep}
  - repo: https://example.org/grep-hooks
    rev: v1
    hooks:
      - id: no-fixme
  - repo: https://example.org/py-hooks
    rev: v2
    hooks:
      - id: checker
"""


def _cache(tmp_path: Path) -> tuple[Path, Path]:
    """A cache holding both clones, as pre-commit records them; (cache, the py-hooks clone)."""
    cache = tmp_path / "cache"
    cache.mkdir()
    grep, py = cache / "repo1", cache / "repo2"
    grep.mkdir()
    (grep / ".pre-commit-hooks.yaml").write_text(
        "- {id: no-fixme, name: no FIXME, entry: FIXME, language: pygrep}\n"
    )
    py.mkdir()
    (py / ".pre-commit-hooks.yaml").write_text(
        "- {id: checker, name: checker, entry: checker, language: python}\n"
        "- {id: other, name: other, entry: other, language: node}\n"
    )
    with sqlite3.connect(cache / "db.db") as db:
        db.execute("CREATE TABLE repos (repo TEXT, ref TEXT, path TEXT)")
        db.execute(
            "INSERT INTO repos VALUES (?, ?, ?)",
            ("https://example.org/grep-hooks", "v1", str(grep)),
        )
        db.execute(
            "INSERT INTO repos VALUES (?, ?, ?)",
            ("https://example.org/py-hooks:requests", "v2", str(py)),
        )
    db.close()
    return cache, py


def test_a_hook_that_needs_an_environment_is_installed_once_it_has_one(tmp_path: Path) -> None:
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(CONFIG)
    cache, py = _cache(tmp_path)
    assert not_installed(config, cache) == ["https://example.org/py-hooks v2"]
    (py / "py_env-python3").mkdir()
    (py / "py_env-python3" / ".install_state_v2").write_text("{}")
    assert not_installed(config, cache) == []


def test_an_other_revision_or_no_cache_is_not_installed(tmp_path: Path) -> None:
    config = tmp_path / ".pre-commit-config.yaml"
    config.write_text(CONFIG.replace("rev: v1", "rev: v1.1"))
    cache, _ = _cache(tmp_path)
    assert not_installed(config, cache) == [
        "https://example.org/grep-hooks v1.1",
        "https://example.org/py-hooks v2",
    ]
    assert not_installed(config, tmp_path / "none") == [
        "https://example.org/grep-hooks v1.1",
        "https://example.org/py-hooks v2",
    ]


def test_a_configuration_that_cannot_be_read_says_so(tmp_path: Path) -> None:
    config = tmp_path / ".pre-commit-config.yaml"
    for text in ("repos: [\n", "- just a list\n"):
        config.write_text(text)
        assert not_installed(config, tmp_path) is None
    assert not_installed(tmp_path / "missing.yaml", tmp_path) is None


def test_the_cache_is_where_pre_commit_keeps_it() -> None:
    assert pre_commit_cache({"PRE_COMMIT_HOME": "/p"}, "/h") == Path("/p")
    assert pre_commit_cache({"XDG_CACHE_HOME": "/x"}, "/h") == Path("/x/pre-commit")
    assert pre_commit_cache({"XDG_CACHE_HOME": "rel"}, "/h") == Path("/h/.cache/pre-commit")


def test_only_the_users_own_configuration_shows_the_cache(git_repo: Path, tmp_path: Path) -> None:
    """A task that writes a .pre-commit-config.yaml into its worktree does not get the user's
    pre-commit cache mounted: what the task writes never chooses a mount."""
    import os
    import subprocess

    from memfun_git.config import SandboxConfig
    from memfun_git.gitops.repo import require_repo
    from memfun_git.gitops.worktree import Workspace
    from memfun_git.sandbox import make_sandbox
    from tests.helpers.require import need_tool

    need_tool("bwrap")
    cache = tmp_path / "pc-cache"
    cache.mkdir()
    (cache / "db.db").write_text("")
    env = {**os.environ, "PRE_COMMIT_HOME": str(cache)}

    def sees_cache() -> bool:
        with Workspace(require_repo(git_repo), "pc", root=tmp_path / "wt") as ws:
            (ws.path / ".pre-commit-config.yaml").write_text("repos: []\n")
            sandbox = make_sandbox(
                SandboxConfig(), ws.path, user_tree=git_repo, common_dir=git_repo / ".git",
                environ=env,
            )  # fmt: skip
            try:
                return sandbox.run(["ls", str(cache)]).exit_code == 0
            finally:
                getattr(sandbox, "close", lambda: None)()

    assert not sees_cache()
    (git_repo / ".pre-commit-config.yaml").write_text("repos: []\n")
    subprocess.run(["git", "add", "-A"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "hooks"], cwd=git_repo, check=True)
    assert sees_cache()
