"""The staged change as libgit2 reads it: index against HEAD, renames found, deletions not
among the paths, unmerged paths refused; the index file is never written."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from memfun_git.errors import RepoError
from memfun_git.gitops.staged import staged
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
