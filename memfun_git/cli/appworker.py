"""`memfun app worker`: the GitHub App's jobs, leased from the tier `memfun app serve` queues
them on, turned into draft pull requests (`github/issue_task.py`).

It runs in the App's home folder (where its memfun.toml sets [backend], [llm] and [github]),
keeping the repositories it works on under `repos/<owner>/<name>`; the sqlite tier's file is
found as `memfun app serve` finds it (the git common dir when the home is in a repository,
else `.memfun/` in the home).
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from memfun_git import config

__all__ = ["run_app_worker"]


def run_app_worker(
    home: Path,
    *,
    max_tasks: int | None = None,
    idle_exit: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    from memfun_git.github.issue_task import IssueTasks
    from memfun_git.gitops.repo import discover
    from memfun_git.redact import register_environ
    from memfun_git.worker import run_worker

    env = dict(os.environ if environ is None else environ)
    paths = discover(home) if home.exists() else None
    cfg = config.load(paths.workdir if paths and paths.workdir else home, environ=env)
    state_dir = paths.common_dir if paths is not None else home.resolve() / ".memfun"
    register_environ(env, [cfg.llm.key_env] if cfg.llm.key_env else [])
    runner = IssueTasks(home.resolve(), cfg, env)  # UsageError: no App id or key
    runner.check_ready()  # no model: said before the banner
    print(
        f"memfun app worker on the {cfg.backend.tier} tier ({cfg.backend.namespace}), "
        f"repositories in {home.resolve() / 'repos'}; Ctrl-C stops it",
        file=sys.stderr,
    )
    stats = asyncio.run(
        run_worker(
            None,
            cfg,
            environ=env,
            runner=runner,
            max_tasks=max_tasks,
            idle_exit=idle_exit,
            state_dir=state_dir,
        )
    )
    print(
        f"memfun app worker: {stats.done} done, {stats.failed} failed, {stats.duplicates} "
        "already done elsewhere",
        file=sys.stderr,
    )
    return 0
