from __future__ import annotations

import dspy
import pytest

from memfun_git.config import LLMConfig
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


CFG = LLMConfig(provider="custom", model="scripted", base_url="http://127.0.0.1:1/v1")


def test_each_step_has_its_own_queue() -> None:
    lm = scripted_lm(
        [
            {"edits": "first edit\n  keeps trailing spaces  \n", "summary": "s1"},
            {"files": ["a.py", "b.py"]},
            {"edits": "second", "summary": "s2"},
        ]
    )
    session = LMSession(CFG, lm)
    # The plan step is asked first although its answer was queued second.
    assert session.predict(Plan, request="r").files == ["a.py", "b.py"]
    first = session.predict(Solve, request="r")
    assert first.summary == "s1"
    assert session.predict(Solve, request="r").edits == "second"
    calls = engine_of(lm).calls
    assert [c.fields for c in calls] == [("files",), ("edits", "summary"), ("edits", "summary")]
    assert "Pick files." in calls[0].prompt
    assert "[[ ## request ## ]]\nr" in calls[1].prompt
    assert session.usage.calls == 3
    assert session.usage.input_tokens > 0
    assert session.usage.output_tokens > 0
    assert engine_of(lm).pending == []


def test_a_skipped_step_does_not_shift_the_rest() -> None:
    lm = scripted_lm([{"files": ["never.py"]}, {"edits": "e", "summary": "s"}])
    session = LMSession(CFG, lm)
    assert session.predict(Solve, request="r").summary == "s"
    assert [sorted(a.key) for a in engine_of(lm).pending] == [["files"]]


def test_unscripted_step_fails_loudly() -> None:
    session = LMSession(CFG, scripted_lm([{"files": []}]))
    with pytest.raises(ScriptExhausted, match=r"asked for fields \['edits', 'summary'\]"):
        session.predict(Solve, request="r")


def test_json_adapter_and_async() -> None:
    lm = scripted_lm([{"files": ["x.py"]}, {"files": ["y.py"]}])
    with dspy.context(lm=lm, adapter=dspy.JSONAdapter()):
        assert dspy.Predict(Plan)(request="r").files == ["x.py"]
    import asyncio

    async def go() -> list[str]:
        with dspy.context(lm=lm):
            return (await dspy.Predict(Plan).acall(request="r")).files

    assert asyncio.run(go()) == ["y.py"]
    assert engine_of(lm).calls[0].answer == '{"files": ["x.py"]}'


def test_raw_answers_reach_the_parser() -> None:
    from memfun_git.errors import LLMBadResponse

    lm = scripted_lm([Answer(raw="no markers at all", fields=("files",))])
    with pytest.raises(LLMBadResponse, match="did not have the fields asked for"):
        LMSession(CFG, lm).predict(Plan, request="r")
    # No hidden JSON-adapter fallback call was made.
    assert len(engine_of(lm).calls) == 1
