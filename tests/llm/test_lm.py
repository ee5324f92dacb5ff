from __future__ import annotations

import pytest

from memfun_git.config import LLMConfig
from memfun_git.errors import LLMNotConfigured
from memfun_git.llm.lm import build_lm, endpoint, model_string


@pytest.mark.parametrize(
    ("cfg", "model", "base"),
    [
        (
            LLMConfig(provider="anthropic", model="claude-sonnet-4-5"),
            "anthropic/claude-sonnet-4-5",
            None,
        ),
        (LLMConfig(provider="openai", model="gpt-4.1"), "openai/gpt-4.1", None),
        (
            LLMConfig(provider="ollama", model="llama3.1"),
            "ollama_chat/llama3.1",
            "http://localhost:11434/v1",
        ),
        (
            LLMConfig(provider="ollama", model="qwen", base_url="http://gpu-box:11434"),
            "ollama_chat/qwen",
            "http://gpu-box:11434/v1",
        ),
        (
            LLMConfig(provider="custom", model="m", base_url="http://127.0.0.1:8000/v1/"),
            "hosted_vllm/m",
            "http://127.0.0.1:8000/v1",
        ),
        (
            LLMConfig(provider="anthropic", model="claude-x", base_url="https://proxy.example"),
            "anthropic/claude-x",
            "https://proxy.example/v1",
        ),
    ],
)
def test_lm_from_config(cfg: LLMConfig, model: str, base: str | None) -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-test-key-value", "OPENAI_API_KEY": "sk-test-key-value"}
    lm = build_lm(cfg, env)
    assert lm.model == model
    assert lm.kwargs.get("api_base") == base
    assert lm.num_retries == 0
    assert lm.cache is False
    assert model_string(cfg) == model


def test_reasoning_models_get_accepted_settings() -> None:
    lm = build_lm(
        LLMConfig(provider="openai", model="o3-mini", max_tokens=4000), {"OPENAI_API_KEY": "k" * 20}
    )
    assert lm.kwargs.get("temperature") is None
    assert lm.kwargs["max_completion_tokens"] >= 16000


def test_missing_model_and_key() -> None:
    with pytest.raises(LLMNotConfigured, match="no model is configured"):
        build_lm(LLMConfig(), {})
    with pytest.raises(LLMNotConfigured) as info:
        build_lm(LLMConfig(provider="openai", model="gpt-4.1", api_key_env="TEAM_KEY"), {})
    assert str(info.value) == (
        "no API key for openai: $TEAM_KEY is not set — export TEAM_KEY=<your key>, "
        "or name another variable in [llm] api_key_env"
    )


def test_local_servers_need_no_key() -> None:
    lm = build_lm(LLMConfig(provider="ollama", model="llama3.1"), {})
    assert lm.kwargs["api_key"]


def test_endpoint_never_shows_credentials() -> None:
    cfg = LLMConfig(provider="custom", model="m", base_url="https://user:pw@llm.internal:8443")
    assert endpoint(cfg) == "https://llm.internal:8443/v1"
    assert endpoint(LLMConfig(provider="anthropic", model="c")) == "https://api.anthropic.com/v1"
