"""`memfun doctor`'s checks: plain functions returning typed results; front ends render them.

Each check looks at one thing a task needs (git, the repository, the configuration, the model
endpoint, the sandbox, linters, the backend's storage) and, when something is wrong, says how to
fix it. Nothing here reaches the network unless `online` is asked for; then the model endpoint
gets exactly one request.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from memfun_git.config import Config, LLMConfig, SandboxConfig, load
from memfun_git.errors import ConfigError, MemfunError, RepoError
from memfun_git.gitops.git import git_program, run_git
from memfun_git.gitops.repo import RepoPaths, require_repo, state_dir
from memfun_git.sandbox.bubblewrap import find_bwrap

__all__ = [
    "LINTERS",
    "Check",
    "Status",
    "check_backend",
    "check_config",
    "check_git",
    "check_linters",
    "check_model",
    "check_repository",
    "check_sandbox",
    "run_checks",
]

LINTERS = ("ruff", "eslint", "go", "cargo")
_SET_LOCAL = 'set [sandbox] backend = "local" (commands then run unisolated)'


class Status(Enum):
    OK = "ok"
    INFO = "info"
    """Neither good nor bad, e.g. a linter this project may not need."""
    WARNING = "warning"
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str
    """What was found."""
    fix: str = ""
    """What to do about it, when something is wrong."""


def run_checks(
    start: Path, *, online: bool = False, environ: Mapping[str, str] | None = None
) -> list[Check]:
    """Every check, in the order shown; `online` lets the model check send one request."""
    env = os.environ if environ is None else environ
    checks = [check_git(env)]
    repo_check, paths = check_repository(start)
    checks.append(repo_check)
    config_check, cfg = check_config(paths.workdir if paths else None, env)
    checks.append(config_check)
    if cfg is None:
        checks += [
            _not_checked(name, "the configuration does not load") for name in ("model", "sandbox")
        ]
    else:
        checks += [check_model(cfg.llm, env, online=online), check_sandbox(cfg.sandbox, env)]
    checks += check_linters(env)
    checks.append(check_backend(cfg, paths))
    return checks


def check_git(environ: Mapping[str, str]) -> Check:
    """git as memfun itself finds and runs it (`gitops.git`)."""
    git = git_program(environ)
    if git is None:
        return Check("git", Status.FAILURE, "git is not on PATH", "install git, then run again")
    try:
        done = run_git(["--version"], cwd=None, environ=environ, timeout=10, check=False)
    except RepoError as exc:
        return Check("git", Status.FAILURE, f"{git} does not run ({exc.message})", "reinstall git")
    version = done.stdout.strip() or f"{git} exited with {done.returncode}"
    return Check("git", Status.OK if done.returncode == 0 else Status.FAILURE, version)


def check_repository(start: Path) -> tuple[Check, RepoPaths | None]:
    """The repository containing `start`: found, with a working tree, with a commit."""
    try:
        paths = require_repo(start)
    except RepoError as exc:
        return Check("repository", Status.FAILURE, exc.message, exc.hint), None
    if paths.unborn:
        return Check(
            "repository",
            Status.FAILURE,
            f"{paths.workdir} has no commits yet",
            "make a first commit: memfun branches its work from one",
        ), paths
    return Check("repository", Status.OK, str(paths.workdir)), paths


def check_config(root: Path | None, environ: Mapping[str, str]) -> tuple[Check, Config | None]:
    try:
        cfg = load(root, environ=environ)
    except ConfigError as exc:
        return Check("config", Status.FAILURE, exc.message, exc.hint), None
    sources = ", ".join(cfg.sources) or "no file or variable"
    return Check("config", Status.OK, f"loads (built-in defaults, {sources})"), cfg


def check_model(llm: LLMConfig, environ: Mapping[str, str], *, online: bool = False) -> Check:
    """Provider, model and key configured; with `online`, one real call answered."""
    from memfun_git.llm.lm import endpoint

    if llm.provider is None or not llm.model:
        return Check(
            "model",
            Status.FAILURE,
            "no model is configured",
            "run `memfun init`, or set [llm] provider and model in memfun.toml",
        )
    where = f"{llm.provider} {llm.model} at {endpoint(llm)}"
    name = llm.key_env
    has_key = bool(name and environ.get(name, "").strip())
    if not has_key and (llm.provider in ("anthropic", "openai") or llm.api_key_env):
        return Check(
            "model",
            Status.FAILURE,
            f"{where}: ${name} is not set",
            f"export {name}=<your key>, or name another variable in [llm] api_key_env",
        )
    key = f"key in ${name}" if has_key else "no key needed"
    if not online:
        return Check("model", Status.OK, f"{where}, {key} (not contacted; --online calls it)")
    from memfun_git.llm.session import LMSession

    began = time.monotonic()
    try:
        # One call, no retries: the doctor reports what happened, it does not insist.
        session = LMSession.from_config(dataclasses.replace(llm, num_retries=0), dict(environ))
        session.predict("doctor", "question -> answer", question="ping")
    except MemfunError as exc:
        return Check("model", Status.FAILURE, exc.message, exc.hint)
    return Check("model", Status.OK, f"{where} answered in {time.monotonic() - began:.1f} s")


def check_sandbox(sandbox: SandboxConfig, environ: Mapping[str, str]) -> Check:
    """The configured sandbox backend can isolate a command."""
    if sandbox.backend == "local":
        return Check(
            "sandbox",
            Status.WARNING,
            "local backend: commands the model proposes run unisolated on this machine",
            'install bubblewrap and set [sandbox] backend = "bubblewrap"',
        )
    path = _path(environ)
    bwrap = find_bwrap(environ)
    if bwrap is None:
        install = (
            "bubblewrap does not exist on macOS"
            if sys.platform == "darwin"
            else "install bubblewrap (apt-get install bubblewrap, dnf install bubblewrap)"
        )
        return Check(
            "sandbox",
            Status.FAILURE,
            "bubblewrap: bwrap is not on PATH",
            f"{install}, or {_SET_LOCAL}",
        )
    # The options every sandboxed command uses: a container that refuses one (a fresh /proc
    # is the usual one) must show up here, not at the first task.
    command = [
        bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
        "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp", "true",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            command, env={"PATH": path}, capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check(
            "sandbox",
            Status.FAILURE,
            f"bubblewrap: {bwrap} did not run ({exc})",
            f"reinstall bubblewrap, or {_SET_LOCAL}",
        )
    if done.returncode != 0:
        why = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        return Check(
            "sandbox",
            Status.FAILURE,
            f"bubblewrap cannot make a sandbox here: {why}",
            "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1; "
            f"on Ubuntu 24.04 an AppArmor profile for bwrap), or {_SET_LOCAL}",
        )
    return Check("sandbox", Status.OK, f"bubblewrap: {bwrap} isolates commands (no network)")


def check_linters(environ: Mapping[str, str]) -> list[Check]:
    """Which linters are on PATH: information, since a project needs only its own."""
    path = _path(environ)
    checks: list[Check] = []
    for name in LINTERS:
        found = shutil.which(name, path=path)
        if found:
            checks.append(Check(f"linter {name}", Status.OK, found))
        else:
            checks.append(
                Check(
                    f"linter {name}", Status.INFO, "not found (needed only by projects that use it)"
                )
            )
    return checks


def check_backend(cfg: Config | None, paths: RepoPaths | None) -> Check:
    """The configured backend's storage: for sqlite, its folder takes a database."""
    if cfg is None:
        return _not_checked("backend", "the configuration does not load")
    if paths is None:
        return _not_checked("backend", "no repository")
    folder = state_dir(paths)
    if cfg.backend.sqlite_path:
        db = Path(cfg.backend.sqlite_path).expanduser()
        folder = (db if db.is_absolute() else (paths.workdir or paths.common_dir) / db).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with (
            tempfile.TemporaryDirectory(prefix=".doctor-", dir=folder) as scratch,
            contextlib.closing(sqlite3.connect(Path(scratch) / "probe.db")) as probe,
        ):
            probe.execute("pragma journal_mode=wal")
            probe.execute("create table probe (x)")
            probe.commit()
    except (OSError, sqlite3.Error) as exc:
        return Check(
            "backend",
            Status.FAILURE,
            f"sqlite: cannot write a database in {folder} ({exc})",
            "check that folder's permissions and free space, or set [backend] sqlite_path",
        )
    return Check("backend", Status.OK, f"sqlite {sqlite3.sqlite_version}: {folder} is writable")


def _not_checked(name: str, why: str) -> Check:
    return Check(name, Status.WARNING, f"not checked: {why}")


def _path(environ: Mapping[str, str]) -> str:
    return environ.get("PATH", os.defpath)
