"""`memfun gc`: print what goes and what stays, and why; then remove (unless --dry-run)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from memfun_git import config
from memfun_git.gitops.gc import apply, plan
from memfun_git.gitops.repo import require_repo

__all__ = ["run_gc"]


def run_gc(
    start: Path, *, dry_run: bool, force: bool, environ: Mapping[str, str] | None = None
) -> int:
    env = os.environ if environ is None else environ
    paths = require_repo(start)
    cfg = config.load(paths.workdir, environ=env)
    items = plan(paths, force=force, keep_attempts_days=cfg.workspace.keep_attempts_days)
    if not items:
        print("nothing of memfun's to clean up")
        return 0
    verb = "would remove" if dry_run else "removed"
    for item in items:
        action = verb if item.remove else "kept"
        where = f" ({item.path})" if item.path else ""
        print(f"{action:<12} {item.kind:<8} {item.name}{where} — {item.reason}")
    if not dry_run:
        apply(paths, items)
    return 0
