"""Usage of the model by one run: every call as it happened, totals per step, and the caps.

A `Usage` lives on the run (its `LMSession`), never in a module global, and is written where
each call happens (`llm/meter.py`), not read back from `lm.history`: DSPy's history can be
disabled, is capped at 10,000 entries, and is shared by every session that uses the same LM.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from memfun_git.config import LLMConfig
from memfun_git.errors import BudgetExceeded, TierBudgetSpent

__all__ = ["CallRecord", "StepUsage", "Usage"]


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One answered provider call, as its response reported it."""

    step: str
    input_tokens: int
    output_tokens: int
    cost: float | None
    """US dollars; None when the price list does not know the model."""
    finish_reason: str | None
    seconds: float
    prompt: str = ""
    """What was sent (the messages, each after a `## role` line), redacted and capped: the
    task's trace."""
    answer: str = ""
    """What came back, redacted and capped."""
    started: float = 0.0
    """When the call began (time.time())."""


@dataclass(frozen=True, slots=True)
class StepUsage:
    """Calls, tokens and cost of one step (or of a whole run)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    """US dollars for the calls whose price is known."""
    unpriced_calls: int = 0
    """Calls whose price litellm's local price list does not know."""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def plus(self, call: CallRecord) -> StepUsage:
        return StepUsage(
            calls=self.calls + 1,
            input_tokens=self.input_tokens + call.input_tokens,
            output_tokens=self.output_tokens + call.output_tokens,
            cost=self.cost + (call.cost or 0.0),
            unpriced_calls=self.unpriced_calls + (call.cost is None),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost, 6),
            "unpriced_calls": self.unpriced_calls,
        }


@dataclass(slots=True)
class Usage:
    """The run's record of model calls; thread-safe (specialists share one run)."""

    _total: StepUsage = field(default_factory=StepUsage, init=False)
    _steps: dict[str, StepUsage] = field(default_factory=dict[str, StepUsage], init=False)
    _records: list[CallRecord] = field(default_factory=list[CallRecord], init=False, repr=False)
    _in_flight: int = field(default=0, init=False, repr=False)
    _tier: tuple[str, int, int] | None = field(default=None, init=False, repr=False)
    """(tier, calls when it began, the calls it may make) while a tier's budget holds."""
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @property
    def total(self) -> StepUsage:
        with self._lock:
            return self._total

    @property
    def by_step(self) -> dict[str, StepUsage]:
        """Totals per step name (`plan`, `solve`, `review`…), in the order steps first ran."""
        with self._lock:
            return dict(self._steps)

    @property
    def records(self) -> tuple[CallRecord, ...]:
        with self._lock:
            return tuple(self._records)

    @property
    def calls(self) -> int:
        return self.total.calls

    @property
    def input_tokens(self) -> int:
        return self.total.input_tokens

    @property
    def output_tokens(self) -> int:
        return self.total.output_tokens

    @property
    def tokens(self) -> int:
        return self.total.tokens

    @property
    def cost(self) -> float:
        return self.total.cost

    @property
    def unpriced_calls(self) -> int:
        return self.total.unpriced_calls

    def reserve(self, llm: LLMConfig) -> None:
        """Claim one call before it is made; raise BudgetExceeded when a cap of [llm] is reached.

        Calls in flight count against max_calls_per_task, so threads sharing the run cannot
        overshoot it together. Each reservation ends in `record` or `release`.
        """
        with self._lock:
            total, pending = self._total, self._in_flight
            if llm.max_calls_per_task and total.calls + pending >= llm.max_calls_per_task:
                raise BudgetExceeded(
                    f"the task used its {llm.max_calls_per_task} model calls and was stopped",
                    "raise [llm] max_calls_per_task, or split the request",
                )
            if llm.max_tokens_per_task and total.tokens >= llm.max_tokens_per_task:
                raise BudgetExceeded(
                    f"the task used {total.tokens:,} tokens (cap {llm.max_tokens_per_task:,}) "
                    "and was stopped",
                    "raise [llm] max_tokens_per_task, or split the request",
                )
            if llm.max_cost_per_task and total.cost >= llm.max_cost_per_task:
                raise BudgetExceeded(
                    f"the task cost ${total.cost:.2f} (cap ${llm.max_cost_per_task:.2f}) "
                    "and was stopped",
                    "raise [llm] max_cost_per_task, or split the request",
                )
            if self._tier is not None:
                tier, start, limit = self._tier
                if total.calls + pending - start >= limit:
                    raise TierBudgetSpent(
                        f"the {tier} tier used its {limit} model calls",
                        "raise its budget in [workflow], or split the request",
                    )
            self._in_flight += 1

    @contextmanager
    def tier_budget(self, tier: str, calls: int) -> Generator[None]:
        """Within the block, at most `calls` more calls (0: no limit beyond [llm]'s): past
        them `reserve` raises TierBudgetSpent, a tier's failure the next tier may overcome,
        where BudgetExceeded ends the task."""
        if calls <= 0:
            yield
            return
        with self._lock:
            before = self._tier
            self._tier = (tier, self._total.calls + self._in_flight, calls)
        try:
            yield
        finally:
            with self._lock:
                self._tier = before

    def release(self) -> None:
        """End a reservation whose call brought no answer (nothing was billed)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)

    def record(self, call: CallRecord) -> None:
        """Add one answered call, ending its reservation."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._total = self._total.plus(call)
            self._steps[call.step] = self._steps.get(call.step, StepUsage()).plus(call)
            self._records.append(call)

    def summary(self) -> str:
        """'1 call · 18 tokens (11 in, 7 out) · $0.0001' (cost 'unknown' when unpriced)."""
        total = self.total
        calls = f"{total.calls} call" + ("" if total.calls == 1 else "s")
        tokens = f"{total.tokens:,} tokens ({total.input_tokens:,} in, {total.output_tokens:,} out)"
        if total.calls and total.unpriced_calls == total.calls:
            cost = "cost unknown"
        else:
            cost = f"${total.cost:.4f}" + (" + unpriced calls" if total.unpriced_calls else "")
        return f"{calls} · {tokens} · {cost}"

    def as_dict(self) -> dict[str, Any]:
        """Totals, and the same per step under `by_step` (for `--json` and task records)."""
        return {
            **self.total.as_dict(),
            "by_step": {step: usage.as_dict() for step, usage in self.by_step.items()},
        }
