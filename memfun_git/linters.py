"""Which linters a project uses, and which program runs each.

A linter is detected from the files at the project's root (`pyproject.toml` or `ruff.toml`:
ruff; `package.json` or an eslint config: eslint; `go.mod`: go vet; `Cargo.toml`: cargo check),
unless `[gate] linters` names them. Its program is looked up the way tasks will run it: in the
user's own tree's environments first (`.venv/bin`, `venv/bin`, `node_modules/.bin`: the
project's pinned ruff or eslint), then PATH; never in a task's worktree, whose files the model
may have written.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ENVIRONMENT_BINS", "LINTERS", "Linter", "detect_linters", "find_program", "tool_path"]

ENVIRONMENT_BINS = (".venv/bin", "venv/bin", "node_modules/.bin")
"""Folders of the user's tree searched before PATH, in this order."""


@dataclass(frozen=True, slots=True)
class Linter:
    name: str
    """The name `[gate] linters` uses."""
    program: str
    """The executable that runs it."""
    markers: tuple[str, ...]
    """Files at the project's root that say the project uses it."""


_ESLINT_CONFIGS = tuple(
    f"{stem}{ext}"
    for stem, exts in (
        ("eslint.config", (".js", ".mjs", ".cjs", ".ts", ".mts", ".cts")),
        (".eslintrc", ("", ".js", ".cjs", ".json", ".yml", ".yaml")),
    )
    for ext in exts
)

LINTERS: tuple[Linter, ...] = (
    Linter("ruff", "ruff", ("pyproject.toml", "ruff.toml", ".ruff.toml")),
    Linter("eslint", "eslint", ("package.json", *_ESLINT_CONFIGS)),
    Linter("go", "go", ("go.mod",)),
    Linter("cargo", "cargo", ("Cargo.toml",)),
)


def detect_linters(tree: Path, configured: Iterable[str] = ()) -> tuple[Linter, ...]:
    """The linters named in `configured` ([gate] linters), else those the files at `tree`'s
    root call for. A configured name memfun does not know runs as a program of that name."""
    names = list(configured)
    if names:
        known = {linter.name: linter for linter in LINTERS}
        return tuple(known.get(name, Linter(name, name, ())) for name in names)
    return tuple(linter for linter in LINTERS if any((tree / m).exists() for m in linter.markers))


def tool_path(tree: Path, environ: Mapping[str, str]) -> str:
    """A PATH with the environments of the user's `tree` first, then `environ`'s PATH."""
    found = [str(tree / folder) for folder in ENVIRONMENT_BINS if (tree / folder).is_dir()]
    return os.pathsep.join([*found, environ.get("PATH", os.defpath)])


def find_program(name: str, tree: Path, environ: Mapping[str, str]) -> str | None:
    """The program `name` as a task will run it (see `tool_path`), or None."""
    return shutil.which(name, path=tool_path(tree, environ))
