"""`/memfun fix` on a pull request comment, run as a runner runs `memfun action` in fix mode:
the engine's gated commits pushed to the pull request's branch on dulwich's git server, a fork
answered with suggestions, a commenter without write permission refused (as the API says)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from tests.helpers.github import (
    CALC,
    CLEAN,
    FIXED,
    SOLVE,
    GitServer,
    Upstream,
    comment_event,
    fake_api,
    git,
    outputs,
    pull_json,
    runner_env,
    upstream,
)
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitServer]:
    need_tool("bwrap")
    git_server = GitServer(tmp_path)
    yield git_server
    git_server.close()


def _upstream(tmp_path: Path, server: GitServer, stub: StubLLMServer) -> Upstream:
    config = (
        f'[llm]\nprovider = "custom"\nmodel = "stub-model"\nbase_url = "{stub.url}"\n'
        "num_retries = 0\n\n[gate]\nfix_rounds = 0\n"
    )
    base = {"memfun.toml": config, "src/app.py": "def add(a, b):\n    return a + b\n"}
    return upstream(tmp_path, server, base, {"src/calc.py": CALC})


def _action(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> int:
    for name in list(os.environ):
        if name.startswith(("INPUT_", "GITHUB_", "MEMFUN_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return run(["action"])


def test_a_fix_on_comment_pushes_gated_commits_to_the_pull_request(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([SOLVE, CLEAN]) as stub:
        up = _upstream(tmp_path, server, stub)
        with fake_api(pull=pull_json(up)) as api:
            event = comment_event(tmp_path, "Thanks!\n\n/memfun fix guard the division")
            env = runner_env(tmp_path, "issue_comment", event, server, mode="fix")
            assert _action(env, monkeypatch) == 0
    assert "guard the division" in stub.posts[0].text
    tip = git(server.bare, "rev-parse", "refs/heads/changes")
    assert git(server.bare, "rev-parse", f"{tip}^") == up.head  # a fast-forward
    assert git(server.bare, "show", f"{tip}:src/calc.py") + "\n" == FIXED
    assert "Memfun-Gate:" in git(server.bare, "log", "-1", "--format=%B", tip)
    (reply,) = api.posted("comment")
    assert reply["body"].startswith("Pushed 1 commit(s) to `changes`:")
    assert tip[:7] in reply["body"]
    assert outputs(env)["branch"] == "changes"
    assert git(server.bare, "rev-parse", "refs/pull/2/head") == up.head


def test_a_fork_gets_suggestions_instead_of_a_push(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([SOLVE, CLEAN]) as stub:
        up = _upstream(tmp_path, server, stub)
        with fake_api(pull=pull_json(up, fork=True)) as api:
            event = comment_event(tmp_path, "/memfun fix guard the division")
            env = runner_env(tmp_path, "issue_comment", event, server, mode="fix")
            assert _action(env, monkeypatch) == 0
    assert git(server.bare, "rev-parse", "refs/heads/changes") == up.head  # nothing pushed
    (review,) = api.posted("review")
    (comment,) = review["comments"]
    assert comment["path"] == "src/calc.py"
    assert "```suggestion\n" in comment["body"]
    assert "    return total / max(count, 1)\n" in comment["body"]
    assert outputs(env)["branch"] == ""


def test_a_commenter_without_write_permission_is_refused_before_anything_runs(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([]) as stub:
        up = _upstream(tmp_path, server, stub)
        with fake_api(pull=pull_json(up), permission="read") as api:
            event = comment_event(tmp_path, "/memfun fix delete everything")
            env = runner_env(tmp_path, "issue_comment", event, server, mode="fix")
            assert _action(env, monkeypatch) == 0
    (reply,) = api.posted("comment")
    assert "runs for people with write access to this repository (yours: read)" in reply["body"]
    assert [name for name, _ in api.calls] == ["permission", "comment"]
    assert outputs(env)["verdict"] == "skipped"
    assert git(server.bare, "rev-parse", "refs/heads/changes") == up.head


@pytest.mark.parametrize(
    "body",
    ["> /memfun fix quoted from someone\n\nno", "```\n/memfun fix in code\n```", "lgtm"],
)
def test_no_command_of_the_commenter_means_nothing_runs(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    with StubLLMServer([]) as stub:
        up = _upstream(tmp_path, server, stub)
        with fake_api(pull=pull_json(up)) as api:
            env = runner_env(
                tmp_path, "issue_comment", comment_event(tmp_path, body), server, mode="fix"
            )
            assert _action(env, monkeypatch) == 0
    assert api.calls == []
    assert outputs(env)["verdict"] == "skipped"
