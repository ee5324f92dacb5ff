"""The environment a new worktree gets: ignored files copied in ([workspace] include and
.worktreeinclude), read-only and never committed, their secret values redacted; the user's
setup command, whose failure or time-out fails the task before any model call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.engine import Engine
from memfun_git.errors import RepoError, TaskFailed
from memfun_git.gitops.environment import run_setup
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.throwaway import Throwaway
from memfun_git.gitops.worktree import Workspace
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.operations import WriteFile
from memfun_git.redact import MARKER, redact
from memfun_git.tasks import Task
from tests.conftest import git

ENV = "API_TOKEN=tok-9f8e7d6c5b4a\nDB_HOST=localhost\nDEBUG=true\n"


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / ".gitignore").write_text(".env\nconfig/local.toml\nbuild/\nlinked\n")
    git(git_repo, "add", ".gitignore")
    git(git_repo, "commit", "-qm", "ignore")
    (git_repo / ".env").write_text(ENV)
    (git_repo / "config").mkdir()
    (git_repo / "config" / "local.toml").write_text('password = "hunter2-Local"\n')
    (git_repo / "build").mkdir()
    (git_repo / "build" / "out.txt").write_text("not wanted\n")
    outside = git_repo.parent / "outside.txt"
    outside.write_text("secret outside the repository\n")
    (git_repo / "linked").symlink_to(outside)
    (git_repo / ".worktreeinclude").write_text("# local settings\nconfig/local.toml\nlinked\n")
    return git_repo


def test_included_ignored_files_reach_the_worktree_read_only_and_redacted(
    project: Path, tmp_path: Path
) -> None:
    with Workspace(require_repo(project), "t", root=tmp_path / "wt", include=(".env",)) as ws:
        assert (ws.path / ".env").read_text() == ENV
        assert (ws.path / "config" / "local.toml").is_file()
        assert not (ws.path / "build").exists()  # ignored, but not included
        assert not (ws.path / "linked").exists()  # a link is never followed
        assert ws.included.copied == (".env", "config/local.toml")
        assert ws.included.left_out == (
            ("linked", "not a regular file (links are never followed)"),
        )
        refused = ws.apply([WriteFile(".env", "API_TOKEN=changed\n")])
        assert not refused[0].ok
        assert "[workspace] include" in refused[0].message
        with pytest.raises(RepoError, match="never committed"):
            ws.commit([".env"], "leak", gate="n/a")
        assert ws.dirty_paths() == []
    # Values that could be secrets are redacted from now on; plain words stay readable.
    assert redact("token tok-9f8e7d6c5b4a") == f"token {MARKER}"
    assert redact("pw hunter2-Local") == f"pw {MARKER}"
    assert redact("host localhost") == "host localhost"


def test_the_throwaway_worktree_of_sandbox_run_gets_the_same_files(
    project: Path, tmp_path: Path
) -> None:
    with Throwaway(require_repo(project), root=tmp_path / "wt", include=(".env",)) as tw:
        assert (tw.path / ".env").read_text() == ENV
        assert (tw.path / "config" / "local.toml").is_file()


def test_a_setup_command_runs_in_the_worktree_and_its_failures_are_said(tmp_path: Path) -> None:
    done = run_setup("echo ready > made.txt; echo set up", tmp_path, timeout=30)
    assert (tmp_path / "made.txt").read_text() == "ready\n"
    assert (done.exit_code, done.output) == (0, "set up")
    with pytest.raises(TaskFailed, match=r"failed \(exit 3\): no such package"):
        run_setup("echo no such package >&2; exit 3", tmp_path, timeout=30)
    with pytest.raises(TaskFailed, match=r"did not finish within 0.5 s"):
        run_setup("sleep 5", tmp_path, timeout=0.5)


@pytest.mark.parametrize(
    ("setup", "said"),
    [
        ("echo npm ERR! offline >&2; exit 1", "npm ERR! offline"),
        ("echo installing; sleep 5", "installing"),
    ],
    ids=["fails", "too-long"],
)
def test_a_failing_setup_fails_the_task_before_any_model_call(
    project: Path, setup: str, said: str
) -> None:
    lm = scripted_lm([])
    environ = {
        **os.environ,
        "MEMFUN_WORKSPACE_SETUP": setup,
        "MEMFUN_WORKSPACE_SETUP_TIMEOUT_SECONDS": "1",
    }
    cfg = config.load(project, environ=environ)
    result = Engine(cfg, lm=lm, environ=environ).run(Task.create("add a thing", project))
    assert result.status == "failed"
    assert "[workspace] setup" in result.error
    assert said in result.error
    assert engine_of(lm).calls == []


def test_a_setup_that_works_is_an_event_before_the_model_is_called(project: Path) -> None:
    from memfun_git.events import Event, SetupRan, StepStarted

    events: list[Event] = []
    lm = scripted_lm([Answer(raw="I cannot do this.", step="solve")])
    environ = {**os.environ, "MEMFUN_WORKSPACE_SETUP": "echo ready > made.txt",
               "MEMFUN_WORKFLOW_ESCALATE": "false"}  # fmt: skip
    cfg = config.load(project, environ=environ)
    Engine(cfg, lm=lm, environ=environ, emit=events.append).run(Task.create("x", project))
    kinds = [e for e in events if isinstance(e, SetupRan | StepStarted)]
    assert isinstance(kinds[1], SetupRan)
    assert kinds[1].command == "echo ready > made.txt"
    assert [e.step for e in kinds[:1] + kinds[2:3] if isinstance(e, StepStarted)] == [
        "setup",
        "context",
    ]


def _with_modules(project: Path) -> Path:
    modules = project / "node_modules" / "lib"
    modules.mkdir(parents=True)
    (modules / "x.js").write_text("module.exports = 1;\n")
    (project / ".gitignore").write_text(".env\nconfig/local.toml\nbuild/\nlinked\nnode_modules/\n")
    git(project, "commit", "-qam", "ignore node_modules")
    return project


def test_a_linked_folder_is_read_only_to_the_task_and_its_commands(
    project: Path, tmp_path: Path
) -> None:
    from memfun_git.config import SandboxConfig
    from memfun_git.sandbox import make_sandbox
    from tests.helpers.require import need_tool

    need_tool("bwrap")
    _with_modules(project)
    before = (project / "node_modules" / "lib" / "x.js").read_bytes()
    paths = require_repo(project)
    with Workspace(paths, "t", root=tmp_path / "wt", link=("node_modules", "missing")) as ws:
        assert ws.linked == ("node_modules",)
        assert (ws.path / "node_modules").is_symlink()
        refused = ws.apply([WriteFile("node_modules/lib/x.js", "module.exports = 2;\n")])
        assert not refused[0].ok
        assert ws.dirty_paths() == []
        shown = (str(project / "node_modules"),)
        sandbox = make_sandbox(
            SandboxConfig(extra_ro_paths=shown),
            ws.path,
            user_tree=project,
            common_dir=project / ".git",
        )
        try:
            read = sandbox.run(["cat", "node_modules/lib/x.js"])
            assert (read.exit_code, read.stdout) == (0, "module.exports = 1;\n")
            write = sandbox.run(["sh", "-c", "echo 2 > node_modules/lib/x.js"])
            assert write.exit_code != 0
        finally:
            getattr(sandbox, "close", lambda: None)()
        ws.apply([WriteFile("src/new.py", "X = 1\n")])
        result = ws.commit(["src/new.py"], "add new", gate="n/a")
        assert result is not None
        assert result.paths == ("src/new.py",)
    assert (project / "node_modules" / "lib" / "x.js").read_bytes() == before
    assert not (tmp_path / "wt").exists() or not any((tmp_path / "wt").rglob("node_modules"))


def test_an_included_env_file_never_reaches_a_prompt_a_result_or_a_commit(
    project: Path,
) -> None:
    """The model runs `cat .env` in the sandbox: the file is there for the command, but its
    secret value is redacted from the command's output in every later prompt and the result."""
    import json

    from tests.helpers.projects import CLEAN, GREET, answer
    from tests.helpers.require import need_tool
    from tests.quality.kit import environ as gate_environ
    from tests.quality.kit import venv_with_ruff

    need_tool("bwrap")
    venv_with_ruff(project)
    lm = scripted_lm(
        [
            Answer(raw=answer("I look at the settings.", "RUN cat .env", GREET), step="solve"),
            Answer(raw=CLEAN, step="review"),
        ]
    )
    env = {**gate_environ(), "MEMFUN_WORKSPACE_INCLUDE": ".env"}
    cfg = config.load(project, environ={"MEMFUN_WORKSPACE_INCLUDE": ".env"})
    result = Engine(cfg, lm=lm, environ=env).run(Task.create("add a greet function", project))
    assert result.ok, result.error
    (ran,) = result.commands
    assert ran.exit_code == 0
    secret = "tok-9f8e7d6c5b4a"
    dumped = json.dumps(result.as_dict())
    assert secret not in dumped
    assert "API_TOKEN=[REDACTED]" in dumped
    for call in engine_of(lm).calls:
        assert secret not in call.prompt
    committed = git(project, "show", "--stat", "--format=", result.branch)
    assert ".env" not in committed
