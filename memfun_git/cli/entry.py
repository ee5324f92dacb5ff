"""The `memfun` console script.

`memfun hook review` runs at every `git commit`, so it takes a short path: its few options are
read here, without typer (whose parameter handling loads pydantic: about 0.15 s of start-up),
and it runs under the same error handler as every command. Anything else, and any option this
path does not know (`--help`, `-v`), goes to the full command line (`cli/main.py`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

__all__ = ["main", "quick_hook_review"]


def main() -> None:
    """Console-script entry point."""
    args = sys.argv[1:]
    quick = quick_hook_review(args)
    if quick is not None:
        sys.exit(_run_quick(*quick))
    from memfun_git.cli.main import run

    sys.exit(run(args))


def quick_hook_review(args: Sequence[str]) -> tuple[Path | None, str | None, bool] | None:
    """(repo, threshold, json) of a plain `memfun [-C DIR] hook review [--threshold S]
    [--json]`; None for anything else."""
    rest = list(args)
    repo: Path | None = None
    if rest[:1] in (["-C"], ["--repo"]) and len(rest) > 1:
        repo, rest = Path(rest[1]), rest[2:]
    elif rest and rest[0].startswith("--repo="):
        repo, rest = Path(rest[0].removeprefix("--repo=")), rest[1:]
    if rest[:2] != ["hook", "review"]:
        return None
    threshold: str | None = None
    as_json = False
    options = rest[2:]
    while options:
        option = options.pop(0)
        if option == "--json":
            as_json = True
        elif option == "--threshold" and options:
            threshold = options.pop(0)
        elif option.startswith("--threshold="):
            threshold = option.removeprefix("--threshold=")
        else:
            return None
    return repo, threshold, as_json


def _run_quick(repo: Path | None, threshold: str | None, as_json: bool) -> int:
    from memfun_git.cli.handler import handle_errors, log_dir
    from memfun_git.cli.hook import run_hook_review

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    start = repo if repo is not None else Path.cwd()
    with handle_errors(lambda: log_dir(start)) as result:
        result[0] = run_hook_review(start, threshold=threshold, json_out=as_json)
    return result[0]
