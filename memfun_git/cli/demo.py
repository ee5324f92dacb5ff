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
    # The gate lints the sample with the ruff that ships with memfun (a dependency), found
    # first: the sample has no environment of its own, and an active virtualenv's ruff (the
    # gate looks there before PATH) or another on PATH is the user's, not the demo's.
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = os.pathsep.join(filter(None, [_ruff_folder(), env.get("PATH", "")]))
    overrides: dict[str, object] = {"llm.model": "recorded-answers"}
    local = find_bwrap(env) is None
    if local:
        overrides |= {"sandbox.backend": "local", "sandbox.allow": ("ruff",)}
    try:
        copy_sample(target)
    except OSError as fault:
        raise UsageError(
            f"cannot write the sample into {target}: {fault.strerror or fault}",
            "pass --dir a folder you can write to",
        ) from None
    # Only the demo's own settings: the user's ~/.memfun/config.toml and MEMFUN_* variables
    # configure their model, sandbox and gate, not the demo's (a `[gate] fix_rounds = 0` or
    # `[workspace] setup` there would break it). HOME is the new sample, which has no
    # .memfun/config.toml; worktrees still go under the user's cache (the engine's `env`).
    cfg = config.load(target, environ={"HOME": str(target)}, overrides=overrides)
    out.write(f"memfun demo: a copy of the textstats sample in {target}\n")
    out.write(
        "The model's answers are recorded: no model is called, nothing leaves this machine.\n"
    )
    if local:
        out.write(
            "bubblewrap is not installed: the local backend runs ruff without isolation, on this\n"
            "sample and the recorded answers only (memfun's own, not a model's); real tasks need\n"
            'bubblewrap (apt-get install bubblewrap) or [sandbox] backend = "local" by choice.\n'
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
        "\nThe model's answers were recorded (no model was called). Look at what the task did:\n"
        f"  cd {target}\n"
        f"  memfun show {task.id}\n"
        f"  memfun diff {task.id}\n"
        f"  git log --oneline {result.branch}\n"
        f"  memfun merge {task.id}      # take it into main\n"
    )
    return 0


def _target(folder: Path | None) -> Path:
    """The sample's folder: `folder` (new, or an empty folder) or a new temporary one."""
    if folder is None:
        return Path(tempfile.mkdtemp(prefix="memfun-demo-")) / "textstats"
    folder = folder.absolute()
    hint = "pass --dir a new or empty folder for the demo"
    try:
        if folder.exists() and not folder.is_dir():
            raise UsageError(f"{folder} is a file, not a folder", hint)
        if folder.is_dir() and any(folder.iterdir()):
            raise UsageError(f"{folder} is not an empty folder", hint)
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as fault:
        raise UsageError(f"cannot use {folder}: {fault.strerror or fault}", hint) from None
    return folder


def _ruff_folder() -> str:
    """The folder of the ruff binary installed with memfun (in its virtualenv's bin, or the
    user scheme's ~/.local/bin for `pip install --user`); else memfun's interpreter's."""
    from ruff import find_ruff_bin

    try:
        return str(Path(find_ruff_bin()).parent)
    except FileNotFoundError:
        return str(Path(sys.executable).parent)
