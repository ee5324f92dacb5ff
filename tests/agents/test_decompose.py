"""The decomposer against the scripted model: a plan read in one call; a refused plan asked
for once more with the refusal; refused twice, a one-line failure for the ladder."""

from __future__ import annotations

import json

import pytest

from memfun_git.agents.decompose import DecomposeFailed, decompose
from memfun_git.config import LLMConfig
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.llm.session import LMSession

GOOD = json.dumps({"subtasks": [
    {"id": "impl", "specialist": "coder", "request": "add the pool", "after": []},
    {"id": "tests", "specialist": "tester", "request": "test the pool", "after": ["impl"]},
]})  # fmt: skip
CYCLE = json.dumps({"subtasks": [
    {"id": "a", "specialist": "coder", "request": "x", "after": ["b"]},
    {"id": "b", "specialist": "coder", "request": "y", "after": ["a"]},
]})  # fmt: skip


def _session(*raw: str) -> LMSession:
    answers = [Answer(raw=r, step="decompose") for r in raw]
    return LMSession(LLMConfig(provider="openai", model="memfun-scripted"), scripted_lm(answers))


def test_one_call_gives_the_plan_and_the_prompt_holds_what_it_needs() -> None:
    session = _session(GOOD)
    dag = decompose(session, "add a connection pool", project="src/db.py (2 KB)\n  def connect()",
                    conventions="- use pool_size=10 for dev", max_nodes=5)  # fmt: skip
    assert [(n.id, n.specialist, n.after) for n in dag.nodes] == [
        ("impl", "coder", ()), ("tests", "tester", ("impl",)),
    ]  # fmt: skip
    (call,) = engine_of(session.lm).calls
    for shown in ("add a connection pool", "def connect()", "pool_size=10", "at most 5",
                  "security:", "read-only"):  # fmt: skip
        assert shown in call.prompt
    assert session.usage.calls == 1


def test_a_refused_plan_is_asked_for_again_with_the_refusal() -> None:
    session = _session(CYCLE, GOOD)
    dag = decompose(session, "add a connection pool", project="")
    assert len(dag.nodes) == 2
    first, second = engine_of(session.lm).calls
    assert "Your plan was refused" not in first.prompt
    assert "Your plan was refused: the sub-tasks depend on each other in a cycle." in second.prompt


def test_refused_twice_the_workflow_says_why_in_one_line() -> None:
    session = _session(CYCLE, "I would rather not plan.")
    with pytest.raises(DecomposeFailed) as caught:
        decompose(session, "do everything", project="")
    assert caught.value.message == (
        "the decomposer gave no usable plan: the answer holds no JSON object: answer with the "
        "plan's JSON only"
    )
    assert session.usage.calls == 2


def test_a_bug_fix_s_plan_gives_the_fix_to_the_debugger() -> None:
    fixed = json.dumps({"subtasks": [
        {"id": "cause", "specialist": "debugger", "request": "fix mean() on 0", "after": []},
        {"id": "test", "specialist": "tester", "request": "test mean(0)", "after": ["cause"]},
    ]})  # fmt: skip
    session = _session(GOOD, fixed)
    dag = decompose(session, "Fix this bug: mean() crashes on 0", project="", lead="debugger")
    assert [n.specialist for n in dag.nodes] == ["debugger", "tester"]
    first, second = engine_of(session.lm).calls
    assert "This is a bug fix: give the fix to the debugger specialist." in first.prompt
    assert (
        "Your plan was refused: no sub-task is the debugger's, and this bug fix is its work."
        in second.prompt
    )
