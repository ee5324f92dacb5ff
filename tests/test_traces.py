"""traces.py on its own: events as JSON records, a trace redacted and cut to fit, the summary
with the ladder's climbs, and the note added after the gate's (or on a kept attempt)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pygit2
import pytest

from memfun_git import traces
from memfun_git.events import StepStarted, TaskStarted
from memfun_git.llm.usage import CallRecord, Usage
from memfun_git.tasks import CommitInfo, Task, TaskResult, UsageReport
from memfun_git.traces import TraceCollector, build_trace, note_trace, summary_text
from tests.conftest import git

SECRET = "sk-memfun-traces-unit-5c2a9e8d1f"


def _trace(repo: Path, *, commits: tuple[CommitInfo, ...] = (), attempt: str | None = None,
           prompt: str = "") -> dict[str, Any]:  # fmt: skip
    usage = Usage()
    usage.record(CallRecord("solve", 10, 5, 0.001, "stop", 0.5, prompt=prompt, answer="ok"))
    collector = TraceCollector()
    collector(TaskStarted("t-1", "add greet", "memfun/t-1", "abc", "/w"))
    collector(StepStarted("escalate", "context-first failed (x); workflow next"))
    task = Task("t-1", f"add greet with key {SECRET}", repo)
    result = TaskResult(task, "done", "memfun/t-1", "abc", commits=commits, attempt=attempt,
                        usage=UsageReport.of(usage))  # fmt: skip
    return build_trace(result, collector.events, usage)


def test_a_trace_is_redacted_and_its_summary_says_the_climb(git_repo: Path) -> None:
    trace = _trace(git_repo, prompt=f"## user\nthe key {SECRET}")
    assert SECRET not in str(trace)
    assert [e["event"] for e in trace["events"]] == ["TaskStarted", "StepStarted"]
    text = summary_text(trace)
    assert "escalated: context-first failed (x); workflow next" in text
    assert "model calls: 1 (solve 1); tokens 10 in, 5 out; cost $0.0010" in text


def test_a_trace_too_large_keeps_each_prompt_s_head_and_tail(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(traces, "MAX_TRACE_CHARS", 50_000)
    trace = _trace(git_repo, prompt="head\n" + "x" * 150_000 + "\ntail")
    prompt = trace["calls"][0]["prompt"]
    assert prompt.startswith("head\n")
    assert prompt.endswith("\ntail")
    assert "characters left out of the trace" in prompt
    assert len(prompt) < 10_000


def test_the_note_goes_after_the_gate_s_and_on_an_attempt_when_nothing_was_committed(
    git_repo: Path,
) -> None:
    repo = pygit2.Repository(str(git_repo))
    head = git(git_repo, "rev-parse", "HEAD").strip()
    git(git_repo, "notes", "--ref=memfun", "add", "-m", "memfun gate: passed", head)
    done = _trace(git_repo, commits=(CommitInfo(head, "x", (), "passed"),))
    assert note_trace(repo, done) == head
    note_trace(repo, done)  # again (a re-run): the task's part is replaced, not repeated
    shown = git(git_repo, "notes", "--ref=memfun", "show", head)
    assert shown.startswith("memfun gate: passed\n\nmemfun task t-1: done in ")
    assert shown.count("memfun task t-1") == 1
    git(git_repo, "update-ref", "refs/memfun/attempts/t-1", head)
    git(git_repo, "notes", "--ref=memfun", "remove", head)
    assert note_trace(repo, _trace(git_repo, attempt="refs/memfun/attempts/t-1")) == head
    assert note_trace(repo, _trace(git_repo)) is None
