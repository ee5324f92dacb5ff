"""The explore tier (solvers/explore.py) with the scripted model, in a real worktree and the
bubblewrap sandbox: the RLM's code runs in the sandboxed REPL, its variables persist between
steps (they are not in the prompt), files change only through the workspace's operations, a
sub-question goes to the model, and no secret reaches a prompt."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.events import Event, OperationDone, StepStarted
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.llm.session import LMSession
from memfun_git.sandbox import close_sandbox, make_sandbox
from memfun_git.solvers.explore import Explored, explore
from tests.helpers.require import need_tool

SECRET = "sk-memfun-explore-test-2f8c1d9a7b"


@pytest.fixture
def workspace(git_repo: Path) -> Iterator[Workspace]:
    with Workspace(require_repo(git_repo), "explore-task", environ=dict(os.environ)) as ws:
        yield ws


def _step(code: str) -> Answer:
    return Answer({"reasoning": "next", "code": code}, step="explore")


def _explore(
    ws: Workspace, *answers: Answer, iterations: int = 8, step_seconds: float = 360.0
) -> tuple[Explored, LMSession]:
    need_tool("bwrap")
    session = LMSession(config.LLMConfig(provider="openai", model="memfun-scripted"),
                        scripted_lm(list(answers)))  # fmt: skip
    repo = ws.paths.workdir
    assert repo is not None
    sandbox = make_sandbox(config.SandboxConfig(), ws.path, user_tree=repo,
                           common_dir=ws.paths.common_dir)  # fmt: skip
    events: list[Event] = []
    try:
        done = explore(
            session, ws.path, "make add() treat None as 0", apply=ws.apply, sandbox=sandbox,
            earlier="context-first failed (nothing changed)", iterations=iterations,
            emit=events.append, step_seconds=step_seconds,
        )  # fmt: skip
    finally:
        close_sandbox(sandbox)
    steps = [e for e in events if isinstance(e, StepStarted)]
    assert [e.detail for e in steps] == [f"{n} of {iterations}" for n in range(1, done.steps + 1)]
    ops = [e for e in events if isinstance(e, OperationDone)]
    assert len(ops) == len(done.work.changed) + done.work.refused
    return done, session


def test_the_rlm_reads_edits_runs_and_submits(workspace: Workspace) -> None:
    done, session = _explore(
        workspace,
        _step("import os\nsource = open('src/app.py').read()\nprint(len(source))"),
        _step("print(search_code(pattern='def add'))"),
        _step("verdict = llm_query(prompt='Does add() fail on None? ' + source)\nprint(verdict)"),
        Answer(raw="Yes: a None argument makes it fail.", step="explore"),
        _step(
            "print(edit_file(path='src/app.py', search='    return a + b\\n',\n"
            "                replace='    return (a or 0) + (b or 0)\\n'))"
        ),
        _step(
            "print(run(command=['python3', '-c',\n"
            "    'import sys; sys.path.insert(0, \"src\"); import app; print(app.add(None, 2))']))"
        ),
        _step("SUBMIT(summary='add() treats None as 0; checked: add(None, 2) == 2')"),
    )
    assert done.summary == "add() treats None as 0; checked: add(None, 2) == 2"
    assert done.steps == 6
    assert done.work.changed == ["src/app.py"]
    assert "(a or 0)" in (workspace.path / "src" / "app.py").read_text()
    ran = done.work.commands[-1]
    assert ran.ok, ran
    assert ran.stdout.strip() == "2"
    calls = engine_of(session.lm).calls
    # State stays in the REPL: the file read at the first step is never in a prompt whole,
    # only what the code printed (its length), until the code sent it to the sub-question.
    main = [c for c in calls if "code" in c.fields]
    assert "return a + b" not in main[1].prompt
    assert "return a + b" in next(c for c in calls if not c.fields).prompt
    assert session.usage.calls == len(calls) == 7


def test_the_repl_cannot_write_files_itself_nor_show_a_secret(workspace: Workspace) -> None:
    (workspace.path / "settings.py").write_text(f"API_KEY = {SECRET!r}\n")
    done, session = _explore(
        workspace,
        _step(
            "try:\n    open('src/app.py', 'w').write('broken')\nexcept OSError as exc:\n"
            "    print('refused', exc.errno)"
        ),
        _step("print(open('settings.py').read())\nprint(read_file(path='settings.py'))"),
        _step("print(llm_query(prompt=open('settings.py').read()))"),
        Answer(raw="a key", step="explore"),
        _step("SUBMIT(summary='nothing to change')"),
    )
    assert done.work.changed == []
    assert (workspace.path / "src" / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    calls = engine_of(session.lm).calls
    assert len(calls) == 5
    assert "refused 30" in calls[1].prompt  # EROFS: the worktree is read-only in the REPL
    assert "API_KEY = '[REDACTED]'" in calls[2].prompt
    for call in calls:
        assert SECRET not in call.prompt


def test_the_iteration_cap_ends_it_with_the_model_s_last_word(workspace: Workspace) -> None:
    done, _ = _explore(
        workspace,
        _step("print('looking')"),
        _step("print('still looking')"),
        Answer({"summary": "ran out of steps"}, step="explore"),
        iterations=2,
    )
    assert done.steps == 2
    assert done.summary == "ran out of steps"


def test_a_tool_left_running_by_a_step_s_time_out_ends_before_the_tier_returns(
    workspace: Workspace,
) -> None:
    """A step out of time ends the tier (the REPL and its state are gone), but DSPy leaves
    the tool call it waited for running: the tier waits for it, so nothing changes the
    worktree once the engine has moved on (to a gate, or the next tier)."""
    import time

    from memfun_git.errors import TaskFailed

    late = workspace.path / "late.txt"
    started = time.monotonic()
    with pytest.raises(TaskFailed, match=r"exceeded execution timeout of 1\.5 seconds"):
        _explore(
            workspace,
            _step("print(run(command=['sh', '-c', 'sleep 4; echo late > late.txt']))"),
            _step("SUBMIT(summary='done')"),
            step_seconds=1.5,
        )
    assert late.read_text() == "late\n"  # written before the tier returned, never after
    assert time.monotonic() - started >= 4
