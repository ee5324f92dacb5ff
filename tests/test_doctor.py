from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git import doctor
from memfun_git.cli.main import run
from memfun_git.config import Config, SandboxConfig, load
from memfun_git.doctor import Status
from memfun_git.gitops.repo import discover
from tests.helpers.ollama import serve_ollama
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubReply

PONG = "[[ ## answer ## ]]\npong\n\n[[ ## completed ## ]]"


@pytest.fixture
def stub() -> Iterator[StubLLMServer]:
    with StubLLMServer() as server:
        yield server


def _configure(repo: Path, base_url: str) -> None:
    (repo / "memfun.toml").write_text(
        '[llm]\nprovider = "custom"\nmodel = "stub-model"\n'
        f'base_url = "{base_url}"\ntimeout_seconds = 10\n'
        '[sandbox]\nbackend = "local"\n'
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _lines(text: str) -> dict[str, str]:
    """Each check's line by its name ("model", "linter ruff"), mark included."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name = line[2:].partition(":")[0]
        if line[:1] in "✓·!✗" and name:
            found[name] = line
    return found


def test_doctor_renders_every_check_and_stays_offline(
    git_repo: Path, stub: StubLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(git_repo, stub.url)
    index = (git_repo / ".git" / "index").read_bytes()

    assert run(["-C", str(git_repo), "doctor"]) == 0

    out = capsys.readouterr().out
    lines = _lines(out)
    assert list(lines) == [
        "git", "repository", "config", "model", "sandbox", "linters", "workspace", "backend",
    ]  # fmt: skip
    assert lines["workspace"] == "✓ workspace: tracked files only"
    assert lines["git"].startswith("✓ git: git version ")
    assert lines["repository"] == f"✓ repository: {git_repo}"
    assert lines["config"] == "✓ config: loads (built-in defaults, memfun.toml)"
    assert lines["model"].startswith(f"✓ model: custom stub-model at {stub.url}, no key needed")
    assert lines["sandbox"].startswith("! sandbox: local backend: commands the model proposes")
    assert lines["linters"].startswith("· linters: none detected (no pyproject.toml, package.json")
    assert lines["backend"].startswith("✓ backend: sqlite ")
    assert f"{git_repo / '.git' / 'memfun'} is writable" in lines["backend"]
    assert stub.requests == []
    assert (git_repo / ".git" / "index").read_bytes() == index
    assert [p.name for p in (git_repo / ".git" / "memfun").iterdir()] == []


def test_doctor_online_calls_the_model_once(
    git_repo: Path, stub: StubLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(git_repo, stub.url)
    stub.add([StubReply(PONG, delay=0.3)])

    assert run(["-C", str(git_repo), "doctor", "--online"]) == 0

    model = _lines(capsys.readouterr().out)["model"]
    prefix = f"✓ model: custom stub-model at {stub.url} answered in "
    assert model.startswith(prefix)
    assert model.endswith(" s")
    assert float(model.removeprefix(prefix).removesuffix(" s")) >= 0.3  # the wait is counted
    assert len(stub.requests) == 1
    assert "ping" in stub.requests[0].text


def test_doctor_online_reports_an_unreachable_endpoint(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    _configure(git_repo, url)

    assert run(["-C", str(git_repo), "doctor", "--online"]) == 1

    out = capsys.readouterr().out
    assert _lines(out)["model"] == (
        f"✗ model: cannot reach {url} — check [llm] base_url and that the server is running"
    )
    assert out.rstrip().endswith("1 problem to fix (✗ above).")


def test_doctor_reports_a_broken_section_and_checks_the_rest(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A configuration error exits 2, as with every command; sound sections are still used."""
    (git_repo / "memfun.toml").write_text("[llm]\nmodle = 'x'\n[sandbox]\nbackend = 'local'\n")

    assert run(["-C", str(git_repo), "doctor"]) == 2

    out, err = capsys.readouterr()
    lines = _lines(out)
    assert lines["config"].startswith(
        '✗ config: memfun.toml: unknown key [llm] modle (did you mean "model"?) — keys of [llm] are'
    )
    assert lines["model"] == "! model: not checked: [llm] has a fault (see config)"
    assert lines["sandbox"].startswith("! sandbox: local backend")
    assert lines["backend"].startswith("✓ backend: sqlite")
    assert "Traceback" not in out + err


def test_doctor_with_an_unreadable_config_checks_what_needs_none(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "memfun.toml").write_text("[llm\n")
    assert run(["-C", str(git_repo), "doctor"]) == 2
    lines = _lines(capsys.readouterr().out)
    assert lines["config"].startswith("✗ config: memfun.toml: not valid TOML")
    for name in ("model", "sandbox", "backend"):
        assert lines[name] == f"! {name}: not checked: the configuration does not load"
    assert lines["git"].startswith("✓ git: ")


def test_doctor_names_the_fix_for_a_missing_key(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "memfun.toml").write_text('[llm]\nprovider = "openai"\nmodel = "gpt-4.1"\n')
    assert run(["-C", str(git_repo), "doctor"]) == 1
    model = _lines(capsys.readouterr().out)["model"]
    assert model == (
        "✗ model: openai gpt-4.1 at https://api.openai.com/v1: $OPENAI_API_KEY is not set"
        " — export OPENAI_API_KEY=<your key>, or name another variable in [llm] api_key_env"
    )


def test_repository_checks(tmp_path: Path, git_repo: Path) -> None:
    outside, paths = doctor.check_repository(tmp_path / "nowhere")
    assert (outside.status, paths) == (Status.FAILURE, None)
    assert "does not exist" in outside.detail

    (tmp_path / "empty").mkdir()
    subprocess.run(["git", "init", "-q", str(tmp_path / "empty")], check=True)
    unborn, paths = doctor.check_repository(tmp_path / "empty")
    assert unborn.status is Status.FAILURE
    assert "no commits yet" in unborn.detail
    assert "first commit" in unborn.fix

    good, paths = doctor.check_repository(git_repo / "src")
    assert (good.status, good.detail) == (Status.OK, str(git_repo))
    assert paths is not None


def _program(folder: Path, name: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / name
    program.write_text("#!/bin/sh\nexit 0\n")
    program.chmod(0o755)
    return program


def test_linters_come_from_the_projects_files_and_environments(
    git_repo: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Python project gets ruff only, and its own ruff in .venv wins over one on PATH; eslint
    comes from node_modules/.bin; go.mod asks for go, which is missing here."""
    (git_repo / "pyproject.toml").write_text("[project]\nname = 'demo'\n")
    own_ruff = _program(git_repo / ".venv" / "bin", "ruff")
    global_bin = tmp_path / "global-bin"
    _program(global_bin, "ruff")
    _program(global_bin, "cargo")  # on PATH, but not this project's: not listed
    monkeypatch.setenv("PATH", os.pathsep.join([str(global_bin), "/usr/bin", "/bin"]))

    run(["-C", str(git_repo), "doctor"])  # no model configured: that check fails
    lines = _lines(capsys.readouterr().out)
    assert [name for name in lines if name.startswith("linter")] == ["linter ruff"]
    assert lines["linter ruff"] == f"✓ linter ruff: {own_ruff}"

    (git_repo / "eslint.config.js").write_text("export default [];\n")
    own_eslint = _program(git_repo / "node_modules" / ".bin", "eslint")
    (git_repo / "go.mod").write_text("module demo\n")
    only_global = {**os.environ, "PATH": str(global_bin)}  # go may be installed on this machine
    checks = {c.name: c for c in doctor.check_linters(git_repo, only_global)}
    assert list(checks) == ["linter ruff", "linter eslint", "linter go"]
    assert checks["linter eslint"].detail == str(own_eslint)
    assert checks["linter go"].status is Status.WARNING
    assert checks["linter go"].detail == "go is not in the project's environments nor on PATH"

    configured = doctor.check_linters(git_repo, os.environ, configured=("cargo",))
    assert [(c.name, c.detail) for c in configured] == [("linter cargo", str(global_bin / "cargo"))]


def test_tools_are_looked_up_on_the_given_path(tmp_path: Path) -> None:
    env = {"PATH": str(tmp_path / "bin")}

    git = doctor.check_git(env)
    assert (git.status, git.detail) == (Status.FAILURE, "git is not on PATH")

    sandbox = doctor.check_sandbox(SandboxConfig(), env)
    assert sandbox.status is Status.FAILURE
    assert sandbox.detail == "bubblewrap: bwrap is not on PATH"
    assert 'set [sandbox] backend = "local"' in sandbox.fix
    local = doctor.check_sandbox(SandboxConfig(backend="local"), env)
    assert local.status is Status.WARNING


def test_bubblewrap_check_runs_bwrap() -> None:
    need_tool("bwrap")
    check = doctor.check_sandbox(SandboxConfig(), os.environ)
    assert check.status is Status.OK, check


def test_backend_check_reports_an_unwritable_folder(git_repo: Path) -> None:
    paths = discover(git_repo)
    blocker = git_repo / "not-a-folder"
    blocker.write_text("")
    broken = load(git_repo, environ={"MEMFUN_BACKEND_SQLITE_PATH": str(blocker / "x.db")})

    check = doctor.check_backend(broken, paths)

    assert check.status is Status.FAILURE
    assert f"cannot write a database in {blocker}" in check.detail
    assert doctor.check_backend(Config(), None).detail == "not checked: no repository"


@pytest.mark.parametrize(
    ("models", "line"),
    [
        (None, "✗ model: ollama llama3.1 at {root}/v1: no Ollama answers at {root} — start Ollama"),
        (["qwen2.5-coder:7b"], "✗ model: ollama llama3.1 at {root}/v1: that Ollama has no model"),
        (["llama3.1:latest"], "✓ model: ollama llama3.1 at {root}/v1, pulled (not called;"),
    ],
    ids=["no-ollama", "not-pulled", "pulled"],
)
def test_an_ollama_model_is_looked_up_offline(
    git_repo: Path, capsys: pytest.CaptureFixture[str], models: list[str] | None, line: str
) -> None:
    """Offline, an Ollama model is never marked ✓ unchecked: Ollama's own list is asked."""
    with contextlib.ExitStack() as stack:
        root = (
            f"http://127.0.0.1:{_closed_port()}"
            if models is None
            else stack.enter_context(serve_ollama(models))
        )
        (git_repo / "memfun.toml").write_text(
            f'[llm]\nprovider = "ollama"\nmodel = "llama3.1"\nbase_url = "{root}/v1"\n'
        )
        run(["-C", str(git_repo), "doctor"])
    assert _lines(capsys.readouterr().out)["model"].startswith(line.format(root=root))


def test_doctor_suggests_the_workspace_this_project_wants(
    git_repo: Path, stub: StubLLMServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _configure(git_repo, stub.url)
    (git_repo / ".gitignore").write_text("node_modules/\n.venv/\n.env\n")
    (git_repo / "node_modules").mkdir()
    (git_repo / ".venv").mkdir()
    (git_repo / ".env").write_text("A=1\n")
    assert run(["-C", str(git_repo), "doctor"]) == 0
    line = _lines(capsys.readouterr().out)["workspace"]
    assert line == (
        "· workspace: tracked files only — this project would likely want in [workspace]: "
        'link = ["node_modules", ".venv"], include = [".env"]'
    )


def test_doctor_says_which_pre_commit_hooks_are_not_installed(git_repo: Path) -> None:
    """The gate runs the project's hooks offline from the user's pre-commit cache: doctor
    names the hook repositories missing there and the command that installs them."""
    config = git_repo / ".pre-commit-config.yaml"
    config.write_text(
        "repos:\n  - repo: local\n    hooks:\n"
        "      - {id: no-todo, name: no TODO, entry: TODO, language: pygrep}\n"
    )
    environ = {"HOME": str(git_repo.parent), "PRE_COMMIT_HOME": str(git_repo.parent / "pc")}
    check = doctor.check_pre_commit_hooks(git_repo, environ)
    assert (check.status, check.detail) == (Status.OK, f"installed in {git_repo.parent / 'pc'}")
    with config.open("a") as out:
        out.write("  - repo: https://example.org/hooks\n    rev: v1\n    hooks: [{id: x}]\n")
    check = doctor.check_pre_commit_hooks(git_repo, environ)
    assert check.status == Status.WARNING
    assert check.detail.endswith(": https://example.org/hooks v1")
    assert "pre-commit install-hooks" in check.fix
    config.write_text("repos: [\n")
    assert doctor.check_pre_commit_hooks(git_repo, environ).detail == (
        ".pre-commit-config.yaml cannot be read"
    )


@pytest.mark.parametrize(
    ("tier", "port", "url_key"),
    [("redis", 6379, "redis_url"), ("nats", 4222, "nats_url")],
)
def test_doctor_reaches_the_configured_server_or_names_it(
    tier: str, port: int, url_key: str
) -> None:
    from memfun_git.config import BackendConfig
    from tests.helpers.require import need_service

    need_service(tier, "127.0.0.1", port)
    namespace = f"doctor-{tier}"
    check = doctor._check_server(BackendConfig(tier=tier, namespace=namespace))  # type: ignore[arg-type]
    assert check.status == Status.OK
    assert f"namespace '{namespace}'" in check.detail
    scheme = "redis://127.0.0.1:1/0" if tier == "redis" else "nats://127.0.0.1:1"
    down = BackendConfig(tier=tier, **{url_key: scheme})  # type: ignore[arg-type]
    check = doctor._check_server(down)
    assert check.status == Status.FAILURE
    assert scheme in check.detail


def test_doctor_checks_the_github_apps_secrets_where_the_app_is_set_up(tmp_path: Path) -> None:
    from memfun_git.config import GitHubConfig
    from memfun_git.doctor import Status, check_github_app, run_checks
    from tests.helpers.fake_github import app_key

    github = GitHubConfig()
    key = app_key()[0]
    full = {"MEMFUN_WEBHOOK_SECRET": "s", "MEMFUN_APP_ID": "42", "MEMFUN_APP_PRIVATE_KEY": key}
    ok = check_github_app(github, full)
    assert ok.status is Status.OK
    assert "App 42" in ok.detail
    assert "2048-bit key" in ok.detail
    no_secret = check_github_app(github, {**full, "MEMFUN_WEBHOOK_SECRET": ""})
    assert no_secret.status is Status.FAILURE
    assert "MEMFUN_WEBHOOK_SECRET" in no_secret.detail
    broken = key.replace(key.splitlines()[3], "A" * 64)
    bad_key = check_github_app(github, {**full, "MEMFUN_APP_PRIVATE_KEY": broken})
    assert bad_key.status is Status.FAILURE
    assert "holds no private key that loads" in bad_key.detail
    assert key.splitlines()[2] not in bad_key.detail + bad_key.fix
    names = [c.name for c in run_checks(tmp_path, environ={"HOME": str(tmp_path), **full})]
    assert "github app" in names
    assert "github app" not in [
        c.name for c in run_checks(tmp_path, environ={"HOME": str(tmp_path)})
    ]
