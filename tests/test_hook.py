"""The pre-commit review (`memfun_git/hook.py`) against the local OpenAI-compatible stub server:
what it blocks and passes, its cache, its policy when no model can review, the packing of a
large diff, the context it sends, and that nothing of the user's changes."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from memfun_git.hook import HookVerdict, review_staged
from tests.conftest import git
from tests.helpers.messy import snapshot
from tests.helpers.stub_llm import StubLLMServer, StubReply

BUG = "src/calc.py:2: error: divides by zero when count is 0\nSUMMARY: adds mean, with a bug."
CLEAN = "SUMMARY: adds mean as written."
MEAN = "def mean(total, count):\n    return total / count\n"


def _env(stub_url: str, **more: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env |= {
        "MEMFUN_LLM_PROVIDER": "custom",
        "MEMFUN_LLM_MODEL": "stub-model",
        "MEMFUN_LLM_BASE_URL": stub_url,
        "MEMFUN_LLM_NUM_RETRIES": "0",
    }
    return env | more


def _stage(repo: Path, rel: str, text: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)
    git(repo, "add", rel)


def _review(repo: Path, stub: StubLLMServer, **more: str) -> HookVerdict:
    return review_staged(repo, environ=_env(stub.url, **more))


def test_a_finding_at_the_threshold_blocks_and_a_clean_change_passes(git_repo: Path) -> None:
    _stage(git_repo, "src/calc.py", MEAN)
    with StubLLMServer([BUG, CLEAN]) as stub:
        verdict = _review(git_repo, stub)
        assert verdict.blocked
        assert verdict.exit_code == 1
        assert [f.render() for f in verdict.findings] == [
            "src/calc.py:2: error: divides by zero when count is 0"
        ]
        assert verdict.paths == ("src/calc.py",)
        _stage(git_repo, "src/calc.py", MEAN.replace("total / count", "total / max(count, 1)"))
        verdict = _review(git_repo, stub)
    assert not verdict.blocked
    assert verdict.exit_code == 0
    assert verdict.summary == "adds mean as written."
    prompt = stub.posts[0].text
    assert "+    return total / count" in prompt
    assert prompt.count("diff --git") == 1  # only the staged change


def test_a_warning_blocks_only_under_a_lower_threshold(git_repo: Path) -> None:
    warning = "src/calc.py:1: warning: no docstring\nSUMMARY: fine."
    _stage(git_repo, "src/calc.py", MEAN)
    with StubLLMServer([warning, warning]) as stub:
        assert not _review(git_repo, stub).blocked
        assert _review(git_repo, stub, MEMFUN_HOOK_THRESHOLD="warning").blocked


def test_the_same_staged_content_is_answered_from_the_cache(git_repo: Path) -> None:
    _stage(git_repo, "src/calc.py", MEAN)
    with StubLLMServer([BUG, CLEAN, CLEAN]) as stub:
        first = _review(git_repo, stub)
        again = _review(git_repo, stub)
        assert len(stub.posts) == 1
        assert again.cached
        assert (again.findings, again.blocked) == (first.findings, first.blocked)
        # Another model, or another staged content: asked again.
        _review(git_repo, stub, MEMFUN_LLM_MODEL="stub-model-2")
        _stage(git_repo, "src/calc.py", MEAN + "\n\nZERO = 0\n")
        _review(git_repo, stub)
        assert len(stub.posts) == 3
        # MEMORY.md changed: its conventions may change the verdict.
        _stage(git_repo, "src/calc.py", MEAN)
        (git_repo / ".memfun").mkdir()
        (git_repo / ".memfun" / "MEMORY.md").write_text("## Conventions\n- guard every division\n")
    with StubLLMServer([CLEAN]) as stub:
        assert not _review(git_repo, stub).cached
        assert "guard every division" in stub.posts[0].text


@pytest.mark.parametrize("block", [False, True])
def test_without_a_model_the_policy_decides_in_one_line(git_repo: Path, block: bool) -> None:
    import os

    _stage(git_repo, "src/calc.py", MEAN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_LLM_")}
    env["MEMFUN_HOOK_BLOCK_ON_LLM_ERROR"] = str(block).lower()
    verdict = review_staged(git_repo, environ=env)
    assert verdict.skipped.startswith("no model is configured")
    assert verdict.blocked is block


def test_in_ci_or_with_the_model_out_of_reach_it_is_not_reviewed(git_repo: Path) -> None:
    _stage(git_repo, "src/calc.py", MEAN)
    with StubLLMServer([]) as stub:
        verdict = _review(git_repo, stub, CI="true")
    assert verdict.skipped == "running in CI, where no model is reached (CI is set)"
    assert not verdict.blocked
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    verdict = review_staged(git_repo, environ=_env(f"http://127.0.0.1:{port}/v1"))
    assert verdict.skipped.startswith("the model could not review it (")
    assert not verdict.blocked


def test_a_model_time_out_follows_the_policy(git_repo: Path) -> None:
    _stage(git_repo, "src/calc.py", MEAN)
    with StubLLMServer([StubReply(CLEAN, delay=3)]) as stub:
        verdict = _review(
            git_repo,
            stub,
            MEMFUN_HOOK_TIMEOUT_SECONDS="0.5",
            MEMFUN_HOOK_BLOCK_ON_LLM_ERROR="true",
        )
    assert verdict.skipped.startswith("the model could not review it (")
    assert verdict.blocked


def test_a_diff_over_the_limit_is_reviewed_in_part_and_says_what_was_left(git_repo: Path) -> None:
    _stage(git_repo, "src/calc.py", MEAN)
    _stage(git_repo, "data/big.txt", "".join(f"row {i}\n" for i in range(2_000)))
    with StubLLMServer([CLEAN]) as stub:
        verdict = _review(git_repo, stub, MEMFUN_HOOK_MAX_DIFF_BYTES="4000")
    assert verdict.unreviewed == ("data/big.txt",)
    assert "data/big.txt" in stub.posts[0].text  # the model is told what it did not see
    assert "row 1999" not in stub.posts[0].text


def test_the_first_commit_is_reviewed_against_nothing(tmp_path: Path) -> None:
    repo = tmp_path / "new"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    _stage(repo, "main.py", "print('hi')\n")
    with StubLLMServer([CLEAN]) as stub:
        verdict = _review(repo, stub)
    assert verdict.paths == ("main.py",)
    assert "+print('hi')" in stub.posts[0].text


def test_the_code_around_the_change_is_context(git_repo: Path) -> None:
    _stage(
        git_repo,
        "src/stats.py",
        "from src.app import add\n\n\ndef total(xs):\n    return add(*xs)\n",
    )
    with StubLLMServer([CLEAN]) as stub:
        _review(git_repo, stub)
    assert "def add(a, b)" in stub.posts[0].text


def test_nothing_staged_asks_no_model(git_repo: Path) -> None:
    (git_repo / "src" / "app.py").write_text("changed but not staged\n")
    with StubLLMServer([]) as stub:
        verdict = _review(git_repo, stub)
    assert (verdict.paths, verdict.blocked, verdict.summary) == (
        (),
        False,
        "nothing staged: nothing to review",
    )


def test_the_review_changes_nothing_of_the_users(git_repo: Path) -> None:
    _stage(git_repo, "src/calc.py", MEAN)
    (git_repo / "src" / "app.py").write_text("unstaged work\n")
    (git_repo / "notes.txt").write_text("untracked\n")
    before = snapshot(git_repo)
    with StubLLMServer([BUG]) as stub:
        _review(git_repo, stub)
    assert snapshot(git_repo) == before


def test_on_a_shared_tier_a_clone_reuses_the_verdict_another_clone_cached(
    git_repo: Path, tmp_path: Path
) -> None:
    import asyncio
    import uuid

    from tests.backends.conftest import drop
    from tests.helpers.require import need_service

    need_service("Redis", "127.0.0.1", 6379)
    namespace = f"test-{uuid.uuid4().hex[:10]}"
    shared = {"MEMFUN_BACKEND_TIER": "redis", "MEMFUN_BACKEND_NAMESPACE": namespace}
    other = tmp_path / "other-clone"
    git(tmp_path, "clone", "-q", str(git_repo), str(other))
    try:
        _stage(git_repo, "src/calc.py", MEAN)
        _stage(other, "src/calc.py", MEAN)
        with StubLLMServer([BUG]) as stub:
            first = _review(git_repo, stub, **shared)
            again = _review(other, stub, **shared)
        assert len(stub.posts) == 1
        assert again.cached
        assert again.findings == first.findings
        assert not (git_repo / ".git" / "memfun" / "memfun.db").exists()
    finally:
        asyncio.run(drop("redis", namespace))


def test_an_unreachable_shared_tier_only_costs_the_cache(
    git_repo: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = {"MEMFUN_BACKEND_TIER": "redis", "MEMFUN_BACKEND_REDIS_URL": f"redis://127.0.0.1:{port}"}
    _stage(git_repo, "src/calc.py", MEAN)
    with StubLLMServer([BUG, BUG]) as stub:
        assert _review(git_repo, stub, **down).blocked
        assert not _review(git_repo, stub, **down).cached
    assert len(stub.posts) == 2
    assert f"127.0.0.1:{port}" in caplog.text
