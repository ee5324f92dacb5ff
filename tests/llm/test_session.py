"""Provider failures over real HTTP (both engines): one distinct error each, retried only
when worth it, never showing the key."""

from __future__ import annotations

import socket

import pytest

from memfun_git.config import LLMConfig
from memfun_git.errors import (
    LLMAuthError,
    LLMContextTooLarge,
    LLMEndpointNotFound,
    LLMError,
    LLMInvalidRequest,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
    LLMTruncated,
    LLMUnknownModel,
    LLMUnparseable,
    LLMUnreachable,
)
from memfun_git.llm.session import LMSession
from tests.helpers.stub_llm import StubLLMServer, StubReply, StubScriptOverrun

KEY = "sk-live-SECRET-0123456789abcdef"
PONG = "[[ ## answer ## ]]\npong\n\n[[ ## completed ## ]]"
ENGINES = pytest.mark.parametrize("engine", ["auto", "litellm"])


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
    record = sleeps.append if sleeps is not None else _no_sleep
    return LMSession.from_config(cfg, {"STUB_KEY": KEY}, sleep=record)


def _no_sleep(seconds: float) -> None:
    raise AssertionError(f"unexpected retry after {seconds} s")


def _ping(session: LMSession) -> str:
    return str(session.predict("ping", "question -> answer", question="ping").answer)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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
    pytest.param(
        StubReply(
            status=400,
            error_body={
                "error": {
                    "message": "maximum context length is 8 tokens",
                    "code": "context_length_exceeded",
                }
            },
        ),
        LLMContextTooLarge,
        "larger than stub-model's context window",
        id="context",
    ),
    pytest.param(
        StubReply(status=400, error_body={"error": {"message": "max_tokens is too large"}}),
        LLMInvalidRequest,
        "rejected the request to 'stub-model'",
        id="invalid-request",
    ),
    pytest.param(StubReply(status=503), LLMServerError, "failed with a server error", id="server"),
    pytest.param(
        StubReply(status=429, error_body={"error": {"message": "Rate limit reached"}}),
        LLMRateLimited,
        "is rate-limiting requests",
        id="rate-limit",
    ),
]


@ENGINES
@pytest.mark.parametrize(("reply", "cls", "text"), ERRORS)
def test_provider_failures_are_mapped(
    engine: str, reply: StubReply, cls: type[LLMError], text: str
) -> None:
    with StubLLMServer([reply]) as stub:
        session = _session(_cfg(stub.url, engine, num_retries=0))
        with pytest.raises(cls) as info:
            _ping(session)
    assert type(info.value) is cls
    message = str(info.value)
    assert text in message
    assert stub.url in message or "stub-model" in message
    assert KEY not in message
    # Chained to DSPy's error, which keeps the provider's.
    assert type(info.value.__cause__).__module__ == "dspy.utils.exceptions"
    assert len(stub.posts) == 1
    assert session.usage.calls == 0


def test_rate_limits_and_server_errors_are_retried_with_backoff() -> None:
    replies = [StubReply(status=429), StubReply(status=502), PONG]
    with StubLLMServer(replies) as stub:
        sleeps: list[float] = []
        session = _session(_cfg(stub.url, num_retries=2), sleeps)
        assert _ping(session) == "pong"
    assert len(stub.posts) == 3
    assert sleeps == [1.0, 2.0]
    assert session.usage.calls == 1


def test_retries_run_out() -> None:
    with StubLLMServer([StubReply(status=500)] * 2) as stub:
        sleeps: list[float] = []
        session = _session(_cfg(stub.url, num_retries=1), sleeps)
        with pytest.raises(LLMServerError):
            _ping(session)
    assert (len(stub.posts), sleeps) == (2, [1.0])


@ENGINES
def test_unreachable_endpoint_fails_without_retries(engine: str) -> None:
    port = _free_port()
    session = _session(_cfg(f"http://127.0.0.1:{port}/v1", engine, num_retries=3))
    with pytest.raises(LLMUnreachable) as info:
        _ping(session)
    assert str(info.value) == (
        f"cannot reach http://127.0.0.1:{port}/v1 — "
        "check [llm] base_url and that the server is running"
    )


@ENGINES
def test_a_silent_endpoint_times_out_once(engine: str) -> None:
    with StubLLMServer([StubReply(PONG, delay=3)]) as stub:
        session = _session(_cfg(stub.url, engine, timeout_seconds=1.0, num_retries=3))
        with pytest.raises(LLMTimeout, match=r"no answer from .* within 1 s"):
            _ping(session)
        assert len(stub.posts) == 1


@ENGINES
def test_truncation_is_checked_first_and_keeps_the_partial_answer(engine: str) -> None:
    # Cut off mid-answer: unparseable too, but the cause is the cap, and the text is kept.
    partial = "[[ ## answer ## ]]\npo"
    with StubLLMServer([StubReply(partial, finish_reason="length")]) as stub:
        session = _session(_cfg(stub.url, engine, max_tokens=10))
        with pytest.raises(LLMTruncated, match=r"cut off at \[llm\] max_tokens = 10") as info:
            _ping(session)
    assert (info.value.partial, info.value.step) == (partial, "ping")
    assert session.usage.calls == 1  # a truncated answer is billed


def test_an_unparseable_answer_keeps_the_raw_text() -> None:
    with StubLLMServer(["pong, without the markers\n"]) as stub:
        session = _session(_cfg(stub.url))
        with pytest.raises(LLMUnparseable) as info:
            _ping(session)
    assert info.value.raw == "pong, without the markers\n"
    assert len(stub.posts) == 1  # no JSON-adapter fallback call


@ENGINES
def test_a_404_everywhere_blames_the_base_url_not_the_model(engine: str) -> None:
    with StubLLMServer([]) as stub:
        session = _session(_cfg(stub.origin + "/api/openai", engine, num_retries=2))
        with pytest.raises(LLMEndpointNotFound) as info:
            _ping(session)
    assert str(info.value) == (
        f"{stub.origin}/api/openai answers 404 (not found), and so does its models listing: "
        f'the base URL\'s path is likely wrong — set [llm] base_url = "{stub.origin}/v1" '
        "(its models listing answers)"
    )
    assert [(r.method, r.path) for r in stub.requests] == [
        ("POST", "/api/openai/chat/completions"),
        ("GET", "/api/openai/models"),
        ("GET", "/v1/models"),
    ]
    assert all(
        "STUB_KEY" not in str(r.headers) and KEY not in str(r.headers) for r in stub.requests[1:]
    )


def test_a_404_with_a_models_listing_blames_the_model() -> None:
    body = {"type": "error", "error": {"type": "not_found_error", "message": "model: claude-nope"}}
    with StubLLMServer(
        [StubReply(status=404, error_body=body)], models=("claude-a", "claude-b")
    ) as stub:
        cfg = LLMConfig(
            provider="anthropic",
            model="claude-nope",
            base_url=stub.url,
            api_key_env="STUB_KEY",
            num_retries=0,
        )
        with pytest.raises(LLMUnknownModel) as info:
            _ping(_session(cfg))
    assert str(info.value) == (
        f"{stub.url} does not serve the model 'claude-nope' — "
        "check [llm] model; it lists: claude-a, claude-b"
    )
    assert info.value.exit_code == 2


def test_a_refused_request_without_a_configured_key_says_so() -> None:
    with StubLLMServer([StubReply(status=401)]) as stub:
        cfg = LLMConfig(provider="custom", model="m", base_url=stub.url, num_retries=0)
        with pytest.raises(LLMAuthError) as info:
            _ping(LMSession.from_config(cfg, {}))
    assert str(info.value) == (
        f"{stub.url} refused the request: it wants a key, and none is configured — "
        "export the key and set [llm] api_key_env to the variable's name"
    )


def test_an_unscripted_request_fails_the_test() -> None:
    stub = StubLLMServer([])
    session = _session(_cfg(stub.url, num_retries=0))
    stub.__enter__()
    with pytest.raises(LLMServerError):
        _ping(session)
    with pytest.raises(StubScriptOverrun, match=r"got 1 model request\(s\) more than its script"):
        stub.__exit__(None, None, None)
