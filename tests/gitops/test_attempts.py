"""Attempts kept when a task ends: whatever tree its commands built, within caps, and
interruptible while files are hashed without losing anything."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
from pathlib import Path

import pytest

from memfun_git.gitops.limits import Limits, Progress
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import ATTEMPTS_PREFIX, Workspace
from tests.conftest import git
from tests.helpers.messy import LEFTOVER_DEPTH, NON_UTF8, make_leftovers


def _ls(repo: Path, ref: str) -> list[str]:
    """The paths in `ref`, bytes that are not UTF-8 kept as Python keeps them (surrogates)."""
    out = subprocess.run(
        ["git", "ls-tree", "-r", "-z", "--name-only", ref],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    return sorted(os.fsdecode(p) for p in out.split(b"\0") if p)


def _refs(repo: Path, prefix: str = "refs/") -> list[str]:
    return git(repo, "for-each-ref", "--format=%(refname)", prefix).split()


def test_exit_after_any_tree_a_command_can_build(git_repo: Path) -> None:
    """A non-UTF-8 name, a 150-deep tree (libgit2's status refuses over 100), a chmod 0 folder
    and a pipe named .gitattributes in a mode 311 folder each made exit raise (or hang) with
    no attempt saved; everything that is a file is now recorded and the worktree removed."""
    ws = Workspace(require_repo(git_repo), "anything")
    expected: list[str] = []

    def fail() -> None:
        with ws:
            expected.extend(make_leftovers(ws.path))
            raise ValueError("the command failed")

    with pytest.raises(ValueError, match="the command failed"):
        fail()
    assert ws.attempt is not None
    assert ws.attempt.unsaved == ()
    assert _ls(git_repo, ws.attempt.ref) == sorted(["README.md", "src/app.py", *expected])
    assert NON_UTF8 in expected
    assert git(
        git_repo, "cat-file", "-p", f"{ws.attempt.ref}:{'d/' * LEFTOVER_DEPTH}bottom.txt"
    ) == ("at the bottom\n")
    assert "failed: the command failed" in git(git_repo, "log", "-1", "--format=%s", ws.attempt.ref)
    assert not ws.path.exists()
    assert _refs(git_repo, "refs/heads/") == ["refs/heads/main"]


def test_the_attempt_keeps_within_its_caps_and_names_the_rest(git_repo: Path) -> None:
    """Five 99 MB files added 470 MB to .git, and 100,000 small files took 102 s: an attempt
    takes files in path order while they fit; the rest stay in the kept worktree."""
    limits = Limits(max_file_bytes=1000, max_total_bytes=2500, max_files=4)
    with Workspace(require_repo(git_repo), "capped", limits=limits) as ws:
        for i in range(6):
            (ws.path / f"small{i}.txt").write_text(f"{i}\n")
        (ws.path / "big.bin").write_bytes(b"x" * 1001)
        for name in ("a.dat", "b.dat", "c.dat"):
            (ws.path / name).write_bytes(b"y" * 900)
        (ws.path / "README.md").unlink()  # a deletion costs nothing
    attempt = ws.attempt
    assert attempt is not None
    # a.dat and b.dat (1,800 bytes), then c.dat would pass 2,500; small0 and small1 make 4.
    assert _ls(git_repo, attempt.ref) == [
        "a.dat",
        "b.dat",
        "small0.txt",
        "small1.txt",
        "src/app.py",
    ]
    assert attempt.unsaved == (
        "big.bin",
        "c.dat",
        "small2.txt",
        "small3.txt",
        "small4.txt",
        "small5.txt",
    )
    assert {item.why for item in attempt.left_out} == {"over the caps"}
    message = git(git_repo, "log", "-1", "--format=%B", attempt.ref)
    assert "not recorded, kept in " in message
    assert (
        "over the caps (4 files, 2 KiB in all, 1,000 bytes a file): "
        "big.bin, c.dat, small2.txt and 3 more" in message
    )
    # What is left out is still on disk, with the branch: cleanup never loses work.
    assert (ws.path / "c.dat").read_bytes() == b"y" * 900
    assert git(git_repo, "rev-parse", "--verify", "memfun/capped")


def test_ctrl_c_while_files_are_hashed_keeps_everything(git_repo: Path) -> None:
    """Recording 100,000 files ran with Ctrl-C blocked throughout. Hashing is interruptible
    now; an interrupted recording keeps the worktree and its branch, and no half attempt."""

    def interrupt(progress: Progress) -> None:
        if progress.phase == "attempt" and progress.done >= 3:
            raise KeyboardInterrupt

    ws = Workspace(require_repo(git_repo), "hashing", on_progress=interrupt, progress_after=0)

    def work() -> None:
        with ws:
            for i in range(10):
                (ws.path / f"f{i}.txt").write_text(f"{i}\n")

    with pytest.raises(KeyboardInterrupt):
        work()
    assert ws.attempt is None
    assert _refs(git_repo, ATTEMPTS_PREFIX) == []
    assert (ws.path / "f9.txt").read_text() == "9\n"
    assert git(git_repo, "rev-parse", "--verify", "memfun/hashing")
    # The worktree is left for gc, which judges it by its content now its owner is done.
    status = git(ws.path, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert len(status) == 10


def test_progress_of_a_long_recording(git_repo: Path) -> None:
    seen: list[Progress] = []
    ws = Workspace(require_repo(git_repo), "slow", on_progress=seen.append, progress_after=0)
    with ws:
        for i in range(5):
            (ws.path / f"f{i}.txt").write_text(f"{i}\n")
    assert seen[0] == Progress("attempt", 0, 5, 0)
    assert seen[-1] == Progress("attempt", 5, 5, 10, finished=True)
    assert ws.attempt is not None


def test_kept_attempts_go_to_the_log(git_repo: Path, caplog: pytest.LogCaptureFixture) -> None:
    with (
        caplog.at_level(logging.INFO, logger="memfun_git"),
        Workspace(require_repo(git_repo), "logged") as ws,
    ):
        (ws.path / "left.txt").write_text("left\n")
    assert ws.attempt is not None
    assert [(r.name, r.levelno, r.getMessage()) for r in caplog.records] == [
        (
            "memfun_git.gitops.attempts",
            logging.INFO,
            f"kept attempt {ws.attempt.ref} of logged: uncommitted work at the end of the task",
        )
    ]


def test_an_unreadable_leftover_is_recorded_after_tidying(git_repo: Path) -> None:
    """A file in a chmod 0 folder is read once the folder's permissions are restored."""
    with Workspace(require_repo(git_repo), "closed") as ws:
        (ws.path / "shut" / "in").mkdir(parents=True)
        (ws.path / "shut" / "in" / "work.txt").write_text("inside\n")
        (ws.path / "shut" / "in").chmod(0)
        (ws.path / "shut").chmod(stat.S_IXUSR)
    assert ws.attempt is not None
    assert "shut/in/work.txt" in _ls(git_repo, ws.attempt.ref)
    assert not ws.path.exists()
