"""The staged change as libgit2 reads it: index against HEAD, renames found, deletions not
among the paths, unmerged paths refused; the index file is never written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from memfun_git.errors import RepoError
from memfun_git.gitops.staged import committed, staged, uncommitted
from tests.conftest import git


def test_the_staged_change_is_the_index_against_head(git_repo: Path) -> None:
    git(git_repo, "mv", "src/app.py", "src/core.py")
    git(git_repo, "rm", "-q", "README.md")
    (git_repo / "new.txt").write_text("new\n")
    git(git_repo, "add", "new.txt")
    (git_repo / "new.txt").write_text("new, and more not staged\n")
    index = (git_repo / ".git" / "index").read_bytes()
    change = staged(git_repo)
    assert (git_repo / ".git" / "index").read_bytes() == index
    assert change.paths == ("new.txt", "src/core.py")
    assert "rename from src/app.py" in change.diff
    assert "+new\n" in change.diff
    assert "not staged" not in change.diff
    assert change.head == git(git_repo, "rev-parse", "HEAD").strip()
    assert change.tree == git(git_repo, "write-tree").strip()  # (git's own writes the index)


def test_nothing_staged_is_an_empty_change(git_repo: Path) -> None:
    (git_repo / "src" / "app.py").write_text("unstaged\n")
    assert staged(git_repo).empty


def test_unmerged_paths_are_refused(git_repo: Path) -> None:
    git(git_repo, "checkout", "-qb", "other")
    (git_repo / "src" / "app.py").write_text("other\n")
    git(git_repo, "commit", "-qam", "other")
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "src" / "app.py").write_text("main\n")
    git(git_repo, "commit", "-qam", "main")
    merge = subprocess.run(["git", "merge", "-q", "other"], cwd=git_repo, capture_output=True)
    assert merge.returncode == 1  # a conflict
    with pytest.raises(RepoError, match=r"unmerged paths in the index: src/app\.py"):
        staged(git_repo)


def test_a_commit_and_ranges_are_diffed_as_git_log_shows_them(git_repo: Path) -> None:
    root = git(git_repo, "rev-parse", "HEAD").strip()
    first = committed(git_repo, "HEAD")  # the root commit: against the empty tree
    assert first.paths == ("README.md", "src/app.py")
    git(git_repo, "checkout", "-qb", "side")
    (git_repo / "side.txt").write_text("side\n")
    git(git_repo, "add", "side.txt")
    git(git_repo, "commit", "-qm", "side")
    git(git_repo, "checkout", "-q", "main")
    (git_repo / "main.txt").write_text("main\n")
    git(git_repo, "add", "main.txt")
    git(git_repo, "commit", "-qm", "main")
    assert committed(git_repo, "main..side").paths == ("side.txt",)
    two_dots = committed(git_repo, "main..side").diff
    assert "main.txt" in two_dots  # B against A: main's own file goes
    assert committed(git_repo, "main...side").paths == ("side.txt",)
    assert "main.txt" not in committed(git_repo, "main...side").diff
    assert committed(git_repo, f"{root}..").head == git(git_repo, "rev-parse", "HEAD").strip()
    with pytest.raises(RepoError, match="'nope' is not a commit here"):
        committed(git_repo, "nope..main")


def test_uncommitted_changes_are_read_without_writing_anything(git_repo: Path) -> None:
    (git_repo / "src" / "app.py").write_text("def add(a, b):\n    return b + a\n")
    (git_repo / "README.md").write_text("# Changed\n")
    git(git_repo, "add", "README.md")
    (git_repo / "untracked.txt").write_text("left out\n")
    index = (git_repo / ".git" / "index").read_bytes()
    whole = uncommitted(git_repo)
    assert whole.paths == ("README.md", "src/app.py")
    assert "untracked" not in whole.diff
    assert uncommitted(git_repo, "src").paths == ("src/app.py",)
    assert uncommitted(git_repo, "src/app.py").paths == ("src/app.py",)
    assert uncommitted(git_repo, "sr").paths == ()  # a prefix of a name is not a folder
    assert (git_repo / ".git" / "index").read_bytes() == index
