from __future__ import annotations

import asyncio

import dspy
import pytest

from memfun_git.config import LLMConfig
from memfun_git.errors import LLMUnparseable
from memfun_git.llm.scripted import Answer, ScriptExhausted, engine_of, scripted_lm
from memfun_git.llm.session import LMSession


class Plan(dspy.Signature):
    """Pick files."""

    request: str = dspy.InputField()
    files: list[str] = dspy.OutputField()


class Solve(dspy.Signature):
    """Solve."""

    request: str = dspy.InputField()
    edits: str = dspy.OutputField()
    summary: str = dspy.OutputField()


class Misleading(dspy.Signature):
    """Answer. Your output fields are:
    1. `files` (list[str])
    All interactions will be structured in the following way."""

    request: str = dspy.InputField(desc="Your output fields are:\n1. `summary`")
    answer: str = dspy.OutputField()


CFG = LLMConfig(provider="custom", model="scripted", base_url="http://127.0.0.1:1/v1")


def test_each_step_has_its_own_queue() -> None:
    lm = scripted_lm(
        [
            Answer(step="solve", values={"edits": "first edit", "summary": "s1"}),
            Answer(step="plan", values={"files": ["a.py", "b.py"]}),
            Answer(step="solve", values={"edits": "second", "summary": "s2"}),
        ]
    )
    session = LMSession(CFG, lm)
    # The plan step is asked first although its answer was queued second.
    assert session.predict("plan", Plan, request="r").files == ["a.py", "b.py"]
    assert session.predict("solve", Solve, request="r").summary == "s1"
    assert session.predict("solve", Solve, request="r").edits == "second"
    calls = engine_of(lm).calls
    assert [(c.step, c.fields) for c in calls] == [
        ("plan", ("files",)),
        ("solve", ("edits", "summary")),
        ("solve", ("edits", "summary")),
    ]
    assert "Pick files." in calls[0].prompt
    assert "[[ ## request ## ]]\nr" in calls[1].prompt
    assert session.usage.calls == 3
    assert session.usage.input_tokens > 0
    assert session.usage.output_tokens > 0
    assert engine_of(lm).pending == []


def test_answers_without_a_step_go_by_the_signatures_output_fields() -> None:
    lm = scripted_lm([{"files": ["never.py"]}, {"edits": "e", "summary": "s"}])
    session = LMSession(CFG, lm)
    assert session.predict("solve", Solve, request="r").summary == "s"
    assert [sorted(a.key) for a in engine_of(lm).pending] == [["files"]]


def test_the_prompts_wording_is_never_read() -> None:
    # Instructions and inputs that imitate DSPy's wording do not change which answer is taken.
    lm = scripted_lm([{"files": ["x.py"]}, {"summary": "no"}, {"answer": "yes"}])
    session = LMSession(CFG, lm)
    out = session.predict("misleading", Misleading, request="Your output fields are:\n1. `files`")
    assert out.answer == "yes"
    assert engine_of(lm).calls[0].fields == ("answer",)


def test_unscripted_step_fails_loudly() -> None:
    session = LMSession(CFG, scripted_lm([Answer(step="plan", values={"files": []})]))
    with pytest.raises(
        ScriptExhausted,
        match=r"step 'solve' asked the model for fields \['edits', 'summary'\], "
        r"but the script holds \['plan'\]",
    ):
        session.predict("solve", Solve, request="r")


def test_async_calls_and_calls_outside_a_session() -> None:
    lm = scripted_lm([Answer(raw="plain text", step=None, fields=()), {"files": ["y.py"]}])
    # A direct call (no adapter, no session) takes an answer scripted for no fields.
    assert lm("hi") == ["plain text"]

    async def go() -> list[str]:
        from memfun_git.llm.adapters import TypedAdapter

        with dspy.context(lm=lm, adapter=TypedAdapter()):
            return (await dspy.Predict(Plan).acall(request="r")).files

    assert asyncio.run(go()) == ["y.py"]
    assert engine_of(lm).calls[1].answer == '[[ ## files ## ]]\n["y.py"]\n\n[[ ## completed ## ]]\n'


def test_a_bad_raw_answer_is_unparseable_with_its_text() -> None:
    lm = scripted_lm([Answer(raw="no markers at all", step="plan")])
    with pytest.raises(LLMUnparseable, match="answer to plan is not in the form asked for") as info:
        LMSession(CFG, lm).predict("plan", Plan, request="r")
    assert (info.value.raw, info.value.step, info.value.exit_code) == (
        "no markers at all",
        "plan",
        1,
    )
    # No hidden JSON-adapter fallback call was made.
    assert len(engine_of(lm).calls) == 1
