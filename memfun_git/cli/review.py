"""`memfun review [PATH | --staged | REF]`: a change reviewed by the program the pre-commit
hook and the GitHub Action use (`quality.review.review_change` through `hook.review_diff`:
the same context, conventions, finding format, `[hook] threshold`, cache and policy).

- `--staged`: what is staged, exactly as the hook reviews it (same verdict, same cache);
- `REF`: a commit (against its first parent), `A..B` or `A...B`;
- `PATH`: the working tree's uncommitted changes (staged or not) under a file or folder;
- nothing: all the working tree's uncommitted changes.

Findings print as `path:line: severity: message`; exit 1 when one reaches the threshold. It
never changes a file, the index or a ref.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from memfun_git.errors import UsageError
from memfun_git.gitops.repo import require_repo

__all__ = ["run_review"]

_ASK = "review it for bugs, security problems, missing parts and broken project conventions."


def run_review(
    start: Path,
    target: str | None = None,
    *,
    staged_only: bool = False,
    threshold: str | None = None,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
) -> int:
    from memfun_git.cli.hook import print_verdict
    from memfun_git.cli.progress import CallSpinner
    from memfun_git.gitops.staged import Staged, committed, staged, uncommitted
    from memfun_git.hook import INTENT, review_diff
    from memfun_git.redact import register_environ

    env = os.environ if environ is None else environ
    register_environ(env)
    if staged_only and target:
        raise UsageError(
            f"--staged and {target} name two changes", "review one: --staged, a path or a commit"
        )
    overrides: dict[str, Any] = {"hook.threshold": threshold} if threshold else {}
    paths = require_repo(start)
    top = paths.workdir or paths.common_dir
    source: Callable[[Path], Staged]
    if staged_only:
        source, intent, what = staged, INTENT, ""
    elif target is None:
        source = uncommitted
        intent = f"The developer's uncommitted changes (no written request): {_ASK}"
        what = "the working tree"
    elif (place := _inside(start, target, top)) is not None:
        rel = place.relative_to(top.resolve()).as_posix()
        source = partial(uncommitted, path="" if rel == "." else rel)
        intent = f"The developer's uncommitted changes to {rel} (no written request): {_ASK}"
        what = rel
    else:
        committed(top, target)  # a bad name is one clear line before any model is asked
        source = partial(committed, spec=target)
        intent = f"The developer's commits {target} (no written request): {_ASK}"
        what = target
    with CallSpinner(environ=env) as spinner:
        verdict = review_diff(
            start, source, intent, environ=env, overrides=overrides, observer=spinner
        )
    return print_verdict(verdict, json_out=json_out, what=what)


def _inside(start: Path, target: str, top: Path) -> Path | None:
    """`target` as an existing path inside the repository's working tree, else None."""
    place = Path(target) if Path(target).is_absolute() else start / target
    if not place.exists():
        return None
    real = place.resolve()
    if not real.is_relative_to(top.resolve()):
        raise UsageError(f"{target} is outside the repository", f"name a path under {top}")
    return real
