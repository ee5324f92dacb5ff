"""Drafting a skill from traces (skills/draft.py) with the scripted model: the done traces
most like the skill's purpose picked, their operations and checks given as examples, the
draft written as a valid SKILL.md (asked for once more when refused), and the refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from memfun_git.config import LLMConfig
from memfun_git.errors import UsageError
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.llm.session import LMSession
from memfun_git.skills.catalog import parse_skill
from memfun_git.skills.draft import draft_skill, pick_traces

GOOD = Answer({"description": "Add an HTTP endpoint the project's way. Use when adding one.",
               "body": "# Add an endpoint\n\n1. Add the route in src/api.py."},
              step="skill-draft")  # fmt: skip


def _trace(task_id: str, request: str, status: str = "done") -> dict[str, Any]:
    return {
        "id": task_id, "request": request, "status": status, "summary": "Added it.",
        "commits": [{"oid": "abc", "gate": "passed"}], "written": 1.0,
        "events": [
            {"event": "OperationDone",
             "result": {"ok": True, "op": {"path": "src/api.py", "search": "x", "replace": "y"}}},
            {"event": "CommandRan", "result": {"argv": ["pytest", "-q"], "exit_code": 0}},
        ],
    }  # fmt: skip


def _session(*answers: Answer) -> LMSession:
    return LMSession(LLMConfig(provider="openai", model="memfun-scripted"), scripted_lm(answers))


def test_the_traces_most_like_the_purpose_are_picked() -> None:
    traces = [_trace("a", "add the users endpoint"), _trace("b", "fix the README typo"),
              _trace("c", "add the orders endpoint", status="failed"),
              _trace("d", "add an endpoint for health checks")]  # fmt: skip
    assert [t["id"] for t in pick_traces(traces, "add an endpoint")] == ["d", "a"]


def test_a_draft_is_a_valid_skill_built_from_the_examples(tmp_path: Path) -> None:
    session = _session(GOOD)
    draft = draft_skill(session, tmp_path, "add-endpoint", "add an endpoint",
                        [_trace("t-1", "add the users endpoint")])  # fmt: skip
    assert draft.path == tmp_path / ".memfun" / "skills" / "add-endpoint" / "SKILL.md"
    skill = parse_skill(draft.path.parent)
    assert skill.mode == "task"
    assert skill.metadata["memfun-drafted-from"] == "t-1"
    assert skill.instructions.startswith("# Add an endpoint")
    (call,) = engine_of(session.lm).calls
    for shown in ("add the users endpoint", "edit src/api.py", "pytest -q (exit 0)"):
        assert shown in call.prompt


def test_a_refused_draft_is_asked_for_again_then_given_up(tmp_path: Path) -> None:
    long = Answer({"description": "x" * 1100, "body": "# X"}, step="skill-draft")
    session = _session(long, GOOD)
    draft_skill(session, tmp_path, "again", "add an endpoint", [_trace("t", "add it")])
    second = engine_of(session.lm).calls[1]
    assert "Your draft was refused: description: is 1100 characters (at most 1024)." in (
        second.prompt
    )
    with pytest.raises(UsageError, match="the drafted skill is not valid"):
        draft_skill(_session(long, long), tmp_path, "never", "x", [_trace("t", "x")])
    assert not (tmp_path / ".memfun" / "skills" / "never").exists()


@pytest.mark.parametrize(("name", "traces", "said"), [
    ("Bad_Name", [_trace("t", "x")], "cannot name a skill"),
    ("again", [], "no finished task's trace is about"),
])  # fmt: skip
def test_bad_names_and_no_history_are_one_line(
    tmp_path: Path, name: str, traces: list[dict[str, Any]], said: str
) -> None:
    with pytest.raises(UsageError, match=said):
        draft_skill(_session(), tmp_path, name, "x", traces)


def test_an_existing_skill_is_never_overwritten(tmp_path: Path) -> None:
    draft_skill(_session(GOOD), tmp_path, "kept", "x", [_trace("t", "x")])
    with pytest.raises(UsageError, match="exists already"):
        draft_skill(_session(GOOD), tmp_path, "kept", "x", [_trace("t", "x")])
