"""`memfun hook review`, `memfun hook install`, `memfun hook uninstall`.

`review` prints each finding as `path:line: severity: message` (the form every front end
prints), the files left unreviewed, and one closing line; exit 1 when a finding reaches
`[hook] threshold` (or when nothing could be reviewed and `[hook] block_on_llm_error` is true),
else 0. It never changes a file.

`install` writes the plain git hook shipped in `memfun_git/hooks/` for people who do not use
the pre-commit framework, where git looks for hooks (`core.hooksPath` honoured). A hook that
is there already is never overwritten: it is renamed `pre-commit.memfun-chained` and runs
first (its failure stops the commit, as before). `uninstall` removes memfun's hook and puts
the chained one back.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from memfun_git.errors import RepoError, UsageError
from memfun_git.gitops.repo import require_repo

__all__ = ["print_verdict", "run_hook_install", "run_hook_review", "run_hook_uninstall"]

HOOK = "pre-commit"
CHAINED = "pre-commit.memfun-chained"
_MARK = "# memfun-git pre-commit hook"


def run_hook_review(
    start: Path,
    *,
    threshold: str | None = None,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
) -> int:
    """The hook's review of the staged change: `memfun review --staged`."""
    from memfun_git.cli.review import run_review

    return run_review(
        start, staged_only=True, threshold=threshold, json_out=json_out, environ=environ
    )


def print_verdict(verdict: Any, *, json_out: bool = False, what: str = "") -> int:
    """Print a review's verdict as the hook does (each finding, the files left unreviewed,
    one closing line; or JSON); its exit code. `what`: the change reviewed, when it is not
    the staged one (a commit is then not what is blocked)."""
    from memfun_git.redact import redact

    if json_out:
        print(redact(json.dumps(verdict.as_dict(), ensure_ascii=False, indent=2)))
        return verdict.exit_code
    for finding in verdict.findings:
        print(redact(finding.render()))
    if verdict.unreviewed:
        print(f"memfun review: not reviewed (over [hook] max_diff_bytes): "
              f"{', '.join(verdict.unreviewed)}")  # fmt: skip
    print(_closing(verdict, what), file=sys.stderr if verdict.skipped else sys.stdout)
    return verdict.exit_code


def _closing(verdict: Any, what: str) -> str:
    """The last line: what was decided, and why."""
    if verdict.skipped:
        policy = "[hook] block_on_llm_error = " + ("true" if verdict.blocked else "false")
        if what:
            outcome = "exit 1" if verdict.blocked else "exit 0"
        else:
            outcome = "the commit is blocked" if verdict.blocked else "the commit goes ahead"
        return f"memfun review: not reviewed: {verdict.skipped} — {outcome} ({policy})"
    if not verdict.paths:
        return f"memfun review: no change in {what}" if what else "memfun review: nothing staged"
    cached = " (cached)" if verdict.cached else ""
    counts = _counts(verdict.findings)
    if verdict.blocked:
        blocking = len(verdict.blocking)
        if what:
            return (f"memfun review: {counts}{cached} — {blocking} at or over "
                    f"{verdict.threshold} ([hook] threshold) in {what}")  # fmt: skip
        return (
            f"memfun review: {counts}{cached} — commit blocked: {blocking} at or over "
            f"{verdict.threshold} ([hook] threshold; SKIP={_id()} git commit to skip it)"
        )
    return f"memfun review: {counts or 'no findings'}{cached} — {verdict.summary}".rstrip(" —")


def _id() -> str:
    from memfun_git.hook import HOOK_ID

    return HOOK_ID


def _counts(findings: Any) -> str:
    by: dict[str, int] = {}
    for finding in findings:
        by[finding.severity] = by.get(finding.severity, 0) + 1
    parts = [f"{n} {sev}{'s' if n > 1 else ''}" for sev, n in sorted(by.items()) if n]
    return ", ".join(parts)


def _hooks_dir(start: Path) -> Path:
    """Where git runs hooks from for this repository (`core.hooksPath` honoured)."""
    from memfun_git.gitops.git import git_environ

    paths = require_repo(start)
    cwd = paths.workdir or paths.common_dir
    done = subprocess.run(
        ["git", "--no-optional-locks", "rev-parse", "--git-path", "hooks"],
        cwd=cwd,
        env=git_environ(os.environ),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RepoError(f"git cannot say where hooks go: {done.stderr.strip()}", "")
    folder = Path(done.stdout.strip())
    return folder if folder.is_absolute() else cwd / folder


def run_hook_install(start: Path, *, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    folder = _hooks_dir(start)
    hook = folder / HOOK
    chained = folder / CHAINED
    ours = _is_ours(hook)
    if hook.exists() and not ours:
        if chained.exists() or chained.is_symlink():
            raise UsageError(
                f"{hook} and {chained} are both there already",
                f"merge them into one hook, or remove {chained}, then install again",
            )
        hook.rename(chained)
        print(f"Kept your hook: it runs first, as {chained}")
    folder.mkdir(parents=True, exist_ok=True)
    text = resources.files("memfun_git.hooks").joinpath(HOOK).read_text(encoding="utf-8")
    new = hook.with_name(f".{HOOK}.memfun-new")
    new.write_text(text.replace("@MEMFUN@", _memfun_path(env)), encoding="utf-8")
    new.chmod(0o755)
    new.replace(hook)
    print(f"{'Updated' if ours else 'Installed'} {hook}: each commit's staged change is reviewed")
    return 0


def run_hook_uninstall(start: Path) -> int:
    folder = _hooks_dir(start)
    hook = folder / HOOK
    chained = folder / CHAINED
    if not _is_ours(hook):
        state = "is not memfun's" if hook.exists() else "is not there"
        raise UsageError(f"{hook} {state}: nothing to uninstall", "")
    hook.unlink()
    if chained.exists() or chained.is_symlink():
        chained.rename(hook)
        print(f"Removed memfun's hook; your hook is back at {hook}")
    else:
        print(f"Removed {hook}")
    return 0


def _is_ours(hook: Path) -> bool:
    try:
        return _MARK in hook.read_text(encoding="utf-8", errors="replace")[:300]
    except OSError:
        return False


def _memfun_path(environ: Mapping[str, str]) -> str:
    """The `memfun` the hook falls back on when none is on PATH at commit time."""
    found = shutil.which("memfun", path=environ.get("PATH"))
    if found:
        return os.path.abspath(found)
    script = Path(sys.argv[0])
    return str(script.resolve()) if script.name == "memfun" else "memfun"
