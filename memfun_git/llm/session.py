"""One run's access to the model: every step's call goes through `LMSession.predict`.

It checks the [llm] caps before each call, uses the ChatAdapter without its hidden JSON
fallback call (notes/LIBRARIES.md pitfall 19), records usage from the LM's history into the
run's `Usage`, refuses truncated answers (pitfall 21), and maps provider failures to our errors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memfun_git.config import LLMConfig
from memfun_git.errors import LLMBadResponse, LLMRateLimited, LLMServerError
from memfun_git.llm.errors import map_lm_error
from memfun_git.llm.usage import Usage

if TYPE_CHECKING:
    import dspy

__all__ = ["LMSession"]

logger = logging.getLogger(__name__)


@dataclass
class LMSession:
    config: LLMConfig
    lm: dspy.LM
    usage: Usage = field(default_factory=Usage)
    _seen: int = 0
    sleep: Callable[[float], None] = time.sleep
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_config(cls, config: LLMConfig, environ: dict[str, str] | None = None) -> LMSession:
        from memfun_git.llm.lm import build_lm

        return cls(config=config, lm=build_lm(config, environ))

    def predict(self, signature: type[dspy.Signature] | str, **inputs: Any) -> dspy.Prediction:
        """Run one `dspy.Predict(signature)` call and return its prediction."""
        import dspy

        return self.run(dspy.Predict(signature), **inputs)

    def run(self, module: dspy.Module, **inputs: Any) -> dspy.Prediction:
        """Call a DSPy module with this session's LM; usage is recorded even when it fails.

        Rate limits and server errors are retried [llm] num_retries times with backoff; a
        refused connection, a bad key or a time-out are not (each would only repeat the wait).
        """
        attempt = 0
        while True:
            try:
                return self._run_once(module, inputs)
            except (LLMRateLimited, LLMServerError) as exc:
                if attempt >= self.config.num_retries:
                    raise
                attempt += 1
                delay = min(30.0, 2.0 ** (attempt - 1))
                logger.info("retrying after %s (attempt %d, %.0f s)", exc.message, attempt, delay)
                self.sleep(delay)

    def _run_once(self, module: dspy.Module, inputs: dict[str, Any]) -> dspy.Prediction:
        import dspy

        self.usage.check(self.config)
        adapter = dspy.ChatAdapter(use_json_adapter_fallback=False)
        try:
            with dspy.context(lm=self.lm, adapter=adapter):
                prediction = module(**inputs)
        except Exception as exc:
            cause = _root_cause(exc)
            if isinstance(cause, AssertionError):
                # A broken script or engine invariant (the scripted LM's ScriptExhausted): a bug
                # to show as is, not a provider failure to explain.
                raise cause from exc
            mapped = map_lm_error(exc, self.config)
            if mapped is not None:
                raise mapped from None
            if type(exc).__name__ == "AdapterParseError":
                raise LLMBadResponse(
                    f"the model's answer did not have the fields asked for ({self.config.model})",
                    "try again, or use a stronger model",
                ) from None
            raise
        finally:
            truncated = self._account()
        if truncated:
            raise LLMBadResponse(
                f"the model's answer was cut off at [llm] max_tokens = {self.config.max_tokens}",
                "raise [llm] max_tokens",
            )
        return prediction

    def _account(self) -> bool:
        """Record new history entries; True when one of them was truncated."""
        truncated = False
        with self._lock:
            entries = self.lm.history[self._seen :]
            self._seen = len(self.lm.history)
        for entry in entries:
            self.usage.record(entry)
            if _finish_reason(entry.get("response")) == "length":
                truncated = True
        return truncated


def _finish_reason(response: Any) -> str | None:
    reason = getattr(response, "finish_reason", None)
    if reason is None:
        choices = getattr(response, "choices", None)
        if choices:
            reason = getattr(choices[0], "finish_reason", None)
    return str(reason) if reason is not None else None


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc
