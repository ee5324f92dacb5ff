"""memfun_git.tasklist: records joined with git; a dead process's task was interrupted."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memfun_git.errors import UsageError
from memfun_git.gitops.repo import require_repo
from memfun_git.records import Records, database_path
from memfun_git.tasklist import age_text, find_task, load_tasks


def _put(repo: Path, task_id: str, **value: object) -> None:
    with Records.at(database_path(repo / ".git")) as store:
        store.put(f"task/{task_id}", {"id": task_id, "request": task_id, **value})


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_running_record_of_a_dead_process_reads_as_interrupted(git_repo: Path) -> None:
    import os

    _put(git_repo, "alive", status="running", pid=os.getpid())
    _put(git_repo, "dead", status="running", pid=_dead_pid())
    _put(git_repo, "old", status="running")  # written before pids were recorded
    statuses = {t.id: t.status for t in load_tasks(require_repo(git_repo))}
    assert statuses == {"alive": "running", "dead": "interrupted", "old": "interrupted"}


def test_no_database_means_no_tasks_and_none_is_created(git_repo: Path) -> None:
    assert load_tasks(require_repo(git_repo)) == []
    assert not database_path(git_repo / ".git").exists()


def test_a_task_is_found_by_its_id_or_a_unique_start(git_repo: Path) -> None:
    for task_id in ("add-auth-1a2b3c", "add-auth-9f8e7d", "fix-login-000001"):
        _put(git_repo, task_id, status="done")
    paths = require_repo(git_repo)
    assert find_task(paths, "fix").id == "fix-login-000001"
    assert find_task(paths, "add-auth-9f8e7d").id == "add-auth-9f8e7d"
    with pytest.raises(UsageError, match="names 2 tasks"):
        find_task(paths, "add-auth")
    with pytest.raises(UsageError, match="no task 'zzz'"):
        find_task(paths, "zzz")
    with pytest.raises(UsageError, match="empty"):
        find_task(paths, " ")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(-3, "0 s"), (42, "42 s"), (60, "1 min"), (7300, "2 h"), (3 * 86400 + 5, "3 d")],
)
def test_ages_read_in_the_largest_whole_unit(seconds: float, text: str) -> None:
    assert age_text(seconds) == text


def test_records_of_another_clone_are_not_listed(git_repo: Path) -> None:
    from memfun_git.records import clone_name

    paths = require_repo(git_repo)
    _put(git_repo, "mine", status="done", clone=clone_name(paths.common_dir))
    _put(git_repo, "theirs", status="done", clone="build-host:/srv/clone/.git")
    _put(git_repo, "older", status="done")  # written before records named their clone
    assert sorted(t.id for t in load_tasks(paths)) == ["mine", "older"]
