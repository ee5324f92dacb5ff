"""Every call is reported to the session's observer and logged once, never with the prompt
or the key."""

from __future__ import annotations

import logging

import pytest

from memfun_git.config import LLMConfig
from memfun_git.errors import LLMAuthError
from memfun_git.llm.observe import CallFinished, CallRetrying, CallStarted, LMEvent
from memfun_git.llm.session import LMSession
from tests.helpers.stub_llm import StubLLMServer, StubReply

KEY = "sk-live-SECRET-0123456789abcdef"
PONG = "[[ ## answer ## ]]\npong\n\n[[ ## completed ## ]]"
SECRET_QUESTION = "what is the launch code 4711?"


def _session(url: str, events: list[LMEvent], sleeps: list[float], **kw: object) -> LMSession:
    cfg = LLMConfig(
        provider="custom",
        model="stub-model",
        base_url=url,
        api_key_env="STUB_KEY",
        **kw,  # type: ignore[arg-type]
    )
    return LMSession.from_config(
        cfg, {"STUB_KEY": KEY}, observer=events.append, sleep=sleeps.append
    )


def test_the_observer_sees_start_retry_and_finish(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="memfun_git")
    replies = [StubReply(status=429), StubReply(PONG, input_tokens=120, output_tokens=8)]
    events: list[LMEvent] = []
    sleeps: list[float] = []
    with StubLLMServer(replies) as stub:
        session = _session(stub.url, events, sleeps, num_retries=2)
        session.predict("review", "question -> answer", question=SECRET_QUESTION)
    url = stub.url
    assert [type(e) for e in events] == [
        CallStarted,
        CallFinished,
        CallRetrying,
        CallStarted,
        CallFinished,
    ]
    first, failed, retry, second, done = events
    assert first == CallStarted(1, "review", url, "stub-model", 1, 3)
    assert isinstance(failed, CallFinished)
    assert failed.failure == "LLMRateLimited"
    assert retry == CallRetrying(1, "review", url, "rate-limited", 1.0, 2, 3)
    assert isinstance(retry, CallRetrying)
    assert retry.describe() == f"rate-limited by {url} — retrying in 1 s (attempt 2 of 3)"
    assert second == CallStarted(1, "review", url, "stub-model", 2, 3)
    assert isinstance(done, CallFinished)
    assert (done.input_tokens, done.output_tokens, done.finish_reason, done.failure) == (
        120,
        8,
        "stop",
        None,
    )
    assert sleeps == [1.0]

    records = [r for r in caplog.records if r.name.startswith("memfun_git.llm")]
    lines = [r.getMessage() for r in records]
    assert all(r.levelno == logging.INFO for r in records)
    assert len(lines) == 3
    assert lines[0].startswith(f"review: {url} (stub-model) failed after ")
    assert lines[0].endswith("s: LLMRateLimited (HTTP 429)")
    assert lines[1] == f"review: rate-limited by {url} — retrying in 1 s (attempt 2 of 3)"
    assert lines[2].startswith(f"review: {url} (stub-model) answered: 120 tokens in, 8 out, ")
    assert lines[2].endswith(" s, finish stop")
    for line in lines:
        assert KEY not in line
        assert "launch code" not in line


def test_a_failure_is_reported_and_the_error_raised() -> None:
    events: list[LMEvent] = []
    with StubLLMServer([StubReply(status=401)]) as stub:
        session = _session(stub.url, events, [], num_retries=2)
        with pytest.raises(LLMAuthError):
            session.predict("plan", "question -> answer", question="q")
    assert [type(e) for e in events] == [CallStarted, CallFinished]
    assert isinstance(events[1], CallFinished)
    assert events[1].failure == "LLMAuthError"


def test_calls_are_numbered_per_session() -> None:
    events: list[LMEvent] = []
    with StubLLMServer([PONG, PONG]) as stub:
        session = _session(stub.url, events, [], num_retries=0)
        session.predict("a", "question -> answer", question="1")
        session.predict("b", "question -> answer", question="2")
    assert [(e.call_id, e.step) for e in events if isinstance(e, CallStarted)] == [
        (1, "a"),
        (2, "b"),
    ]
