"""The gate end to end on real repositories: the real sandbox and ruff (the user's .venv), the
scripted LM answering fix, review and polish, commits read back with pygit2."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from memfun_git.config import GateConfig, LLMConfig
from memfun_git.events import Committed, Event, FixRound, LintRan, Reviewed, StepStarted
from memfun_git.gitops.worktree import Workspace
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.llm.session import LMSession
from memfun_git.quality.gate import run_gate
from memfun_git.quality.verdicts import GateOutcome
from tests.helpers.require import need_tool
from tests.quality.kit import environ, make_repo, open_task, python_project, sandbox_of

CFG = LLMConfig(provider="custom", model="scripted", base_url="http://127.0.0.1:1/v1")
CLEAN = "def add(a, b):\n    return a + b\n"
UNUSED = "import os\n\n\ndef add(a, b):\n    return a + b\n"
FIX = (
    "app/core.py\n<<<<<<< SEARCH\nimport os\n\n\ndef add(a, b):\n=======\n"
    "def add(a, b):\n>>>>>>> REPLACE\n"
)
PASS = "SUMMARY: adds add() as asked.\n"


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return python_project(tmp_path / "home" / "project")


@pytest.fixture
def task(project: Path) -> Iterator[Workspace]:
    with open_task(project) as ws:
        yield ws


@dataclass
class Ran:
    outcome: GateOutcome
    session: LMSession
    events: list[Event] = field(default_factory=list[Event])

    def calls(self, step: str) -> int:
        usage = self.session.usage.by_step.get(step)
        return usage.calls if usage else 0


def gate(
    ws: Workspace, tree: Path, answers: list[Answer], paths: list[str], **config: object
) -> Ran:
    session = LMSession(CFG, scripted_lm(answers))
    events: list[Event] = []
    outcome = run_gate(
        ws,
        sandbox_of(ws, tree),
        session,
        GateConfig(**config),  # type: ignore[arg-type]
        request="add an add() function to app/core.py",
        paths=paths,
        message="add add()",
        emit=events.append,
        environ=environ(),
    )
    assert engine_of(session.lm).pending == []  # every scripted answer was asked for
    return Ran(outcome, session, events)


def write(ws: Workspace, rel: str, text: str) -> None:
    (ws.path / rel).parent.mkdir(parents=True, exist_ok=True)
    (ws.path / rel).write_text(text)


def commit_of(ws: Workspace, ran: Ran) -> tuple[str, str, dict[str, bytes]]:
    """(message, note, the committed files that changed) of the gate's commit."""
    import pygit2

    assert ran.outcome.commit is not None
    commit = ws.repo[ran.outcome.commit].peel(pygit2.Commit)
    note = str(ws.repo.lookup_note(ran.outcome.commit, "refs/notes/memfun").message)
    diff = commit.parents[0].tree.diff_to_tree(commit.tree)
    files = {
        delta.new_file.path: ws.repo[delta.new_file.id].peel(pygit2.Blob).data
        for delta in diff.deltas
    }
    return commit.message, note, files


def test_a_lint_error_is_fixed_in_a_fix_round_and_committed(project: Path, task: Workspace) -> None:
    write(task, "app/core.py", UNUSED)
    ran = gate(
        task,
        project,
        [Answer(raw=FIX, step="fix"), Answer(raw=PASS, step="review")],
        ["app/core.py"],
    )
    outcome = ran.outcome
    assert outcome.passed, outcome.reason
    assert outcome.fix_rounds == 1
    assert [[v.status for v in run] for run in outcome.history] == [["fail"], ["pass"]]
    message, note, files = commit_of(task, ran)
    assert message.endswith("Memfun-Gate: ruff=pass review=pass\n")
    assert files == {"app/core.py": CLEAN.encode()}
    assert "fix rounds: 1 (failing findings 1 → 0)" in note
    assert f"ruff pass ({project / '.venv/bin/ruff'}" in note
    assert "review: pass, 0 findings — adds add() as asked." in note
    assert "model: fix 1 call, review 1 call, polish 0 calls" in note
    assert (ran.calls("fix"), ran.calls("review"), ran.calls("polish")) == (1, 1, 0)
    # The fix prompt held the finding and the file as it was.
    fix_prompt = engine_of(ran.session.lm).calls[0].prompt
    assert "app/core.py:1: error: F401 `os` imported but unused" in fix_prompt
    assert UNUSED in fix_prompt
    kinds = [type(e).__name__ for e in ran.events]
    assert kinds == [
        "StepStarted", "LintRan", "StepStarted", "FixRound", "StepStarted", "LintRan",
        "StepStarted", "Reviewed", "StepStarted", "Committed",
    ]  # fmt: skip
    assert isinstance(ran.events[3], FixRound)
    assert ran.events[3].findings[0].source == "ruff:F401"
    assert isinstance(ran.events[-1], Committed)
    assert ran.events[-1].commit.oid == outcome.commit
    assert ran.events[-1].commit.gate == "ruff=pass review=pass"
    assert ran.events[-1].commit.subject == "add add()"


def test_a_fix_that_never_lands_fails_with_the_linters_output(
    project: Path, task: Workspace
) -> None:
    write(task, "app/core.py", UNUSED)
    wrong = "app/core.py\n<<<<<<< SEARCH\nimport sys\n=======\n>>>>>>> REPLACE\n"
    ran = gate(
        task,
        project,
        [Answer(raw=wrong, step="fix"), Answer(raw="no edits, sorry", step="fix")],
        ["app/core.py"],
    )
    outcome = ran.outcome
    assert not outcome.passed
    assert outcome.commit is None
    assert outcome.fix_rounds == 2
    assert outcome.reason == (
        "ruff failed after 2 fix rounds: app/core.py:1: error: F401 `os` imported but unused"
    )
    (verdict,) = outcome.verdicts
    assert verdict.status == "fail"
    assert "F401 `os` imported but unused" in verdict.output
    assert outcome.review is None  # no review call for a change that fails lint
    assert (ran.calls("fix"), ran.calls("review")) == (2, 0)
    # The refusal of round 1 went back to the model in round 2.
    second = engine_of(ran.session.lm).calls[1].prompt
    assert "app/core.py" in second
    assert "not found" in second
    assert task.commits == []
    assert (task.path / "app/core.py").read_text() == UNUSED  # the attempt keeps the work


def test_a_configured_linter_that_is_missing_fails_the_gate_without_a_call(
    tmp_path: Path,
) -> None:
    tree = make_repo(tmp_path / "p", {"a.py": "x = 1\n"})
    with open_task(tree) as ws:
        write(ws, "a.py", "x = 2\n")
        ran = gate(ws, tree, [], ["a.py"], linters=("ruff",))
    assert not ran.outcome.passed
    assert ran.outcome.reason.startswith(
        "ruff is configured in [gate] linters but is not installed"
    )
    assert f"looked in {tree / '.venv/bin'}" in ran.outcome.reason
    assert ran.session.usage.calls == 0


def test_memfun_toml_edited_to_silence_an_error_still_fails(project: Path, task: Workspace) -> None:
    write(task, "app/core.py", UNUSED)
    write(task, "memfun.toml", '[gate]\nlinters = ["eslint"]\nfix_rounds = 0\nreview = "off"\n')
    ran = gate(
        task,
        project,
        [Answer(raw="no edits", step="fix")],
        ["app/core.py", "memfun.toml"],
        fix_rounds=1,
    )
    assert not ran.outcome.passed
    assert [v.linter for v in ran.outcome.verdicts] == ["ruff"]
    assert ran.outcome.config_changes == (
        "memfun.toml ([gate] added; not used: memfun reads the user's own memfun.toml)",
    )
    assert "config change: memfun.toml" in ran.outcome.note


def test_a_blocking_review_finding_stops_the_commit(project: Path, task: Workspace) -> None:
    write(task, "app/core.py", "def add(a, b):\n    return a - b\n")
    answer = "app/core.py:2: error: subtracts instead of adding\nSUMMARY: add() is wrong.\n"
    ran = gate(task, project, [Answer(raw=answer, step="review")], ["app/core.py"])
    outcome = ran.outcome
    assert not outcome.passed
    assert outcome.commit is None
    assert outcome.reason == "the review blocks: app/core.py:2: error: subtracts instead of adding"
    assert [f.render() for f in outcome.blocking] == [
        "app/core.py:2: error: subtracts instead of adding"
    ]
    assert (ran.calls("review"), ran.calls("polish")) == (1, 0)
    assert task.commits == []
    reviewed = next(e for e in ran.events if isinstance(e, Reviewed))
    assert reviewed.blocking == outcome.blocking


def test_a_non_blocking_suggestion_is_applied_by_polish(project: Path, task: Workspace) -> None:
    write(task, "app/core.py", "def add(a, b):\n    total = a + b\n    return total\n")
    answer = (
        "app/core.py:2-3: warning: the temporary adds nothing\n"
        "<<<<<<< SUGGESTION\n    return a + b  \n\n>>>>>>> SUGGESTION\n"
        "SUMMARY: adds add().\n"
    )
    ran = gate(task, project, [Answer(raw=answer, step="review")], ["app/core.py"])
    outcome = ran.outcome
    assert outcome.passed, outcome.reason
    assert outcome.polished
    _, note, files = commit_of(task, ran)
    assert files == {"app/core.py": b"def add(a, b):\n    return a + b  \n\n"}  # byte for byte
    assert "polish: applied to app/core.py" in note
    # Suggestions cost no call; the first lint passed: exactly one review call.
    assert (ran.calls("fix"), ran.calls("review"), ran.calls("polish")) == (0, 1, 0)
    assert [e.step for e in ran.events if isinstance(e, StepStarted)] == [
        "lint", "review", "polish", "commit",
    ]  # fmt: skip


def test_a_polish_that_breaks_lint_is_undone(project: Path, task: Workspace) -> None:
    write(task, "app/core.py", CLEAN)
    answer = (
        "app/core.py:1: info: say where it comes from\n"
        "<<<<<<< SUGGESTION\nimport operator\ndef add(a, b):\n>>>>>>> SUGGESTION\n"
        "SUMMARY: fine.\n"
    )
    ran = gate(task, project, [Answer(raw=answer, step="review")], ["app/core.py"])
    assert ran.outcome.passed
    assert not ran.outcome.polished
    _, note, files = commit_of(task, ran)
    assert files == {"app/core.py": CLEAN.encode()}
    assert "polish: undone, it broke lint" in note
    assert [v.status for v in ran.outcome.verdicts] == ["pass"]


def test_first_lint_passes_one_review_call_and_one_polish_call(
    project: Path, task: Workspace
) -> None:
    write(task, "app/core.py", "def add(a, b):\n    result = a + b\n    return result\n")
    review = "app/core.py:2: warning: name the sum total, as the project does\nSUMMARY: ok.\n"
    edit = (
        "app/core.py\n<<<<<<< SEARCH\n    result = a + b\n    return result\n=======\n"
        "    total = a + b\n    return total\n>>>>>>> REPLACE\n"
    )
    ran = gate(
        task,
        project,
        [Answer(raw=review, step="review"), Answer(raw=edit, step="polish")],
        ["app/core.py"],
    )
    assert ran.outcome.passed
    assert ran.outcome.polished
    assert (ran.calls("fix"), ran.calls("review"), ran.calls("polish")) == (0, 1, 1)
    assert ran.session.usage.calls == 2
    _, note, files = commit_of(task, ran)
    assert files == {"app/core.py": b"def add(a, b):\n    total = a + b\n    return total\n"}
    assert "model: fix 0 calls, review 1 call, polish 1 call" in note


def test_a_clean_change_with_a_clean_review_makes_no_polish_call(
    project: Path, task: Workspace
) -> None:
    write(task, "app/core.py", CLEAN)
    write(task, "app/use.py", "from app.core import add\n\n\ndef total(xs):\n    return add(*xs)\n")
    ran = gate(task, project, [Answer(raw=PASS, step="review")], ["app/core.py"])
    assert ran.outcome.passed
    assert ran.session.usage.calls == 1
    # The review reads the code map around the change: the changed file and its user.
    review_prompt = engine_of(ran.session.lm).calls[0].prompt
    assert "app/core.py (" in review_prompt
    assert "  def add(a, b)" in review_prompt
    assert "app/use.py (" in review_prompt
    message, _, _ = commit_of(task, ran)
    assert "Memfun-Gate: ruff=pass review=pass" in message
    assert [type(e) for e in ran.events if isinstance(e, LintRan)] == [LintRan]


def test_review_off_commits_after_lint(project: Path, task: Workspace) -> None:
    write(task, "app/core.py", CLEAN)
    ran = gate(task, project, [], ["app/core.py"], review="off")
    message, note, _ = commit_of(task, ran)
    assert "Memfun-Gate: ruff=pass review=off" in message
    assert "review: not run" in note
    assert ran.session.usage.calls == 0


LONG = "x = 1  # a comment that takes this line past the sixty characters the base allows\n"


@pytest.mark.parametrize("trusted", [False, True])
def test_a_loosened_ruff_toml_passes_only_when_trusted(
    project: Path, task: Workspace, trusted: bool
) -> None:
    write(task, "app/core.py", LONG)
    write(task, "ruff.toml", 'line-length = 200\n\n[lint]\nselect = ["F"]\n')
    session = LMSession(CFG, scripted_lm([Answer(raw=PASS, step="review")] if trusted else []))
    outcome = run_gate(
        task,
        sandbox_of(task, project),
        session,
        GateConfig(fix_rounds=0),
        request="add a setting",
        paths=["app/core.py", "ruff.toml"],
        message="add x",
        trust_config_changes=trusted,
        environ=environ(),
    )
    used = "trusted: used" if trusted else "not used: linted with the base commit's"
    assert outcome.config_changes == (f"ruff.toml (changed; {used})",)
    if trusted:
        assert outcome.passed
        assert outcome.commit is not None
        message, _, files = commit_of(task, Ran(outcome, session))
        assert "Memfun-Gate: ruff=pass review=pass" in message
        assert set(files) == {"app/core.py", "ruff.toml"}
    else:
        assert not outcome.passed
        assert outcome.reason.startswith("ruff failed: app/core.py:1: error: E501")
        assert task.commits == []
        assert session.usage.calls == 0
