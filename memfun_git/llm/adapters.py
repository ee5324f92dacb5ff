"""The two ways a step's answer is read: typed fields, or raw text byte for byte.

- `TypedAdapter`: DSPy's ChatAdapter (`[[ ## field ## ]]` sections, values parsed to the
  signature's types) without its JSON-adapter fallback, which would be a second, hidden call
  (notes/LIBRARIES.md pitfall 19). For structured steps: triage, plan, review…
- `RawTextAdapter`: the whole completion is the value of the signature's one `str` output
  field, untouched. ChatAdapter strips a field's edges and cuts a field at any line that looks
  like its markers, so a file holding `[[ ## completed ## ]]` would silently lose its tail;
  steps whose answer our own code parses (the solver's operations) use this one, and anything
  that parser cannot read exactly is the parser's `LLMUnparseable`, never a repaired guess.

Both announce each call's signature and adapter (`current_shape`), so the scripted LM can
answer a step without reading DSPy's prompt wording.
Importing this module imports dspy.
"""

from __future__ import annotations

import contextlib
from collections.abc import Generator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import dspy
from dspy.adapters.utils import format_field_value

__all__ = ["CallShape", "RawTextAdapter", "TypedAdapter", "current_shape", "raw_output_field"]


@dataclass(frozen=True, slots=True)
class CallShape:
    """The signature a call answers and the adapter that will read the answer."""

    signature: type[dspy.Signature]
    adapter: dspy.Adapter


_SHAPE: ContextVar[CallShape | None] = ContextVar("memfun_call_shape", default=None)


def current_shape() -> CallShape | None:
    """The shape of the adapter call in progress on this thread or task, if any."""
    return _SHAPE.get()


@contextlib.contextmanager
def _announced(signature: type[dspy.Signature], adapter: dspy.Adapter) -> Generator[None]:
    token = _SHAPE.set(CallShape(signature, adapter))
    try:
        yield
    finally:
        _SHAPE.reset(token)


class TypedAdapter(dspy.ChatAdapter):
    """ChatAdapter, one call per step: no JSON-adapter fallback."""

    def __init__(self) -> None:
        super().__init__(use_json_adapter_fallback=False)

    def __call__(
        self,
        lm: Any,
        lm_kwargs: dict[str, Any],
        signature: type[dspy.Signature],
        demos: list[dict[str, Any]],
        inputs: dict[str, Any],
    ) -> list[dict[str, Any]]:
        with _announced(signature, self):
            return super().__call__(lm, lm_kwargs, signature, demos, inputs)

    async def acall(
        self,
        lm: Any,
        lm_kwargs: dict[str, Any],
        signature: type[dspy.Signature],
        demos: list[dict[str, Any]],
        inputs: dict[str, Any],
    ) -> list[dict[str, Any]]:
        with _announced(signature, self):
            return await super().acall(lm, lm_kwargs, signature, demos, inputs)


def raw_output_field(signature: type[dspy.Signature]) -> str:
    """The name of the one `str` output field of a raw-text step; TypeError otherwise."""
    fields = signature.output_fields
    if len(fields) != 1 or next(iter(fields.values())).annotation is not str:
        raise TypeError(
            f"a raw-text step needs exactly one output field of type str, "
            f"{signature.__name__} has {list(fields)}"
        )
    return next(iter(fields))


class RawTextAdapter(TypedAdapter):
    """Inputs as ChatAdapter sections; the answer is the output field's text, byte for byte."""

    def format_field_structure(self, signature: type[dspy.Signature]) -> str:
        name = raw_output_field(signature)
        inputs = "\n\n".join(f"[[ ## {k} ## ]]\n{{{k}}}" for k in signature.input_fields)
        return (
            "Inputs arrive in sections like these:\n\n"
            f"{inputs}\n\n"
            f"Your whole reply is the value of `{name}`, written exactly as described: "
            "plain text with no section markers, nothing before it and nothing after it."
        )

    def user_message_output_requirements(self, signature: type[dspy.Signature]) -> str:
        name = raw_output_field(signature)
        return f"Reply with the `{name}` text only, exactly in the form described."

    def format_assistant_message_content(
        self,
        signature: type[dspy.Signature],
        outputs: dict[str, Any],
        missing_field_message: str | None = None,
    ) -> str:
        name = raw_output_field(signature)
        value = outputs.get(name, missing_field_message)
        return (
            "" if value is None else str(format_field_value(signature.output_fields[name], value))
        )

    def parse(self, signature: type[dspy.Signature], completion: str) -> dict[str, Any]:
        return {raw_output_field(signature): completion}
