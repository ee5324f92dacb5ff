"""`memfun demo [--dir DIR]`: see a whole task happen, with no model and no setup.

A thin front end over `memfun_git.demo` and the engine: the same progress and summary as
`memfun run`, then where the sample is and the commands to look at what the task did.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from memfun_git.errors import UsageError

__all__ = ["run_demo"]


def run_demo(
    folder: Path | None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    from memfun_git import config
    from memfun_git.cli.handler import error_line
    from memfun_git.cli.progress import CallSpinner
    from memfun_git.cli.render import TaskProgress, print_summary
    from memfun_git.demo import copy_sample
    from memfun_git.demo.answers import FIX, REQUEST, REVIEW, SOLVE
    from memfun_git.engine import Engine
    from memfun_git.llm.scripted import Answer, scripted_lm
    from memfun_git.sandbox.bubblewrap import find_bwrap
    from memfun_git.tasks import Task

    out = sys.stdout if stdout is None else stdout
    env = dict(os.environ if environ is None else environ)
    target = _target(folder)
    # ruff ships with memfun: the sample has no environment of its own.
    env["PATH"] = os.pathsep.join(filter(None, [env.get("PATH", ""), _own_bin()]))
    overrides: dict[str, object] = {"llm.model": "recorded-answers"}
    local = find_bwrap(env) is None
    if local:
        overrides |= {"sandbox.backend": "local", "sandbox.allow": ("ruff",)}
    copy_sample(target)
    # The user's MEMFUN_* settings (a model, a sandbox) are not the demo's.
    settings = {k: v for k, v in env.items() if not k.startswith("MEMFUN_")}
    cfg = config.load(target, environ=settings, overrides=overrides)
    out.write(f"memfun demo: a copy of the textstats sample in {target}\n")
    out.write(
        "The model's answers are recorded: no model is called, nothing leaves this machine.\n"
    )
    if local:
        out.write(
            "bubblewrap is not installed: the demo lints its own shipped sample with the local\n"
            "backend (no isolation). Real tasks need bubblewrap: apt-get install bubblewrap.\n"
        )
    out.write(f'\nmemfun run "{REQUEST}"\n\n')
    out.flush()
    lm = scripted_lm(
        [
            Answer(raw=SOLVE, step="solve"),
            Answer(raw=FIX, step="fix"),
            Answer(raw=REVIEW, step="review"),
        ]
    )
    task = Task.create(REQUEST, target)
    with CallSpinner(environ=env) as spinner:
        progress = TaskProgress(spinner)
        result = Engine(cfg, environ=env, lm=lm, emit=progress).run(task)
    print_summary(result, out, env)
    if not result.ok:
        error_line(result.error)
        return 1
    out.write(
        "\nLook at what the task did:\n"
        f"  cd {target}\n"
        f"  memfun show {task.id}\n"
        f"  memfun diff {task.id}\n"
        f"  git log --oneline {result.branch}\n"
        f"  memfun merge {task.id}      # take it into main\n"
    )
    return 0


def _target(folder: Path | None) -> Path:
    if folder is None:
        return Path(tempfile.mkdtemp(prefix="memfun-demo-")) / "textstats"
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise UsageError(
            f"{folder} is not an empty folder", "pass --dir a new or empty folder for the demo"
        )
    return folder.absolute()


def _own_bin() -> str:
    """The folder of memfun's own interpreter (its virtualenv's bin, where ruff is)."""
    return str(Path(sys.executable).parent)
