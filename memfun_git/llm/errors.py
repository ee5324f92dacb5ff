"""Provider failures, mapped to our errors through one table.

Each row: the DSPy error class, our class, and what to say. Messages name the endpoint and the
key's variable, never the key; the provider's own text is not repeated (some echo the key).
"""

from __future__ import annotations

from memfun_git.config import LLMConfig
from memfun_git.errors import (
    LLMAuthError,
    LLMBadResponse,
    LLMError,
    LLMNotConfigured,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
    LLMUnknownModel,
    LLMUnreachable,
)
from memfun_git.llm.lm import endpoint

__all__ = ["map_lm_error"]

# (DSPy class name, our class, message, hint); first match wins, so subclasses come first.
_TABLE: tuple[tuple[str, type[LLMError], str, str], ...] = (
    (
        "LMNotConfiguredError",
        LLMNotConfigured,
        "no API key for {provider} at {endpoint}",
        "export {key_env}=<your key>, or name another variable in [llm] api_key_env",
    ),
    (
        "LMAuthError",
        LLMAuthError,
        "{endpoint} refused the API key in ${key_env}",
        "check the key's value, or name another variable in [llm] api_key_env",
    ),
    (
        "LMBillingError",
        LLMAuthError,
        "{endpoint} refused the request for billing reasons",
        "check the account's credit and plan",
    ),
    (
        "LMRateLimitError",
        LLMRateLimited,
        "{endpoint} is rate-limiting requests",
        "wait a minute and try again; [llm] num_retries sets the retries with backoff",
    ),
    (
        "ContextWindowExceededError",
        LLMBadResponse,
        "the request is larger than {model}'s context window",
        "ask about less at once, or use a model with a larger window",
    ),
    (
        "LMUnsupportedModelError",
        LLMUnknownModel,
        "{endpoint} does not serve the model {model!r}",
        "check [llm] model (and [llm] provider)",
    ),
    (
        "LMTimeoutError",
        LLMTimeout,
        "no answer from {endpoint} within {timeout:g} s",
        "raise [llm] timeout_seconds, or check the server",
    ),
    (
        "LMInvalidRequestError",
        LLMBadResponse,
        "{endpoint} rejected the request to {model!r}",
        "check [llm] model and max_tokens",
    ),
    (
        "LMServerError",
        LLMServerError,
        "{endpoint} failed with a server error",
        "try again later, or check the server's logs",
    ),
    (
        "LMConfigurationError",
        LLMNotConfigured,
        "the model {model!r} cannot be used as configured",
        "check [llm] in memfun.toml (`memfun config show`)",
    ),
    (
        "LMTransportError",
        LLMUnreachable,
        "cannot reach {endpoint}",
        "check [llm] base_url and that the server is running",
    ),
    (
        "LMError",
        LLMError,
        "the model call to {endpoint} failed",
        "run `memfun doctor --online` to check the endpoint",
    ),
)


def map_lm_error(exc: BaseException, llm: LLMConfig) -> LLMError | None:
    """Our error for a DSPy LM failure, or None when `exc` is not one."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "LMError" not in names:
        return None
    text = str(exc).lower()
    facts = {
        "provider": llm.provider or "the provider",
        "endpoint": endpoint(llm),
        "key_env": llm.key_env or "the key variable",
        "model": llm.model,
        "timeout": llm.timeout_seconds,
    }
    row = next(r for r in _TABLE if r[0] in names)
    status = str(getattr(exc, "status", "") or "")
    code = str(getattr(exc, "provider_code", "") or "").lower()
    missing = status == "404" or "not_found" in code
    missing = missing or any(w in text for w in ("not found", "does not exist", "unknown model"))
    if row[0] in ("LMInvalidRequestError", "LMError") and missing and "model" in text + code:
        # Providers word an unknown model differently (Anthropic: a 404 not_found_error).
        row = next(r for r in _TABLE if r[0] == "LMUnsupportedModelError")
    if row[0] == "LMAuthError" and not llm.key_env:
        return LLMAuthError(
            f"{facts['endpoint']} refused the request: it wants a key, and none is configured",
            "export the key and set [llm] api_key_env to the variable's name",
        )
    if row[0] in ("LMTransportError", "LMServerError", "LMError"):
        # Transport failures arrive as several classes across engines; their text tells.
        if "timed out" in text or "timeout" in text:
            row = next(r for r in _TABLE if r[0] == "LMTimeoutError")
        elif any(
            w in text for w in ("connection error", "failed to connect", "refused", "resolve")
        ):
            row = next(r for r in _TABLE if r[0] == "LMTransportError")
    _, cls, message, hint = row
    return cls(message.format(**facts), hint.format(**facts))
