"""The user's pre-commit cache, shown read-only to sandboxed commands of a project that has a
`.pre-commit-config.yaml`.

pre-commit keeps each hook repository's clone and its installed environment (a virtualenv, a
node_modules...) in its cache (`PRE_COMMIT_HOME`, else `$XDG_CACHE_HOME/pre-commit`, else
`~/.cache/pre-commit`), listed in its `db.db`. Sandboxed runs are offline, so they cannot
clone or install; they use what the user's own `pre-commit install-hooks` left there, read-only
at its real path with `PRE_COMMIT_HOME` pointing at it (pre-commit then treats the store as
read-only and never writes to it). A hook that is not installed there fails on the read-only
store, and the gate says so (`memfun_git.quality.lintparse.pre_commit_unavailable`).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

__all__ = ["CONFIG", "not_installed", "pre_commit_cache"]

CONFIG = ".pre-commit-config.yaml"
_NO_ENVIRONMENT = frozenset(
    ("fail", "pygrep", "docker_image", "unsupported", "unsupported_script", "system", "script")
)
"""Hook languages pre-commit runs without an environment of their own."""


def pre_commit_cache(environ: Mapping[str, str], home: str) -> Path:
    """Where the user's pre-commit keeps its hooks (it may not exist)."""
    configured = environ.get("PRE_COMMIT_HOME", "")
    if os.path.isabs(configured):
        return Path(configured)
    cache = environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(cache):
        return Path(cache) / "pre-commit"
    return Path(home) / ".cache" / "pre-commit"


def not_installed(config: Path, cache: Path) -> list[str] | None:
    """The hook repositories of `config` (`repo rev`) whose clone, or whose hooks' environment,
    is not in the pre-commit `cache`, as `pre-commit install-hooks` would leave them; None
    when the configuration cannot be read. (`repo: local` and `meta` hooks are not checked.)"""
    import yaml

    try:
        loaded: Any = yaml.safe_load(config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    repos = loaded.get("repos") if isinstance(loaded, dict) else None
    if not isinstance(repos, list):
        return None
    wanted = [
        (str(r.get("repo")), str(r.get("rev", "")), _hook_ids(r))
        for r in cast(list[Any], repos)
        if isinstance(r, dict) and r.get("repo") not in ("local", "meta", None)
    ]
    clones = _clones(cache / "db.db")
    missing: list[str] = []
    for repo, rev, ids in wanted:
        paths = [Path(path) for name, ref, path in clones if ref == rev and _named(name, repo)]
        if not any(_ready(path, ids) for path in paths):
            missing.append(f"{repo} {rev}")
    return missing


def _hook_ids(repo: dict[str, Any]) -> set[str]:
    hooks = repo.get("hooks")
    items = cast(list[Any], hooks) if isinstance(hooks, list) else []
    return {str(h.get("id")) for h in items if isinstance(h, dict)}


def _named(name: str, repo: str) -> bool:
    """pre-commit's store names a clone `repo`, or `repo:dep,dep` with extra dependencies."""
    return name == repo or name.startswith(f"{repo}:")


def _clones(db: Path) -> list[tuple[str, str, str]]:
    if not db.is_file():
        return []
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as con:
            rows = con.execute("SELECT repo, ref, path FROM repos").fetchall()
    except sqlite3.Error:
        return []
    return [(str(name), str(ref), str(path)) for name, ref, path in rows]


def _ready(clone: Path, ids: set[str]) -> bool:
    """True when `clone` is there and, if the hooks used need an environment, one is
    installed in it (a folder holding pre-commit's install state)."""
    import yaml

    try:
        manifest: Any = yaml.safe_load((clone / ".pre-commit-hooks.yaml").read_text("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    hooks = cast(list[Any], manifest) if isinstance(manifest, list) else []
    languages = {
        str(h.get("language")) for h in hooks if isinstance(h, dict) and h.get("id") in ids
    }
    if languages <= _NO_ENVIRONMENT:
        return True
    return any(
        (entry / state).is_file()
        for entry in clone.iterdir()
        for state in (".install_state_v1", ".install_state_v2")
    )
