"""Projects for the solver's, the engine's and `memfun run`'s tests: real repositories.

`small_project` is a few files (under the 200 KB at which the planner starts); `large_files`
is a project over it (about 240 KB of Python modules), for the planner and model economy.
`answer` writes a solver's answer in the operation format, as a model would; `committed`
commits files given as text or bytes, exactly as given.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

from memfun_git.solvers.context import SMALL_PROJECT
from tests.helpers.messy import make_messy_repo
from tests.quality.kit import make_repo, venv_with_ruff

__all__ = [
    "APP",
    "CLEAN",
    "GREET",
    "answer",
    "committed",
    "large_files",
    "messy_with_ruff",
    "small_project",
]

APP = "def add(a, b):\n    return a + b\n"
GREET = """src/greet.py
<<<<<<< WRITE
def greet(name: str) -> str:
    return f"hello {name}"
>>>>>>> WRITE"""
"""An operation that writes a new, lint-clean module."""
CLEAN = "SUMMARY: adds greet as asked."
"""A review with no findings."""


def small_project(tree: Path, extra: dict[str, str] | None = None) -> Path:
    """`src/app.py` (APP) and a README, plus `extra`, in one commit."""
    files = {"README.md": "# Demo\n", "src/app.py": APP, **(extra or {})}
    return make_repo(tree, files, ignored=".venv/\n")


def large_files(modules: int = 60) -> dict[str, str]:
    """`pkg/mod00.py`… each about 4 KB of small functions: more than SMALL_PROJECT in all."""
    files: dict[str, str] = {}
    for m in range(modules):
        body = "".join(
            f"def f{m}_{n}(x: int) -> int:\n    return x * {n} + {m}  # padding {'.' * 40}\n\n\n"
            for n in range(40)
        )
        files[f"pkg/mod{m:02d}.py"] = f'"""Module {m}."""\n\n\n' + body
    assert sum(len(text) for text in files.values()) > SMALL_PROJECT
    return files


def answer(prose: str, *blocks: str) -> str:
    """A solver's answer: prose, then operation blocks, each separated by a blank line."""
    return "\n\n".join((prose, *blocks)) + "\n"


def messy_with_ruff(root: Path) -> Path:
    """The messy repository (tests/helpers/messy.py) at `root`, with ruff in its ignored
    .venv, as the gate looks for it."""
    repo = make_messy_repo(root)
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "exclude").write_text(".venv/\n")
    venv_with_ruff(repo)
    return repo


def committed(repo: Path, files: Mapping[str, str | bytes], message: str = "initial") -> Path:
    """A repository at `repo` (created when missing, branch main) with `files` written byte
    for byte and committed; returns `repo`."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    for rel, data in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data.encode() if isinstance(data, str) else data)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", message], cwd=repo, check=True)
    return repo
