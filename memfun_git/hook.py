"""The pre-commit review: the staged change reviewed before it becomes a commit.

`review_staged(start)` is what `memfun hook review` runs, from the pre-commit framework
(`.pre-commit-hooks.yaml`, id `memfun-review`) or from the plain git hook `memfun hook install`
writes. It reviews the index against HEAD (the empty tree on a first commit) with the review
program every front end uses (`quality.review.review_change`: one finding format, one
severity scale), the repository's remembered conventions (MEMORY.md, AGENTS.md...) and the
code map around the staged files as context. A finding at or over `[hook] threshold` blocks
the commit (exit 1). Nothing of the user's is changed: the staged tree is read with libgit2
(`gitops.staged`).

- The verdict is cached in the configured tier's state store (the clone's memfun.db by
  default; a redis or nats tier shares it with the team) for 30 days under `hook/<key>`,
  keyed by the staged tree, HEAD, the effective configuration ([hook], the model and its
  settings, memory on or off), and the remembered sources (MEMORY.md at HEAD and in the
  working tree, ~/.memfun/MEMORY.md): the same staged content under the same conditions
  answers at once, without a model call. Only reviews are cached, never a failure to review.
- A diff over `[hook] max_diff_bytes` is packed (whole files, most relevant first) and the
  files left out are named, never silently passed over.
- No model configured, running in CI (pre-commit.ci and most CI have no model to reach), an
  unreachable model, a time-out (`[hook] timeout_seconds`), or an answer that cannot be read:
  one line saying so, then `[hook] block_on_llm_error` decides (false by default: the commit
  goes ahead, with the warning).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git import __version__, config
from memfun_git.errors import LLMError
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.staged import Staged, staged
from memfun_git.quality.verdicts import Finding, at_least

if TYPE_CHECKING:
    from memfun_git.backends.sync import SyncState
    from memfun_git.config import BackendConfig, Config, Severity
    from memfun_git.gitops.repo import RepoPaths
    from memfun_git.llm.observe import LMObserver

__all__ = ["HOOK_ID", "INTENT", "HookVerdict", "review_diff", "review_staged"]

HOOK_ID = "memfun-review"
"""The hook's id in `.pre-commit-hooks.yaml` (`SKIP=memfun-review` skips it)."""

INTENT = (
    "The developer's own change, staged for a commit (there is no written request): review it "
    "for bugs, security problems, missing parts and broken project conventions."
)
CONTEXT_TOKENS = 3_000
"""Tokens of the code map around the staged files that the review reads beside the diff."""
_KEEP_SECONDS = 30 * 86_400
_STORE_SECONDS = 2.0
"""How long the hook waits for a shared tier's server before it goes on without its cache."""
_TRUE = ("1", "true", "yes", "on")

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HookVerdict:
    threshold: Severity
    findings: tuple[Finding, ...] = ()
    summary: str = ""
    unreviewed: tuple[str, ...] = ()
    """Staged files the review did not read (over [hook] max_diff_bytes)."""
    skipped: str = ""
    """Why nothing was reviewed ("" when a review was made or found in the cache)."""
    blocked: bool = False
    cached: bool = False
    seconds: float = 0.0
    paths: tuple[str, ...] = field(default=())
    """The staged files."""

    @property
    def exit_code(self) -> int:
        return 1 if self.blocked else 0

    @property
    def blocking(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if at_least(f.severity, self.threshold))

    def as_dict(self) -> dict[str, Any]:
        return {
            "blocked": self.blocked,
            "threshold": self.threshold,
            "findings": [f.as_dict() for f in self.findings],
            "summary": self.summary,
            "unreviewed": list(self.unreviewed),
            "skipped": self.skipped,
            "cached": self.cached,
            "seconds": round(self.seconds, 3),
            "paths": list(self.paths),
        }


def review_staged(
    start: Path,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    lm: Any = None,
    observer: LMObserver | None = None,
) -> HookVerdict:
    """Review what is staged in the repository holding `start` (see the module docstring).

    `lm`: a DSPy LM to use instead of the configured one (tests)."""
    return review_diff(
        start, staged, INTENT, environ=environ, overrides=overrides, lm=lm, observer=observer
    )


def review_diff(
    start: Path,
    source: Callable[[Path], Staged],
    intent: str,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    lm: Any = None,
    observer: LMObserver | None = None,
) -> HookVerdict:
    """Review the change `source` reads from the repository's top (the staged one, a commit
    range, the working tree's) as the hook reviews the staged change: the same program,
    context, threshold, cache and policy; `intent` says what the change is."""
    began = time.monotonic()
    env = dict(os.environ if environ is None else environ)
    paths = require_repo(start)
    root = paths.workdir or paths.common_dir
    cfg = config.load(paths.workdir, environ=env, overrides=overrides)
    threshold = cfg.hook.threshold
    change = source(root)

    def done(verdict: HookVerdict) -> HookVerdict:
        return replace(verdict, seconds=time.monotonic() - began, paths=change.paths)

    if change.empty:
        return done(HookVerdict(threshold, summary="nothing staged: nothing to review"))
    why_not = _cannot_review(cfg, env, lm)
    if why_not:
        return done(_policy(cfg, why_not))
    key = _key(paths, cfg, change, env, intent)
    cached = _Cache(paths, cfg.backend)
    hit = cached.get(key)
    if hit is not None:
        return done(replace(hit, cached=True))
    try:
        verdict = _review(paths, root, cfg, change, env, lm, observer, intent)
    except LLMError as exc:
        return done(_policy(cfg, f"the model could not review it ({exc.message})"))
    cached.put(key, verdict)
    return done(verdict)


def _cannot_review(cfg: Config, env: Mapping[str, str], lm: Any) -> str:
    if lm is not None:
        return ""
    if not cfg.llm.model or cfg.llm.provider is None:
        return "no model is configured ([llm] provider and model; `memfun init` sets them)"
    if env.get("CI", "").lower() in _TRUE:
        return "running in CI, where no model is reached (CI is set)"
    return ""


def _policy(cfg: Config, why: str) -> HookVerdict:
    """Not reviewed: `[hook] block_on_llm_error` decides."""
    return HookVerdict(cfg.hook.threshold, skipped=why, blocked=cfg.hook.block_on_llm_error)


def _review(
    paths: RepoPaths,
    root: Path,
    cfg: Config,
    change: Staged,
    env: Mapping[str, str],
    lm: Any,
    observer: LMObserver | None,
    intent: str,
) -> HookVerdict:
    from memfun_git.llm.session import LMSession
    from memfun_git.quality.review import review_change

    llm = replace(
        cfg.llm,
        timeout_seconds=min(cfg.llm.timeout_seconds, cfg.hook.timeout_seconds),
        num_retries=min(cfg.llm.num_retries, 1),
    )
    session = (
        LMSession(llm, lm, observer=observer)
        if lm is not None
        else LMSession.from_config(llm, env, observer=observer)
    )
    review = review_change(
        session,
        intent,
        change.diff,
        conventions=_conventions(paths, cfg, change, env),
        budget_tokens=max(1, cfg.hook.max_diff_bytes // 4),
        context=_around(root, change),
        step="hook",
    )
    threshold = cfg.hook.threshold
    blocked = any(at_least(f.severity, threshold) for f in review.findings)
    return HookVerdict(
        threshold,
        findings=review.findings,
        summary=review.summary,
        unreviewed=review.unreviewed,
        blocked=blocked,
    )


def _conventions(paths: RepoPaths, cfg: Config, change: Staged, env: Mapping[str, str]) -> str:
    """What memory and the project's agent instructions say about the staged files."""
    if not cfg.memory.enabled:
        return ""
    from memfun_git.memory.store import recall

    try:
        return recall(
            paths,
            " ".join(change.paths),
            base=change.head or "HEAD",
            limit=cfg.memory.max_recall,
            user_memory=cfg.memory.user_memory,
            environ=env,
            always=("base", "worktree"),
        ).conventions
    except (OSError, sqlite3.Error) as exc:
        log.warning("memory was not recalled: %s", exc)
        return ""


def _around(root: Path, change: Staged) -> str:
    """The code map of the staged tree around the staged files; "" when it cannot be built."""
    from memfun_git.codemap import around, build

    try:
        return around(build(root, commit=change.tree), change.paths, CONTEXT_TOKENS)
    except Exception as exc:  # the review goes on without it
        log.warning("the code map was not built: %s", exc)
        return ""


def _key(paths: RepoPaths, cfg: Config, change: Staged, env: Mapping[str, str], intent: str) -> str:
    """What decides the verdict: the change (its tree, HEAD, the diff itself, what it is),
    the configuration that shapes the review, and the remembered sources."""
    from memfun_git.memory.store import MEMORY_PATH, user_memory_path

    llm = cfg.llm
    shaping = {
        "memfun": __version__,
        "tree": change.tree,
        "head": change.head,
        "diff": hashlib.sha256(change.diff.encode()).hexdigest(),
        "intent": intent,
        "hook": asdict(cfg.hook),
        "llm": [llm.provider, llm.model, llm.base_url, llm.engine, llm.temperature],
        "memory": asdict(cfg.memory),
        "memory_files": [
            _file_id(paths.workdir / MEMORY_PATH if paths.workdir else None),
            _file_id(user_memory_path(env) if cfg.memory.user_memory else None),
        ],
    }
    return hashlib.sha256(json.dumps(shaping, sort_keys=True).encode()).hexdigest()


def _file_id(path: Path | None) -> str:
    if path is None:
        return ""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


class _Cache:
    """Reviews by key, in the configured tier's state store. A store that cannot be opened
    or reached in time is a warning and no cache (the review goes on), never a failure."""

    def __init__(self, paths: RepoPaths, backend: BackendConfig) -> None:
        self.paths = paths
        self.backend = backend

    def _open(self) -> SyncState | None:
        from memfun_git.backends.sync import open_sync_state
        from memfun_git.errors import BackendUnavailable

        try:
            return open_sync_state(self.backend, self.paths.common_dir, timeout=_STORE_SECONDS)
        except BackendUnavailable as exc:
            log.warning("the hook's cache is not used: %s", exc.message)
            return None

    def get(self, key: str) -> HookVerdict | None:
        from memfun_git.errors import BackendUnavailable

        store = self._open()
        if store is None:
            return None
        try:
            with store:
                found = store.get(f"hook/{key}")
        except BackendUnavailable as exc:
            log.warning("the hook's cache cannot be read: %s", exc.message)
            return None
        return _loads(found.decode()) if found else None

    def put(self, key: str, verdict: HookVerdict) -> None:
        from memfun_git.errors import BackendUnavailable

        store = self._open()
        if store is None:
            return
        try:
            with store:
                value = json.dumps(verdict.as_dict()).encode()
                store.put(f"hook/{key}", value, ttl=_KEEP_SECONDS)
        except BackendUnavailable as exc:
            log.warning("the hook's cache cannot be written: %s", exc.message)


def _loads(text: str) -> HookVerdict | None:
    try:
        data = json.loads(text)
        return HookVerdict(
            data["threshold"],
            findings=tuple(_finding(f) for f in data["findings"]),
            summary=data["summary"],
            unreviewed=tuple(data["unreviewed"]),
            blocked=bool(data["blocked"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _finding(data: dict[str, Any]) -> Finding:
    return Finding(
        path=data["path"],
        line=int(data["line"]),
        severity=data["severity"],
        message=data["message"],
        source=data.get("source", "review"),
        end_line=data.get("end_line"),
        suggestion=data.get("suggestion"),
    )
