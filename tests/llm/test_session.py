from __future__ import annotations

import dspy
import pytest

from memfun_git.config import LLMConfig
from memfun_git.errors import (
    BudgetExceeded,
    LLMAuthError,
    LLMBadResponse,
    LLMError,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
    LLMUnknownModel,
    LLMUnreachable,
)
from memfun_git.llm.scripted import scripted_lm
from memfun_git.llm.session import LMSession
from memfun_git.llm.usage import Usage
from tests.helpers.stub_llm import StubLLMServer, StubReply

KEY = "sk-live-SECRET-0123456789abcdef"
PONG = "[[ ## answer ## ]]\npong\n\n[[ ## completed ## ]]"


def _cfg(url: str, engine: str = "auto", **kw: object) -> LLMConfig:
    return LLMConfig(
        provider="custom",
        model="stub-model",
        base_url=url,
        api_key_env="STUB_KEY",
        engine=engine,  # type: ignore[arg-type]
        timeout_seconds=kw.pop("timeout_seconds", 5.0),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def _session(cfg: LLMConfig, sleeps: list[float] | None = None) -> LMSession:
    session = LMSession.from_config(cfg, {"STUB_KEY": KEY})
    if sleeps is not None:
        session.sleep = sleeps.append
    return session


ERRORS = [
    pytest.param(
        StubReply(
            status=401,
            error_body={
                "error": {
                    "message": f"Incorrect API key provided: {KEY}",
                    "code": "invalid_api_key",
                }
            },
        ),
        LLMAuthError,
        "refused the API key in $STUB_KEY",
        id="bad-key",
    ),
    pytest.param(
        StubReply(
            status=404, error_body={"error": {"message": "The model `stub-model` does not exist"}}
        ),
        LLMUnknownModel,
        "does not serve the model 'stub-model'",
        id="unknown-model",
    ),
    pytest.param(StubReply(status=503), LLMServerError, "failed with a server error", id="server"),
    pytest.param(
        StubReply(status=429, error_body={"error": {"message": "Rate limit reached"}}),
        LLMRateLimited,
        "is rate-limiting requests",
        id="rate-limit",
    ),
]


@pytest.mark.parametrize("engine", ["auto", "litellm"])
@pytest.mark.parametrize(("reply", "cls", "text"), ERRORS)
def test_provider_failures_are_mapped(
    engine: str, reply: StubReply, cls: type[LLMError], text: str
) -> None:
    with StubLLMServer([reply]) as stub:
        session = _session(_cfg(stub.url, engine, num_retries=0))
        with pytest.raises(cls) as info:
            session.predict("question -> answer", question="ping")
    message = str(info.value)
    assert text in message
    assert stub.url in message
    assert KEY not in message
    assert len(stub.requests) == 1
    assert session.usage.calls == 0


def test_rate_limits_and_server_errors_are_retried_with_backoff() -> None:
    replies = [StubReply(status=429), StubReply(status=502), PONG]
    with StubLLMServer(replies) as stub:
        sleeps: list[float] = []
        session = _session(_cfg(stub.url, num_retries=2), sleeps)
        assert session.predict("question -> answer", question="ping").answer == "pong"
    assert len(stub.requests) == 3
    assert sleeps == [1.0, 2.0]


@pytest.mark.parametrize("engine", ["auto", "litellm"])
def test_unreachable_endpoint_fails_fast_without_retries(engine: str) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps: list[float] = []
    session = _session(_cfg(f"http://127.0.0.1:{port}/v1", engine, num_retries=3), sleeps)
    with pytest.raises(LLMUnreachable) as info:
        session.predict("question -> answer", question="ping")
    assert sleeps == []  # no retry (how fast it fails: bench/limits.py)
    assert str(info.value) == (
        f"cannot reach http://127.0.0.1:{port}/v1 — "
        "check [llm] base_url and that the server is running"
    )


@pytest.mark.parametrize("engine", ["auto", "litellm"])
def test_silent_endpoint_times_out_once_within_the_limit(engine: str) -> None:
    with StubLLMServer([StubReply(PONG, delay=6)]) as stub:
        session = _session(_cfg(stub.url, engine, timeout_seconds=1.0, num_retries=3), [])
        with pytest.raises(LLMTimeout, match=r"no answer from .* within 1 s"):
            session.predict("question -> answer", question="ping")
        assert len(stub.requests) == 1  # not retried (how soon it gives up: bench/limits.py)


def test_truncated_answers_are_refused() -> None:
    with StubLLMServer([StubReply(PONG, finish_reason="length")]) as stub:
        session = _session(_cfg(stub.url, max_tokens=10))
        with pytest.raises(LLMBadResponse, match=r"cut off at \[llm\] max_tokens = 10"):
            session.predict("question -> answer", question="ping")
    assert session.usage.calls == 1


def test_call_cap_stops_a_runaway_task() -> None:
    cfg = LLMConfig(provider="custom", model="m", base_url="http://x/v1", max_calls_per_task=2)
    session = LMSession(cfg, scripted_lm([{"answer": "a"}] * 5))
    session.predict("question -> answer", question="1")
    session.predict("question -> answer", question="2")
    with pytest.raises(BudgetExceeded) as info:
        session.predict("question -> answer", question="3")
    assert str(info.value) == (
        "the task used its 2 model calls and was stopped — raise [llm] max_calls_per_task, "
        "or split the request"
    )
    assert info.value.exit_code == 1


def test_token_and_cost_caps() -> None:
    usage = Usage()
    usage.record({"usage": {"prompt_tokens": 900, "completion_tokens": 200}, "cost": 0.75})
    usage.record({"usage": {"prompt_tokens": 10, "completion_tokens": 5}, "cost": None})
    assert (usage.calls, usage.tokens, usage.unpriced_calls) == (2, 1115, 1)
    assert usage.summary() == "2 calls · 1,115 tokens (910 in, 205 out) · $0.7500 + unpriced calls"
    with pytest.raises(BudgetExceeded, match="used 1,115 tokens"):
        usage.check(LLMConfig(max_tokens_per_task=1000))
    with pytest.raises(BudgetExceeded, match=r"cost \$0.75 \(cap \$0.50\)"):
        usage.check(LLMConfig(max_cost_per_task=0.5))
    usage.check(LLMConfig(max_tokens_per_task=0, max_cost_per_task=0, max_calls_per_task=0))


def test_usage_belongs_to_the_session_not_the_process() -> None:
    a = LMSession(LLMConfig(), scripted_lm([{"answer": "x"}]))
    b = LMSession(LLMConfig(), scripted_lm([{"answer": "y"}]))
    a.predict("question -> answer", question="q")
    assert (a.usage.calls, b.usage.calls) == (1, 0)
    assert dspy.settings.lm is None


def test_an_unknown_model_reads_the_same_from_anthropic() -> None:
    body = {
        "type": "error",
        "error": {"type": "not_found_error", "message": "model: claude-nope"},
    }
    with StubLLMServer([StubReply(status=404, error_body=body)]) as stub:
        cfg = LLMConfig(
            provider="anthropic",
            model="claude-nope",
            base_url=stub.url,
            api_key_env="STUB_KEY",
            num_retries=0,
        )
        session = LMSession.from_config(cfg, {"STUB_KEY": KEY})
        with pytest.raises(LLMUnknownModel) as info:
            session.predict("question -> answer", question="ping")
    assert str(info.value).startswith(f"{stub.url} does not serve the model 'claude-nope'")
    assert info.value.exit_code == 2


def test_a_refused_request_without_a_configured_key_says_so() -> None:
    with StubLLMServer([StubReply(status=401)]) as stub:
        cfg = LLMConfig(provider="custom", model="m", base_url=stub.url, num_retries=0)
        session = LMSession.from_config(cfg, {})
        with pytest.raises(LLMAuthError) as info:
            session.predict("question -> answer", question="ping")
    assert str(info.value) == (
        f"{stub.url} refused the request: it wants a key, and none is configured — "
        "export the key and set [llm] api_key_env to the variable's name"
    )
