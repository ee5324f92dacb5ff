"""Where each provider call is accounted for: caps, usage, retries, events and the log line.

A session's `CallMeter` travels with its calls in DSPy's settings context (`CallScope`, key
`memfun_call_scope`), which DSPy hands on to its own worker threads (`dspy.Parallel`,
`asyncify`, RLM's batched queries). `MeteredLM` (llm/metered.py) looks the scope up on every
call, so each call is checked and recorded by the session that made it, even when sessions
share one LM, and a module making many calls is checked before each one. This module imports
no DSPy.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from memfun_git.config import LLMConfig
from memfun_git.errors import LLMTruncated
from memfun_git.llm.errors import RETRYABLE, classify
from memfun_git.llm.observe import CallFinished, CallRetrying, CallStarted, LMObserver
from memfun_git.llm.usage import CallRecord, Usage

__all__ = [
    "SCOPE_KEY",
    "TRACE_CHARS",
    "Answered",
    "CallMeter",
    "CallScope",
    "MeteredCall",
    "current_scope",
]

logger = logging.getLogger(__name__)

SCOPE_KEY = "memfun_call_scope"
TRACE_CHARS = 200_000
"""What a trace keeps of a call's prompt and of its answer."""
_KEPT_CHARS = TRACE_CHARS + 4_096
"""What a call's record keeps: a little more, so that a secret the trace's cut would split is
still whole when the trace is redacted (and cut) at the task's end."""
_REASONS = {"LLMRateLimited": "rate-limited", "LLMServerError": "server error"}


@dataclass(frozen=True, slots=True)
class Answered:
    """What one answered provider call reported (read from DSPy's result by MeteredLM)."""

    text: str
    input_tokens: int
    output_tokens: int
    cost: float | None
    finish_reason: str | None
    cached: bool = False

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class CallMeter:
    """One session's accounting of its calls; safe to use from several threads at once."""

    def __init__(
        self,
        config: LLMConfig,
        usage: Usage,
        endpoint: str,
        observer: LMObserver | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.usage = usage
        self.endpoint = endpoint
        self.observer = observer
        self.sleep = sleep
        self._ids = itertools.count(1)

    def call(self, step: str, prompt: str = "") -> MeteredCall:
        """A new logical call (its first try and any retries); `prompt`: what it sends."""
        return MeteredCall(self, step, next(self._ids), prompt[:_KEPT_CHARS])

    def emit(self, event: CallStarted | CallRetrying | CallFinished) -> None:
        if self.observer is not None:
            self.observer(event)


@dataclass(frozen=True, slots=True)
class CallScope:
    """The session and step that calls made in this context belong to."""

    meter: CallMeter
    step: str


def current_scope() -> CallScope | None:
    """The scope set by the session running the current step, if any."""
    import dspy

    scope = dspy.settings.get(SCOPE_KEY)
    return scope if isinstance(scope, CallScope) else None


class MeteredCall:
    """One logical call: `begin` before each try, then `answered` or `failed` after it."""

    def __init__(self, meter: CallMeter, step: str, call_id: int, prompt: str = "") -> None:
        self.meter = meter
        self.step = step
        self.id = call_id
        self.prompt = prompt
        self._began = time.time()
        self.attempt = 0
        self._started = 0.0

    @property
    def attempts(self) -> int:
        return self.meter.config.num_retries + 1

    def begin(self) -> None:
        """Check the caps (BudgetExceeded) and announce the try."""
        meter = self.meter
        meter.usage.reserve(meter.config)
        self.attempt += 1
        self._started = time.monotonic()
        meter.emit(
            CallStarted(
                self.id, self.step, meter.endpoint, meter.config.model, self.attempt, self.attempts
            )
        )

    def answered(self, answer: Answered) -> None:
        """Record the answer's usage (a truncated answer was billed too), log it, announce it."""
        meter = self.meter
        seconds = time.monotonic() - self._started
        if answer.cached:
            meter.usage.release()
        else:
            meter.usage.record(
                CallRecord(
                    self.step,
                    answer.input_tokens,
                    answer.output_tokens,
                    answer.cost,
                    answer.finish_reason,
                    seconds,
                    prompt=self.prompt,
                    answer=answer.text[:_KEPT_CHARS],
                    started=self._began,
                )
            )
        logger.info(
            "%s: %s (%s) answered%s: %d tokens in, %d out, %.1f s, finish %s",
            self.step,
            meter.endpoint,
            meter.config.model,
            " from cache" if answer.cached else "",
            answer.input_tokens,
            answer.output_tokens,
            seconds,
            answer.finish_reason or "unknown",
        )
        meter.emit(
            CallFinished(
                self.id,
                self.step,
                meter.endpoint,
                seconds,
                answer.input_tokens,
                answer.output_tokens,
                answer.finish_reason,
            )
        )

    def truncated(self, answer: Answered) -> LLMTruncated:
        """The error for an answer cut off at max_tokens (checked before any parsing)."""
        return LLMTruncated(
            f"the model's answer was cut off at [llm] max_tokens = {self.meter.config.max_tokens}",
            "raise [llm] max_tokens",
            raw=answer.text,
            step=self.step,
        )

    def failed(self, exc: BaseException) -> float | None:
        """Account for a try that brought no answer; the delay before a retry, or None."""
        meter = self.meter
        meter.usage.release()
        seconds = time.monotonic() - self._started
        kind = classify(exc)
        name = kind.__name__ if kind is not None else type(exc).__name__
        status = getattr(exc, "status", None)
        logger.info(
            "%s: %s (%s) failed after %.1f s: %s%s",
            self.step,
            meter.endpoint,
            meter.config.model,
            seconds,
            name,
            f" (HTTP {status})" if isinstance(status, int) else "",
        )
        meter.emit(CallFinished(self.id, self.step, meter.endpoint, seconds, failure=name))
        if kind is None or not issubclass(kind, RETRYABLE) or self.attempt >= self.attempts:
            return None
        delay = _delay(exc, self.attempt)
        retry = CallRetrying(
            self.id,
            self.step,
            meter.endpoint,
            _REASONS.get(name, name),
            delay,
            self.attempt + 1,
            self.attempts,
        )
        logger.info("%s: %s", self.step, retry.describe())
        meter.emit(retry)
        return delay


def _delay(exc: BaseException, attempt: int) -> float:
    """The provider's Retry-After when it gave a sensible one, else 1 s, 2 s, 4 s… (≤ 30 s)."""
    hint = getattr(exc, "retry_after", None)
    if isinstance(hint, int | float) and 0 <= hint <= 60:
        return float(hint)
    return min(30.0, 2.0 ** (attempt - 1))
