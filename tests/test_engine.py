"""`Engine.run`: a request becomes gated commits on `memfun/<id>`, on real repositories, with the
scripted model, the real gate (ruff in the sandbox) and the real task records. The failures
users meet through `memfun run` are in tests/cli/test_run.py; here the engine's own contract:
events, records, usage per step, an interrupt, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.engine import Engine, commit_message
from memfun_git.errors import RepoError
from memfun_git.events import (
    Committed,
    Event,
    FilesGathered,
    OperationDone,
    StepStarted,
    TaskFinished,
    TaskStarted,
)
from memfun_git.llm.observe import CallFinished, CallStarted
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.tasks import Task, TaskResult
from tests.conftest import git
from tests.helpers.messy import snapshot, without_memfun_refs
from tests.helpers.projects import CLEAN, GREET, answer, large_files, messy_with_ruff, small_project
from tests.helpers.require import need_tool
from tests.quality.kit import environ, venv_with_ruff


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return messy_with_ruff(tmp_path_factory.mktemp("messy") / "repo")


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project over 200 KB with ruff in the user's ignored .venv."""
    repo = small_project(tmp_path_factory.mktemp("large") / "repo", large_files())
    venv_with_ruff(repo)
    return repo


def _run(
    repo: Path, *answers: Answer, request: str = "add a greet function", **task: object
) -> tuple[TaskResult, list[Event]]:
    events: list[Event] = []
    lm = scripted_lm(answers)
    cfg = config.load(repo, environ={"MEMFUN_WORKFLOW_ESCALATE": "false"})  # context-first alone
    engine = Engine(cfg, lm=lm, emit=events.append, environ=environ())
    result = engine.run(Task.create(request, repo, **task))
    assert not engine_of(lm).pending, "the script holds answers the task never asked for"
    return result, events


def _record(repo: Path, task_id: str) -> dict[str, object]:
    from memfun_git.records import Records

    with Records.at(repo / ".git" / "memfun" / "memfun.db") as store:
        found = store.get(f"task/{task_id}")
    assert found is not None
    return found.value


def test_a_request_becomes_a_gated_commit_and_the_users_repository_is_untouched(
    messy: Path,
) -> None:
    before = snapshot(messy)
    result, events = _run(
        messy,
        Answer(raw=answer("I add greet in its own module.", GREET), step="solve"),
        Answer(raw=CLEAN, step="review"),
    )
    assert without_memfun_refs(snapshot(messy)) == without_memfun_refs(before)
    assert result.status == "done", result.error
    branch = f"memfun/{result.task.id}"
    assert result.branch == branch
    (commit,) = result.commits
    assert commit.subject == "Add a greet function"
    assert commit.paths == ("src/greet.py",)
    assert commit.gate == "ruff=pass review=pass"
    message = git(messy, "log", "-1", "--format=%B", branch)
    assert "I add greet in its own module." in message
    assert f"Memfun-Task: {result.task.id}\n" in message
    assert "Memfun-Gate: ruff=pass review=pass\n" in message
    assert git(messy, "rev-parse", f"{branch}~1").strip() == result.base
    assert git(messy, "show", f"{branch}:src/greet.py").startswith("def greet(name: str)")
    assert git(messy, "notes", "--ref", "memfun", "show", commit.oid).strip()
    assert result.attempt is None
    assert git(messy, "for-each-ref", f"refs/memfun/attempts/{result.task.id}") == ""

    kinds = [type(e) for e in events]
    assert kinds[0] is TaskStarted
    assert kinds[-1] is TaskFinished
    assert kinds.index(FilesGathered) < kinds.index(OperationDone) < kinds.index(Committed)
    assert {CallStarted, CallFinished} <= set(kinds)  # the model's calls join the stream
    steps = [e.step for e in events if isinstance(e, StepStarted)]
    assert steps == ["context", "solve", "lint", "review", "commit"]
    finished = events[-1]
    assert isinstance(finished, TaskFinished)
    assert finished.result == result

    assert [s for s, *_ in result.usage.by_step] == ["solve", "review"]
    record = _record(messy, result.task.id)
    assert record["status"] == "done"
    assert record["branch"] == branch
    assert record["commits"] == [commit.as_dict()]


def test_ctrl_c_mid_task_is_recorded_and_re_raised_keeping_the_attempt(messy: Path) -> None:
    before = snapshot(messy)
    events: list[Event] = []

    def interrupt(event: Event) -> None:
        events.append(event)
        if isinstance(event, OperationDone):
            raise KeyboardInterrupt

    cfg = config.load(messy, environ={})
    lm = scripted_lm([Answer(raw=answer("Adding it.", GREET), step="solve")])
    task = Task.create("add a greet function", messy)
    with pytest.raises(KeyboardInterrupt):
        Engine(cfg, lm=lm, emit=interrupt).run(task)
    assert without_memfun_refs(snapshot(messy)) == without_memfun_refs(before)
    finished = events[-1]
    assert isinstance(finished, TaskFinished)
    result = finished.result
    assert (result.status, result.error) == ("interrupted", "interrupted")
    assert result.attempt == f"refs/memfun/attempts/{task.id}/1"
    assert git(messy, "show", f"{result.attempt}:src/greet.py").startswith("def greet(")
    assert git(messy, "branch", "--list", f"memfun/{task.id}") == ""
    assert _record(messy, task.id)["status"] == "interrupted"


def test_with_changes_the_users_work_is_carried_over_and_only_the_models_is_gated(
    messy: Path,
) -> None:
    """The user's uncommitted work becomes a bookkeeping commit the gate neither lints nor
    reviews; a follow-up continues the branch."""
    before = snapshot(messy)
    first, _ = _run(
        messy,
        Answer(raw=answer("Adds greet.", GREET), step="solve"),
        Answer(raw=CLEAN, step="review"),
        with_changes=True,
    )
    assert first.status == "done", first.error
    carried, gated = first.commits
    assert carried.subject == "memfun: carry over uncommitted changes"
    assert carried.gate == "n/a (the user's uncommitted changes)"
    assert "todo.txt" in carried.paths
    assert (gated.paths, gated.gate) == (("src/greet.py",), "ruff=pass review=pass")
    follow = (
        'src/greet.py\n<<<<<<< SEARCH\n    return f"hello {name}"\n=======\n'
        '    return f"hi {name}"\n>>>>>>> REPLACE'
    )
    lm = scripted_lm(
        [Answer(raw=answer("Shorter.", follow), step="solve"), Answer(raw=CLEAN, step="review")]
    )
    engine = Engine(config.load(messy, environ={}), lm=lm, environ=environ())
    task = Task(first.task.id, "say hi instead", messy, follow_up=True)
    second = engine.run(task)
    assert second.status == "done", second.error
    assert second.base == gated.oid
    (commit,) = second.commits
    assert git(messy, "rev-parse", f"{second.branch}~1").strip() == gated.oid
    assert "hi {name}" in git(messy, "show", f"{commit.oid}:src/greet.py")
    assert _record(messy, task.id)["request"] == "say hi instead"
    assert without_memfun_refs(snapshot(messy)) == without_memfun_refs(before)


FIX_ME = """pkg/extra.py
<<<<<<< WRITE
import os

VALUE = 1
>>>>>>> WRITE"""
CLEAN_MODULE = """pkg/extra.py
<<<<<<< WRITE
VALUE = 1
>>>>>>> WRITE"""
FIXED = """pkg/extra.py
<<<<<<< SEARCH
import os

VALUE = 1
=======
VALUE = 1
>>>>>>> REPLACE"""


@pytest.mark.parametrize(
    ("answers", "calls"),
    [
        (
            [
                Answer(raw="pkg/mod03.py\n", step="plan"),
                Answer(raw=answer("Adds VALUE.", CLEAN_MODULE), step="solve"),
                Answer(raw=CLEAN, step="review"),
            ],
            {"plan": 1, "solve": 1, "review": 1},
        ),
        (
            [
                Answer(raw="pkg/mod03.py\n", step="plan"),
                Answer(raw=answer("Adds VALUE.", FIX_ME), step="solve"),
                Answer(raw=answer("Drops the import.", FIXED), step="fix"),
                Answer(
                    raw="pkg/extra.py:1: warning: VALUE needs a docstring\nSUMMARY: fine.",
                    step="review",
                ),
                Answer(raw="Nothing small to change.", step="polish"),
            ],
            {"plan": 1, "solve": 1, "fix": 1, "review": 1, "polish": 1},
        ),
    ],
    ids=["first-lint-passes", "one-fix-round"],
)
def test_model_economy_on_a_project_over_200_kb(
    large: Path, answers: list[Answer], calls: dict[str, int]
) -> None:
    result, _ = _run(large, *answers, request="add VALUE in pkg/extra.py")
    assert result.status == "done", result.error
    assert {step: n for step, n, *_ in result.usage.by_step} == calls
    assert result.usage.calls == sum(calls.values())
    for step, _, tokens_in, tokens_out in result.usage.by_step:
        assert tokens_in > 0, step
        assert tokens_out > 0, step
    assert sum(s[2] for s in result.usage.by_step) == result.usage.input_tokens
    assert sum(s[3] for s in result.usage.by_step) == result.usage.output_tokens
    assert git(large, "show", f"{result.branch}:pkg/extra.py") == "VALUE = 1\n"


def test_bad_input_is_raised_before_any_work(messy: Path) -> None:
    before = snapshot(messy)
    cfg = config.load(messy, environ={})
    task = Task.create("anything", messy, base="no-such-ref")
    with pytest.raises(RepoError, match="'no-such-ref' is not a commit in this repository"):
        Engine(cfg, lm=scripted_lm()).run(task)
    assert snapshot(messy) == before
    assert _record(messy, task.id)["status"] == "failed"


def test_a_task_that_changes_nothing_fails(messy: Path) -> None:
    result, _ = _run(messy, Answer(raw="I would rather not.\n", step="solve"))
    assert result.status == "failed"
    assert result.error.startswith("the model changed nothing: I would rather not.")
    assert result.commits == ()


def test_the_commit_message_is_the_request_and_the_models_account() -> None:
    assert commit_message("add x\n\nmore words", "I added x.") == "Add x\n\nI added x.\n"
    long = commit_message("fix " + "a" * 100, "")
    assert long.endswith("…\n")
    assert len(long.splitlines()[0]) == 72


def test_a_record_that_cannot_be_written_at_the_end_does_not_undo_the_task(
    messy: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from memfun_git.errors import BackendUnavailable

    original = Engine._record  # pyright: ignore[reportPrivateUsage]

    def flaky(self: Engine, paths: object, task: Task, value: dict[str, object]) -> None:
        if value.get("status") != "running":
            raise BackendUnavailable("the redis server at redis://h:6379 did not answer", "")
        original(self, paths, task, value)  # type: ignore[arg-type]

    monkeypatch.setattr(Engine, "_record", flaky)
    result, _ = _run(
        messy,
        Answer(raw=answer("I add greet in its own module.", GREET), step="solve"),
        Answer(raw=CLEAN, step="review"),
    )
    assert result.status == "done", result.error
    assert len(result.commits) == 1
    assert "was not recorded: the redis server at redis://h:6379 did not answer" in caplog.text
