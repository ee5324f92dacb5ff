"""The review program: findings and byte-exact suggestions from raw text, the diff packed under
a budget with what was left out named, secrets redacted before the prompt, bad answers refused.
The model is the scripted LM (a real dspy.LM); nothing of ours is mocked."""

from __future__ import annotations

import pytest

from memfun_git.config import LLMConfig
from memfun_git.errors import LLMUnparseable
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.llm.session import LMSession
from memfun_git.quality.diffpack import pack_diff, split_diff
from memfun_git.quality.review import REVIEW_FORMAT, parse_review, review_change
from memfun_git.quality.verdicts import Finding

CFG = LLMConfig(provider="custom", model="scripted", base_url="http://127.0.0.1:1/v1")

DIFF = (
    "diff --git a/src/app.py b/src/app.py\n"
    "index 1111111..2222222 100644\n"
    "--- a/src/app.py\n"
    "+++ b/src/app.py\n"
    "@@ -1,2 +1,4 @@\n"
    " def add(a, b):\n"
    "-    return a + b\n"
    "+    total = a + b   \n"  # trailing spaces: the model must see them
    "+\n"
    "+    return total\n"
)


def session_with(*answers: Answer) -> LMSession:
    return LMSession(CFG, scripted_lm(answers))


def test_findings_and_suggestions_keep_every_byte() -> None:
    suggestion = "    total = a + b  \n\n\treturn total\n"
    answer = (
        "Here is my review.\n\n"
        "src/app.py:2-4: warning: trailing whitespace, and the blank line splits a two-line body\n"
        f"<<<<<<< SUGGESTION\n{suggestion}>>>>>>> SUGGESTION\n"
        "- `src/app.py`:1: info: the name could say more\n"
        "src/app.py:3: error: delete this line\n"
        "<<<<<<< SUGGESTION\n>>>>>>> SUGGESTION\n"
        "SUMMARY: adds a variable;\nnothing else changes.\n"
    )
    session = session_with(Answer(raw=answer, step="review"))
    review = review_change(session, "keep add working", DIFF)
    assert review.findings == (
        Finding(
            "src/app.py", 2, "warning",
            "trailing whitespace, and the blank line splits a two-line body",
            end_line=4, suggestion=suggestion,
        ),
        Finding("src/app.py", 1, "info", "the name could say more"),
        Finding("src/app.py", 3, "error", "delete this line", suggestion=""),
    )  # fmt: skip
    assert review.summary == "adds a variable; nothing else changes."
    assert review.unreviewed == ()
    assert [f.render() for f in review.over("warning")] == [
        "src/app.py:2: warning: trailing whitespace, and the blank line splits a two-line body",
        "src/app.py:3: error: delete this line",
    ]
    assert session.usage.by_step["review"].calls == 1
    prompt = engine_of(session.lm).calls[0].prompt
    assert DIFF in prompt  # the diff reaches the model as it is, trailing spaces included
    assert REVIEW_FORMAT.splitlines()[0] in prompt


def test_longer_markers_carry_code_with_marker_lines() -> None:
    code = "<<<<<<< SUGGESTION\nx = 1\n>>>>>>> SUGGESTION\n"
    answer = f"a.py:1: warning: w\n<<<<<<<<< SUGGESTION\n{code}>>>>>>>>> SUGGESTION\nSUMMARY: s\n"
    findings, summary = parse_review(answer)
    assert findings[0].suggestion == code
    assert summary == "s"


def test_a_suggestion_holding_the_redaction_marker_is_dropped() -> None:
    answer = (
        'a.py:1: error: e\n<<<<<<< SUGGESTION\nKEY = "[REDACTED]"\n>>>>>>> SUGGESTION\nSUMMARY: s'
    )
    findings, _ = parse_review(answer)
    assert findings == (Finding("a.py", 1, "error", "e"),)


@pytest.mark.parametrize(
    ("answer", "why"),
    [
        ("a.py:1: error: e\n", "no SUMMARY line"),
        ("a.py:1: error: e\n<<<<<<< SUGGESTION\nx\nSUMMARY: s\n", "never closed"),
        ("<<<<<<< SUGGESTION\nx\n>>>>>>> SUGGESTION\nSUMMARY: s\n", "no finding before it"),
        ("a.py:1: error: e\nx\n>>>>>>> SUGGESTION\nSUMMARY: s\n", "never opened"),
        ("src/a.py:12 error: missing colon\nSUMMARY: s\n", "looks like a finding"),
        ("a.py:9-3: error: e\nSUMMARY: s\n", "ends before it starts"),
        ("a.py:3: critical: e\nSUMMARY: s\n", "looks like a finding"),
    ],
)
def test_unparseable_answers_are_refused_with_the_text(answer: str, why: str) -> None:
    session = session_with(Answer(raw=answer, step="review"))
    with pytest.raises(LLMUnparseable) as caught:
        review_change(session, "intent", DIFF)
    assert why in str(caught.value)
    assert caught.value.raw == answer
    assert caught.value.step == "review"
    assert "\n" not in str(caught.value)
    assert session.usage.calls == 1  # no hidden retry


def file_diff(path: str, lines: int) -> str:
    body = "".join(f"+line {n} of {path}\n" for n in range(lines))
    return (
        f"diff --git a/{path} b/{path}\nnew file mode 100644\nindex 0000000..1111111\n"
        f"--- /dev/null\n+++ b/{path}\n@@ -0,0 +1,{lines} @@\n{body}"
    )


def test_a_diff_over_the_budget_says_what_was_not_reviewed() -> None:
    parts = {
        "poetry.lock": file_diff("poetry.lock", 40),
        "docs/guide.md": file_diff("docs/guide.md", 30),
        "src/big.py": file_diff("src/big.py", 400),
        "src/auth.py": file_diff("src/auth.py", 40),
        "tests/test_auth.py": file_diff("tests/test_auth.py", 40),
    }
    diff = "".join(parts.values())
    assert [f.path for f in split_diff(diff)] == list(parts)
    session = session_with(Answer(raw="SUMMARY: adds login\n", step="review"))
    budget = 1000  # tokens: src/auth.py, the test and the guide fit; big.py and the lock do not
    review = review_change(session, "add login to auth.py", diff, budget_tokens=budget)
    assert review.unreviewed == ("poetry.lock", "src/big.py")
    prompt = engine_of(session.lm).calls[0].prompt
    for shown in ("src/auth.py", "tests/test_auth.py", "docs/guide.md"):
        assert parts[shown] in prompt
    assert "line 0 of src/big.py" not in prompt
    assert "changed but not shown" in prompt
    assert "poetry.lock, src/big.py" in prompt
    packed = pack_diff(diff, budget, "add login to auth.py")
    assert packed.paths == ("docs/guide.md", "src/auth.py", "tests/test_auth.py")  # diff order


def test_the_intent_decides_what_is_most_relevant() -> None:
    diff = file_diff("src/a.py", 100) + file_diff("src/payments.py", 100)
    assert pack_diff(diff, 1000, "fix rounding in payments").paths == ("src/payments.py",)
    assert pack_diff(diff, 1000, "fix rounding").paths == ("src/a.py",)


def test_secrets_reach_the_model_redacted() -> None:
    token = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    diff = DIFF + (
        "diff --git a/deploy.sh b/deploy.sh\n--- a/deploy.sh\n+++ b/deploy.sh\n@@ -1 +1,2 @@\n"
        f" set -e\n+export GH_TOKEN={token}\n"
    )
    session = session_with(
        Answer(raw="deploy.sh:2: error: a token in the code\nSUMMARY: s", step="review")
    )
    review = review_change(
        session,
        f"use the token {token} for deploys",
        diff,
        conventions=f"our bot token is {token}",
    )
    assert review.findings[0].render() == "deploy.sh:2: error: a token in the code"
    call = engine_of(session.lm).calls[0]
    assert token not in call.prompt
    assert call.prompt.count("[REDACTED]") == 3  # intent, conventions, diff


def test_an_empty_diff_costs_no_call() -> None:
    session = session_with()
    review = review_change(session, "anything", "")
    assert review.findings == ()
    assert "empty" in review.summary
    assert session.usage.calls == 0
