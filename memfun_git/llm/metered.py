"""`MeteredLM`: a `dspy.LM` whose every call is checked, recorded and retried by its session.

It replaces only `__call__`/`acall`, with DSPy's own three steps (`prepare`, `execute`,
`finalize` from `dspy.clients.execution`, the path `BaseLM.__call__` takes) and the session's
meter around `execute`: caps before each try, the response's own usage, cost and finish reason
after it, retries of rate limits and server errors, and truncation raised before any adapter
parses the answer. `forward` is not overridden, so DSPy still runs it as a managed LM (no
deprecated plugin path). Outside a session's scope it behaves as a plain `dspy.LM`.
Importing this module imports dspy: import it where a model is about to be used.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import dspy
from dspy.clients.execution import aexecute, execute, finalize, prepare
from dspy.clients.legacy_outputs import value
from dspy.utils.callback import with_callbacks

from memfun_git.llm.meter import Answered, MeteredCall, current_scope

__all__ = ["MeteredLM", "answered", "prompt_text"]


class MeteredLM(dspy.LM):
    """A `dspy.LM` accounted for by the `LMSession` whose step makes each call.

    DSPy's own `__call__` also warns when a caller passes OpenAI-style `messages=`; that check
    lives in a private DSPy module, and only DSPy's adapters call this LM, so it is left out."""

    @with_callbacks
    def __call__(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        call = prepare(self, prompt, messages, kwargs)
        scope = current_scope()
        if scope is None:
            return finalize(self, call, execute(self, call))
        metered = scope.meter.call(scope.step, prompt_text(prompt, messages))
        while True:
            metered.begin()
            try:
                result = execute(self, call)
            except BaseException as exc:
                if (delay := metered.failed(exc)) is None:
                    raise
                scope.meter.sleep(delay)
                continue
            return self._finish(call, metered, result)

    @with_callbacks
    async def acall(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        call = await asyncio.to_thread(prepare, self, prompt, messages, kwargs, asynchronous=True)
        scope = current_scope()
        if scope is None:
            return finalize(self, call, await aexecute(self, call))
        metered = scope.meter.call(scope.step, prompt_text(prompt, messages))
        while True:
            metered.begin()
            try:
                result = await aexecute(self, call)
            except BaseException as exc:
                if (delay := metered.failed(exc)) is None:
                    raise
                await asyncio.sleep(delay)
                continue
            return self._finish(call, metered, result)

    def _finish(self, call: Any, metered: MeteredCall, result: Any) -> Any:
        answer = answered(result)
        metered.answered(answer)
        outputs = finalize(self, call, result)
        if answer.truncated:
            raise metered.truncated(answer)
        return outputs


def prompt_text(prompt: Any, messages: Any) -> str:
    """What a call sends, as text: each message after a `## <role>` line (a multi-part
    message's text parts joined), or the bare prompt."""
    if not isinstance(messages, list):
        return prompt if isinstance(prompt, str) else ""
    parts: list[str] = []
    for message in cast(list[Any], messages):
        if not isinstance(message, dict):
            continue
        entry = cast(dict[str, Any], message)
        content = entry.get("content")
        if isinstance(content, list):
            texts = [value(p, "text") for p in cast(list[Any], content)]
            content = "\n".join(t for t in texts if isinstance(t, str))
        parts.append(f"## {entry.get('role', '?')}\n{content if isinstance(content, str) else ''}")
    return "\n\n".join(parts)


def answered(result: Any) -> Answered:
    """Usage, cost, finish reason and text of DSPy's `CallResult` for one call.

    Native (lm15) results carry `Response`s; litellm's carry the provider's raw completion.
    """
    usage = result.usage or {}
    reasons: list[Any] = [r.finish_reason for r in result.responses]
    if not reasons and result.raw is not None:
        reasons = [value(choice, "finish_reason") for choice in value(result.raw, "choices") or []]
    truncated = "length" in reasons
    reason = "length" if truncated else next((str(r) for r in reasons if r), None)
    first = result.outputs[0] if result.outputs else ""
    text = first.get("text") if isinstance(first, dict) else first
    return Answered(
        text=text if isinstance(text, str) else "",
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cost=float(result.cost) if isinstance(result.cost, int | float) else None,
        finish_reason=reason,
        cached=bool(result.cache_hit),
    )
