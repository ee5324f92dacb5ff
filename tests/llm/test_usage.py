"""Usage is recorded where each call happens: per session, per step, before every call."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import dspy
import pytest

from memfun_git.config import LLMConfig
from memfun_git.errors import BudgetExceeded, TierBudgetSpent
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.llm.session import LMSession
from memfun_git.llm.usage import CallRecord, StepUsage, Usage
from tests.helpers.stub_llm import StubLLMServer, StubReply

CFG = LLMConfig(provider="custom", model="m", base_url="http://127.0.0.1:1/v1")


class Chain(dspy.Module):
    """A module that makes several calls (as the explore tier does), with a pause point."""

    def __init__(self, calls: int, pause: threading.Barrier | None = None) -> None:
        super().__init__()
        self.ask = dspy.Predict("question -> answer")
        self.calls = calls
        self.pause = pause

    def forward(self, question: str) -> dspy.Prediction:
        answer: Any = None
        for index in range(self.calls):
            answer = self.ask(question=f"{question} {index}")
            if self.pause is not None and index == 0:
                self.pause.wait(timeout=30)
        return answer


def _answers(n: int, text: str = "a") -> list[Answer]:
    return [Answer(values={"answer": text}, input_tokens=10, output_tokens=2) for _ in range(n)]


def test_usage_is_kept_per_step() -> None:
    lm = scripted_lm(_answers(3))
    session = LMSession(CFG, lm)
    session.predict("plan", "question -> answer", question="1")
    session.run("explore", Chain(2), question="q")
    assert session.usage.by_step == {
        "plan": StepUsage(calls=1, input_tokens=10, output_tokens=2, unpriced_calls=1),
        "explore": StepUsage(calls=2, input_tokens=20, output_tokens=4, unpriced_calls=2),
    }
    assert [r.step for r in session.usage.records] == ["plan", "explore", "explore"]
    assert all(r.finish_reason == "stop" for r in session.usage.records)
    assert session.usage.as_dict()["by_step"]["explore"]["calls"] == 2


def test_calls_are_counted_with_dspy_history_disabled_or_full() -> None:
    lm = scripted_lm(_answers(3))
    session = LMSession(CFG, lm)
    with dspy.context(disable_history=True):
        session.predict("a", "question -> answer", question="1")
    assert lm.history == []
    # DSPy keeps at most 10,000 entries: a full history no longer grows, and still counts.
    lm.history.extend({} for _ in range(10_000))
    session.predict("b", "question -> answer", question="2")
    session.predict("b", "question -> answer", question="3")
    assert len(lm.history) == 10_000
    assert (session.usage.calls, session.usage.tokens) == (3, 36)


def test_two_sessions_sharing_one_lm_from_two_threads() -> None:
    lm = scripted_lm(_answers(5))
    first, second = LMSession(CFG, lm), LMSession(CFG, lm)
    # Each thread pauses mid-module until the other has made a call: their calls interleave.
    pause = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(session: LMSession, calls: int) -> None:
        try:
            session.run("specialist", Chain(calls, pause), question="q")
        except BaseException as exc:  # surfaced below, in the test's thread
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(first, 2)),
        threading.Thread(target=work, args=(second, 3)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert (first.usage.calls, second.usage.calls) == (2, 3)
    assert (first.usage.tokens, second.usage.tokens) == (24, 36)
    assert len(engine_of(lm).calls) == 5


class Fanout(dspy.Module):
    """Calls made on DSPy's own worker threads (dspy.Parallel)."""

    def __init__(self) -> None:
        super().__init__()
        self.ask = dspy.Predict("question -> answer")

    def forward(self, questions: list[str]) -> list[Any]:
        pairs = [(self.ask, {"question": q}) for q in questions]
        return dspy.Parallel(num_threads=3, disable_progress_bar=True)(pairs)


def test_calls_on_dspy_worker_threads_belong_to_the_session() -> None:
    lm = scripted_lm(_answers(3))
    session = LMSession(CFG, lm)
    session.run("fanout", Fanout(), questions=["a", "b", "c"])
    assert session.usage.by_step["fanout"].calls == 3
    assert {c.step for c in engine_of(lm).calls} == {"fanout"}


def test_async_calls_in_a_sessions_scope_are_recorded() -> None:
    from memfun_git.llm.adapters import TypedAdapter
    from memfun_git.llm.meter import SCOPE_KEY, CallMeter, CallScope

    lm = scripted_lm(_answers(2))
    usage = Usage()
    scope = CallScope(CallMeter(CFG, usage, "http://127.0.0.1:1/v1"), "async-step")

    async def go() -> None:
        with dspy.context(lm=lm, adapter=TypedAdapter(), **{SCOPE_KEY: scope}):
            await dspy.Predict("question -> answer").acall(question="1")
            await dspy.Predict("question -> answer").acall(question="2")

    asyncio.run(go())
    assert usage.by_step == {
        "async-step": StepUsage(calls=2, input_tokens=20, output_tokens=4, unpriced_calls=2)
    }


def test_the_call_cap_stops_a_module_mid_way() -> None:
    cfg = LLMConfig(provider="custom", model="m", base_url="http://x/v1", max_calls_per_task=2)
    lm = scripted_lm(_answers(5))
    session = LMSession(cfg, lm)
    with pytest.raises(BudgetExceeded) as info:
        session.run("explore", Chain(4), question="q")
    assert str(info.value) == (
        "the task used its 2 model calls and was stopped — raise [llm] max_calls_per_task, "
        "or split the request"
    )
    assert info.value.exit_code == 1
    assert len(engine_of(lm).calls) == 2
    assert session.usage.calls == 2


def test_token_and_cost_caps_are_checked_before_the_next_call() -> None:
    usage = Usage()
    usage.record(CallRecord("solve", 900, 200, 0.75, "stop", 1.0))
    usage.record(CallRecord("review", 10, 5, None, "stop", 0.5))
    assert (usage.calls, usage.tokens, usage.unpriced_calls) == (2, 1115, 1)
    assert usage.summary() == "2 calls · 1,115 tokens (910 in, 205 out) · $0.7500 + unpriced calls"
    with pytest.raises(BudgetExceeded, match="used 1,115 tokens"):
        usage.reserve(LLMConfig(max_tokens_per_task=1000))
    with pytest.raises(BudgetExceeded, match=r"cost \$0.75 \(cap \$0.50\)"):
        usage.reserve(LLMConfig(max_cost_per_task=0.5))
    usage.reserve(LLMConfig(max_tokens_per_task=0, max_cost_per_task=0, max_calls_per_task=0))


def test_calls_in_flight_count_against_the_call_cap() -> None:
    usage = Usage()
    cap = LLMConfig(max_calls_per_task=2)
    usage.reserve(cap)
    usage.reserve(cap)
    with pytest.raises(BudgetExceeded):
        usage.reserve(cap)
    usage.release()  # that call failed: nothing billed, the slot is free again
    usage.reserve(cap)


def test_a_tier_budget_stops_the_tier_not_the_task() -> None:
    usage = Usage()
    cap = LLMConfig(max_calls_per_task=10)
    usage.reserve(cap)
    usage.record(CallRecord("solve", 1, 1, 0.0, "stop", 0.1))  # before the tier: not counted
    with usage.tier_budget("workflow", 2):
        usage.reserve(cap)
        usage.reserve(cap)
        with pytest.raises(TierBudgetSpent, match="the workflow tier used its 2 model calls"):
            usage.reserve(cap)
    usage.reserve(cap)  # the next tier has the rest of the task's calls
    with usage.tier_budget("explore", 0):  # 0: no budget of its own
        for _ in range(6):
            usage.reserve(cap)
    with pytest.raises(BudgetExceeded):
        usage.reserve(cap)


def test_usage_over_http_is_the_providers_own_count() -> None:
    replies = [
        StubReply(
            "[[ ## answer ## ]]\nx\n\n[[ ## completed ## ]]", input_tokens=1234, output_tokens=56
        )
    ]
    with StubLLMServer(replies) as stub:
        cfg = LLMConfig(provider="custom", model="stub-model", base_url=stub.url, num_retries=0)
        session = LMSession.from_config(cfg, {})
        with dspy.context(disable_history=True):
            session.predict("ask", "question -> answer", question="q")
    (record,) = session.usage.records
    assert (record.step, record.input_tokens, record.output_tokens, record.finish_reason) == (
        "ask",
        1234,
        56,
        "stop",
    )
    assert session.lm.history == []
