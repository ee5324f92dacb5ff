"""The project's own `.pre-commit-config.yaml` as a gate linter, run by the real pre-commit in
the real sandbox: `repo: local` hooks and a hook repository in a local folder (no hook repository
can be cloned from the network here), installed by the user's own `pre-commit install-hooks`
into their cache, which the sandbox shows read-only."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from memfun_git.quality.changes import Change
from memfun_git.quality.lint import Linting, LintRun
from memfun_git.quality.linters import detect, looked_in
from memfun_git.quality.lintparse import (
    parse_pre_commit,
    pre_commit_fixers,
    pre_commit_unavailable,
)
from memfun_git.quality.verdicts import LintVerdict
from tests.conftest import git
from tests.helpers.require import missing, need_tool
from tests.quality.kit import SYSTEM_PATH, environ, make_repo, open_task, sandbox_of

HOOKS = """\
- id: no-fixme
  name: no FIXME
  entry: FIXME
  language: pygrep
- id: strip-trailing
  name: strip trailing spaces
  entry: ./strip.sh
  language: script
"""
STRIP = '#!/bin/sh\nfor f in "$@"; do sed -i "s/[ \\t]*$//" "$f"; done\n'


def _config(hook_repo: Path, rev: str, local: str = "") -> str:
    return f"""\
repos:
  - repo: local
    hooks:
      - id: no-todo
        name: no TODO
        entry: TODO
        language: pygrep
{local}  - repo: {hook_repo}
    rev: {rev}
    hooks:
      - id: no-fixme
      - id: strip-trailing
"""


def _pre_commit() -> Path:
    found = Path(sys.executable).parent / "pre-commit"
    if not found.is_file():
        missing("pre-commit is not installed in this project's environment (run `uv sync`)")
    return found


def _env(home: Path) -> dict[str, str]:
    """The user's environment: pre-commit on PATH, its cache where it goes by default."""
    env = environ(f"{_pre_commit().parent}{os.pathsep}{SYSTEM_PATH}")
    env.pop("PRE_COMMIT_HOME", None)
    env.pop("XDG_CACHE_HOME", None)
    return {**env, "HOME": str(home)}


def _commit(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project whose pre-commit configuration has a `repo: local` hook and two hooks from a
    hook repository, installed into the user's pre-commit cache as `pre-commit install-hooks`
    does."""
    need_tool("bwrap")
    home = Path(os.environ["HOME"])
    hook_repo = make_repo(home / "hooks", {".pre-commit-hooks.yaml": HOOKS, "strip.sh": STRIP})
    (hook_repo / "strip.sh").chmod(0o755)
    rev = _commit(hook_repo, "executable")
    tree = make_repo(
        home / "proj",
        {".pre-commit-config.yaml": _config(hook_repo, rev), "app.py": "x = 1\n"},
    )
    subprocess.run(
        [_pre_commit(), "install-hooks"], cwd=tree, env=_env(home), check=True, capture_output=True
    )
    assert (home / ".cache" / "pre-commit" / "db.db").is_file()
    return tree


def _lint(
    tree: Path, files: dict[str, str], env: dict[str, str] | None = None
) -> tuple[LintRun, dict[str, str]]:
    """Lint `files`, written into a task's worktree; (the run, the files as the hooks left
    them)."""
    env = env or _env(Path(os.environ["HOME"]))
    with open_task(tree) as ws:
        for rel, text in files.items():
            (ws.path / rel).write_text(text)
        linting = Linting(
            Change(ws.repo, ws.base_oid, ws.path),
            sandbox_of(ws, tree, env),
            places=looked_in(tree, env),
            candidates=ws.dirty_paths(),
        )
        run = linting.run(list(files))
        return run, {rel: (ws.path / rel).read_text() for rel in files}


def _verdict(run: LintRun, linter: str = "pre-commit") -> LintVerdict:
    (verdict,) = [v for v in run.verdicts if v.linter == linter]
    return verdict


def test_the_project_s_hooks_block_what_they_find_and_pass_a_clean_change(project: Path) -> None:
    run, _ = _lint(project, {"app.py": "x = 1\n# TODO later\n# FIXME now\n"})
    verdict = _verdict(run)
    assert verdict.status == "fail"
    assert verdict.program == str(_pre_commit())
    assert [(f.path, f.line, f.source) for f in verdict.findings] == [
        ("app.py", 2, "pre-commit:no-todo"),
        ("app.py", 3, "pre-commit:no-fixme"),
    ]
    assert "app.py:2: error: no-todo: # TODO later" in verdict.output
    assert run.fixable

    run, _ = _lint(project, {"app.py": "x = 2\n"})
    assert _verdict(run).status == "pass"
    assert run.passed


def test_a_fixing_hook_s_changes_are_kept_and_judged_again(project: Path) -> None:
    run, after = _lint(project, {"app.py": "x = 1   \ny = 2\t\n"})
    verdict = _verdict(run)
    assert verdict.status == "pass", verdict.output
    assert "fixed by strip-trailing (the changes are kept)" in verdict.output
    assert after == {"app.py": "x = 1\ny = 2\n"}


def test_a_hook_not_in_the_user_s_cache_is_a_missing_verdict_that_says_what_to_run(
    project: Path,
) -> None:
    """A newer revision of the hook repository, not installed yet: the sandbox is offline and
    the cache read-only, so the gate says what to run instead of passing in silence."""
    hook_repo = Path(os.environ["HOME"]) / "hooks"
    (hook_repo / "README.md").write_text("new\n")
    rev = _commit(hook_repo, "newer")
    (project / ".pre-commit-config.yaml").write_text(_config(hook_repo, rev))
    _commit(project, "newer hooks")
    cache = Path(os.environ["HOME"]) / ".cache" / "pre-commit"
    before = sorted(p.name for p in cache.iterdir())
    run, _ = _lint(project, {"app.py": "x = 3\n"})
    verdict = _verdict(run)
    assert verdict.status == "missing"
    assert "not installed in your pre-commit cache" in verdict.output
    assert "run `pre-commit install-hooks` in your repository" in verdict.output
    assert not run.passed
    assert not run.fixable
    assert sorted(p.name for p in cache.iterdir()) == before


def test_without_a_cache_the_verdict_names_the_hooks_to_install(project: Path) -> None:
    env = {**_env(Path(os.environ["HOME"])), "PRE_COMMIT_HOME": "/nonexistent/pre-commit"}
    run, _ = _lint(project, {"app.py": "x = 4\n"}, env)
    verdict = _verdict(run)
    assert verdict.status == "missing"
    assert f"the hooks of {Path(os.environ['HOME']) / 'hooks'} are not installed" in (
        verdict.output
    )


def test_a_hook_cannot_write_to_the_user_s_cache(project: Path) -> None:
    hook_repo = Path(os.environ["HOME"]) / "hooks"
    rev = git(hook_repo, "rev-parse", "HEAD").strip()
    planter = """\
      - id: plant
        name: plant
        entry: sh -c 'echo planted > "$PRE_COMMIT_HOME/planted"'
        language: system
        pass_filenames: false
"""
    (project / ".pre-commit-config.yaml").write_text(_config(hook_repo, rev, planter))
    _commit(project, "a hook that writes")
    run, _ = _lint(project, {"app.py": "x = 5\n"})
    verdict = _verdict(run)
    assert verdict.status == "fail"
    assert "Read-only file system" in verdict.output
    assert not (Path(os.environ["HOME"]) / ".cache" / "pre-commit" / "planted").exists()


def test_a_task_s_change_to_the_hooks_is_not_used_unless_trusted(project: Path) -> None:
    """The task drops the TODO hook: the base commit's configuration still runs it."""
    config = (project / ".pre-commit-config.yaml").read_text()
    weaker = config.replace("      - id: no-todo\n", "      - id: no-todo-gone\n")
    run, _ = _lint(project, {".pre-commit-config.yaml": weaker, "app.py": "# TODO\n"})
    verdict = _verdict(run)
    assert verdict.status == "fail"
    assert [f.source for f in verdict.findings] == ["pre-commit:no-todo"]
    assert verdict.config_changes == (
        ".pre-commit-config.yaml (changed; not used: linted with the base commit's)",
    )


def test_a_configuration_the_task_adds_and_that_is_not_used_runs_nothing(tmp_path: Path) -> None:
    need_tool("bwrap")
    tree = make_repo(Path(os.environ["HOME"]) / "plain", {"app.py": "x = 1\n"})
    added = "repos:\n  - repo: local\n    hooks: []\n"
    run, _ = _lint(tree, {".pre-commit-config.yaml": added, "app.py": "x = 2\n"})
    assert "pre-commit" not in [v.linter for v in run.verdicts]


# What pre-commit 4 prints, as the parsers read it.
OUTPUT = """\
no TODO..................................................................Failed
- hook id: no-todo
- exit code: 1

app.py:2:# TODO later

check yaml...........................................(no files to check)Skipped
strip trailing spaces....................................................Failed
- hook id: strip-trailing
- files were modified by this hook

Fixing app.py

mypy.....................................................................Failed
- hook id: mypy
- exit code: 2

error: some trouble with the whole run

ruff.....................................................................Passed
"""


def test_the_parser_reads_each_failed_hook(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("x\n# TODO later\n")
    found = parse_pre_commit(OUTPUT, tmp_path)
    assert [(f.path, f.line, f.source, f.message) for f in found] == [
        ("app.py", 2, "pre-commit:no-todo", "no-todo: # TODO later"),
        (
            "app.py",
            0,
            "pre-commit:strip-trailing",
            "hook strip-trailing (strip trailing spaces) changed the files: Fixing app.py",
        ),
        (
            ".pre-commit-config.yaml",
            0,
            "pre-commit:mypy",
            "hook mypy (mypy) failed: error: some trouble with the whole run",
        ),
    ]
    assert pre_commit_fixers(OUTPUT) == ("strip-trailing",)
    assert pre_commit_unavailable(OUTPUT, "") is None


def test_a_path_a_hook_prints_outside_the_worktree_is_no_finding(tmp_path: Path) -> None:
    (tmp_path / "tree").mkdir()
    (tmp_path / "secret.txt").write_text("x\n")
    out = "no TODO....Failed\n- hook id: no-todo\n\n../secret.txt:1:x\n/etc/hostname:1:x\n"
    (found,) = parse_pre_commit(out, tmp_path / "tree")
    assert (found.path, found.line) == (".pre-commit-config.yaml", 0)


def test_pre_commit_is_detected_by_its_configuration() -> None:
    names = {".pre-commit-config.yaml"}
    assert [linter.name for linter in detect(["README.md"], names.__contains__)] == ["pre-commit"]
