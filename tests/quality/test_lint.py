"""Linting a task's change in the real sandbox: the user's ruff found where they keep it, the
base commit's configuration used whatever the task did to it, the task's files restored byte
for byte, new suppressions and configuration changes named."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git.gitops.worktree import Workspace
from memfun_git.quality.changes import Change
from memfun_git.quality.lint import Linting, LintRun
from memfun_git.quality.linters import looked_in
from tests.helpers.require import need_tool
from tests.quality.kit import (
    environ,
    make_repo,
    open_task,
    python_project,
    sandbox_of,
    venv_with_ruff,
)

LONG = "x = 1  # a comment that takes this line past the sixty characters the base allows\n"


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """~/project: Python with a ruff.toml (line length 60) and ruff in the ignored .venv."""
    return python_project(tmp_path / "home" / "project", "def add(a, b):\n    return a + b\n")


@pytest.fixture
def task(project: Path) -> Iterator[Workspace]:
    with open_task(project) as ws:
        yield ws


def lint(ws: Workspace, tree: Path, paths: list[str], **options: object) -> LintRun:
    env = environ()
    linting = Linting(
        Change(ws.repo, ws.base_oid, ws.path),
        sandbox_of(ws, tree, env),
        places=looked_in(tree, env),
        candidates=ws.dirty_paths(),
        **options,  # type: ignore[arg-type]
    )
    return linting.run(paths)


def write(ws: Workspace, rel: str, text: str) -> None:
    (ws.path / rel).parent.mkdir(parents=True, exist_ok=True)
    (ws.path / rel).write_text(text)


def worktree_files(ws: Workspace) -> dict[str, tuple[bytes, int]]:
    found: dict[str, tuple[bytes, int]] = {}
    for folder, dirs, files in os.walk(ws.path):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            full = Path(folder) / name
            found[str(full.relative_to(ws.path))] = (full.read_bytes(), full.stat().st_mode)
    return found


def test_ruff_in_the_users_ignored_venv_is_found_run_and_named(
    project: Path, task: Workspace
) -> None:
    write(task, "app/core.py", "import os\n\n\ndef add(a, b):\n    return a + b\n")
    run = lint(task, project, ["app/core.py"])
    (verdict,) = run.verdicts
    assert verdict.linter == "ruff"
    assert verdict.program == str(project / ".venv" / "bin" / "ruff")
    assert verdict.status == "fail", verdict.output
    assert [(f.path, f.line, f.source) for f in verdict.findings] == [
        ("app/core.py", 1, "ruff:F401")
    ]
    assert "app/core.py:1: error: F401 `os` imported but unused" in verdict.output
    # Nothing left behind: no .ruff_cache, no __pycache__.
    assert set(worktree_files(task)) == {
        ".git", "pyproject.toml", "ruff.toml", "app/__init__.py", "app/core.py",
    }  # fmt: skip


def test_a_configured_linter_that_is_missing_fails_and_says_where_it_looked(tmp_path: Path) -> None:
    tree = make_repo(tmp_path / "p", {"a.py": "x = 1\n"})
    with open_task(tree) as ws:
        write(ws, "a.py", "x = 2\n")
        run = lint(ws, tree, ["a.py"], configured=("ruff",))
        detected = lint(ws, tree, ["a.py"])
    (verdict,) = run.verdicts
    assert verdict.status == "missing"
    assert not verdict.passed
    assert not run.passed
    assert verdict.looked_in[:3] == tuple(
        str(tree / sub) for sub in (".venv/bin", "venv/bin", "node_modules/.bin")
    )
    assert "/usr/bin" in verdict.looked_in
    assert verdict.output.startswith("ruff is configured in [gate] linters but is not installed")
    assert str(tree / ".venv/bin") in verdict.output
    # Only detected: a note, no failure.
    assert [(v.status, v.passed) for v in detected.verdicts] == [("skipped", True)]


def test_the_active_virtualenv_is_searched(tmp_path: Path) -> None:
    tree = make_repo(tmp_path / "p", {"a.py": "x = 1\n"})
    elsewhere = tmp_path / "envs" / "tools"
    ruff = venv_with_ruff(elsewhere.parent / "holder")  # a venv outside the project
    (elsewhere.parent / "holder" / ".venv").rename(elsewhere)
    with open_task(tree) as ws:
        write(ws, "a.py", "import os\n")
        env = {**environ(), "VIRTUAL_ENV": str(elsewhere)}
        linting = Linting(
            Change(ws.repo, ws.base_oid, ws.path),
            sandbox_of(ws, tree, env),
            places=looked_in(tree, env),
        )
        (verdict,) = linting.run(["a.py"]).verdicts
    assert ruff.name == "ruff"
    assert verdict.program == str(elsewhere / "bin" / "ruff")
    assert verdict.status == "fail"


@pytest.mark.parametrize(
    ("name", "setup"),
    [
        ("loosened ruff.toml", {"ruff.toml": 'line-length = 200\n\n[lint]\nselect = ["F"]\n'}),
        ("added .ruff.toml", {"app/.ruff.toml": '[lint]\nignore = ["E501"]\n'}),
        ("nested pyproject", {"app/pyproject.toml": "[tool.ruff]\nline-length = 300\n"}),
        ("deleted ruff.toml", {"ruff.toml": None}),
        (
            "pyproject that extends a loosened file",
            {"ruff.toml": 'extend = "loose.toml"\n', "loose.toml": "line-length = 300\n"},
        ),
    ],
)
def test_weakened_configuration_is_not_used(
    project: Path, task: Workspace, name: str, setup: dict[str, str | None]
) -> None:
    write(task, "app/core.py", LONG)
    for rel, text in setup.items():
        if text is None:
            (task.path / rel).unlink()
        else:
            write(task, rel, text)
    (task.path / "app/core.py").chmod(0o640)
    before = worktree_files(task)
    run = lint(task, project, ["app/core.py", *setup])
    (verdict,) = run.verdicts
    assert verdict.status == "fail", name
    assert [f.source for f in verdict.findings] == ["ruff:E501"]
    assert verdict.config_changes, name
    assert all("not used: linted with the base commit's" in c for c in verdict.config_changes)
    assert worktree_files(task) == before  # the task's files exactly, modes included
    assert stat.S_IMODE((task.path / "app/core.py").stat().st_mode) == 0o640


def test_trusted_configuration_is_used(project: Path, task: Workspace) -> None:
    write(task, "app/core.py", LONG)
    write(task, "ruff.toml", '[lint]\nselect = ["F"]\n')
    run = lint(task, project, ["app/core.py", "ruff.toml"], trusted=True)
    (verdict,) = run.verdicts
    assert verdict.status == "pass"
    assert verdict.config_changes == ("ruff.toml (changed; trusted: used)",)


def test_a_dependency_added_to_pyproject_is_no_config_change(
    project: Path, task: Workspace
) -> None:
    write(
        task, "pyproject.toml", '[project]\nname = "app"\nversion = "0"\ndependencies = ["httpx"]\n'
    )
    write(task, "app/core.py", "def add(a, b):\n    return b + a\n")
    run = lint(task, project, ["pyproject.toml", "app/core.py"])
    assert run.config_changes == ()
    assert [(v.status, v.config_changes) for v in run.verdicts] == [("pass", ())]
    write(
        task,
        "pyproject.toml",
        '[project]\nname = "app"\nversion = "0"\n\n[tool.ruff]\nfix = true\n',
    )
    changed = lint(task, project, ["pyproject.toml", "app/core.py"])
    assert [c.render(False) for c in changed.config_changes] == [
        "pyproject.toml ([tool.ruff] changed; not used: linted with the base commit's)"
    ]


def test_memfun_toml_tables_that_decide_what_runs_are_named(project: Path, task: Workspace) -> None:
    write(task, "memfun.toml", '[gate]\nlinters = []\nreview = "off"\n\n[project]\nname = "x"\n')
    write(task, "app/core.py", LONG)
    run = lint(task, project, ["memfun.toml", "app/core.py"])
    assert [c.render(False) for c in run.config_changes] == [
        "memfun.toml ([gate] added; not used: memfun reads the user's own memfun.toml)"
    ]
    assert [v.status for v in run.verdicts] == ["fail"]
    assert (task.path / "memfun.toml").is_file()  # never swapped: memfun does not read it


def test_new_inline_suppressions_are_named(project: Path, task: Workspace) -> None:
    write(
        task,
        "app/core.py",
        "import os  # noqa: F401\nVALUE: int = 'x'  # type: ignore[assignment]\n",
    )
    (verdict,) = lint(task, project, ["app/core.py"]).verdicts
    assert verdict.status == "pass"
    assert verdict.suppressions == (
        "app/core.py:1: import os  # noqa: F401",
        "app/core.py:2: VALUE: int = 'x'  # type: ignore[assignment]",
    )


def test_a_task_written_run_left_config_is_swapped_too(project: Path, task: Workspace) -> None:
    """A config file a command left (not among the touched paths) is found by the worktree's
    status, and kept out of the lint all the same."""
    write(task, "app/core.py", LONG)
    write(task, ".ruff.toml", "line-length = 300\n")
    run = lint(task, project, ["app/core.py"])
    assert [v.status for v in run.verdicts] == ["fail"]
    assert run.config_changes[0].path == ".ruff.toml"
    assert (task.path / ".ruff.toml").read_text() == "line-length = 300\n"
