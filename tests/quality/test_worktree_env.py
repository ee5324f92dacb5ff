"""Whole tasks on projects whose tools live only in ignored folders, linked into the worktree by
`[workspace] link`: the gate runs the real tools there, blocks a lint error and passes a clean
change, and nothing of the linked folders enters a commit.

- A JavaScript project whose eslint and eslint plugin are only in its ignored `node_modules`
  (installed from the npm registry by .ci/run, copied in as `npm install` would leave them).
- A Python project whose ruff is only in its ignored `.venv`, and whose pre-commit
  configuration runs that ruff by its path in the worktree (`.venv/bin/ruff`), which only the
  link makes work.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.engine import Engine
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.quality.verdicts import LintVerdict
from memfun_git.tasks import Task, TaskResult
from tests.conftest import git
from tests.helpers.projects import CLEAN, answer
from tests.helpers.require import need_tool
from tests.helpers.sandboxes import need_node_tools
from tests.quality.kit import SYSTEM_PATH, environ, make_repo, venv_with_ruff

ESLINT_CONFIG = """\
import simpleImportSort from "eslint-plugin-simple-import-sort";

export default [
  {
    files: ["**/*.js"],
    plugins: { "simple-import-sort": simpleImportSort },
    rules: { "no-unused-vars": "error", "simple-import-sort/imports": "error" },
  },
];
"""
PRE_COMMIT = """\
repos:
  - repo: local
    hooks:
      - id: ruff-format
        name: ruff format
        entry: .venv/bin/ruff format --check
        language: system
        types: [python]
"""


def _write(path: str, text: str) -> str:
    return f"{path}\n<<<<<<< WRITE\n{text}>>>>>>> WRITE"


def _task(tree: Path, write: str, env: dict[str, str], *, passes: bool, link: str) -> TaskResult:
    """One task whose model writes `write` (an operation), with the gate's fix rounds off."""
    replies = [Answer(raw=answer("As asked.", write), step="solve")]
    if passes:
        replies.append(Answer(raw=CLEAN, step="review"))
    lm = scripted_lm(replies)
    settings = {"MEMFUN_WORKSPACE_LINK": link, "MEMFUN_GATE_FIX_ROUNDS": "0",
                "MEMFUN_WORKFLOW_ESCALATE": "false"}  # fmt: skip
    cfg = config.load(tree, environ=settings)
    result = Engine(cfg, lm=lm, environ=env).run(Task.create("add a module", tree))
    assert len(engine_of(lm).calls) == len(replies)
    return result


def _verdict(result: TaskResult, linter: str) -> LintVerdict:
    assert result.gate is not None
    (verdict,) = [v for v in result.gate.verdicts if v.linter == linter]
    return verdict


def _project(name: str, files: dict[str, str], ignored: str) -> Path:
    """A repository under the home whose tracked `.gitignore` holds `ignored`."""
    tree = make_repo(Path(os.environ["HOME"]) / name, {**files, ".gitignore": ignored}, "")
    return tree


def _committed(tree: Path, result: TaskResult) -> list[str]:
    return git(tree, "show", "--name-only", "--format=", result.branch).split()


@pytest.fixture
def js_project() -> Path:
    tools = need_node_tools()
    need_tool("bwrap")
    tree = _project(
        "web",
        {
            "package.json": '{"name": "web", "private": true, "type": "module"}\n',
            "eslint.config.js": ESLINT_CONFIG,
            "src/index.js": "export const a = 1;\n",
        },
        "node_modules/\n",
    )
    shutil.copytree(tools / "node_modules", tree / "node_modules", symlinks=True)
    return tree


def test_eslint_from_the_linked_node_modules_blocks_an_error_and_passes_a_clean_change(
    js_project: Path,
) -> None:
    env = environ()
    bad = "import { b } from './b.js';\nimport { a } from './a.js';\nconst unused = a + b;\n"
    result = _task(js_project, _write("src/extra.js", bad), env, passes=False, link="node_modules")
    assert not result.ok
    verdict = _verdict(result, "eslint")
    assert verdict.status == "fail"
    assert verdict.program == str(js_project / "node_modules" / ".bin" / "eslint")
    rules = sorted({f.source for f in verdict.findings})
    assert rules == ["eslint:no-unused-vars", "eslint:simple-import-sort/imports"]
    assert result.commits == ()

    good = "import { a } from './a.js';\nimport { b } from './b.js';\n\nexport const c = a + b;\n"
    result = _task(js_project, _write("src/extra.js", good), env, passes=True, link="node_modules")
    assert result.ok, result.error
    assert _verdict(result, "eslint").status == "pass"
    assert _committed(js_project, result) == ["src/extra.js"]
    assert not (js_project / "src" / "extra.js").exists()  # the user's tree is untouched


@pytest.fixture
def py_project() -> Path:
    need_tool("bwrap")
    tree = _project(
        "py",
        {
            "pyproject.toml": '[project]\nname = "app"\nversion = "0"\n',
            ".pre-commit-config.yaml": PRE_COMMIT,
            "app/__init__.py": "",
        },
        ".venv/\n",
    )
    venv_with_ruff(tree)
    return tree


def test_tools_run_through_the_linked_venv_block_an_error_and_pass_a_clean_change(
    py_project: Path,
) -> None:
    """pre-commit itself is the user's (on PATH); the hook runs `.venv/bin/ruff` in the
    worktree, where only the link puts it."""
    env = environ(f"{Path(sys.executable).parent}{os.pathsep}{SYSTEM_PATH}")
    result = _task(py_project, _write("app/util.py", "x=1\n"), env, passes=False, link=".venv")
    assert not result.ok
    assert _verdict(result, "ruff").status == "pass"
    assert _verdict(result, "ruff").program == str(py_project / ".venv" / "bin" / "ruff")
    hooks = _verdict(result, "pre-commit")
    assert hooks.status == "fail", hooks.output
    assert "File would be reformatted --> app/util.py:1:2" in hooks.output
    assert [(f.path, f.source) for f in hooks.findings] == [
        ("app/util.py", "pre-commit:ruff-format")
    ]

    result = _task(py_project, _write("app/util.py", "x = 1\n"), env, passes=True, link=".venv")
    assert result.ok, result.error
    assert _verdict(result, "pre-commit").status == "pass"
    assert _committed(py_project, result) == ["app/util.py"]


def test_without_the_link_the_hook_cannot_find_the_tool(py_project: Path) -> None:
    env = environ(f"{Path(sys.executable).parent}{os.pathsep}{SYSTEM_PATH}")
    result = _task(py_project, _write("app/util.py", "x = 1\n"), env, passes=False, link="")
    assert not result.ok
    hooks = _verdict(result, "pre-commit")
    assert hooks.status in ("fail", "error")
    assert ".venv/bin/ruff" in hooks.output
