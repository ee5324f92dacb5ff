"""gitops.deliver on real repositories: what counts as delivered, a merge commit that unions
.memfun/MEMORY.md, fast-forwards guarded before git runs, a task's commits."""

from __future__ import annotations

from pathlib import Path

import pygit2
import pytest

from memfun_git.errors import RepoError
from memfun_git.gitops.deliver import delivered_by, merge_task, task_commits, undo_task
from memfun_git.gitops.repo import require_repo
from tests.conftest import git
from tests.helpers.messy import snapshot


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    git(repo, "add", *files)
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


def _task_branch(repo: Path, task: str, files: dict[str, str]) -> str:
    """memfun/<task> with one commit of `files` on top of main, main checked out again."""
    git(repo, "checkout", "-q", "-b", f"memfun/{task}")
    tip = _commit(repo, files, f"task {task}")
    git(repo, "checkout", "-q", "main")
    return tip


def test_delivered_means_reachable_from_a_ref_that_is_not_memfuns(git_repo: Path) -> None:
    tip = _task_branch(git_repo, "t", {"a.py": "A = 1\n"})
    user = pygit2.Repository(str(git_repo))
    oid = pygit2.Oid(hex=tip)
    assert delivered_by(user, oid) is None
    git(git_repo, "update-ref", "refs/memfun/attempts/t/1", tip)
    git(git_repo, "notes", "--ref", "memfun", "add", "-m", "trace", tip)
    assert delivered_by(user, oid) is None  # memfun's own refs and notes deliver nothing
    git(git_repo, "update-ref", "refs/remotes/origin/feature", tip)
    assert delivered_by(user, oid) == "refs/remotes/origin/feature"


def test_task_commits_are_the_branchs_own_oldest_first(git_repo: Path) -> None:
    base = git(git_repo, "rev-parse", "HEAD").strip()
    git(git_repo, "checkout", "-q", "-b", "memfun/t")
    first = _commit(git_repo, {"a.py": "A = 1\n"}, "one")
    second = _commit(git_repo, {"b.py": "B = 1\n"}, "two")
    user = pygit2.Repository(str(git_repo))
    found = task_commits(user, pygit2.Oid(hex=second), base)
    assert [str(c.id) for c in found] == [first, second]


def test_a_merge_unions_memory_md_as_merge_union_would(git_repo: Path) -> None:
    _commit(git_repo, {".memfun/MEMORY.md": "# Memory\n- uses ruff\n"}, "memory")
    _task_branch(git_repo, "t", {".memfun/MEMORY.md": "# Memory\n- uses ruff\n- task fact\n"})
    _commit(git_repo, {".memfun/MEMORY.md": "# Memory\n- uses ruff\n- my fact\n"}, "mine")
    merged = merge_task(require_repo(git_repo), "t", "remember")
    assert merged.kind == "merge commit"
    lines = (git_repo / ".memfun" / "MEMORY.md").read_text().splitlines()
    assert lines[:3] == ["# Memory", "- uses ruff", "- my fact"]
    assert lines[3].endswith("] task fact")
    assert len(lines) == 4
    assert git(git_repo, "status", "--porcelain") == ""


def test_a_detached_head_or_a_merge_in_progress_is_refused_untouched(git_repo: Path) -> None:
    _task_branch(git_repo, "t", {"a.py": "A = 1\n"})
    git(git_repo, "checkout", "-q", "--detach")
    before = snapshot(git_repo)
    with pytest.raises(RepoError, match="detached"):
        merge_task(require_repo(git_repo), "t", "x")
    assert snapshot(git_repo) == before
    git(git_repo, "checkout", "-q", "main")
    (git_repo / ".git" / "MERGE_HEAD").write_text(git(git_repo, "rev-parse", "HEAD"))
    before = snapshot(git_repo)
    with pytest.raises(RepoError, match="in progress"):
        merge_task(require_repo(git_repo), "t", "x")
    assert snapshot(git_repo) == before


def test_undo_without_a_branch_or_without_commits_says_so(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    with pytest.raises(RepoError, match="no branch memfun/gone"):
        undo_task(paths, "gone", "HEAD", subject="x")
    git(git_repo, "branch", "memfun/empty")
    assert undo_task(paths, "empty", "HEAD", subject="x").kind == "nothing"
