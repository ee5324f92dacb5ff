"""`memfun gc`: print what goes and what stays, and why; each removal is printed once done.

A line says "removed" only after the removal happened; one that failed says so, with why,
and the command then exits 1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from memfun_git import config
from memfun_git.gitops.create import worktree_root
from memfun_git.gitops.gc import GcItem, GcOutcome, apply, plan
from memfun_git.gitops.repo import require_repo

__all__ = ["run_gc"]


def run_gc(
    start: Path, *, dry_run: bool, force: bool, environ: Mapping[str, str] | None = None
) -> int:
    env = os.environ if environ is None else environ
    paths = require_repo(start)
    cfg = config.load(paths.workdir, environ=env)
    items = plan(
        paths,
        force=force,
        keep_attempts_days=cfg.workspace.keep_attempts_days,
        root=worktree_root(cfg.workspace.root, env),
    )
    if not items:
        print("nothing of memfun's to clean up")
        return 0
    if dry_run:
        for item in items:
            print(_line("would remove" if item.remove else "kept", item))
        return 0
    outcomes = apply(paths, items, on_outcome=_show)
    return 1 if any(o.error for o in outcomes) else 0


def _show(outcome: GcOutcome) -> None:
    item = outcome.item
    if outcome.error:
        print(_line("not removed", item, f"; it could not be: {outcome.error}"), flush=True)
    else:
        print(_line("removed" if outcome.removed else "kept", item), flush=True)


def _line(action: str, item: GcItem, extra: str = "") -> str:
    where = f" ({item.path})" if item.path and item.path != item.name else ""
    return f"{action:<12} {item.kind:<8} {item.name}{where} — {item.reason}{extra}"
