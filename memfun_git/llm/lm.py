"""Building the `dspy.LM` that every step uses, from `[llm]`.

Providers: anthropic, openai, ollama, and `custom` (any OpenAI-compatible server at base_url).
Pitfalls handled (notes/LIBRARIES.md): DSPy's native engine treats api_base as a prefix, so a
base URL without a path gets `/v1`; OpenAI's native route sends `max_completion_tokens`, which
many OpenAI-compatible servers reject, so `custom` goes through the vLLM-style dialect that sends
`max_tokens`; the disk cache is off unless configured; DSPy's own retries are off (the session
retries only what is worth it, llm/meter.py). The LM is a `MeteredLM` (llm/metered.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from memfun_git.config import LLMConfig
from memfun_git.errors import LLMNotConfigured
from memfun_git.redact import register_secret

if TYPE_CHECKING:
    import dspy

__all__ = ["DEFAULT_BASE", "build_lm", "endpoint", "model_string", "set_litellm_env"]

DEFAULT_BASE: dict[str, str] = {
    "anthropic": "https://api.anthropic.com/v1",
    "openai": "https://api.openai.com/v1",
    "ollama": "http://localhost:11434/v1",
    "custom": "",
}
_PREFIX = {
    "anthropic": "anthropic",
    "openai": "openai",
    "ollama": "ollama_chat",
    "custom": "hosted_vllm",
}
_HOW = (
    "run `memfun init`, or set [llm] provider and model in memfun.toml "
    "(or MEMFUN_LLM_PROVIDER and MEMFUN_LLM_MODEL)"
)


def set_litellm_env(environ: MutableMapping[str, str] | None = None) -> None:
    """Use litellm's bundled price list unless the user chose otherwise: no start-up fetch."""
    env = os.environ if environ is None else environ
    env.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    env.setdefault("LITELLM_LOG", "ERROR")


def model_string(llm: LLMConfig) -> str:
    """DSPy's `<provider>/<model>` for this configuration."""
    if llm.provider is None or not llm.model:
        raise LLMNotConfigured("no model is configured", _HOW)
    model = llm.model
    prefix = _PREFIX[llm.provider]
    if model.startswith(prefix + "/"):
        return model
    return f"{prefix}/{model}"


def endpoint(llm: LLMConfig) -> str:
    """The URL requests go to, as shown in errors (never with credentials)."""
    base = _api_base(llm) or DEFAULT_BASE.get(llm.provider or "", "")
    parts = urlsplit(base)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else base


def _api_base(llm: LLMConfig) -> str:
    if not llm.base_url:
        return ""
    base = llm.base_url.rstrip("/")
    if urlsplit(base).path in ("", "/"):
        base += "/v1"
    return base


def _api_key(llm: LLMConfig, environ: Mapping[str, str]) -> str | None:
    name = llm.key_env
    if not name:
        # ollama and many local servers take any key; lm15 still wants one.
        return "memfun-no-key" if llm.provider in ("ollama", "custom") else None
    value = environ.get(name, "").strip()
    if not value:
        if llm.provider in ("ollama", "custom") and not llm.api_key_env:
            return "memfun-no-key"
        raise LLMNotConfigured(
            f"no API key for {llm.provider}: ${name} is not set",
            f"export {name}=<your key>, or name another variable in [llm] api_key_env",
        )
    register_secret(value)
    return value


def build_lm(llm: LLMConfig, environ: Mapping[str, str] | None = None) -> dspy.LM:
    """A `MeteredLM` (a `dspy.LM`) for the configured provider; LLMNotConfigured when it cannot
    be built."""
    env = os.environ if environ is None else environ
    model = model_string(llm)
    key = _api_key(llm, env)
    set_litellm_env()
    from dspy.utils.logging_utils import disable_logging

    from memfun_git.llm.metered import MeteredLM

    # dspy prints its warnings to stderr itself; ours go to the log file (and with -v to
    # stderr), redacted, and failures reach the user as one line of ours.
    disable_logging()

    kwargs: dict[str, object] = {
        "api_key": key,
        "cache": llm.cache,
        # Retries are ours (LMSession): DSPy's would also retry a refused connection.
        "num_retries": 0,
        "timeout": llm.timeout_seconds,
        "temperature": llm.temperature,
        "max_tokens": llm.max_tokens or None,
        "engine": llm.engine,
    }
    base = _api_base(llm) or (DEFAULT_BASE["ollama"] if llm.provider == "ollama" else "")
    if base and llm.engine == "litellm" and llm.provider in ("anthropic", "ollama"):
        # litellm's anthropic and ollama routes take the server root and add `/v1/messages`
        # and `/api/chat` themselves (`…/v1` gave `/v1/v1/messages` and `/v1/api/chat`).
        base = base.removesuffix("/v1")
    if base:
        kwargs["api_base"] = base
    if _is_reasoning(llm):
        # OpenAI reasoning models refuse other values (DSPy raises at construction).
        kwargs["temperature"] = None
        kwargs["max_tokens"] = max(llm.max_tokens, 16000) if llm.max_tokens else None
    return MeteredLM(model, **kwargs)  # pyright: ignore[reportArgumentType]


def _is_reasoning(llm: LLMConfig) -> bool:
    name = llm.model.rsplit("/", 1)[-1]
    return llm.provider == "openai" and name.startswith(("o1", "o3", "o4", "gpt-5"))
