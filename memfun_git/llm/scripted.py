"""A scripted language model for tests and for the demo's recorded answers.

`scripted_lm(answers)` is a real `dspy.LM` (a `MeteredLM`, so sessions account for it as for
any model) whose engine implements DSPy 3.4's `complete(Request) -> Response`, not a
deprecated `BaseLM.forward` override. It answers each call with the first queued `Answer` for
that call: an answer naming a `step` is for calls made by that session step (`plan`, `solve`…);
one without a step is for calls whose signature has exactly its output fields. So every step
has its own queue and a skipped step does not shift the rest. Nothing is read from DSPy's
prompt wording: the step comes from the session's scope and the signature from our adapters
(`llm/adapters.py`), and a value answer is rendered by the adapter in use, as that adapter will
parse it. A raw answer is sent as is, byte for byte. Usage is reported (about four characters
a token, or as the answer says) and every prompt is recorded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import dspy
    from dspy.lm15 import Request, Response

__all__ = [
    "Answer",
    "AsyncScriptedEngine",
    "ScriptExhausted",
    "ScriptedCall",
    "ScriptedEngine",
    "engine_of",
    "scripted_lm",
]


class ScriptExhausted(AssertionError):
    """The model was asked for something no queued answer fits: the script is wrong."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One scripted answer: field values, or `raw` text sent as is (to test bad answers)."""

    values: Mapping[str, Any] = field(default_factory=dict[str, Any])
    raw: str | None = None
    step: str | None = None
    """The session step this answers; None: any call whose output fields are `key`."""
    fields: tuple[str, ...] = ()
    """For a raw answer without a step: the output fields of the calls it answers."""
    finish_reason: str = "stop"
    input_tokens: int | None = None
    output_tokens: int | None = None
    delay: float = 0.0
    """Seconds the model takes to answer (benchmarks of parallel work)."""

    @property
    def key(self) -> frozenset[str]:
        return frozenset(self.fields) if self.raw is not None else frozenset(self.values)

    def fits(self, step: str | None, fields: tuple[str, ...]) -> bool:
        if self.step is not None:
            return self.step == step
        return self.key == frozenset(fields)


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """What the model was sent (system + messages, as text), for which step and fields."""

    step: str | None
    fields: tuple[str, ...]
    system: str
    messages: tuple[str, ...]
    answer: str

    @property
    def prompt(self) -> str:
        return "\n\n".join((self.system, *self.messages))


class ScriptedEngine:
    """DSPy engine answering from a script; thread-safe."""

    def __init__(self, answers: Iterable[Mapping[str, Any] | Answer] = ()) -> None:
        self._queue: list[Answer] = []
        self._lock = threading.Lock()
        self.calls: list[ScriptedCall] = []
        self.add(answers)

    def add(self, answers: Iterable[Mapping[str, Any] | Answer]) -> None:
        with self._lock:
            for item in answers:
                self._queue.append(item if isinstance(item, Answer) else Answer(values=item))

    @property
    def pending(self) -> list[Answer]:
        with self._lock:
            return list(self._queue)

    def complete(self, request: Request) -> Response:
        from dspy.lm15 import Message, Response, TextPart, Usage

        from memfun_git.llm.adapters import current_shape
        from memfun_git.llm.meter import current_scope

        system = _text(request.system)
        messages = tuple(_text(m.text) for m in request.messages)
        scope, shape = current_scope(), current_shape()
        step = scope.step if scope is not None else None
        fields = tuple(shape.signature.output_fields) if shape is not None else ()
        answer = self._take(step, fields)
        if answer.delay:
            time.sleep(answer.delay)
        if answer.raw is not None:
            text = answer.raw
        elif shape is not None:
            values = dict(answer.values)
            text = shape.adapter.format_assistant_message_content(shape.signature, values)
        else:
            raise ScriptExhausted(
                f"step {step!r} called the model without a signature: script a raw answer"
            )
        with self._lock:
            self.calls.append(ScriptedCall(step, fields, system, messages, text))
        prompt_chars = len(system) + sum(len(m) for m in messages)
        tokens_in = answer.input_tokens or max(1, prompt_chars // 4)
        tokens_out = answer.output_tokens or max(1, len(text) // 4)
        usage = Usage(
            input_tokens=tokens_in, output_tokens=tokens_out, total_tokens=tokens_in + tokens_out
        )
        return Response(
            id=f"scripted-{len(self.calls)}",
            model=request.model,
            message=Message.assistant([TextPart(text)]),
            finish_reason=answer.finish_reason,  # pyright: ignore[reportArgumentType]
            usage=usage,
        )

    def _take(self, step: str | None, fields: tuple[str, ...]) -> Answer:
        with self._lock:
            for index, answer in enumerate(self._queue):
                if answer.fits(step, fields):
                    return self._queue.pop(index)
            queued = [a.step or sorted(a.key) for a in self._queue]
        raise ScriptExhausted(
            f"step {step!r} asked the model for fields {sorted(fields)}, "
            f"but the script holds {queued}"
        )

    def stream(self, request: Request) -> Any:
        from dspy.lm15 import response_to_events

        return response_to_events(self.complete(request))

    def close(self) -> None:
        pass


class AsyncScriptedEngine:
    """The async face of a ScriptedEngine (same queue, same records)."""

    def __init__(self, sync: ScriptedEngine) -> None:
        self.sync = sync

    async def complete(self, request: Request) -> Response:
        return self.sync.complete(request)

    async def stream(self, request: Request) -> Any:
        for event in self.sync.stream(request):
            yield event

    async def aclose(self) -> None:
        pass


def scripted_lm(
    answers: Iterable[Mapping[str, Any] | Answer] = (), *, model: str = "openai/memfun-scripted"
) -> dspy.LM:
    """A real `dspy.LM` answering from `answers`; its engine is `lm.engine_script`."""
    from memfun_git.llm.metered import MeteredLM

    engine = ScriptedEngine(answers)
    lm = MeteredLM(
        model,
        engine=engine,  # pyright: ignore[reportArgumentType]
        async_engine=AsyncScriptedEngine(engine),  # pyright: ignore[reportArgumentType]
        cache=False,
        num_retries=0,
    )
    lm.engine_script = engine  # pyright: ignore[reportAttributeAccessIssue]
    return lm


def engine_of(lm: dspy.LM) -> ScriptedEngine:
    """The ScriptedEngine behind an LM made by `scripted_lm`."""
    engine = getattr(lm, "engine_script", None)
    if not isinstance(engine, ScriptedEngine):
        raise TypeError("not a scripted LM")
    return engine


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, Iterable):
        return "".join(getattr(part, "text", "") or "" for part in value)  # pyright: ignore[reportUnknownVariableType,reportUnknownArgumentType]
    return str(value)
