"""Provider failures, mapped to our errors through one table of exception classes.

Both of DSPy's engines (lm15 and litellm) raise DSPy's `LMError` family
(`dspy.utils.exceptions`), each with the provider's failure as its cause; rows are matched
with `isinstance`, most specific class first. Two facts come from the cause chain, by class
too: litellm reports a refused connection as a server error and lm15 a read time-out as a
transport error, so a builtin `TimeoutError` below makes it a time-out and an `OSError` (a
refused connection, an unknown host) makes the endpoint unreachable.

Messages name the endpoint and the key's variable, never the key; the provider's own text is
not repeated (some echo the key).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from memfun_git.config import LLMConfig
from memfun_git.errors import (
    LLMAuthError,
    LLMContextTooLarge,
    LLMEndpointNotFound,
    LLMError,
    LLMInvalidRequest,
    LLMNotConfigured,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
    LLMUnknownModel,
    LLMUnreachable,
)
from memfun_git.llm.lm import endpoint
from memfun_git.llm.probe import Probe, probe_endpoint

__all__ = ["RETRYABLE", "causes", "classify", "map_lm_error"]

RETRYABLE: tuple[type[LLMError], ...] = (LLMRateLimited, LLMServerError)
"""Failures worth another try: the provider said so. A time-out is not retried (another wait
as long), nor a refused connection (nothing is listening)."""


@dataclass(frozen=True, slots=True)
class _Row:
    cls: type[LLMError]
    message: str
    hint: str


_NOT_CONFIGURED = _Row(
    LLMNotConfigured,
    "no API key for {provider} at {endpoint}",
    "export {key_env}=<your key>, or name another variable in [llm] api_key_env",
)
_BAD_CONFIG = _Row(
    LLMNotConfigured,
    "the model {model!r} cannot be used as configured",
    "check [llm] in memfun.toml (`memfun config show`)",
)
_AUTH = _Row(
    LLMAuthError,
    "{endpoint} refused the API key in ${key_env}",
    "check the key's value, or name another variable in [llm] api_key_env",
)
_BILLING = _Row(
    LLMAuthError,
    "{endpoint} refused the request for billing reasons",
    "check the account's credit and plan",
)
_RATE = _Row(
    LLMRateLimited,
    "{endpoint} is rate-limiting requests",
    "wait a minute and try again; [llm] num_retries sets the retries with backoff",
)
_CONTEXT = _Row(
    LLMContextTooLarge,
    "the request is larger than {model}'s context window",
    "ask about less at once, or use a model with a larger window",
)
_MODEL = _Row(
    LLMUnknownModel,
    "{endpoint} does not serve the model {model!r}",
    "check [llm] model (and [llm] provider)",
)
_INVALID = _Row(
    LLMInvalidRequest,
    "{endpoint} rejected the request to {model!r}",
    "check [llm] model and max_tokens",
)
_FEATURE = _Row(
    LLMInvalidRequest,
    "{model!r} at {endpoint} cannot do what this step asks",
    'use another model, or [llm] engine = "litellm"',
)
_TIMEOUT = _Row(
    LLMTimeout,
    "no answer from {endpoint} within {timeout:g} s",
    "raise [llm] timeout_seconds, or check the server",
)
_SERVER = _Row(
    LLMServerError,
    "{endpoint} failed with a server error",
    "try again later, or check the server's logs",
)
_UNREACHABLE = _Row(
    LLMUnreachable,
    "cannot reach {endpoint}",
    "check [llm] base_url and that the server is running",
)
_OTHER = _Row(
    LLMError,
    "the model call to {endpoint} failed",
    "run `memfun doctor --online` to check the endpoint",
)


@functools.cache
def _table() -> tuple[tuple[type[BaseException], _Row], ...]:
    """(DSPy class, row), subclasses before their parents; built on first use (dspy is lazy)."""
    from dspy.utils import exceptions as e

    return (
        (e.LMNotConfiguredError, _NOT_CONFIGURED),
        (e.LMConfigurationError, _BAD_CONFIG),
        (e.LMAuthError, _AUTH),
        (e.LMBillingError, _BILLING),
        (e.LMRateLimitError, _RATE),
        (e.ContextWindowExceededError, _CONTEXT),
        (e.LMUnsupportedModelError, _MODEL),
        (e.LMInvalidRequestError, _INVALID),
        (e.LMUnsupportedFeatureError, _FEATURE),
        (e.LMTimeoutError, _TIMEOUT),
        (e.LMServerError, _SERVER),
        (e.LMTransportError, _UNREACHABLE),
        (e.LMError, _OTHER),
    )


def _row(exc: BaseException) -> _Row | None:
    row = next((row for cls, row in _table() if isinstance(exc, cls)), None)
    if row in (_SERVER, _UNREACHABLE, _OTHER):
        below = list(causes(exc))[1:]
        if any(isinstance(c, TimeoutError) for c in below):
            return _TIMEOUT
        if any(isinstance(c, OSError) for c in below):
            return _UNREACHABLE
    return row


def classify(exc: BaseException) -> type[LLMError] | None:
    """Our error class for a DSPy LM failure, or None when `exc` is not one (no I/O)."""
    row = _row(exc)
    return row.cls if row is not None else None


def map_lm_error(
    exc: BaseException, llm: LLMConfig, *, probe: Callable[[LLMConfig, str], Probe] = probe_endpoint
) -> LLMError | None:
    """Our error for a DSPy LM failure, or None when `exc` is not one.

    A 404 is checked against the endpoint's models listing (`probe`, one request) before the
    model is blamed: a wrong base URL answers 404 everywhere.
    """
    row = _row(exc)
    if row is None:
        return None
    where = endpoint(llm)
    facts = {
        "provider": llm.provider or "the provider",
        "endpoint": where,
        "key_env": llm.key_env or "the key variable",
        "model": llm.model,
        "timeout": llm.timeout_seconds,
    }
    if row is _AUTH and not llm.key_env:
        return LLMAuthError(
            f"{where} refused the request: it wants a key, and none is configured",
            "export the key and set [llm] api_key_env to the variable's name",
        )
    if row in (_MODEL, _INVALID) and getattr(exc, "status", None) == 404:
        return _not_found(llm, where, probe(llm, where))
    return row.cls(row.message.format(**facts), row.hint.format(**facts))


def _not_found(llm: LLMConfig, where: str, probe: Probe) -> LLMError:
    if probe.path_ok:
        listed = ", ".join(probe.models[:8]) + (", …" if len(probe.models) > 8 else "")
        hint = f"check [llm] model; it lists: {listed}" if listed else "check [llm] model"
        return LLMUnknownModel(f"{where} does not serve the model {llm.model!r}", hint)
    hint = (
        f'set [llm] base_url = "{probe.suggestion}" (its models listing answers)'
        if probe.suggestion
        else "check [llm] base_url (OpenAI-compatible servers usually serve under …/v1)"
    )
    return LLMEndpointNotFound(
        f"{where} answers 404 (not found), and so does its models listing: "
        "the base URL's path is likely wrong",
        hint,
    )


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, then what caused it, and so on (each once)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
