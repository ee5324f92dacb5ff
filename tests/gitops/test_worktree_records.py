"""memfun's record of its worktrees: who made each, and whether that process still runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from memfun_git.gitops.records import Owner, checkouts, read_record
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from tests.conftest import git


def test_an_owner_is_alive_only_while_its_own_process_runs() -> None:
    me = Owner.this_process()
    assert me.alive()
    # The same pid with another start time: a reused pid is not the owner.
    assert not Owner(me.pid, me.started + "0").alive()
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as child:
        owner = Owner(child.pid, Owner.this_process().started.split(":")[0] + ":0")
        assert not owner.alive()  # same boot, other start time
        child.send_signal(signal.SIGKILL)
    assert not Owner(child.pid, "").alive()  # gone: without a start time, by its pid


def test_a_workspace_records_itself_and_releases_what_it_keeps(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    with Workspace(paths, "rec", keep=True) as ws:
        (found,) = checkouts(paths.common_dir)
        assert found.ours
        assert found.folder == ws.path
        assert found.branch == "refs/heads/memfun/rec"
        assert found.record is not None
        assert found.record.kind == "task"
        assert found.record.owner == Owner.this_process()
        assert found.record.in_use
    record = read_record(found.admin)
    assert record is not None
    assert record.owner is None  # kept on disk, no longer in use
    assert not record.in_use
    # Moved by the user, it is theirs.
    git(git_repo, "worktree", "move", str(ws.path), str(git_repo.parent / "mine"))
    (moved,) = checkouts(paths.common_dir)
    assert not moved.ours
    assert os.path.isdir(git_repo.parent / "mine")


def test_the_users_worktrees_hold_no_record(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    git(git_repo, "worktree", "add", "-q", "-b", "memfun/t1", str(git_repo.parent / "review"))
    (found,) = checkouts(paths.common_dir)
    assert (found.record, found.ours, found.branch) == (None, False, "refs/heads/memfun/t1")
