"""`memfun submit | worker | status` as a new user meets them on the default SQLite tier: what
would fail every task is one line before any lease, and nothing of the user's changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from tests.conftest import git
from tests.helpers.messy import snapshot


def test_submit_then_status_on_the_default_tier(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(git_repo)
    assert run(["-C", str(git_repo), "status", "--json"]) == 0
    empty = json.loads(capsys.readouterr().out)
    assert (empty["tier"], empty["depth"], empty["workers"], empty["dead"]) == ("sqlite", 0, [], [])
    assert run(["-C", str(git_repo), "submit", "add", "a", "greeting", "--json"]) == 0
    queued = json.loads(capsys.readouterr().out)
    assert queued["base"] == git(git_repo, "rev-parse", "HEAD").strip()
    assert queued["id"].startswith("add-a-greeting-")
    assert run(["-C", str(git_repo), "status"]) == 0
    assert "queued or running: 1" in capsys.readouterr().out
    after = snapshot(git_repo)
    assert {k: v for k, v in after.items() if k.startswith("work/")} == {
        k: v for k, v in before.items() if k.startswith("work/")
    }


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["submit", ""], "memfun: the request is empty"),
        (["submit", "x", "--base", "nope"], "memfun: "),
        (["worker", "--remote", "nowhere"], "memfun: this clone has no remote named 'nowhere'"),
        (["worker"], "memfun: this clone has no remote named 'origin'"),
    ],
)
def test_what_would_fail_every_task_is_one_line(
    git_repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    assert run(["-C", str(git_repo), *args]) == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith(says), err
    assert "Traceback" not in err


def test_a_worker_without_a_model_stops_before_leasing(
    git_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(git_repo, "remote", "add", "origin", str(tmp_path / "remote.git"))
    assert run(["-C", str(git_repo), "submit", "something"]) == 0
    assert run(["-C", str(git_repo), "worker", "--max-tasks", "1"]) == 2
    assert (
        capsys.readouterr()
        .err.strip()
        .splitlines()[-1]
        .startswith("memfun: no model is configured")
    )
    assert run(["-C", str(git_repo), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["depth"] == 1  # left for a worker that can
