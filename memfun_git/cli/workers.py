"""`memfun submit`, `memfun worker`, `memfun status`: the task queue of the configured tier."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memfun_git import config
from memfun_git.gitops.repo import require_repo

__all__ = ["run_status", "run_submit", "run_worker_command"]


def _setup(start: Path, environ: Mapping[str, str] | None) -> tuple[Any, Any, dict[str, str]]:
    from memfun_git.redact import register_environ

    env = dict(os.environ if environ is None else environ)
    paths = require_repo(start)
    cfg = config.load(paths.workdir, environ=env)
    register_environ(env, [cfg.llm.key_env] if cfg.llm.key_env else [])
    return paths, cfg, env


def run_submit(
    start: Path,
    request: str,
    *,
    base: str = "HEAD",
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
) -> int:
    from memfun_git.worker import submit

    paths, cfg, _ = _setup(start, environ)
    done = asyncio.run(submit(paths, cfg, request, base=base))
    if json_out:
        print(json.dumps({"id": done.task_id, "base": done.base, "tier": cfg.backend.tier}))
    else:
        print(f"Queued {done.task_id} from {done.base[:7]} on the {cfg.backend.tier} tier")
        print(f"A worker pushes it as memfun/{done.task_id}; `memfun status` shows the queue.")
    return 0


def run_worker_command(
    start: Path,
    *,
    remote: str = "origin",
    max_tasks: int | None = None,
    idle_exit: float | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    from memfun_git.worker import run_worker

    paths, cfg, env = _setup(start, environ)
    print(
        f"memfun worker on the {cfg.backend.tier} tier ({cfg.backend.namespace}), pushing to "
        f"{remote}; Ctrl-C stops it",
        file=sys.stderr,
    )
    stats = asyncio.run(
        run_worker(paths, cfg, environ=env, remote=remote, max_tasks=max_tasks, idle_exit=idle_exit)
    )
    print(
        f"memfun worker: {stats.done} done, {stats.failed} failed, {stats.duplicates} "
        "already done elsewhere",
        file=sys.stderr,
    )
    return 0


def run_status(
    start: Path, *, json_out: bool = False, environ: Mapping[str, str] | None = None
) -> int:
    paths, cfg, _ = _setup(start, environ)
    status = asyncio.run(_status(cfg, paths.common_dir))
    if json_out:
        print(json.dumps(status, indent=2))
        return 0
    print(f"tier: {status['tier']} (namespace {status['namespace']})")
    print(f"queued or running: {status['depth']}")
    print(f"workers live: {len(status['workers'])}")
    for worker in status["workers"]:
        print(f"  {worker['id']}  {worker['host']}  seen {worker['seen_ago']:.0f} s ago")
    print(f"running: {len(status['running'])}")
    for task_id, worker in status["running"].items():
        print(f"  {task_id}  on {worker}")
    print(f"done: {status['done']}")
    print(f"failed (dead letter): {len(status['dead'])}")
    for dead in status["dead"]:
        print(f"  {dead['id']}  after {dead['attempts']} attempt(s): {dead['error']}")
    return 0


async def _status(cfg: Any, common_dir: Path) -> dict[str, Any]:
    from memfun_git.backends import open_backend

    backend = await open_backend(cfg.backend, common_dir)
    try:
        state = backend.state
        running = {}
        for key in await state.keys("running/"):
            worker = await state.get(key)
            if worker is not None:
                running[key.removeprefix("running/")] = worker.decode()
        now = time.time()
        return {
            "tier": cfg.backend.tier,
            "namespace": cfg.backend.namespace,
            "depth": await backend.queue.depth(),
            "workers": [
                {"id": a.agent_id, "host": a.info.get("host", ""), "seen_ago": now - a.seen}
                for a in await backend.agents.live()
            ],
            "running": running,
            "done": len(await state.keys("result/")),
            "dead": [
                {"id": d.task_id, "attempts": d.attempts, "error": d.error}
                for d in await backend.queue.dead()
            ],
        }
    finally:
        await backend.close()
