"""The provider-error table: DSPy's exception classes (and their causes) to ours."""

from __future__ import annotations

import dspy
import pytest

from memfun_git.config import LLMConfig
from memfun_git.errors import (
    LLMAuthError,
    LLMContextTooLarge,
    LLMError,
    LLMInvalidRequest,
    LLMNotConfigured,
    LLMRateLimited,
    LLMServerError,
    LLMTimeout,
    LLMUnknownModel,
    LLMUnreachable,
)
from memfun_git.llm.errors import RETRYABLE, classify, map_lm_error
from memfun_git.llm.probe import Probe

CFG = LLMConfig(
    provider="openai", model="gpt-x", api_key_env="TEAM_KEY", base_url="https://llm.example/v1"
)


def _caused(error: BaseException, cause: BaseException) -> BaseException:
    error.__cause__ = cause
    return error


def _no_probe(llm: LLMConfig, base: str) -> Probe:
    raise AssertionError("only a 404 is probed")


CASES = [
    (dspy.LMNotConfiguredError("no key"), LLMNotConfigured, "no API key for openai at "),
    (dspy.LMConfigurationError("bad"), LLMNotConfigured, "cannot be used as configured"),
    (dspy.LMAuthError("no", status=401), LLMAuthError, "refused the API key in $TEAM_KEY"),
    (dspy.LMBillingError("pay"), LLMAuthError, "billing reasons"),
    (dspy.LMRateLimitError("slow"), LLMRateLimited, "is rate-limiting requests"),
    (dspy.ContextWindowExceededError(), LLMContextTooLarge, "gpt-x's context window"),
    (dspy.LMUnsupportedModelError("?", status=400), LLMUnknownModel, "does not serve the model"),
    (dspy.LMInvalidRequestError("?", status=400), LLMInvalidRequest, "rejected the request"),
    (dspy.LMUnsupportedFeatureError("tools"), LLMInvalidRequest, "cannot do what this step"),
    (dspy.LMTimeoutError("slow", status=504), LLMTimeout, "no answer from"),
    (dspy.LMServerError("boom", status=500), LLMServerError, "failed with a server error"),
    (dspy.LMTransportError("reset"), LLMUnreachable, "cannot reach https://llm.example/v1"),
    # litellm reports a refused connection as a server error; lm15 a read time-out as transport.
    (_caused(dspy.LMServerError("x"), ConnectionRefusedError()), LLMUnreachable, "cannot reach"),
    (_caused(dspy.LMTransportError("x"), TimeoutError()), LLMTimeout, "within 120 s"),
    (dspy.LMUnexpectedError("engine bug"), LLMError, "the model call to https://llm.example/v1"),
]


@pytest.mark.parametrize(("exc", "cls", "text"), CASES, ids=lambda v: type(v).__name__)
def test_each_dspy_error_class_has_its_row(
    exc: BaseException, cls: type[LLMError], text: str
) -> None:
    mapped = map_lm_error(exc, CFG, probe=_no_probe)
    assert type(mapped) is cls
    assert text in str(mapped)
    assert classify(exc) is cls


def test_only_rate_limits_and_server_errors_are_retried() -> None:
    assert (LLMRateLimited, LLMServerError) == RETRYABLE
    assert not issubclass(LLMTimeout, RETRYABLE)
    assert not issubclass(LLMUnreachable, RETRYABLE)


def test_other_exceptions_are_not_ours_to_map() -> None:
    assert map_lm_error(ValueError("x"), CFG) is None
    assert classify(KeyError("x")) is None


def test_the_providers_text_is_never_repeated() -> None:
    exc = dspy.LMAuthError("Incorrect API key provided: sk-leaked-0123456789", status=401)
    mapped = map_lm_error(exc, CFG)
    assert mapped is not None
    assert "sk-leaked" not in str(mapped)
