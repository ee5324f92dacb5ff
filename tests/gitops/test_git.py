"""run_git: git's local variables dropped, relative PATH entries ignored, one-line errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_git.gitops.git import GitFailed, git_environ, run_git, subcommand


def test_local_variables_never_reach_git(git_repo: Path, tmp_path: Path) -> None:
    # git sets these for the hooks it runs; memfun may run inside a pre-commit hook.
    foreign = tmp_path / "foreign-index"
    environ = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "GIT_INDEX_FILE": str(foreign),
        "GIT_DIR": str(tmp_path / "nowhere"),
        "GIT_WORK_TREE": str(tmp_path),
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": "user.name",
        "GIT_CONFIG_VALUE_0": "Injected",
    }
    out = run_git(["ls-files"], cwd=git_repo, environ=environ).stdout.split()
    assert out == ["README.md", "src/app.py"]
    name = run_git(["config", "user.name"], cwd=git_repo, environ=environ, check=False)
    assert "Injected" not in name.stdout
    assert not foreign.exists()


def test_relative_path_entries_are_dropped(tmp_path: Path) -> None:
    env = git_environ({"PATH": f".:{tmp_path}::node_modules/.bin:/usr/bin", "GIT_DIR": "x"})
    assert env["PATH"] == f"{tmp_path}:/usr/bin"
    assert "GIT_DIR" not in env


def test_failure_names_the_subcommand(git_repo: Path) -> None:
    with pytest.raises(GitFailed) as caught:
        run_git(["-c", "core.hooksPath=/dev/null", "rev-parse", "--verify", "nope"], cwd=git_repo)
    assert caught.value.message.startswith("git rev-parse failed: ")
    assert caught.value.returncode != 0


@pytest.mark.parametrize(
    ("args", "name"),
    [
        (["-c", "a=b", "worktree", "add"], "worktree"),
        (["-C", "dir", "status"], "status"),
        (["--version"], "--version"),
    ],
)
def test_subcommand(args: list[str], name: str) -> None:
    assert subcommand(args) == name
