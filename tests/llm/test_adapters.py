"""Raw-text steps reach our parser byte for byte; typed steps still parse to their types."""

from __future__ import annotations

import dspy
import pytest

from memfun_git.config import LLMConfig
from memfun_git.llm.adapters import raw_output_field
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.llm.session import LMSession
from tests.helpers.stub_llm import StubLLMServer, StubReply

# What ChatAdapter would mangle: leading blank lines, its own markers inside the content
# (it cuts the field there), fences, trailing whitespace and trailing blank lines (it strips).
RAW = (
    "\n\n  write_file src/app.py\n"
    "```python\n"
    "MARK = '''\n"
    "[[ ## completed ## ]]\n"
    "[[ ## anything ## ]]\n"
    "[[ ## operations ## ]]\n"
    "'''\n"
    "x = 1   \n"
    "```\n"
    "\t\n"
    "\n\n"
)


class Solve(dspy.Signature):
    """Write the operations that carry out the request, in the operations format."""

    request: str = dspy.InputField()
    operations: str = dspy.OutputField(desc="operations in the format described")


class Plan(dspy.Signature):
    """Pick files."""

    request: str = dspy.InputField()
    files: list[str] = dspy.OutputField()
    reason: str = dspy.OutputField()


def _http_session(url: str, engine: str, provider: str = "custom") -> LMSession:
    cfg = LLMConfig(
        provider=provider,  # type: ignore[arg-type]
        model="stub-model",
        base_url=url,
        api_key_env="STUB_KEY",
        engine=engine,  # type: ignore[arg-type]
        num_retries=0,
    )
    return LMSession.from_config(cfg, {"STUB_KEY": "sk-stub-0123456789"})


def test_a_raw_answer_round_trips_through_the_scripted_lm() -> None:
    lm = scripted_lm(
        [Answer(raw=RAW, step="solve"), Answer(step="solve", values={"operations": RAW})]
    )
    session = LMSession(LLMConfig(model="scripted"), lm)
    assert session.text("solve", Solve, request="add x") == RAW
    # A value answer is rendered by the raw adapter itself: the same bytes.
    assert session.text("solve", Solve, request="add x") == RAW
    assert [c.answer for c in engine_of(lm).calls] == [RAW, RAW]
    prompt = engine_of(lm).calls[0].prompt
    assert "[[ ## request ## ]]\nadd x" in prompt
    assert "Your whole reply is the value of `operations`" in prompt
    assert "[[ ## completed ## ]]" not in prompt


@pytest.mark.parametrize(
    ("provider", "engine", "path"),
    [
        ("custom", "auto", "/v1/chat/completions"),
        ("custom", "litellm", "/v1/chat/completions"),
        ("anthropic", "auto", "/v1/messages"),
        ("anthropic", "litellm", "/v1/messages"),
        ("ollama", "auto", "/v1/chat/completions"),
        ("ollama", "litellm", "/api/chat"),
    ],
)
def test_a_raw_answer_round_trips_over_http(provider: str, engine: str, path: str) -> None:
    with StubLLMServer([RAW, StubReply(RAW)]) as stub:
        session = _http_session(stub.url, engine, provider)
        assert session.text("solve", Solve, request="add x") == RAW
        assert session.text("solve", "request -> operations", request="again") == RAW
    # litellm also asks Ollama about the model (`/api/show`, answered 404 here).
    assert [r.path for r in stub.posts if r.path != "/api/show"] == [path, path]
    assert session.usage.by_step["solve"].calls == 2


@pytest.mark.parametrize("engine", ["auto", "litellm"])
def test_typed_steps_still_parse_to_their_types(engine: str) -> None:
    answer = (
        '[[ ## files ## ]]\n["a.py", "b.py"]\n\n[[ ## reason ## ]]\nboth\n\n[[ ## completed ## ]]'
    )
    with StubLLMServer([answer]) as stub:
        plan = _http_session(stub.url, engine).predict("plan", Plan, request="r")
    assert (plan.files, plan.reason) == (["a.py", "b.py"], "both")


def test_a_raw_step_has_one_text_output() -> None:
    session = LMSession(LLMConfig(model="scripted"), scripted_lm())
    with pytest.raises(
        TypeError, match=r"exactly one output field of type str, Plan has \['files', 'reason'\]"
    ):
        session.text("plan", Plan, request="r")
    assert raw_output_field(Solve) == "operations"
    assert engine_of(session.lm).calls == []
