"""A scripted language model for tests and for the demo's recorded answers.

`scripted_lm(answers)` is a real `dspy.LM` whose engine implements DSPy 3.4's
`complete(Request) -> Response` (not a deprecated `BaseLM.forward` override). Each answer is a
mapping of output-field values; the engine reads which output fields the prompt asks for and
takes the first queued answer with exactly those fields, so every step has its own queue and a
skipped step does not shift the rest. It formats the answer as the adapter expects (ChatAdapter
markers or a JSON object), reports token usage, and records every prompt it was sent.
"""

from __future__ import annotations

import json
import re
import threading
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

_OUTPUTS = re.compile(r"Your output fields are:\n(.*?)(?:\nAll interactions|\Z)", re.DOTALL)
_FIELD = re.compile(r"^\d+\. `([^`]+)`", re.MULTILINE)


class ScriptExhausted(AssertionError):
    """The model was asked for fields that no queued answer has: the script is wrong."""


@dataclass(frozen=True, slots=True)
class Answer:
    """One scripted answer: field values, or `raw` text sent as is (to test bad answers)."""

    values: Mapping[str, Any] = field(default_factory=dict[str, Any])
    raw: str | None = None
    fields: tuple[str, ...] = ()
    """For a raw answer: the output fields of the step it answers."""
    finish_reason: str = "stop"

    @property
    def key(self) -> frozenset[str]:
        return frozenset(self.fields) if self.raw is not None else frozenset(self.values)


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """What the model was sent (system + messages, as text) and which fields it was asked for."""

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

        system = _text(request.system)
        messages = tuple(_text(m.text) for m in request.messages)
        fields = tuple(_FIELD.findall(m.group(1))) if (m := _OUTPUTS.search(system)) else ()
        answer = self._take(frozenset(fields))
        if answer.raw is not None:
            text = answer.raw
        elif "Outputs will be a JSON object" in system:
            text = json.dumps({name: answer.values[name] for name in fields}, ensure_ascii=False)
        else:
            text = _chat_format(fields, answer.values)
        with self._lock:
            self.calls.append(ScriptedCall(fields, system, messages, text))
        prompt_chars = len(system) + sum(len(m) for m in messages)
        usage = Usage(
            input_tokens=max(1, prompt_chars // 4),
            output_tokens=max(1, len(text) // 4),
            total_tokens=max(1, prompt_chars // 4) + max(1, len(text) // 4),
        )
        return Response(
            id=f"scripted-{len(self.calls)}",
            model=request.model,
            message=Message.assistant([TextPart(text)]),
            finish_reason=answer.finish_reason,  # pyright: ignore[reportArgumentType]
            usage=usage,
        )

    def _take(self, fields: frozenset[str]) -> Answer:
        with self._lock:
            for index, answer in enumerate(self._queue):
                if answer.key == fields:
                    return self._queue.pop(index)
            queued = [sorted(a.key) for a in self._queue]
        raise ScriptExhausted(
            f"the model was asked for fields {sorted(fields)} but the script holds {queued}"
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
    import dspy

    engine = ScriptedEngine(answers)
    lm = dspy.LM(
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


def _chat_format(fields: tuple[str, ...], values: Mapping[str, Any]) -> str:
    parts = [f"[[ ## {name} ## ]]\n{_value(values[name])}\n" for name in fields]
    return "\n".join(parts) + "\n[[ ## completed ## ]]"


def _value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)
