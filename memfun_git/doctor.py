"""`memfun doctor`'s checks: plain functions returning typed results; front ends render them.

Each check looks at one thing a task needs (git, the repository, the configuration, the model
endpoint, the sandbox, the project's linters, the backend's storage, the GitHub App's secrets
where the App is set up) and, when something is wrong, says how to fix it. git, bubblewrap
and linters are found exactly as the product finds them. No model is called unless `online`
is asked for; then the endpoint gets exactly one request. Offline, an Ollama model is looked
up in that Ollama's own list of pulled models.
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
from typing import Any

from memfun_git.config import (
    BackendConfig,
    Config,
    GitHubConfig,
    LLMConfig,
    SandboxConfig,
    WorkspaceConfig,
    load,
)
from memfun_git.errors import BackendUnavailable, ConfigError, MemfunError, RepoError
from memfun_git.gitops.git import git_program, run_git
from memfun_git.gitops.repo import RepoPaths, require_repo, state_dir
from memfun_git.ollama import has_model, probe_ollama, root_of
from memfun_git.sandbox.bubblewrap import find_bwrap

__all__ = [
    "Check",
    "Status",
    "check_backend",
    "check_config",
    "check_git",
    "check_github_app",
    "check_linters",
    "check_model",
    "check_pre_commit_hooks",
    "check_repository",
    "check_sandbox",
    "check_workspace",
    "run_checks",
]

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
    """Every check, in the order shown; `online` lets the model check send one request.

    A fault in one section of the configuration leaves the checks that need only other
    sections running; those that need it say they were not checked."""
    env = os.environ if environ is None else environ
    checks = [check_git(env)]
    repo_check, paths = check_repository(start)
    checks.append(repo_check)
    tree = paths.workdir if paths else None
    config_check, cfg = check_config(tree, env)
    checks.append(config_check)
    llm, why_not = _section(cfg, "llm")
    checks.append(
        _not_checked("model", why_not) if llm is None else check_model(llm, env, online=online)
    )
    sandbox, why_not = _section(cfg, "sandbox")
    checks.append(
        _not_checked("sandbox", why_not) if sandbox is None else check_sandbox(sandbox, env)
    )
    gate, _ = _section(cfg, "gate")
    if tree is not None:
        checks += check_linters(tree, env, configured=gate.linters if gate else ())
    workspace, _ = _section(cfg, "workspace")
    if tree is not None and workspace is not None:
        checks.append(check_workspace(tree, workspace))
    checks.append(check_backend(cfg, paths))
    github, _ = _section(cfg, "github")
    if github is not None and _app_in_use(github, env, cfg):
        checks.append(check_github_app(github, env))
    return checks


def _app_in_use(github: GitHubConfig, environ: Mapping[str, str], cfg: Config | None) -> bool:
    """The GitHub App is set up here: its variables are set, or [github] is configured."""
    names = (github.webhook_secret_env, github.app_id_env, github.private_key_env)
    configured = cfg is not None and any(k.startswith("github.") for k, _ in cfg.origins)
    return configured or any(environ.get(n) for n in names)


def check_github_app(github: GitHubConfig, environ: Mapping[str, str]) -> Check:
    """What `memfun app serve` and `memfun app worker` need: the webhook secret, the App's id
    and a private key that parses (GitHub is not contacted)."""
    from memfun_git.errors import UsageError
    from memfun_git.github.issue_task import AppCredentials

    if not environ.get(github.webhook_secret_env, "").strip():
        return Check(
            "github app", Status.FAILURE,
            f"${github.webhook_secret_env} is not set: `memfun app serve` will not start",
            f"export {github.webhook_secret_env} with the App's webhook secret",
        )  # fmt: skip
    try:
        creds = AppCredentials.from_env(github, environ)
    except UsageError as exc:
        return Check("github app", Status.FAILURE, exc.message, exc.hint)
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(creds.private_key.encode(), password=None)  # it loads: checked
    size = getattr(key, "key_size", 0)
    return Check(
        "github app", Status.OK,
        f"App {creds.app_id} at {creds.api_url}: webhook secret, id and a {size}-bit key set "
        "(GitHub not contacted)",
    )  # fmt: skip


def check_workspace(tree: Path, workspace: WorkspaceConfig) -> Check:
    """What each worktree gets beyond tracked files, and what this project suggests."""
    from memfun_git.gitops.environment import suggested, toml_list

    include, link = suggested(tree)
    wanted_include = [n for n in include if n not in workspace.include]
    wanted_link = [n for n in link if n not in workspace.link]
    parts = []
    if workspace.include or workspace.link:
        parts.append(f"include {list(workspace.include)}, link {list(workspace.link)}")
    if workspace.setup:
        parts.append(f"setup `{workspace.setup}`")
    detail = "; ".join(parts) or "tracked files only"
    fix = ""
    if wanted_include or wanted_link:
        lines = []
        if wanted_link:
            lines.append(f"link = {toml_list([*workspace.link, *wanted_link])}")
        if wanted_include:
            lines.append(f"include = {toml_list([*workspace.include, *wanted_include])}")
        fix = "this project would likely want in [workspace]: " + ", ".join(lines)
    return Check("workspace", Status.INFO if fix else Status.OK, detail, fix)


def _section(cfg: Config | None, name: str) -> tuple[Any, str]:
    """The section `name` of `cfg`, or None and why it cannot be used."""
    if cfg is None:
        return None, "the configuration does not load"
    if cfg.fault_of(name) is not None:
        return None, f"[{name}] has a fault (see config)"
    return getattr(cfg, name), ""


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
    """Every source of the configuration, checked whole; its first fault, if any.

    The Config is returned unless a whole file cannot be read: its sound sections still serve
    the other checks."""
    try:
        cfg = load(root, environ=environ)
    except ConfigError as exc:
        return Check("config", Status.FAILURE, exc.message, exc.hint), None
    try:
        cfg.check()
    except ConfigError as exc:
        return Check("config", Status.FAILURE, exc.message, exc.hint), cfg
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
    if not online and llm.provider == "ollama":
        return _check_ollama(llm, where)
    if not online:
        return Check("model", Status.OK, f"{where}, {key} (not contacted; --online calls it)")
    from memfun_git.llm.session import LMSession

    try:
        # One call, no retries: the doctor reports what happened, it does not insist.
        session = LMSession.from_config(dataclasses.replace(llm, num_retries=0), dict(environ))
        began = time.monotonic()  # the request alone, not the client's set-up (imports)
        session.predict("doctor", "question -> answer", question="ping")
    except MemfunError as exc:
        return Check("model", Status.FAILURE, exc.message, exc.hint)
    return Check("model", Status.OK, f"{where} answered in {time.monotonic() - began:.1f} s")


def _check_ollama(llm: LLMConfig, where: str) -> Check:
    """Offline, an Ollama model is checked in Ollama's own list (no model call): written by
    `memfun init` while Ollama was down, it may never have been pulled."""
    from memfun_git.llm.lm import endpoint

    root = root_of(endpoint(llm))
    models = probe_ollama(root, timeout=2.0)
    if models is None:
        return Check(
            "model",
            Status.FAILURE,
            f"{where}: no Ollama answers at {root}",
            "start Ollama (ollama serve), or set [llm] base_url to where it listens",
        )
    if not has_model(models, llm.model):
        pulled = f"; it has {', '.join(models[:5])}" if models else ""
        return Check(
            "model",
            Status.FAILURE,
            f"{where}: that Ollama has no model {llm.model}{pulled}",
            f"ollama pull {llm.model}, or set [llm] model to one it has",
        )
    return Check("model", Status.OK, f"{where}, pulled (not called; --online calls it)")


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


def check_linters(
    tree: Path, environ: Mapping[str, str], *, configured: tuple[str, ...] = ()
) -> list[Check]:
    """The project's linters as the quality gate picks them (`[gate] linters`, else detected
    from its files), each with the program a task would run: the user's tree's `.venv`, `venv`
    and `node_modules/.bin`, the active virtualenv, then PATH (`quality.linters`)."""
    from memfun_git.quality.linters import LINTERS, detect, looked_in

    try:
        linters = detect((), lambda rel: (tree / rel).exists(), configured)
    except ConfigError as exc:
        return [Check("linters", Status.FAILURE, exc.message, exc.hint)]
    if not linters:
        markers = ", ".join(linter.markers[0] for linter in LINTERS)
        return [
            Check(
                "linters",
                Status.INFO,
                f"none detected (no {markers} at {tree})",
                "name them in [gate] linters if the project has some",
            )
        ]
    search = os.pathsep.join(looked_in(tree, environ))
    checks: list[Check] = []
    for linter in linters:
        found = shutil.which(linter.program, path=search)
        if found:
            checks.append(Check(f"linter {linter.name}", Status.OK, found))
            if linter.name == "pre-commit":
                checks.append(check_pre_commit_hooks(tree, environ))
        else:
            checks.append(
                Check(
                    f"linter {linter.name}",
                    Status.FAILURE if configured else Status.WARNING,
                    f"{linter.program} is not in the project's environments nor on PATH",
                    f"install {linter.program} (in the project's .venv or node_modules, or on"
                    " PATH), else the quality gate "
                    + ("fails every task" if configured else "skips it"),
                )
            )
    return checks


def check_pre_commit_hooks(tree: Path, environ: Mapping[str, str]) -> Check:
    """Whether the hooks of the project's pre-commit configuration are installed in the
    user's pre-commit cache: the gate's sandboxed runs are offline and use it read-only."""
    from memfun_git.sandbox.precommit import CONFIG, not_installed, pre_commit_cache

    cache = pre_commit_cache(environ, environ.get("HOME") or str(Path.home()))
    missing = not_installed(tree / CONFIG, cache)
    if missing is None:
        return Check(
            "pre-commit hooks",
            Status.WARNING,
            f"{CONFIG} cannot be read",
            "fix it (`pre-commit validate-config`), else the gate's pre-commit run fails",
        )
    if missing:
        return Check(
            "pre-commit hooks",
            Status.WARNING,
            f"not installed in {cache}: {', '.join(missing)}",
            "run `pre-commit install-hooks` here: tasks run hooks offline, from that cache",
        )
    return Check("pre-commit hooks", Status.OK, f"installed in {cache}")


def check_backend(cfg: Config | None, paths: RepoPaths | None) -> Check:
    """The configured backend's storage: for sqlite, its folder takes a database."""
    backend, why_not = _section(cfg, "backend")
    if backend is None:
        return _not_checked("backend", why_not)
    if backend.tier in ("redis", "nats"):
        return _check_server(backend)
    if backend.tier == "in-process":
        return Check(
            "backend", Status.OK, "in-process: state lives in each memfun process (no workers)"
        )
    if paths is None:
        return _not_checked("backend", "no repository")
    folder = state_dir(paths)
    if backend.sqlite_path:
        db = Path(backend.sqlite_path).expanduser()
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


def _check_server(backend: BackendConfig) -> Check:
    """Redis or NATS: connect, set up the namespace's keys or streams, close."""
    import asyncio

    from memfun_git.backends import open_backend

    url = backend.redis_url if backend.tier == "redis" else backend.nats_url

    async def probe() -> int:
        opened = await open_backend(backend, None)
        try:
            return await opened.queue.depth()
        finally:
            await opened.close()

    try:
        depth = asyncio.run(asyncio.wait_for(probe(), timeout=15))
    except BackendUnavailable as exc:
        return Check("backend", Status.FAILURE, exc.message, exc.hint)
    except TimeoutError:
        return Check(
            "backend", Status.FAILURE, f"{backend.tier} at {url} did not answer in 15 s",
            "check the server, or set [backend] tier",
        )  # fmt: skip
    return Check(
        "backend", Status.OK,
        f"{backend.tier} at {url}, namespace {backend.namespace!r}: {depth} task(s) queued",
    )  # fmt: skip


def _not_checked(name: str, why: str) -> Check:
    return Check(name, Status.WARNING, f"not checked: {why}")


def _path(environ: Mapping[str, str]) -> str:
    return environ.get("PATH", os.defpath)
