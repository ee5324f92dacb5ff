from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from tests.conftest import git
from tests.helpers.stub_llm import StubLLMServer, StubReply

API_KEY = "sk-proj-Zq8XUv3nT0pSecretKeyValue4711abcd"
GH_TOKEN = "ghs_" + "R7xT2kLm9QpZ4vWc8NbY3hJd6FgS1aEu0oIq"
ANSWER = "[[ ## answer ## ]]\nThe app adds numbers in `src/app.py`.\n\n[[ ## completed ## ]]"


@pytest.fixture
def planted(git_repo: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository whose README holds a GitHub token, and the API key in the environment."""
    (git_repo / "README.md").write_text(f"# Demo\n\nDeploy with token {GH_TOKEN}.\n")
    git(git_repo, "commit", "-qam", "readme")
    monkeypatch.setenv("TEAM_LLM_KEY", API_KEY)
    return git_repo


def _configure(
    repo: Path, url: str, provider: str = "custom", engine: str = "auto", retries: int = 0
) -> None:
    (repo / "memfun.toml").write_text(
        f'[llm]\nprovider = "{provider}"\nmodel = "stub-model"\nbase_url = "{url}"\n'
        f'api_key_env = "TEAM_LLM_KEY"\nengine = "{engine}"\nnum_retries = {retries}\n'
    )


def _logs(repo: Path) -> str:
    logs = repo / ".git" / "memfun" / "logs"
    return "".join(p.read_text() for p in logs.rglob("*") if p.is_file()) if logs.exists() else ""


@pytest.mark.parametrize("engine", ["auto", "litellm"])
def test_ask_end_to_end_over_http(
    planted: Path, capsys: pytest.CaptureFixture[str], engine: str
) -> None:
    with StubLLMServer([StubReply(ANSWER, input_tokens=1234, output_tokens=56)]) as stub:
        _configure(planted, stub.url, engine=engine)
        code = run(["-C", str(planted), "ask", "what does it do?"])
    out, err = capsys.readouterr()
    assert code == 0
    assert out == "The app adds numbers in `src/app.py`.\n"
    assert "stub-model · 1 call · 1,290 tokens (1,234 in, 56 out)" in err
    (request,) = stub.requests
    assert request.path == "/v1/chat/completions"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.body["max_tokens"] == 16000
    prompt = request.text
    assert "src/app.py" in prompt
    assert "what does it do?" in prompt
    assert "Deploy with token [REDACTED]." in prompt
    for text in (prompt, out, err, _logs(planted)):
        assert GH_TOKEN not in text
        assert API_KEY not in text


def test_ask_over_the_anthropic_messages_api(
    planted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with StubLLMServer([StubReply(ANSWER, input_tokens=100, output_tokens=20)]) as stub:
        _configure(planted, stub.url, provider="anthropic")
        code = run(["-C", str(planted), "ask", "what does it do?", "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    result = json.loads(out)
    assert result["answer"] == "The app adds numbers in `src/app.py`."
    assert result["usage"]["calls"] == 1
    assert result["usage"]["input_tokens"] == 100
    assert result["usage"]["output_tokens"] == 20
    (request,) = stub.requests
    assert request.path == "/v1/messages"
    assert request.headers["x-api-key"] == API_KEY
    assert GH_TOKEN not in request.text


def test_ask_logs_each_call_and_retry_and_draws_nothing_off_a_terminal(
    planted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    replies = [
        StubReply(status=429, headers=(("Retry-After", "0"),)),
        StubReply(ANSWER, input_tokens=1234, output_tokens=56),
    ]
    with StubLLMServer(replies) as stub:
        _configure(planted, stub.url, retries=1)
        code = run(["-C", str(planted), "ask", "what does it do?", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    assert err == ""
    assert json.loads(out)["usage"]["by_step"] == {
        "ask": {
            "calls": 1,
            "input_tokens": 1234,
            "output_tokens": 56,
            "cost_usd": 0.0,
            "unpriced_calls": 1,
        }
    }
    logs = _logs(planted)
    assert f"ask: rate-limited by {stub.url} — retrying in 0 s (attempt 2 of 2)" in logs
    assert f"ask: {stub.url} (stub-model) answered: 1234 tokens in, 56 out, " in logs
    assert API_KEY not in logs
    assert "what does it do?" not in logs


def test_a_key_echoed_by_the_provider_is_never_shown(
    planted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {API_KEY}. Token {GH_TOKEN}"}}
    with StubLLMServer([StubReply(status=401, error_body=echo)]) as stub:
        _configure(planted, stub.url)
        code = run(["-v", "-C", str(planted), "ask", "what does it do?"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.splitlines()[-1] == (
        f"memfun: {stub.url} refused the API key in $TEAM_LLM_KEY — check the key's value, "
        "or name another variable in [llm] api_key_env"
    )
    for text in (out, err, _logs(planted)):
        assert API_KEY not in text
        assert GH_TOKEN not in text


def test_no_model_configured(git_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["-C", str(git_repo), "ask", "what does it do?"])
    assert code == 2
    assert capsys.readouterr().err == (
        "memfun: no model is configured — run `memfun init`, or set [llm] provider and model "
        "in memfun.toml (or MEMFUN_LLM_PROVIDER and MEMFUN_LLM_MODEL)\n"
    )


def test_ask_reads_the_users_tree_without_touching_it(
    planted: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (planted / "notes.txt").write_text("untracked\n")
    (planted / "src" / "app.py").write_text("def add(a, b):\n    return a - b\n")
    index = (planted / ".git" / "index").read_bytes()
    head = (planted / ".git" / "HEAD").read_bytes()
    with StubLLMServer([ANSWER]) as stub:
        _configure(planted, stub.url)
        assert run(["-C", str(planted), "ask", "what?"]) == 0
    assert (planted / ".git" / "index").read_bytes() == index
    assert (planted / ".git" / "HEAD").read_bytes() == head
    assert git(planted, "status", "--porcelain") == " M src/app.py\n?? memfun.toml\n?? notes.txt\n"
    capsys.readouterr()
