from __future__ import annotations

import contextlib
import io
import socket
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from memfun_git import config
from memfun_git.cli.init import ATTRIBUTES_LINE, run_init
from memfun_git.cli.main import run
from memfun_git.errors import UsageError
from memfun_git.ollama import probe_ollama
from tests.helpers.ollama import serve_ollama

FAKE_KEY = "sk-ant-api03-" + "Zq7" * 12 + "wxyz"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def closed_url() -> str:
    return f"http://127.0.0.1:{_closed_port()}"


@pytest.fixture(autouse=True)
def no_ollama(monkeypatch: pytest.MonkeyPatch, closed_url: str) -> None:
    """Whatever runs on this machine, the tests see no Ollama unless they start one."""
    monkeypatch.setenv("OLLAMA_HOST", closed_url)


@pytest.fixture
def ollama_stub() -> Iterator[str]:
    """A tiny Ollama: GET /api/tags lists one model."""
    with serve_ollama(["qwen2.5-coder:7b"]) as url:
        yield url


def _init(repo: Path, *args: str) -> int:
    return run(["-C", str(repo), "init", *args])


def _llm(repo: Path) -> config.LLMConfig:
    return config.load(repo, environ={}).llm


def _status(repo: Path) -> str:
    return subprocess.run(
        ["git", "--no-optional-locks", "status", "--porcelain"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_init_by_flags_writes_no_secret_and_leaves_the_index(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    index = (git_repo / ".git" / "index").read_bytes()

    assert _init(git_repo, "--yes", "--provider", "anthropic") == 0

    out, err = capsys.readouterr()
    llm = _llm(git_repo)
    assert (llm.provider, llm.model, llm.api_key_env) == (
        "anthropic",
        "claude-sonnet-4-5",
        "ANTHROPIC_API_KEY",
    )
    assert config.load(git_repo, environ={}).project.name == "repo"
    assert (git_repo / ".gitattributes").read_text() == ATTRIBUTES_LINE + "\n"
    assert "memfun.toml" in out
    assert "memfun doctor" in out
    assert FAKE_KEY not in out + err
    for path in git_repo.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    assert (git_repo / ".git" / "index").read_bytes() == index
    assert _status(git_repo) == "?? .gitattributes\n?? memfun.toml\n"


def test_init_keeps_what_is_there_and_does_not_repeat_itself(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toml = (
        "# team settings, keep me\n"
        "[gate]\n"
        'review = "warn"  # we are gentle\n'
        "\n"
        "[llm]\n"
        "temperature = 0.5  # a little warmth\n"
    )
    (git_repo / "memfun.toml").write_text(toml)
    attributes = b"*.png binary\r\n*.sh text eol=lf"
    (git_repo / ".gitattributes").write_bytes(attributes)

    assert _init(git_repo, "--yes", "--provider", "openai") == 0
    first = (git_repo / "memfun.toml").read_text()
    assert _init(git_repo, "--yes", "--provider", "openai") == 0

    written = (git_repo / "memfun.toml").read_text()
    assert written == first
    assert written.startswith(toml)
    assert "# we are gentle" in written
    assert "# a little warmth" in written
    cfg = config.load(git_repo, environ={})
    assert (cfg.gate.review, cfg.llm.temperature) == ("warn", 0.5)
    assert (cfg.llm.provider, cfg.llm.model, cfg.llm.api_key_env) == (
        "openai",
        "gpt-4.1",
        "OPENAI_API_KEY",
    )
    assert (git_repo / ".gitattributes").read_bytes() == (
        attributes + b"\r\n" + ATTRIBUTES_LINE.encode() + b"\r\n"
    )
    assert "already" in capsys.readouterr().out


def test_a_new_provider_drops_the_old_ones_endpoint(git_repo: Path) -> None:
    custom = ["--provider", "custom", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"]
    assert _init(git_repo, "--yes", *custom, "--api-key-env", "LOCAL_KEY") == 0
    assert _llm(git_repo).base_url == "http://127.0.0.1:9/v1"
    assert _init(git_repo, "--yes", "--provider", "anthropic") == 0
    llm = _llm(git_repo)
    assert (llm.provider, llm.base_url, llm.api_key_env) == ("anthropic", "", "ANTHROPIC_API_KEY")


@pytest.mark.parametrize(
    ("keys", "provider", "model"),
    [
        pytest.param({"OPENAI_API_KEY": "sk-" + "o" * 40}, "openai", "gpt-4.1", id="openai"),
        pytest.param(
            {"OPENAI_API_KEY": "sk-" + "o" * 40, "ANTHROPIC_API_KEY": FAKE_KEY},
            "anthropic",
            "claude-sonnet-4-5",
            id="both-anthropic-first",
        ),
    ],
)
def test_init_suggests_the_provider_whose_key_is_set(
    git_repo: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    keys: dict[str, str],
    provider: str,
    model: str,
) -> None:
    for name, value in keys.items():
        monkeypatch.setenv(name, value)
    assert _init(git_repo, "--yes") == 0
    llm = _llm(git_repo)
    assert (llm.provider, llm.model) == (provider, model)
    out = capsys.readouterr().out
    assert f"Found ${next(iter(keys))}" in out
    assert all(value not in out for value in keys.values())


def test_init_finds_a_local_ollama(
    git_repo: Path,
    ollama_stub: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", ollama_stub)
    assert probe_ollama(ollama_stub) == ("qwen2.5-coder:7b",)

    assert _init(git_repo, "--yes") == 0

    llm = _llm(git_repo)
    assert (llm.provider, llm.model, llm.base_url) == (
        "ollama",
        "qwen2.5-coder:7b",
        ollama_stub + "/v1",
    )
    assert llm.api_key_env == ""
    assert f"Found Ollama at {ollama_stub}" in capsys.readouterr().out


def test_no_ollama_is_a_not_found(git_repo: Path, closed_url: str) -> None:
    """A refused connection is "no Ollama" (how fast: bench/limits.py)."""
    assert probe_ollama(closed_url) is None
    with pytest.raises(UsageError, match="none detected"):
        run_init(
            git_repo,
            provider=None,
            model=None,
            api_key_env=None,
            base_url=None,
            yes=True,
            environ={},
            console=Console(file=io.StringIO()),
            ollama_url=closed_url,
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param([], "memfun: no --provider given and none detected", id="nothing-detected"),
        pytest.param(
            ["--provider", "custom", "--model", "m"],
            "memfun: --provider custom needs --base-url",
            id="custom-without-base-url",
        ),
        pytest.param(
            ["--provider", "anthropic", "--api-key-env", FAKE_KEY],
            "memfun: --api-key-env takes the name of an environment variable, not a key",
            id="key-as-variable",
        ),
        pytest.param(
            ["--provider", "openai", "--api-key-env", "sk-proj-short"],
            "memfun: --api-key-env takes the name",
            id="short-key-as-variable",
        ),
        pytest.param(
            ["--provider", "custom", "--model", "m", "--base-url", "http://me:hunter2hunter2@h/v1"],
            "memfun: the base URL holds a password",
            id="password-in-url",
        ),
        pytest.param(
            ["--provider", "gemini"], "memfun: --provider 'gemini' is not known", id="bad-provider"
        ),
    ],
)
def test_init_refuses_in_one_line(
    git_repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    index = (git_repo / ".git" / "index").read_bytes()

    assert _init(git_repo, "--yes", *args) == 2

    out, err = capsys.readouterr()
    assert err.startswith(message)
    assert len(err.splitlines()) == 1
    assert FAKE_KEY not in out + err
    assert "hunter2hunter2" not in out + err
    assert "Traceback" not in err
    assert not (git_repo / "memfun.toml").exists()
    assert not (git_repo / ".gitattributes").exists()
    assert (git_repo / ".git" / "index").read_bytes() == index


def test_init_outside_a_repository(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _init(tmp_path, "--yes", "--provider", "anthropic") == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"memfun: {tmp_path} is not inside a git repository — ")
    assert len(err.splitlines()) == 1
    assert out == ""
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_a_broken_memfun_toml_and_keeps_it(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "memfun.toml").write_text("[llm]\nmodle = 'x'\n")
    assert _init(git_repo, "--yes", "--provider", "anthropic") == 2
    err = capsys.readouterr().err
    assert err.startswith('memfun: memfun.toml: unknown key [llm] modle (did you mean "model"?)')
    assert (git_repo / "memfun.toml").read_text() == "[llm]\nmodle = 'x'\n"


def test_init_asks_at_a_terminal_and_asks_again_after_a_wrong_answer(
    git_repo: Path, ollama_stub: str
) -> None:
    """Each answer is checked when given: a wrong one is explained and asked again, and the
    answers before it are kept (the provider in any case: `Custom`)."""
    screen = io.StringIO()
    answers = io.StringIO(
        "gemini\nCustom\n"
        "ftp://x\nhttp://me:hunter2hunter2@h/v1\nhttp://127.0.0.1:8000/v1\n"
        "\nmy-model\n"
        f"{FAKE_KEY}\nLOCAL_LLM_KEY\n"
        "y\n"
    )

    code = run_init(
        git_repo,
        provider=None,
        model=None,
        api_key_env=None,
        base_url=None,
        yes=False,
        environ={},
        console=Console(file=screen, width=200),
        stdin=answers,
        interactive=True,
        ollama_url=ollama_stub,
    )

    assert code == 0
    llm = _llm(git_repo)
    assert (llm.provider, llm.model, llm.base_url, llm.api_key_env) == (
        "custom",
        "my-model",
        "http://127.0.0.1:8000/v1",
        "LOCAL_LLM_KEY",
    )
    shown = screen.getvalue()
    assert "Provider [anthropic/openai/ollama/custom] (ollama)" in shown
    errors = [line for line in shown.splitlines() if line.startswith("memfun: ")]
    assert errors == [
        "memfun: 'gemini' is not known — use anthropic | openai | ollama | custom",
        "memfun: 'ftp://x' is not an http(s) URL — use a URL such as \"http://localhost:11434/v1\"",
        "memfun: the base URL holds a password, and memfun.toml holds no secrets — pass the URL"
        " without user:password@ and put the key in the variable of --api-key-env",
        "memfun: a model is needed — give the name of a custom model",
        "memfun: this question takes the name of an environment variable, not a key — export"
        " the key, e.g. export MY_LLM_KEY=<your key>, and answer MY_LLM_KEY",
    ]
    assert "hunter2hunter2" not in (git_repo / "memfun.toml").read_text()
    assert FAKE_KEY not in shown
    assert "$LOCAL_LLM_KEY is not set" in shown
    assert '[llm] base_url = "http://127.0.0.1:8000/v1"' in shown
    data = tomllib.loads((git_repo / "memfun.toml").read_text())
    assert data["project"] == {"name": "repo"}


def test_init_at_a_terminal_can_write_nothing(git_repo: Path) -> None:
    code = run_init(
        git_repo,
        provider="anthropic",
        model=None,
        api_key_env=None,
        base_url=None,
        yes=False,
        environ={},
        console=Console(file=io.StringIO()),
        stdin=io.StringIO("\n\nn\n"),
        interactive=True,
    )
    assert code == 0
    assert not (git_repo / "memfun.toml").exists()
    assert not (git_repo / ".gitattributes").exists()


def test_init_without_a_terminal_asks_nothing(git_repo: Path) -> None:
    assert _init(git_repo, "--provider", "openai") == 0
    assert _llm(git_repo).model == "gpt-4.1"


def _piped_init(repo: Path, answers: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memfun_git", "init", *args],
        cwd=repo,
        input=answers,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_init_reads_piped_answers(git_repo: Path) -> None:
    """Without a terminal, answers piped in are read line by line (an empty line takes the
    default); the provider in any case."""
    done = _piped_init(git_repo, "OpenAI\ngpt-4.1-mini\n\ny\n")
    assert done.returncode == 0, done.stderr
    llm = _llm(git_repo)
    assert (llm.provider, llm.model, llm.api_key_env) == (
        "openai",
        "gpt-4.1-mini",
        "OPENAI_API_KEY",
    )
    assert "Model (gpt-4.1): gpt-4.1-mini\n" in done.stdout  # the answers are echoed


def test_a_wrong_piped_answer_stops_init_writing_nothing(git_repo: Path) -> None:
    done = _piped_init(git_repo, "custom\nftp://x\nm\n\ny\n")
    assert done.returncode == 2
    assert done.stderr == (
        "memfun: 'ftp://x' is not an http(s) URL — use a URL such as"
        ' "http://localhost:11434/v1"\n'
    )
    assert not (git_repo / "memfun.toml").exists()


def test_piped_input_that_ends_takes_the_defaults(git_repo: Path) -> None:
    done = _piped_init(git_repo, "", "--provider", "anthropic")
    assert done.returncode == 0, done.stderr
    assert _llm(git_repo).model == "claude-sonnet-4-5"


def test_the_provider_flag_takes_any_case(git_repo: Path) -> None:
    assert _init(git_repo, "--yes", "--provider", "OpenAI") == 0
    assert _llm(git_repo).provider == "openai"


@pytest.mark.parametrize(
    ("models", "warning"),
    [
        (None, "Warning: no Ollama answered at {root}, so llama3.1 is written unchecked"),
        (["qwen2.5-coder:7b"], "Warning: the Ollama at {root} has no model llama3.1"),
        (["llama3.1:latest"], None),
    ],
    ids=["no-ollama", "not-pulled", "pulled"],
)
def test_init_warns_when_the_ollama_model_cannot_be_found(
    git_repo: Path,
    closed_url: str,
    capsys: pytest.CaptureFixture[str],
    models: list[str] | None,
    warning: str | None,
) -> None:
    with contextlib.ExitStack() as stack:
        root = closed_url if models is None else stack.enter_context(serve_ollama(models))
        flags = ["--base-url", root + "/v1", "--model", "llama3.1"]
        assert _init(git_repo, "--yes", "--provider", "ollama", *flags) == 0
    out = capsys.readouterr().out
    shown = [line for line in out.splitlines() if line.startswith("Warning:")]
    if warning is None:
        assert shown == []
    else:
        assert len(shown) == 1
        assert shown[0].startswith(warning.format(root=root))
        assert "ollama pull llama3.1" in shown[0]
    assert _llm(git_repo).model == "llama3.1"


def test_a_rerun_names_the_key_variable_the_file_relies_on(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A memfun.toml that names no api_key_env relies on the provider's usual variable."""
    (git_repo / "memfun.toml").write_text('[llm]\nprovider = "openai"\nmodel = "gpt-4.1"\n')
    assert _init(git_repo, "--yes") == 0
    assert "$OPENAI_API_KEY is not set: export OPENAI_API_KEY=<your key>" in (
        capsys.readouterr().out
    )


@pytest.mark.parametrize(
    ("args", "toml", "message"),
    [
        (
            ["--provider", "custom", "--model", "m", "--base-url", "ftp://x"],
            "",
            "memfun: --base-url 'ftp://x' is not an http(s) URL — ",
        ),
        (
            ["--provider", "openai", "--base-url", "ftp://x"],
            "",
            "memfun: --base-url 'ftp://x' is not an http(s) URL — ",
        ),
        (
            ["--provider", "custom"],
            '[llm]\nprovider = "custom"\nmodel = "m"\nbase_url = "ftp://x"\n',
            "memfun: 'ftp://x' (from memfun.toml) is not an http(s) URL — ",
        ),
    ],
    ids=["custom-flag", "openai-flag", "from-the-file"],
)
def test_a_bad_base_url_is_blamed_on_where_it_came_from(
    git_repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], toml: str, message: str
) -> None:
    if toml:
        (git_repo / "memfun.toml").write_text(toml)
    assert _init(git_repo, "--yes", *args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert len(err.splitlines()) == 1


def test_init_suggests_the_workspace_a_project_with_ignored_tools_wants(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / ".gitignore").write_text("node_modules/\n.env\n")
    (git_repo / "node_modules").mkdir()
    (git_repo / ".env").write_text("A=1\n")
    assert _init(git_repo, "--yes", "--provider", "ollama", "--model", "llama3") == 0
    out = capsys.readouterr().out
    assert "add to [workspace] in memfun.toml:" in out
    assert '  link = ["node_modules"]\n  include = [".env"]' in out
    assert "[workspace]" not in (git_repo / "memfun.toml").read_text()  # said, not written
