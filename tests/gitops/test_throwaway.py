"""Throwaway worktrees (`memfun sandbox run`): no branch, no note, no attempt, and gone
afterwards, also after a crash (the next command removes them)."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest

from memfun_git.errors import UsageError
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.throwaway import Throwaway, task_worktree
from memfun_git.gitops.worktree import Workspace
from tests.conftest import git
from tests.helpers.messy import Child, make_leftovers

_CRASH = textwrap.dedent(
    """
    import signal, sys
    from pathlib import Path

    from memfun_git.gitops.repo import require_repo
    from memfun_git.gitops.throwaway import Throwaway
    from tests.helpers.messy import make_leftovers

    tw = Throwaway(require_repo(Path(sys.argv[1])), with_changes=True)
    tw.__enter__()
    make_leftovers(tw.path)
    print(tw.path, flush=True)
    print("ready", flush=True)
    signal.pause()
    """
)


def _listed(repo: Path) -> int:
    return git(repo, "worktree", "list", "--porcelain").count("worktree ") - 1


def test_a_throwaway_leaves_nothing_whatever_happens_in_it(git_repo: Path) -> None:
    (git_repo / "mine.env").write_text("KEY=uncommitted, untracked\n")
    refs = git(git_repo, "for-each-ref")
    tw = Throwaway(require_repo(git_repo), with_changes=True)

    def fail() -> None:
        with tw:
            assert (tw.path / "mine.env").is_file()
            make_leftovers(tw.path)
            raise ValueError("the command could not run")

    with pytest.raises(ValueError, match="could not run"):
        fail()
    assert not tw.path.exists()
    assert not tw.path.parent.exists()
    assert git(git_repo, "for-each-ref") == refs  # no branch, note or attempt
    assert _listed(git_repo) == 0


def test_a_crashed_runs_throwaway_goes_when_the_next_worktree_opens(git_repo: Path) -> None:
    """A killed `--with-changes` run left a branch holding the user's untracked files (a
    `git push --all` would publish it), and its worktree stayed until removed by hand."""
    (git_repo / "mine.env").write_text("KEY=uncommitted, untracked\n")
    child = Child(str(git_repo), code=_CRASH)
    child.wait_for("ready")
    left = Path(child.lines[-1].strip())
    assert child.kill() == -signal.SIGKILL
    assert (left / "mine.env").is_file()
    assert git(git_repo, "for-each-ref", "--format=%(refname)") == "refs/heads/main\n"
    with Workspace(require_repo(git_repo), "next-task") as ws:
        assert not left.exists()
        assert _listed(git_repo) == 1
        assert ws.path.is_dir()
    assert _listed(git_repo) == 0


def test_workspace_option_takes_only_a_task_worktree_memfun_made(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    with Workspace(paths, "kept", keep=True) as ws:
        pass
    assert task_worktree(paths, ws.path) == ws.path
    assert task_worktree(paths, ws.path / "src") == ws.path
    review = git_repo.parent / "review"
    git(git_repo, "worktree", "add", "-q", "-b", "memfun/t1", str(review))
    with pytest.raises(UsageError) as info:
        task_worktree(paths, review)
    assert str(info.value) == (
        f"--workspace {review} is not a memfun task's worktree (memfun did not make it, though "
        "it has memfun/t1 checked out) — pass a task's worktree, or leave --workspace out for "
        "a throwaway one"
    )
    with Throwaway(paths) as tw, pytest.raises(UsageError, match="has no branch checked out"):
        task_worktree(paths, tw.path)
