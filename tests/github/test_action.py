"""`memfun action` run as a runner runs it: its variables and inputs, a real webhook payload in
GITHUB_EVENT_PATH, a fresh HOME, the pull request fetched over HTTP from dulwich's git server
with token auth, githubkit talking to a respx-mocked GitHub API at a non-default base URL, and
the local OpenAI-compatible stub server as the model (configured by the base branch's
memfun.toml, never the head's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from tests.helpers.github import (
    TOKEN,
    GitServer,
    Upstream,
    event_file,
    fake_api,
    outputs,
    runner_env,
    upstream,
)
from tests.helpers.stub_llm import StubLLMServer

CALC = "def mean(total, count):\n    return total / count\n"
FINDING = (
    "src/calc.py:2: warning: divides by zero when count is 0\n"
    "<<<<<<< SUGGESTION\n"
    "    return total / max(count, 1)\n"
    ">>>>>>> SUGGESTION\n"
    "SUMMARY: adds mean; one unguarded division."
)
OUTSIDE = "src/app.py:1: info: add a module docstring\n"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[GitServer]:
    git_server = GitServer(tmp_path)
    yield git_server
    git_server.close()


def _memfun_toml(url: str, model: str = "stub-model") -> str:
    return f'[llm]\nprovider = "custom"\nmodel = "{model}"\nbase_url = "{url}"\nnum_retries = 0\n'


def _upstream(
    tmp_path: Path, server: GitServer, stub: StubLLMServer, url: str = "", **head: str
) -> Upstream:
    """The base branch configures the stub (or `url`) as its model; the head adds calc.py."""
    base = {
        "memfun.toml": _memfun_toml(url or stub.url),
        "src/app.py": "def add(a, b):\n    return a + b\n",
    }
    # The head's memfun.toml names another model: the base branch's must be the one used.
    changes = {"src/calc.py": CALC, "memfun.toml": _memfun_toml(stub.url, "head-model"), **head}
    return upstream(tmp_path, server, base, changes)


def _closed_port() -> str:
    import socket

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{free.getsockname()[1]}/v1"


def _action(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> int:
    for name in list(__import__("os").environ):
        if name.startswith(("INPUT_", "GITHUB_", "MEMFUN_")):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return run(["action"])


def test_a_pull_request_gets_one_review_with_inline_suggestions(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([FINDING + "\n" + OUTSIDE]) as stub, fake_api() as api:
        up = _upstream(tmp_path, server, stub)
        event = event_file(tmp_path, "pull_request", "opened", up)
        env = runner_env(tmp_path, "pull_request", event, server)
        assert _action(env, monkeypatch) == 0
    (request,) = stub.posts
    assert request.body["model"] == "stub-model"  # the base branch's configuration
    assert "Update the README with new information." in request.text  # the intent
    assert "+    return total / count" in request.text
    (review,) = api.posted("review")
    assert review["commit_id"] == up.head
    assert review["event"] == "COMMENT"
    (comment,) = review["comments"]
    assert (comment["path"], comment["line"], comment["side"]) == ("src/calc.py", 2, "RIGHT")
    assert "```suggestion\n    return total / max(count, 1)\n```" in comment["body"]
    assert "<!-- memfun:fp=" in comment["body"]
    assert "`src/app.py:1` add a module docstring" in review["body"]  # not on the diff
    (check,) = api.posted("check_create")
    assert (check["name"], check["head_sha"], check["status"]) == (
        "memfun review",
        up.head,
        "in_progress",
    )
    (done,) = api.posted("check_update")
    assert (done["status"], done["conclusion"]) == ("completed", "success")
    assert done["output"]["title"] == "Reviewed: 2 findings"
    assert outputs(env) == {"verdict": "reviewed", "findings": "2", "branch": ""}
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "## memfun: Reviewed: 2 findings" in summary
    assert "Posted a review: 1 inline comment(s), 1 in its body." in summary
    sent = json.dumps(api.calls) + summary + Path(env["GITHUB_OUTPUT"]).read_text()
    assert TOKEN not in sent + request.text


def test_a_token_the_git_server_refuses_is_an_error_without_the_token(
    tmp_path: Path,
    server: GitServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with StubLLMServer([]) as stub, fake_api() as api:
        up = _upstream(tmp_path, server, stub)
        event = event_file(tmp_path, "pull_request", "opened", up)
        env = runner_env(tmp_path, "pull_request", event, server)
        env["INPUT_GITHUB-TOKEN"] = "ghs_wrongToken0123456789abcdefghijklmnop"
        assert _action(env, monkeypatch) == 1
    (done,) = api.posted("check_update")
    assert done["conclusion"] == "failure"
    assert done["output"]["title"].startswith("Review failed: cannot fetch the pull request")
    out, err = capsys.readouterr()
    assert "ghs_wrongToken" not in out + err + json.dumps(api.calls)


def test_a_refused_review_falls_back_to_one_comment(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([FINDING]) as stub, fake_api(review_status=422) as api:
        up = _upstream(tmp_path, server, stub)
        env = runner_env(
            tmp_path, "pull_request", event_file(tmp_path, "pull_request", "opened", up), server
        )
        assert _action(env, monkeypatch) == 0
    assert len(api.posted("review")) == 1
    (comment,) = api.posted("comment")
    assert comment["body"].count("divides by zero when count is 0") == 1
    assert "<!-- memfun:fp=" in comment["body"]
    assert (
        "GitHub refused the inline review (422): posted one comment."
        in Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    )


def test_a_second_push_posts_only_what_is_new(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from memfun_git.github.comments import render_finding
    from memfun_git.quality.review import parse_review

    (old,), _ = parse_review(FINDING)
    earlier = [render_finding(old, inline=True)]
    second = FINDING.replace("SUMMARY:", "src/calc.py:1: error: no type hints\nSUMMARY:")
    with StubLLMServer([second]) as stub, fake_api(existing=earlier) as api:
        up = _upstream(tmp_path, server, stub)
        event = event_file(tmp_path, "pull_request", "synchronize", up)
        env = runner_env(tmp_path, "pull_request", event, server)
        assert _action(env, monkeypatch) == 0
    (review,) = api.posted("review")
    assert [c["line"] for c in review["comments"]] == [1]
    assert "1 finding(s) posted on an earlier push are not repeated." in review["body"]


def test_a_fork_without_secrets_is_said_and_never_green(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([]) as stub, fake_api(forbid=True) as api:
        up = _upstream(tmp_path, server, stub)
        event = event_file(tmp_path, "pull_request", "opened", up, fork=True)
        env = runner_env(
            tmp_path, "pull_request", event, server, provider="anthropic", model="claude-sonnet-4-5"
        )
        assert _action(env, monkeypatch) == 0
    assert api.posted("review") == []
    assert api.posted("check_update") == []
    assert outputs(env)["verdict"] == "skipped"
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "Not reviewed: no API key: the api-key input is empty (ANTHROPIC_API_KEY" in summary
    assert "No check run: the token cannot create one" in summary


def test_a_fork_with_a_key_but_a_read_only_token_keeps_the_findings_in_the_summary(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([FINDING]) as stub, fake_api(forbid=True) as api:
        up = _upstream(tmp_path, server, stub)
        event = event_file(tmp_path, "pull_request", "opened", up, fork=True)
        env = runner_env(tmp_path, "pull_request", event, server)
        assert _action(env, monkeypatch) == 0
    assert len(api.posted("review")) == 1  # tried, refused with 403
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "Nothing was posted: the token may not write to this pull request" in summary
    assert "src/calc.py:2: warning: divides by zero when count is 0" in summary


def test_an_oversized_diff_is_reviewed_in_part_and_says_what_was_left(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = "".join(f"row {i} {'x' * 60}\n" for i in range(3_000))
    with StubLLMServer(["SUMMARY: fine."]) as stub, fake_api() as api:
        up = _upstream(tmp_path, server, stub, **{"data/big.txt": big})
        env = runner_env(
            tmp_path, "pull_request", event_file(tmp_path, "pull_request", "opened", up), server
        )
        assert _action(env, monkeypatch) == 0
    assert "row 2999" not in stub.posts[0].text
    (review,) = api.posted("review")
    assert "Not reviewed (over the size limit): data/big.txt" in review["body"]


@pytest.mark.parametrize(
    ("inputs", "says"),
    [
        ({"github-token": ""}, "memfun: the github-token input is empty"),
        ({"mode": "rewrite"}, "memfun: the mode input is 'rewrite'"),
        ({"fail-on": "bad"}, "memfun: the fail-on input is 'bad'"),
        ({"max-comments": "many"}, "memfun: the max-comments input is 'many'"),
    ],
)
def test_a_missing_or_wrong_input_is_one_line(
    tmp_path: Path,
    server: GitServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    inputs: dict[str, str],
    says: str,
) -> None:
    event = tmp_path / "event.json"
    event.write_text("{}")
    env = runner_env(tmp_path, "pull_request", event, server)
    env |= {f"INPUT_{k.upper()}": v for k, v in inputs.items()}
    with fake_api() as api:
        assert _action(env, monkeypatch) == 2
    _, err = capsys.readouterr()
    assert len(err.splitlines()) == 1
    assert err.startswith(says)
    assert api.calls == []


def test_no_runner_variables_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _action({}, monkeypatch) == 2
    _, err = capsys.readouterr()
    assert err.startswith("memfun: GITHUB_EVENT_NAME is not set")


@pytest.mark.parametrize(
    ("case", "conclusion", "verdict", "code", "title"),
    [
        ("draft", "neutral", "skipped", 0, "Not reviewed: the pull request is a draft"),
        ("no-model", "neutral", "skipped", 0, "Not reviewed: no model is configured"),
        ("ignored", "neutral", "skipped", 0, "Not reviewed: every changed file is in paths-ignore"),
        ("fail-on", "failure", "blocked", 1, "Reviewed: 1 finding (findings at or over warning"),
        ("unreachable", "failure", "error", 1, "Review failed: the model could not review it"),
    ],
)
def test_the_check_run_is_honest(
    tmp_path: Path,
    server: GitServer,
    monkeypatch: pytest.MonkeyPatch,
    case: str,
    conclusion: str,
    verdict: str,
    code: int,
    title: str,
) -> None:
    replies = [FINDING] if case == "fail-on" else []
    with StubLLMServer(replies) as stub, fake_api() as api:
        up = _upstream(tmp_path, server, stub, url=_closed_port() if case == "unreachable" else "")
        pull = {"draft": True} if case == "draft" else {}
        event = event_file(tmp_path, "pull_request", "opened", up, **pull)
        inputs = {
            "ignored": {"paths-ignore": "src/*, memfun.toml"},
            "fail-on": {"fail-on": "warning"},
        }.get(case, {})
        env = runner_env(tmp_path, "pull_request", event, server, **inputs)
        if case == "no-model":
            env["INPUT_MODEL"] = ""
            _no_model(up, server)
        assert _action(env, monkeypatch) == code
    (done,) = api.posted("check_update")
    assert done["conclusion"] == conclusion
    assert done["output"]["title"].startswith(title)
    assert outputs(env)["verdict"] == verdict


def _no_model(up: Upstream, server: GitServer) -> None:
    """The base branch without a memfun.toml: no model anywhere."""
    from tests.helpers.github import BASE_REF, git

    git(up.work, "checkout", "-q", BASE_REF)
    git(up.work, "rm", "-q", "memfun.toml")
    git(up.work, "-c", "user.name=B", "-c", "user.email=b@e.com", "commit", "-qm", "no config")
    git(up.work, "push", "-q", str(server.bare), f"{BASE_REF}:refs/heads/{BASE_REF}")


def test_a_closed_pull_request_is_left_alone(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([]) as stub, fake_api() as api:
        up = _upstream(tmp_path, server, stub)
        env = runner_env(
            tmp_path, "pull_request", event_file(tmp_path, "pull_request", "closed", up), server
        )
        assert _action(env, monkeypatch) == 0
    assert api.calls == []
    assert outputs(env)["verdict"] == "skipped"
    assert json.loads(Path(env["GITHUB_EVENT_PATH"]).read_text())["action"] == "closed"


DESCRIPTION = (
    "## Summary\nAdds `mean`.<!-- memfun:fp=0123456789abcdef -->\n\n"
    "## Walkthrough\n- `src/calc.py`: the new function."
)


def test_describe_posts_one_description_and_edits_it_later(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([DESCRIPTION, DESCRIPTION]) as stub:
        up = _upstream(tmp_path, server, stub)
        event = event_file(tmp_path, "pull_request", "opened", up)
        with fake_api() as api:
            env = runner_env(tmp_path, "pull_request", event, server, mode="describe")
            assert _action(env, monkeypatch) == 0
        (posted,) = api.posted("comment")
        assert posted["body"].startswith("<!-- memfun:describe -->\n### memfun: what this")
        assert "## Walkthrough\n- `src/calc.py`: the new function." in posted["body"]
        assert "memfun:fp=" not in posted["body"]  # no marker of the model's reaches GitHub
        assert api.posted("check_create") == []
        assert outputs(env)["verdict"] == "described"
        mine = {"id": 991, "body": posted["body"]}
        with fake_api(issue_existing=[{"id": 3, "body": "a human"}, mine]) as api:
            env = runner_env(tmp_path, "pull_request", event, server, mode="describe")
            assert _action(env, monkeypatch) == 0
    assert api.posted("comment") == []
    (edited,) = api.posted("edit_comment")
    assert "### memfun: what this pull request does" in edited["body"]
    assert [c for c in api.calls if c[0] == "edit_comment"]


def test_auto_describes_a_new_pull_request_and_reviews_it(
    tmp_path: Path, server: GitServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer([DESCRIPTION, FINDING]) as stub, fake_api() as api:
        up = _upstream(tmp_path, server, stub)
        event = event_file(tmp_path, "pull_request", "opened", up)
        env = runner_env(tmp_path, "pull_request", event, server, mode="auto")
        assert _action(env, monkeypatch) == 0
    assert len(api.posted("comment")) == 1
    assert len(api.posted("review")) == 1
    (done,) = api.posted("check_update")
    assert done["conclusion"] == "success"
    summary = Path(env["GITHUB_STEP_SUMMARY"]).read_text()
    assert "Posted the description comment." in summary
    assert outputs(env)["verdict"] == "reviewed"
