"""A user's project for the gate's tests: a real repository under the test's home, its ignored
`.venv` holding ruff (this project's own ruff binary, copied: an offline install), a task's
workspace on it, and the real bubblewrap sandbox for that workspace.

Programs are looked for as memfun looks: the user's `.venv/bin`, then PATH. PATH here is the
system's alone (`/usr/bin:/bin`), so the ruff the tests see is the user's, never the one `uv run`
put first on this process's PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
import uuid
from pathlib import Path

from memfun_git.backends.protocols import SandboxAdapter
from memfun_git.config import SandboxConfig
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from memfun_git.sandbox import make_sandbox
from tests.helpers.sandboxes import REAL_ENV, missing
from tests.sandbox.test_tools import make_repo as make_sandbox_repo

__all__ = [
    "BASE_RUFF",
    "SYSTEM_PATH",
    "environ",
    "make_repo",
    "open_task",
    "project_ruff",
    "python_project",
    "sandbox_of",
    "venv_with_ruff",
]

SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"


def make_repo(tree: Path, files: dict[str, str], ignored: str = ".venv/\nnode_modules/\n") -> Path:
    """A repository at `tree` with one commit holding `files` (dedented); `ignored` goes into
    `.git/info/exclude`. (The sandbox suite's helper.)"""
    make_sandbox_repo(tree, files, ignored)
    return tree


def project_ruff() -> Path:
    """This project's ruff (a single static binary), from the venv pytest runs in."""
    found = Path(sys.executable).parent / "ruff"
    if not found.is_file():
        found = Path(shutil.which("ruff", path=REAL_ENV.get("PATH")) or "")
    if not found.is_file():
        missing("ruff is not installed in this project's environment (run `uv sync`)")
    return found


def venv_with_ruff(tree: Path) -> Path:
    """`tree/.venv` as uv would leave it for a project that depends on ruff: a pyvenv.cfg and
    ruff in bin/ (no interpreter needed to run it). Returns the ruff."""
    venv = tree / ".venv"
    (venv / "bin").mkdir(parents=True)
    base = os.path.dirname(os.path.realpath(sys.executable))
    (venv / "pyvenv.cfg").write_text(f"home = {base}\ninclude-system-site-packages = false\n")
    ruff = venv / "bin" / "ruff"
    shutil.copy2(project_ruff(), ruff)
    return ruff


BASE_RUFF = 'line-length = 60\n\n[lint]\nselect = ["F", "E501"]\n'
"""The project's ruff.toml: pyflakes and lines of at most 60 characters."""


def python_project(tree: Path, core: str = "") -> Path:
    """A Python project at `tree` (`app/core.py` holding `core`, ruff.toml `BASE_RUFF`) with
    ruff in its ignored .venv."""
    make_repo(
        tree,
        {
            "pyproject.toml": '[project]\nname = "app"\nversion = "0"\ndependencies = []\n',
            "ruff.toml": BASE_RUFF,
            "app/__init__.py": "",
            "app/core.py": core,
        },
    )
    venv_with_ruff(tree)
    return tree


def open_task(tree: Path) -> Workspace:
    """A task's workspace (not yet entered) on the repository at `tree`."""
    return Workspace(require_repo(tree), "gate-" + uuid.uuid4().hex[:8])


def environ(path: str = SYSTEM_PATH) -> dict[str, str]:
    """This process's environment with PATH set to `path` and no active virtualenv."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["PATH"] = path
    return env


def sandbox_of(ws: Workspace, tree: Path, env: dict[str, str] | None = None) -> SandboxAdapter:
    """The real bubblewrap sandbox for the task's worktree."""
    return make_sandbox(
        SandboxConfig(timeout_seconds=120),
        ws.path,
        user_tree=tree,
        common_dir=tree / ".git",
        environ=env if env is not None else environ(),
    )
