"""What `memfun run` draws: the live progress lines on a terminal (none off one) and the summary
of a failed task, styled or plain."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

from memfun_git.backends.protocols import RunResult
from memfun_git.cli.progress import CallSpinner
from memfun_git.cli.render import TaskProgress, print_summary, summary_lines
from memfun_git.edits.ops import OpResult
from memfun_git.edits.results import Reason, Refusal
from memfun_git.events import (
    AgentFinished,
    AgentStarted,
    BranchMerged,
    CommandRan,
    FilesGathered,
    LintRan,
    OperationDone,
    SetupRan,
    StepStarted,
    TaskFinished,
)
from memfun_git.operations import EditFile, WriteFile
from memfun_git.quality.verdicts import Finding, GateOutcome, LintVerdict, Review
from memfun_git.tasks import Task, TaskResult, UsageReport

FINDING = Finding("src/a.py", 1, "error", "F401 `os` imported but unused", source="ruff:F401")
VERDICT = LintVerdict(
    "ruff",
    "fail",
    program="/home/u/p/.venv/bin/ruff",
    output="src/a.py:1:8: F401 `os` imported but unused\nFound 1 error.",
    findings=(FINDING,),
)
REFUSED = OpResult(
    EditFile("src/b.py", "x = 1\n", "x = 2\n"),
    False,
    "src/b.py: the search text was not found in the file — quote the lines exactly",
    refusal=Refusal(Reason.NOT_FOUND, path="src/b.py"),
)
RESULT = TaskResult(
    task=Task("add-x-123abc", "add x", Path("/repo")),
    status="failed",
    branch="memfun/add-x-123abc",
    base="0" * 40,
    operations=(OpResult(WriteFile("src/a.py", "import os\n"), True, "created src/a.py"), REFUSED),
    commands=(RunResult(("pytest", "-q"), 1, "", "E   assert 1 == 2\n1 failed", 0.5),),
    gate=GateOutcome(
        passed=False,
        verdicts=(VERDICT,),
        fix_rounds=1,
        review=None,
        reason="ruff failed after 1 fix round: src/a.py:1: error: F401",
    ),
    usage=UsageReport(calls=3, input_tokens=1800, output_tokens=400, unpriced_calls=3),
    seconds=12.4,
    files_gathered=("src/a.py", "README.md"),
    context_bytes=3 * 1024,
    attempt="refs/memfun/attempts/add-x-123abc/1",
    error="ruff failed after 1 fix round: src/a.py:1: error: F401 — the change is kept",
)


def test_a_failed_tasks_summary_says_why_with_the_linters_output_and_the_attempt() -> None:
    assert [text for text, _ in summary_lines(RESULT)] == [
        "Context-first: gathered 2 files (3 KB)",
        "",
        "Operations:",
        "  write  src/a.py (1 line)",
        "  edit   src/b.py  (refused: src/b.py: the search text was not found in the file "
        "— quote the lines exactly)",
        "  run    pytest -q  (exit 1)",
        "         E   assert 1 == 2",
        "         1 failed",
        "",
        "Verified: 1 lint error — ruff fail (/home/u/p/.venv/bin/ruff)",
        "  after 1 fix round",
        "  src/a.py:1:8: F401 `os` imported but unused",
        "  Found 1 error.",
        "",
        "12 s  •  2.2k tokens (3 calls)  •  cost unknown",
        "Failed: ruff failed after 1 fix round: src/a.py:1: error: F401 — the change is kept",
        "Attempt kept: refs/memfun/attempts/add-x-123abc/1",
    ]


def test_the_summary_is_styled_on_a_terminal_unless_no_color() -> None:
    styled, plain = io.StringIO(), io.StringIO()
    print_summary(RESULT, styled, {"FORCE_COLOR": "1", "TERM": "xterm"})
    print_summary(RESULT, plain, {"FORCE_COLOR": "1", "TERM": "xterm", "NO_COLOR": "1"})
    assert "\x1b[" in styled.getvalue()
    assert "\x1b" not in plain.getvalue()
    assert plain.getvalue().splitlines() == [text for text, _ in summary_lines(RESULT)]


def test_progress_is_drawn_on_a_terminal_only() -> None:
    events = [
        StepStarted("setup", "npm ci"),
        SetupRan("npm ci", 2.34),
        StepStarted("context"),
        FilesGathered(("src/a.py",), 2048, planned=True),
        StepStarted("solve", "retry: the answer was cut off"),
        OperationDone(REFUSED),
        CommandRan(RunResult(("pytest", "-q"), 0, "", "", 0.1), "/usr/bin/pytest"),
        LintRan(VERDICT),
        TaskFinished(RESULT),
    ]
    drawn: dict[bool, str] = {}
    for terminal in (True, False):
        stream = io.StringIO()
        with CallSpinner(stream, terminal=terminal, environ={"TERM": "xterm"}) as spinner:
            progress = TaskProgress(spinner)
            for event in events:
                progress(event)
        assert progress.result is RESULT
        drawn[terminal] = stream.getvalue()
    assert drawn[False] == ""
    shown = drawn[True]
    for line in (
        "✓ setup npm ci (2.3 s)",
        "✓ gathered 1 file (2 KB), chosen by the planner",
        "solve: retry: the answer was cut off",
        "edit   src/b.py  (refused: src/b.py: the search text was not found",
        "run    pytest -q  (exit 0)",
        "ruff fail (/home/u/p/.venv/bin/ruff)",
    ):
        assert line in shown


def test_the_ladder_and_the_specialists_leave_lines_above_the_spinner() -> None:
    events = [
        StepStarted("escalate", "context-first failed (the model changed nothing); workflow next"),
        StepStarted("decompose"),
        AgentStarted("greet", "coder", "write greet()", "memfun-agents/t/greet"),
        AgentFinished("greet", "coder", "done", commits=1),
        AgentStarted("docs", "coder", "write docs", "memfun-agents/t/docs-r1", round=1),
        AgentFinished("docs", "coder", "failed", "docs (coder) changed nothing", round=1),
        StepStarted("resolve", "memfun-agents/t/docs: README.md"),
        BranchMerged("memfun-agents/t/greet", "abc123", settled=("README.md",)),
        BranchMerged("memfun-agents/t/docs", "", conflicts=("README.md",)),
        StepStarted("explore step", "1 of 20"),
    ]
    stream = io.StringIO()
    with CallSpinner(stream, terminal=True, environ={"TERM": "xterm"}) as spinner:
        progress = TaskProgress(spinner)
        for event in events:
            progress(event)
    shown = stream.getvalue()
    for line in (
        "↑ escalate: context-first failed (the model changed nothing); workflow next",
        "· coder started greet on memfun-agents/t/greet",
        "✓ coder greet done",
        "· coder started docs (revision 1) on memfun-agents/t/docs-r1",
        "✗ coder docs failed: docs (coder) changed nothing",
        "· resolve: memfun-agents/t/docs: README.md",
        "✓ merged memfun-agents/t/greet (conflicts settled: README.md)",
        "memfun-agents/t/docs conflicts in README.md",
    ):
        assert line in shown
    assert "decompose:" not in shown


def test_a_blocking_review_is_shown_with_each_finding() -> None:
    passing = LintVerdict("ruff", "pass", program="/usr/bin/ruff")
    warning = Finding("src/a.py", 3, "warning", "the loop reads the file twice")
    gate = GateOutcome(
        passed=False,
        verdicts=(passing,),
        review=Review((FINDING, warning), "adds x, but imports os for nothing"),
        blocking=(FINDING,),
    )
    lines = summary_lines(replace(RESULT, gate=gate, operations=(), commands=()))
    assert lines[2:6] == [
        ("Verified: 0 lint errors — ruff pass (/usr/bin/ruff)", "green"),
        ("Review: 2 findings, 1 blocking — adds x, but imports os for nothing", "red"),
        ("  src/a.py:1: error: F401 `os` imported but unused", "red"),
        ("  src/a.py:3: warning: the loop reads the file twice", "yellow"),
    ]
