"""A change described in one raw-text call: the diff packed under the budget (what was left out
told to the model and returned), secrets redacted both ways, HTML comments dropped."""

from __future__ import annotations

from memfun_git.config import LLMConfig
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.llm.session import LMSession
from memfun_git.quality.describe import describe_change
from memfun_git.redact import register_secret

SMALL = "diff --git a/a.py b/a.py\n--- a/a.py\n+++ b/a.py\n@@ -1 +1 @@\n-x = 1\n+x = 2\n"
BIG = "diff --git a/big.txt b/big.txt\n--- a/big.txt\n+++ b/big.txt\n@@ -0,0 +1,900 @@\n" + (
    "+row of data\n" * 900
)


def _session(answers: list[Answer]) -> LMSession:
    return LMSession(LLMConfig(provider="openai", model="memfun-scripted"), scripted_lm(answers))


def test_a_change_is_described_and_what_was_not_read_is_said() -> None:
    secret = "sk-describeSecret0123456789abcdefABCDEF"
    register_secret(secret)
    text = f"## Summary\nSets x.<!-- memfun:fp=0123456789abcdef -->\nkey {secret}\n"
    session = _session([Answer(raw=text, step="describe")])
    described = describe_change(session, f"set x {secret}", SMALL + BIG, budget_tokens=200)
    assert described.unreviewed == ("big.txt",)
    assert "memfun:fp" not in described.text
    assert secret not in described.text
    (call,) = engine_of(session.lm).calls
    assert "not shown (over the size limit): big.txt" in call.prompt
    assert secret not in call.prompt


def test_an_empty_diff_asks_nothing() -> None:
    session = _session([])
    assert describe_change(session, "nothing", "").text == ""
    assert engine_of(session.lm).calls == []
