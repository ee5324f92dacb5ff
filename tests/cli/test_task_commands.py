"""Living with tasks through the real door: `memfun list`, `show`, `diff`, `run --task`,
`merge`, `run --merge` and `undo`, on real repositories, the model answering over HTTP from
the stub server. Every refusal leaves the user's repository byte for byte as it was."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from memfun_git.cli.main import run
from tests.conftest import git
from tests.helpers.messy import snapshot, without_memfun_refs
from tests.helpers.processes import memfun_process
from tests.helpers.projects import APP, CLEAN, GREET, answer, small_project
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubReply
from tests.quality.kit import venv_with_ruff

GARBAGE = "src/greet.py\n<<<<<<< SEARCH\nnothing closes this\n"
FAREWELL = """src/farewell.py
<<<<<<< WRITE
def farewell(name: str) -> str:
    return f"bye {name}"
>>>>>>> WRITE"""
EDIT_APP = """src/app.py
<<<<<<< SEARCH
    return a + b
=======
    return b + a
>>>>>>> REPLACE"""


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    made = small_project(tmp_path / "repo")
    venv_with_ruff(made)
    monkeypatch.setenv("MEMFUN_LLM_PROVIDER", "custom")
    monkeypatch.setenv("MEMFUN_LLM_MODEL", "stub-model")
    monkeypatch.setenv("MEMFUN_LLM_NUM_RETRIES", "0")
    monkeypatch.setenv("MEMFUN_LLM_BASE_URL", "http://127.0.0.1:9/v1")  # each task sets its own
    monkeypatch.setenv("MEMFUN_WORKFLOW_ESCALATE", "false")  # the context-first tier alone
    return made


def _memfun(repo: Path, *args: str) -> int:
    return run(["-C", str(repo), *args])


def _task(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    replies: list[str],
    *args: str,
) -> tuple[int, dict[str, Any]]:
    """`memfun run --json <args>` with the stub answering `replies`: (exit code, result)."""
    with StubLLMServer([StubReply(r) for r in replies]) as stub:
        monkeypatch.setenv("MEMFUN_LLM_BASE_URL", stub.url)
        code = _memfun(repo, "run", "--json", *args)
    out, _ = capsys.readouterr()
    return code, json.loads(out) if out.strip().startswith("{") else {}


def _json(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    assert _memfun(repo, *args, "--json") == 0
    return json.loads(capsys.readouterr().out)


def _done(
    repo: Path, capsys: pytest.CaptureFixture[str], mp: pytest.MonkeyPatch, op: str = GREET
) -> dict[str, Any]:
    code, result = _task(repo, capsys, mp, [answer("Done.", op), CLEAN], "add a greet function")
    assert code == 0, result
    return result


def _head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD").strip()


# -- list, show, diff --------------------------------------------------------------------------


def test_list_show_and_diff_tell_the_truth_about_done_failed_and_interrupted(
    repo: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    capsys = capfd  # `memfun diff` runs git, whose output only capfd sees
    done = _done(repo, capsys, monkeypatch)
    code, failed = _task(repo, capsys, monkeypatch, [GARBAGE, GARBAGE], "break something")
    assert code == 1
    with StubLLMServer([StubReply("late", delay=30)]) as stub:
        env = {"MEMFUN_LLM_BASE_URL": stub.url}
        with memfun_process(["run", "never finishes"], cwd=repo, env={**_environ(), **env}) as p:
            deadline = time.monotonic() + 60
            while not stub.posts and time.monotonic() < deadline:
                time.sleep(0.05)
            assert stub.posts, "the model was never asked"
            p.send_signal(signal.SIGKILL)  # no handler runs: the record still says running
            p.communicate(timeout=30)

    listed = {t["request"]: t for t in _json(repo, capsys, "list")}
    assert {r: t["status"] for r, t in listed.items()} == {
        "add a greet function": "done",
        "break something": "failed",
        "never finishes": "interrupted",
    }
    assert listed["add a greet function"]["branch_exists"]
    assert listed["add a greet function"]["delivered"] is None
    assert "unreadable" in listed["break something"]["error"] or listed["break something"]["error"]

    assert _memfun(repo, "list") == 0
    table = capsys.readouterr().out
    assert "STATUS" in table
    for status in ("done", "failed", "interrupted"):
        assert status in table
    assert done["id"] in table

    shown = _json(repo, capsys, "show", done["id"])
    assert shown["status"] == "done"
    (commit,) = shown["branch_commits"]
    assert commit["gate"] == "ruff=pass review=pass"
    assert commit["note"]
    assert shown["usage"]["calls"] == 2
    assert shown["operations"][0]["operation"].startswith("write src/greet.py")
    assert _memfun(repo, "show", done["id"][:12]) == 0
    text = capsys.readouterr().out
    assert f"Task {done['id']}" in text
    assert "Status: done" in text
    assert "ruff: pass" in text
    assert "Usage: 2 calls" in text

    failed_shown = _json(repo, capsys, "show", failed["id"])
    assert failed_shown["status"] == "failed"
    assert failed_shown["error"]

    assert _memfun(repo, "diff", done["id"]) == 0
    out = capsys.readouterr().out
    assert "+++ b/src/greet.py" in out
    assert '+    return f"hello {name}"' in out


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["show", "no-such-task"], "no task 'no-such-task' in this repository"),
        (["diff", "nope"], "no task 'nope'"),
        (["merge", "nope"], "no task 'nope'"),
        (["undo", "nope"], "no task 'nope'"),
        (["merge"], "there is no done task to merge"),
        (["run", "--task", "nope", "more"], "no task 'nope'"),
    ],
)
def test_a_task_that_does_not_exist_is_one_line_and_exit_2(
    repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    before = snapshot(repo)
    assert _memfun(repo, *args) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(repo) == before


def test_list_in_a_repository_without_tasks_says_so(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _memfun(repo, "list") == 0
    assert "No tasks yet" in capsys.readouterr().out
    assert _json(repo, capsys, "list") == []


# -- follow-ups ---------------------------------------------------------------------------------


def test_a_follow_up_builds_on_the_branch_and_a_failed_one_loses_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _done(repo, capsys, monkeypatch)
    branch = first["branch"]
    code, second = _task(
        repo,
        capsys,
        monkeypatch,
        [answer("Farewell too.", FAREWELL), CLEAN],
        "--task",
        first["id"],
        "add a farewell function",
    )
    assert code == 0, second
    assert second["id"] == first["id"]
    assert second["branch"] == branch
    files = git(repo, "ls-tree", "-r", "--name-only", branch).split()
    assert {"src/greet.py", "src/farewell.py"} <= set(files)
    log = git(repo, "log", "--format=%s", f"{first['commits'][0]['oid']}^..{branch}").split("\n")
    assert log[:2] == ["Add a farewell function", "Add a greet function"]
    tip = git(repo, "rev-parse", branch).strip()

    before = without_memfun_refs(snapshot(repo))
    code, third = _task(
        repo, capsys, monkeypatch, [GARBAGE, GARBAGE], "--task", first["id"], "break it"
    )
    assert code == 1
    assert third["status"] == "failed"
    assert git(repo, "rev-parse", branch).strip() == tip
    assert without_memfun_refs(snapshot(repo)) == before

    shown = _json(repo, capsys, "show", first["id"])
    assert shown["request"] == "add a greet function"
    assert [r["status"] for r in shown["runs"]] == ["done", "done"]
    assert [c["subject"] for c in shown["branch_commits"]] == [
        "Add a greet function",
        "Add a farewell function",
    ]


def test_a_follow_up_of_a_deleted_branch_or_with_base_is_refused(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _done(repo, capsys, monkeypatch)
    assert _memfun(repo, "run", "--task", first["id"], "--base", "HEAD", "more") == 2
    assert "--task and --base" in capsys.readouterr().err
    assert _memfun(repo, "undo", first["id"], "--yes") == 0
    capsys.readouterr()
    assert _memfun(repo, "run", "--task", first["id"], "more") == 2
    assert "is gone" in capsys.readouterr().err


# -- merge ---------------------------------------------------------------------------------------


def test_merge_fast_forwards_into_a_clean_tree(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(repo, capsys, monkeypatch)
    (repo / "notes.txt").write_text("untracked, mine\n")
    assert _memfun(repo, "merge", done["id"]) == 0
    assert "fast-forward" in capsys.readouterr().out
    assert _head(repo) == git(repo, "rev-parse", done["branch"]).strip()
    assert (repo / "src" / "greet.py").read_text().startswith("def greet")
    assert git(repo, "status", "--porcelain") == "?? notes.txt\n"
    assert _json(repo, capsys, "list")[0]["delivered"] == "refs/heads/main"
    assert _memfun(repo, "merge", done["id"]) == 0
    assert "nothing to merge" in capsys.readouterr().out


def test_merge_makes_a_merge_commit_when_the_branches_diverged_without_conflict(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(repo, capsys, monkeypatch)
    (repo / "README.md").write_text("# Demo\n\nMore words.\n")
    git(repo, "commit", "-qam", "docs")
    mine = _head(repo)
    merged = _json(repo, capsys, "merge", done["id"])
    assert merged["kind"] == "merge commit"
    parents = git(repo, "log", "-1", "--format=%P").split()
    assert parents == [mine, git(repo, "rev-parse", done["branch"]).strip()]
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith(f"Merge {done['branch']}: add a greet function")
    assert "Memfun-Gate: n/a (a merge of gated commits)" in message
    assert (repo / "README.md").read_text() == "# Demo\n\nMore words.\n"
    assert (repo / "src" / "greet.py").is_file()
    assert git(repo, "status", "--porcelain") == ""


def test_merge_refuses_and_changes_nothing_over_uncommitted_changes_to_the_same_file(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(repo, capsys, monkeypatch, EDIT_APP)
    (repo / "src" / "app.py").write_text(APP + "# my work in progress\n")
    git(repo, "stash", "list")
    before = snapshot(repo)
    assert _memfun(repo, "merge", done["id"]) == 2
    err = capsys.readouterr().err
    assert "src/app.py" in err
    assert "commit or stash" in err
    assert len(err.strip().splitlines()) == 1
    assert snapshot(repo) == before


def test_merge_refuses_a_conflict_and_a_dirty_tree_when_diverged(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(repo, capsys, monkeypatch, EDIT_APP)
    (repo / "src" / "app.py").write_text("def add(a, b):\n    return a + b + 0\n")
    git(repo, "commit", "-qam", "my own change to the same line")
    before = snapshot(repo)
    assert _memfun(repo, "merge", done["id"]) == 2
    err = capsys.readouterr().err
    assert "would conflict in src/app.py" in err
    assert snapshot(repo) == before
    (repo / "README.md").write_text("dirty\n")
    before = snapshot(repo)
    assert _memfun(repo, "merge", done["id"]) == 2
    assert "uncommitted changes (README.md)" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_run_merge_brings_the_done_task_into_the_current_branch(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([StubReply(answer("Done.", GREET)), StubReply(CLEAN)]) as stub:
        monkeypatch.setenv("MEMFUN_LLM_BASE_URL", stub.url)
        code = _memfun(repo, "run", "--merge", "add a greet function")
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "Merged memfun/" in out
    assert (repo / "src" / "greet.py").is_file()
    assert git(repo, "log", "-1", "--format=%s") == "Add a greet function\n"


# -- undo ----------------------------------------------------------------------------------------


def test_undo_of_a_merged_task_reverts_it_to_the_tree_before(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    before_task = git(repo, "rev-parse", "HEAD^{tree}").strip()
    done = _done(repo, capsys, monkeypatch)
    assert _memfun(repo, "merge", done["id"]) == 0
    (repo / "wip.txt").write_text("untracked work\n")
    (repo / "README.md").write_text("# Demo\n\nunstaged edit\n")
    capsys.readouterr()
    assert _memfun(repo, "undo", done["id"]) == 0
    assert "Reverted on main" in capsys.readouterr().out
    assert git(repo, "rev-parse", "HEAD^{tree}").strip() == before_task
    message = git(repo, "log", "-1", "--format=%B")
    assert message.startswith(f'Revert memfun task {done["id"]}: "add a greet function"')
    assert "Memfun-Gate: n/a (undo)" in message
    assert not (repo / "src" / "greet.py").exists()
    assert (repo / "wip.txt").read_text() == "untracked work\n"
    assert (repo / "README.md").read_text() == "# Demo\n\nunstaged edit\n"


def test_undo_refuses_over_uncommitted_changes_to_the_tasks_files(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(repo, capsys, monkeypatch)
    assert _memfun(repo, "merge", done["id"]) == 0
    (repo / "src" / "greet.py").write_text("# mine now\n")
    capsys.readouterr()
    before = snapshot(repo)
    assert _memfun(repo, "undo", done["id"]) == 2
    assert "uncommitted changes to files the task changed (src/greet.py)" in (
        capsys.readouterr().err
    )
    assert snapshot(repo) == before


def test_undo_of_an_undelivered_task_deletes_its_branch_after_confirmation(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(repo, capsys, monkeypatch)
    tip = git(repo, "rev-parse", done["branch"]).strip()
    before = snapshot(repo)
    assert _memfun(repo, "undo", done["id"]) == 2  # no terminal to ask, no --yes
    assert "pass --yes" in capsys.readouterr().err
    assert snapshot(repo) == before
    assert _memfun(repo, "undo", done["id"], "--yes") == 0
    out = capsys.readouterr().out
    assert f"Deleted {done['branch']}; its tip is kept under refs/memfun/attempts/" in out
    assert git(repo, "branch", "--list", done["branch"]) == ""
    attempt = out.split("kept under ")[1].strip().rstrip(".")
    assert git(repo, "rev-parse", f"{attempt}^").strip() == tip
    listed = _json(repo, capsys, "list")
    assert listed[0]["branch_exists"] is False
    assert attempt in _json(repo, capsys, "show", done["id"])["attempts"]


def test_undo_of_a_task_delivered_elsewhere_says_where_and_changes_nothing(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(repo, capsys, monkeypatch)
    git(repo, "branch", "release", done["branch"])
    before = snapshot(repo)
    assert _memfun(repo, "undo", done["id"]) == 1
    out = capsys.readouterr().out
    assert "delivered to refs/heads/release" in out
    assert "nothing changed" in out
    assert snapshot(repo) == before


def test_merge_refuses_when_an_untracked_file_is_in_the_way(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(repo, capsys, monkeypatch)
    (repo / "src" / "greet.py").write_text("# my own greet, not committed\n")
    before = snapshot(repo)
    assert _memfun(repo, "merge", done["id"]) == 2
    assert "src/greet.py" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_undo_refuses_when_later_commits_changed_the_same_lines(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _done(repo, capsys, monkeypatch)
    assert _memfun(repo, "merge", done["id"]) == 0
    (repo / "src" / "greet.py").write_text(
        'def greet(name: str) -> str:\n    return f"hi {name}"\n'
    )
    git(repo, "commit", "-qam", "my own greeting")
    capsys.readouterr()
    before = snapshot(repo)
    assert _memfun(repo, "undo", done["id"]) == 2
    assert "reverting would conflict" in capsys.readouterr().err
    assert snapshot(repo) == before


def test_list_and_show_are_styled_on_a_terminal(
    repo: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    done = _done(repo, capsys, monkeypatch)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert _memfun(repo, "list") == 0
    table = capsys.readouterr().out
    assert "\x1b[" in table  # rich's styling
    assert done["id"][:12] in table
    assert "done" in table
    assert _memfun(repo, "show", done["id"]) == 0
    shown = capsys.readouterr().out
    assert "\x1b[" in shown
    assert "Status: done" in shown


def test_show_into_a_pipe_that_closes_stops_quietly(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from memfun_git.cli.handler import handle_errors

    done = _done(repo, capsys, monkeypatch)

    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError(32, "Broken pipe")

    from memfun_git.cli.tasks import run_show

    with handle_errors(lambda: repo / ".git" / "memfun" / "logs") as result:
        run_show(repo, done["id"], stdout=Closed())
    assert result[0] == 141
    assert capsys.readouterr().err == ""
    assert not list((repo / ".git" / "memfun").rglob("crash-*"))
