"""One run's access to the model: every step's calls go through an `LMSession`.

Three doors, each taking the step's name (`plan`, `solve`, `review`…), which goes on every
call it makes:
- `predict(step, signature, **inputs)`: a typed step (ChatAdapter, no hidden fallback call);
- `text(step, signature, **inputs)`: a raw-text step, the completion byte for byte as the
  value of the signature's one `str` output field (`llm/adapters.py`);
- `run(step, module, **inputs)`: any DSPy module, however many calls it makes.

Each call is checked against the [llm] caps before it is made, recorded into the session's
`Usage` with its own usage, cost and finish reason, retried on rate limits and server errors,
reported to the observer and logged (`llm/meter.py`); a truncated answer is refused before it
is parsed. Failures leave as our errors, chained to DSPy's, which keep the provider's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memfun_git.config import LLMConfig
from memfun_git.errors import LLMUnparseable, MemfunError
from memfun_git.llm.errors import causes, map_lm_error
from memfun_git.llm.lm import endpoint
from memfun_git.llm.meter import SCOPE_KEY, CallMeter, CallScope
from memfun_git.llm.observe import LMObserver
from memfun_git.llm.usage import Usage

if TYPE_CHECKING:
    import dspy

__all__ = ["LMSession"]


@dataclass
class LMSession:
    config: LLMConfig
    lm: dspy.LM
    """A `MeteredLM` (from `build_lm` or `scripted_lm`); it may be shared with other sessions."""
    usage: Usage = field(default_factory=Usage)
    observer: LMObserver | None = None
    """Told of each call's start, retries and end (the CLI draws a spinner from these)."""
    sleep: Callable[[float], None] = time.sleep
    """Waits between retries (tests pass a recorder)."""
    programs: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    """Compiled states by signature name (optimizer/programs.py): each call of that
    signature is made with its demonstrations and instructions."""
    _meter: CallMeter = field(init=False, repr=False)

    def __post_init__(self) -> None:
        from memfun_git.llm.metered import MeteredLM

        if not isinstance(self.lm, MeteredLM):
            raise TypeError("LMSession needs the LM of build_lm() or scripted_lm() (a MeteredLM)")
        self._meter = CallMeter(
            self.config, self.usage, endpoint(self.config), self.observer, self.sleep
        )

    @classmethod
    def from_config(
        cls,
        config: LLMConfig,
        environ: Mapping[str, str] | None = None,
        *,
        observer: LMObserver | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> LMSession:
        from memfun_git.llm.lm import build_lm

        return cls(config, build_lm(config, environ), observer=observer, sleep=sleep)

    def predict(
        self, step: str, signature: type[dspy.Signature] | str, /, **inputs: Any
    ) -> dspy.Prediction:
        """One typed call: the signature's output fields, parsed to their types."""

        from memfun_git.llm.adapters import TypedAdapter

        return self._call(step, TypedAdapter(), self._predictor(signature), inputs)

    def text(self, step: str, signature: type[dspy.Signature] | str, /, **inputs: Any) -> str:
        """One raw-text call: the whole answer, byte for byte, for our own parser to read.

        The signature has exactly one output field, of type `str`. An answer that parser
        cannot read is its `LLMUnparseable` (carrying the text), never a repaired guess.
        """
        from dspy.signatures.signature import ensure_signature

        from memfun_git.llm.adapters import RawTextAdapter, raw_output_field

        sig = ensure_signature(signature)
        assert sig is not None
        name = raw_output_field(sig)
        predictor = self._predictor(sig)
        prediction = self._call(step, RawTextAdapter(), predictor, inputs)
        return str(prediction[name])

    def run(self, step: str, module: dspy.Module, /, **inputs: Any) -> dspy.Prediction:
        """Any DSPy module with this session's LM; each of its calls is checked and recorded."""
        from memfun_git.llm.adapters import TypedAdapter

        return self._call(step, TypedAdapter(), module, inputs)

    def _predictor(self, signature: type[dspy.Signature] | str) -> dspy.Predict:
        """A Predict for `signature`, with its compiled program's state when there is one."""
        import dspy

        predictor = dspy.Predict(signature)
        name = getattr(signature, "__name__", "")
        state = self.programs.get(name) if isinstance(name, str) else None
        if state is not None:
            predictor.load_state(state)
            predictor.lm = None  # the session's model only, whatever a program file said
            predictor.config = {}
        return predictor

    @contextmanager
    def scope(self, step: str, *, raw: bool = False) -> Generator[None]:
        """Every call DSPy code makes inside (an optimizer's, say) is this session's, as
        `step`: checked against the caps and recorded. `raw`: raw-text steps' adapter."""
        from memfun_git.llm.adapters import RawTextAdapter, TypedAdapter

        with self._context(step, RawTextAdapter() if raw else TypedAdapter()):
            yield

    @contextmanager
    def _context(self, step: str, adapter: dspy.Adapter) -> Generator[None]:
        import dspy

        with dspy.context(lm=self.lm, adapter=adapter, **{SCOPE_KEY: CallScope(self._meter, step)}):
            yield

    def _call(
        self, step: str, adapter: dspy.Adapter, module: dspy.Module, inputs: dict[str, Any]
    ) -> dspy.Prediction:
        try:
            with self._context(step, adapter):
                return module(**inputs)
        except Exception as exc:
            ours, cause = self._ours(exc, step)
            if ours is exc:
                raise
            raise ours from cause

    def failure(self, exc: BaseException, step: str) -> BaseException:
        """`exc`, raised by a call made inside `scope(step)`, as the error to report: ours
        (chained to DSPy's), or `exc` itself when it is not a model call's failure."""
        ours, cause = self._ours(exc, step)
        if cause is not None:
            ours.__cause__ = cause
        return ours

    def _ours(self, exc: BaseException, step: str) -> tuple[BaseException, BaseException | None]:
        """(the error to raise, its cause) for a failure inside a step.

        A broken script (an AssertionError such as ScriptExhausted) and our own errors (caps,
        truncation) raised inside DSPy's machinery come out as they are; DSPy's LM errors
        and parse failures become ours.
        """
        from dspy.utils.exceptions import AdapterParseError

        chain = list(causes(exc))
        for kind in (AssertionError, MemfunError):
            found = next((e for e in chain if isinstance(e, kind)), None)
            if found is not None:
                return found, None
        for error in chain:
            mapped = map_lm_error(error, self.config)
            if mapped is not None:
                return mapped, error
            if isinstance(error, AdapterParseError):
                return LLMUnparseable(
                    f"the model's answer to {step} is not in the form asked for "
                    f"({self.config.model})",
                    "try again, or use a stronger model",
                    raw=str(error.lm_response),
                    step=step,
                ), error
        return exc, None
