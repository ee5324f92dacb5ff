"""The context-first solver on real repositories, with a scripted model and the real sandbox:
what each call is shown, how many calls each path costs, and what lands in the worktree."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from memfun_git.config import LLMConfig, SandboxConfig
from memfun_git.edits.ops import FileOps
from memfun_git.errors import LLMTruncated, LLMUnparseable, MemfunError, TaskFailed
from memfun_git.events import CommandRan, Event, FilesGathered, OperationDone, StepStarted
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from memfun_git.llm.scripted import Answer, ScriptedCall, engine_of, scripted_lm
from memfun_git.llm.session import LMSession
from memfun_git.sandbox import make_sandbox
from memfun_git.solvers.context_first import Solution, files_budget, solve
from memfun_git.solvers.planning import pick_paths
from tests.helpers.projects import APP, answer, large_files, small_project
from tests.helpers.require import need_tool

EDIT = """src/app.py
<<<<<<< SEARCH
def add(a, b):
    return a + b
=======
def add(a, b):
    return a + b


def sub(a, b):
    return a - b
>>>>>>> REPLACE"""
NEW = """src/new.py
<<<<<<< WRITE
VALUE = 1
>>>>>>> WRITE"""
SUB = APP + "\n\ndef sub(a, b):\n    return a - b\n"
MISQUOTED = EDIT.replace("    return a + b\n=", "    return sum([a, b, c, d])\n=", 1)
"""The edit with its search misremembered beyond what the matcher takes."""


@dataclass
class Run:
    """One solve on a fresh task workspace: what it returned or raised, and what it did."""

    solution: Solution | None = None
    error: MemfunError | None = None
    events: list[Event] = field(default_factory=list[Event])
    calls: list[ScriptedCall] = field(default_factory=list[ScriptedCall])
    files: dict[str, str] = field(default_factory=dict[str, str])

    @property
    def steps(self) -> list[str | None]:
        return [call.step for call in self.calls]


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return small_project(tmp_path_factory.mktemp("small") / "repo")


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = {**large_files(), "src/app.py": APP}
    return small_project(tmp_path_factory.mktemp("large") / "repo", files)


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


def _solve(repo: Path, *answers: Answer, read: tuple[str, ...] = ("src/app.py",)) -> Run:
    lm = scripted_lm(answers)
    session = LMSession(LLMConfig(model="scripted"), lm)
    run = Run()
    with Workspace(require_repo(repo), "solve-test") as ws:
        sandbox = make_sandbox(SandboxConfig(), ws.path, user_tree=repo, common_dir=repo / ".git")
        try:
            run.solution = solve(
                session,
                ws.path,
                "add a sub function",
                apply=FileOps(ws).apply,
                sandbox=sandbox,
                emit=run.events.append,
                budget=files_budget(session.config),
            )
        except MemfunError as exc:
            run.error = exc
        finally:
            getattr(sandbox, "close", lambda: None)()
        for rel in read:
            path = ws.path / rel
            run.files[rel] = path.read_text() if path.exists() else "<missing>"
    run.calls = engine_of(lm).calls
    assert not engine_of(lm).pending, "the script holds answers the solver never asked for"
    return run


def test_a_small_project_is_solved_in_one_call_shown_every_file(small: Path) -> None:
    run = _solve(small, Answer(raw=answer("I add sub and a constant.", EDIT, NEW), step="solve"))
    assert run.steps == ["solve"]
    (call,) = run.calls
    assert "### src/app.py\n" + APP in call.prompt
    assert "### README.md\n# Demo\n" in call.prompt
    assert "<<<<<<< SEARCH" in call.prompt  # the format is taught
    assert "add a sub function" in call.prompt
    assert run.files == {"src/app.py": SUB}
    solution = run.solution
    assert solution is not None
    assert solution.summary == "I add sub and a constant."
    assert not solution.planned
    assert set(solution.files) == {"README.md", "src/app.py"}
    assert [r.message for r in solution.operations] == ["edited src/app.py", "created src/new.py"]
    gathered = [e for e in run.events if isinstance(e, FilesGathered)]
    assert [(g.paths, g.planned) for g in gathered] == [(solution.files, False)]
    assert [e.result for e in run.events if isinstance(e, OperationDone)] == list(
        solution.operations
    )


def test_a_large_project_is_planned_then_solved_in_two_calls(large: Path) -> None:
    plan = "- `pkg/mod07.py` (4.1 KB): f7_0\n2. ./src/app.py\nnot/a/file.py\n* pkg/mod07.py\n"
    run = _solve(
        large,
        Answer(raw=plan, step="plan"),
        Answer(raw=answer("Done.", EDIT), step="solve"),
    )
    assert run.steps == ["plan", "solve"]
    planner, solver = run.calls
    assert "pkg/mod42.py (" in planner.prompt  # the listing, with sizes
    assert "\n  def f42_0(" in planner.prompt  # and its definitions' signatures
    # Ranked for the request ("add a sub function"): the file defining `add` comes first.
    assert planner.prompt.index("src/app.py (") < planner.prompt.index("pkg/mod00.py (")
    assert "### pkg/mod07.py\n" in solver.prompt
    assert "### src/app.py\n" + APP in solver.prompt
    assert solver.prompt.index("### pkg/mod07.py") < solver.prompt.index("### src/app.py")
    assert "### pkg/mod42.py" not in solver.prompt  # not chosen: named, not shown
    assert "pkg/mod42.py" in solver.prompt
    assert run.solution is not None
    assert run.solution.planned
    assert run.solution.files == ("pkg/mod07.py", "src/app.py")
    assert run.files == {"src/app.py": SUB}
    assert [e.step for e in run.events if isinstance(e, StepStarted)] == [
        "context",
        "plan",
        "solve",
    ]


def test_a_cut_off_plan_is_used_up_to_its_last_whole_line(large: Path) -> None:
    run = _solve(
        large,
        Answer(raw="src/app.py\npkg/mod0", step="plan", finish_reason="length"),
        Answer(raw=answer("Done.", EDIT), step="solve"),
    )
    assert run.steps == ["plan", "solve"]
    assert run.solution is not None
    assert run.solution.files == ("src/app.py",)


def test_the_planners_answer_is_read_as_models_write_it() -> None:
    known = ["src/app.py", "src/a b.py", "pkg/mod.py", "README.md"]
    text = (
        "Here are the files:\n"
        "1. `src/app.py` (1.2 KB): App, main\n"
        "- ./pkg/mod.py\n"
        "* **README.md**\n"
        "• src/app.py\n"
        "src/missing.py\n"
    )
    assert pick_paths(text, known) == ["src/app.py", "pkg/mod.py", "README.md"]


def test_a_refused_edit_goes_back_once_with_the_reason_and_the_closest_lines(
    small: Path,
) -> None:
    run = _solve(
        small,
        Answer(raw=answer("First try.", MISQUOTED, NEW), step="solve"),
        Answer(raw=answer("Quoted exactly now.", EDIT), step="repair"),
        read=("src/app.py", "src/new.py"),
    )
    assert run.steps == ["solve", "repair"]
    repair = run.calls[1].prompt
    assert "edit src/app.py: refused: src/app.py:" in repair
    assert "closest lines of the file (1-2), exactly as they are:\n" + APP.rstrip() in repair
    assert "### src/new.py\nVALUE = 1\n" in repair  # the files as they are now
    assert run.files == {"src/app.py": SUB, "src/new.py": "VALUE = 1\n"}
    solution = run.solution
    assert solution is not None
    assert [r.ok for r in solution.operations] == [False, True, True]
    assert solution.operations[0].refusal is not None
    assert solution.summary == "First try.\n\nQuoted exactly now."


def test_an_operation_refused_twice_fails_the_task(small: Path) -> None:
    wrong = answer("Try.", MISQUOTED)
    run = _solve(small, Answer(raw=wrong, step="solve"), Answer(raw=wrong, step="repair"))
    assert run.steps == ["solve", "repair"]
    assert isinstance(run.error, TaskFailed)
    assert "refused twice: src/app.py" in run.error.message
    assert run.files == {"src/app.py": APP}


GARBAGE = "src/app.py\n<<<<<<< SEARCH\ndef add(a, b):\n>>>>>>> REPLACE\n"


@pytest.mark.parametrize(
    ("first", "told"),
    [
        (Answer(raw=GARBAGE, step="solve"), "line 4: the SEARCH block of line 2 has no ="),
        (Answer(raw="src/app.py\n<<<", step="solve", finish_reason="length"), "was cut off"),
    ],
    ids=["unreadable", "cut-off"],
)
def test_a_bad_answer_is_asked_for_once_more_with_the_error(
    small: Path, first: Answer, told: str
) -> None:
    run = _solve(small, first, Answer(raw=answer("Fixed.", EDIT), step="solve"))
    assert run.steps == ["solve", "solve"]
    assert told not in run.calls[0].prompt
    assert told in run.calls[1].prompt
    assert run.files == {"src/app.py": SUB}
    retries = [e.detail for e in run.events if isinstance(e, StepStarted) and e.step == "solve"]
    assert retries[0] == ""
    assert retries[1].startswith("retry: ")


@pytest.mark.parametrize(
    ("bad", "error"),
    [
        (Answer(raw=GARBAGE, step="solve"), LLMUnparseable),
        (Answer(raw="src/app.py\n<<<", step="solve", finish_reason="length"), LLMTruncated),
    ],
    ids=["unreadable", "cut-off"],
)
def test_a_second_bad_answer_fails_after_exactly_two_calls(
    small: Path, bad: Answer, error: type[MemfunError]
) -> None:
    run = _solve(small, bad, bad)
    assert run.steps == ["solve", "solve"]
    assert isinstance(run.error, error)
    assert run.files == {"src/app.py": APP}
    if isinstance(run.error, LLMUnparseable):
        assert run.error.raw == GARBAGE
        assert "line 2" in run.error.message


def test_commands_run_in_the_sandbox_after_every_file_operation(small: Path) -> None:
    text = answer("Check it.", "RUN cat src/new.py", NEW, "RUN no-such-program --version")
    run = _solve(small, Answer(raw=text, step="solve"))
    solution = run.solution
    assert solution is not None
    first, missing = solution.commands
    assert first.argv == ("cat", "src/new.py")
    assert (first.exit_code, first.stdout) == (0, "VALUE = 1\n")
    assert missing.exit_code == 127
    assert "no-such-program" in missing.stderr
    ran = [e for e in run.events if isinstance(e, CommandRan)]
    assert [e.result for e in ran] == [first, missing]
    assert ran[0].program.endswith("/cat")
    assert ran[1].program == ""
