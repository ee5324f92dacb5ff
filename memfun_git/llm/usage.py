"""Usage of the model by one run: calls, tokens, cost; and the caps that stop a runaway task.

A `Usage` lives on the run's result object, never in a module global.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from memfun_git.config import LLMConfig
from memfun_git.errors import BudgetExceeded

__all__ = ["Usage"]


@dataclass(slots=True)
class Usage:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    """US dollars for the calls whose price is known."""
    unpriced_calls: int = 0
    """Calls whose price litellm's local price list does not know."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def record(self, entry: Mapping[str, Any]) -> None:
        """Add one `lm.history` entry (usage and cost as DSPy recorded them)."""
        usage = entry.get("usage") or {}
        cost = entry.get("cost")
        with self._lock:
            self.calls += 1
            self.input_tokens += int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
            self.output_tokens += int(
                usage.get("completion_tokens") or usage.get("output_tokens") or 0
            )
            if isinstance(cost, int | float):
                self.cost += float(cost)
            else:
                self.unpriced_calls += 1

    def check(self, llm: LLMConfig) -> None:
        """Raise BudgetExceeded when a cap of [llm] is reached, before another call is made."""
        if llm.max_calls_per_task and self.calls >= llm.max_calls_per_task:
            raise BudgetExceeded(
                f"the task used its {llm.max_calls_per_task} model calls and was stopped",
                "raise [llm] max_calls_per_task, or split the request",
            )
        if llm.max_tokens_per_task and self.tokens >= llm.max_tokens_per_task:
            raise BudgetExceeded(
                f"the task used {self.tokens:,} tokens (cap {llm.max_tokens_per_task:,}) "
                "and was stopped",
                "raise [llm] max_tokens_per_task, or split the request",
            )
        if llm.max_cost_per_task and self.cost >= llm.max_cost_per_task:
            raise BudgetExceeded(
                f"the task cost ${self.cost:.2f} (cap ${llm.max_cost_per_task:.2f}) "
                "and was stopped",
                "raise [llm] max_cost_per_task, or split the request",
            )

    def summary(self) -> str:
        """'1 call · 18 tokens (11 in, 7 out) · $0.0001' (cost 'unknown' when unpriced)."""
        calls = f"{self.calls} call" + ("" if self.calls == 1 else "s")
        tokens = f"{self.tokens:,} tokens ({self.input_tokens:,} in, {self.output_tokens:,} out)"
        if self.calls and self.unpriced_calls == self.calls:
            cost = "cost unknown"
        else:
            cost = f"${self.cost:.4f}" + (" + unpriced calls" if self.unpriced_calls else "")
        return f"{calls} · {tokens} · {cost}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost, 6),
            "unpriced_calls": self.unpriced_calls,
        }
