"""`memfun demo`: one real task on a shipped sample project, with recorded model answers.

The sample (`sample/`, shipped in the wheel) is copied into a new folder and committed as a
git repository; the engine then runs one task exactly as `memfun run` does (a worktree, real
edits, the ruff gate in the sandbox with one lint error fixed in a fix round, real commits),
with the scripted LM replaying `answers.py` instead of calling a model. Where bubblewrap is
missing, the demo's own sample runs under the local backend, with ruff allowed: the code it
lints is the sample and the recorded answers, both shipped with memfun, not a model's.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

__all__ = ["SAMPLE_NAME", "copy_sample"]

SAMPLE_NAME = "textstats"

_NOT_COPIED = {"__pycache__", ".ruff_cache", ".pytest_cache", ".mypy_cache"}
"""Caches tools leave in the sample of a source checkout (the wheel holds none of them)."""


def copy_sample(target: Path) -> Path:
    """Copy the sample project into `target` (made; must not exist or be empty) and commit it
    as the first commit of a new repository; return `target`."""
    import pygit2

    sample = resources.files("memfun_git.demo").joinpath("sample")
    target.mkdir(parents=True, exist_ok=True)
    with resources.as_file(sample) as folder:
        for item in Path(folder).rglob("*"):
            if _NOT_COPIED.intersection(item.relative_to(folder).parts):
                continue
            dest = target / item.relative_to(folder)
            if item.is_dir():
                dest.mkdir(parents=True, exist_ok=True)
            else:
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(item, dest)
    repo = pygit2.init_repository(str(target), initial_head="main")
    try:
        index = repo.index
        index.add_all()
        index.write()
        tree = index.write_tree()
        who = pygit2.Signature("memfun demo", "demo@memfun.invalid")
        repo.create_commit("HEAD", who, who, "The textstats sample project\n", tree, [])
    finally:
        repo.free()
    return target
