"""`memfun run "<request>"`: a request becomes reviewed commits on `memfun/<id>`.

A thin front end: it builds the `Task` (a new one, or with `--task ID` a follow-up that
continues that task's branch), subscribes the renderer (`cli/render.py`) to the
engine's events, runs the engine and maps the result to output and an exit code: 0 done,
1 failed (the gate, the review, the model, the task), 2 bad input or configuration (raised
before the task starts), 130/143 interrupted (re-raised by the engine after it kept the
attempt). With `--merge`, a done task is then merged as `memfun merge` would. The summary,
or with `--json` the result as one JSON document, goes to stdout; progress and the error
line to stderr.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from memfun_git import config
from memfun_git.gitops.repo import require_repo
from memfun_git.redact import redact, register_environ

if TYPE_CHECKING:
    from memfun_git.tasks import SkillUse

__all__ = ["run_request"]


def run_request(
    start: Path,
    request: str,
    overrides: Mapping[str, Any],
    *,
    base: str | None = None,
    json_out: bool = False,
    trust_config_changes: bool = False,
    with_changes: bool = False,
    follow_up: str | None = None,
    merge: bool = False,
    tier: str = "auto",
    kind: str = "change",
    skill: SkillUse | None = None,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    from memfun_git.cli.handler import error_line
    from memfun_git.cli.progress import CallSpinner
    from memfun_git.cli.render import TaskProgress, print_summary
    from memfun_git.engine import Engine
    from memfun_git.errors import UsageError
    from memfun_git.tasks import Task

    env = os.environ if environ is None else environ
    out = sys.stdout if stdout is None else stdout
    if not request.strip():
        if kind == "fix":
            raise UsageError(
                "the bug report is empty",
                'say what goes wrong, e.g. memfun fix "mean() crashes on an empty list"',
            )
        raise UsageError(
            "the request is empty", 'say what to change, e.g. memfun run "add a --verbose flag"'
        )
    if kind == "fix":
        from memfun_git.tasks import fix_request

        request = fix_request(request)
    if base is not None and not base.strip():
        raise UsageError("--base is empty", "pass a branch, tag or commit, or leave --base out")
    if tier not in ("auto", "context-first", "workflow", "explore"):
        raise UsageError(
            f"--tier {tier} is not a tier", "use auto, context-first, workflow or explore"
        )
    paths = require_repo(start)
    assert paths.workdir is not None
    cfg = config.load(paths.workdir, environ=env, overrides=overrides)
    register_environ(env, [cfg.llm.key_env] if cfg.llm.key_env else [])
    options: dict[str, Any] = {
        "trust_config_changes": trust_config_changes,
        "with_changes": with_changes,
        "tier": tier,
        "kind": kind,
        "skill": skill,
    }
    if follow_up is not None:
        if base is not None:
            raise UsageError("--task and --base do not go together", "a follow-up continues "
                             "the task's branch: leave --base out")  # fmt: skip
        from memfun_git.tasklist import find_task

        earlier = find_task(paths, follow_up, cfg.backend)
        if not earlier.branch_exists:
            raise UsageError(
                f"{earlier.branch} is gone (undone, or removed by gc): there is nothing to "
                "continue",
                "start a new task",
            )
        if earlier.status == "running":
            raise UsageError(f"task {earlier.id} is still running", "wait for it to end")
        task = Task(earlier.id, request, paths.workdir, follow_up=True, **options)
    else:
        task = Task.create(request, paths.workdir, base=base or "HEAD", **options)
    with CallSpinner(environ=env) as spinner:
        progress = TaskProgress(spinner)
        confirm = progress.confirm if sys.stdin.isatty() else None
        engine = Engine(cfg, environ=env, emit=progress, confirm=confirm)
        try:
            result = engine.run(task)
        except KeyboardInterrupt:
            kept = progress.result.attempt if progress.result is not None else None
            if kept:
                error_line(f"the task's work so far is kept under {kept}")
            raise
    if json_out:
        print(redact(json.dumps(result.as_dict(), ensure_ascii=False, indent=2)), file=out)
    else:
        print_summary(result, out, env)
    if not result.ok:
        error_line(result.error)
        return 1
    if merge:
        from memfun_git.cli.tasks import run_merge

        return run_merge(start, task.id, environ=env, stdout=out)
    return 0
