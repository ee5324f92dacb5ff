"""The quality gate: the only way model-written code is committed.

    lint (0 calls) → fix rounds (≤ [gate] fix_rounds, 1 call each, edit-only)
      → review against the request (1 call; skipped when [gate] review = "off")
      → polish (suggestions applied as written, 0 calls; 1 call for the other non-blocking
        warnings and errors; edit-only; undone when it breaks lint)
      → commit exactly the touched paths, plus what fixes and polish touched, with
        `Memfun-Gate: <outcome.trailer()>` and the trace summary as its git note.

A lint that still fails after the last round, or a review finding at or over
`[gate] severity_threshold` with `review = "block"`, makes no commit: `run_gate` returns
`GateOutcome(passed=False, reason=...)` with the verdicts (the linter's output) or the
blocking findings, and the engine raises `GateBlocked` (the workspace keeps the attempt). A
missing or broken linter fails at once: no edit can mend it, so no fix call is spent on it.

Model economy: when the first lint passes, the gate makes one review call and at most one
polish call; each fix round makes one. Every call goes through the session, under the steps
"fix", "review" and "polish". An unparseable review is the review program's `LLMUnparseable`
(the caller may retry once); an unreadable fix answer spends its round (the parser's message
goes back to the model); a truncated one, like every other model failure, leaves as the
session's error; an unreadable or truncated polish answer skips polishing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.config import GateConfig
from memfun_git.edits.ops import FileOps
from memfun_git.errors import LLMBadResponse
from memfun_git.events import (
    Committed,
    Event,
    EventSink,
    FixRound,
    LintRan,
    Reviewed,
    StepStarted,
)
from memfun_git.quality.changes import Change, put
from memfun_git.quality.lint import Linting, LintRun
from memfun_git.quality.linters import looked_in
from memfun_git.quality.review import DEFAULT_BUDGET_TOKENS, review_change
from memfun_git.quality.steps import Edits, apply_suggestions, fix, polish
from memfun_git.quality.trace import gate_note
from memfun_git.quality.verdicts import Finding, GateOutcome, LintVerdict, Review, at_least
from memfun_git.tasks import CommitInfo

if TYPE_CHECKING:
    from memfun_git.backends.protocols import SandboxAdapter
    from memfun_git.gitops.worktree import Workspace
    from memfun_git.llm.session import LMSession

__all__ = ["REVIEW_CONTEXT_TOKENS", "run_gate"]

log = logging.getLogger(__name__)


def _ignore(event: Event) -> None:
    pass


@dataclass
class _Gate:
    workspace: Workspace
    session: LMSession
    config: GateConfig
    request: str
    emit: EventSink
    linting: Linting
    touched: list[str]
    fileops: FileOps = field(init=False)
    history: list[tuple[LintVerdict, ...]] = field(default_factory=list[tuple[LintVerdict, ...]])
    notes: list[str] = field(default_factory=list[str])

    def __post_init__(self) -> None:
        self.fileops = FileOps(self.workspace, edit_only=True)

    def lint(self) -> LintRun:
        self.emit(StepStarted("lint"))
        run = self.linting.run(self.touched)
        for verdict in run.verdicts:
            self.emit(LintRan(verdict))
        self.history.append(run.verdicts)
        return run

    def took(self, edits: Edits) -> None:
        self.touched.extend(p for p in edits.applied if p not in self.touched)

    def fix_rounds(self, run: LintRun) -> tuple[LintRun, int]:
        rounds = 0
        refused: tuple[str, ...] = ()
        while not run.passed and run.fixable and rounds < self.config.fix_rounds:
            rounds += 1
            findings = tuple(f for v in run.verdicts if v.status == "fail" for f in v.findings)
            self.emit(StepStarted("fix"))
            self.emit(FixRound(rounds, findings))
            edits = fix(self.session, self.fileops, self.request, findings, refused)
            self.took(edits)
            refused = edits.refused
            run = self.lint()
        if refused:
            self.notes.append(f"refused in the last fix round: {len(refused)} edits")
        return run, rounds

    def polish(
        self, run: LintRun, review: Review, blocking: tuple[Finding, ...]
    ) -> tuple[LintRun, bool]:
        """Polish what the review left: (the lint run in force afterwards, whether the
        polish stayed). Undone when it breaks lint."""
        allowed = frozenset(self.touched)
        left = [f for f in review.findings if f not in blocking and f.path in allowed]
        suggested = [f for f in left if f.suggestion is not None]
        to_edit = [
            f
            for f in left
            if f.suggestion is None and f.line >= 1 and at_least(f.severity, "warning")
        ]
        if not suggested and not to_edit:
            return run, False
        self.emit(StepStarted("polish"))
        change = self.linting.change
        saved = {rel: (change.task(rel), _mode(change, rel)) for rel in allowed}
        edits = apply_suggestions(self.fileops, suggested, allowed)
        if to_edit:
            try:
                more = polish(self.session, self.fileops, self.request, to_edit, allowed)
            except LLMBadResponse as exc:
                self.notes.append(f"polish: the model's answer was not used ({exc.message})")
                more = Edits()
            edits = Edits((*edits.applied, *more.applied), (*edits.refused, *more.refused))
        if not edits.applied:
            self.notes.append("polish: nothing applied")
            return run, False
        polished = self.linting.run(self.touched)
        if polished.passed:
            self.history.append(polished.verdicts)
            self.notes.append(f"polish: applied to {', '.join(dict.fromkeys(edits.applied))}")
            return polished, True
        for rel in edits.applied:
            blob, mode = saved[rel]
            put(change, rel, blob, mode)
        self.notes.append("polish: undone, it broke lint")
        return run, False


def _mode(change: Change, rel: str) -> int | None:
    try:
        return (change.worktree / rel).lstat().st_mode & 0o7777
    except OSError:
        return None


REVIEW_CONTEXT_TOKENS = 3_000
"""Tokens of the code map around the change that the review reads beside the diff."""


def _around(worktree: Path, paths: Sequence[str], intent: str) -> str:
    """The code map around the change; "" when it cannot be built (the review goes on)."""
    import pygit2

    from memfun_git.codemap import around, build

    try:
        return around(build(worktree), paths, REVIEW_CONTEXT_TOKENS, intent=intent)
    except (OSError, ValueError, pygit2.GitError) as exc:
        # The map helps the review; it is never a reason to stop it.
        log.warning("no code map for the review: %s", exc)
        return ""


def _lint_reason(run: LintRun, rounds: int) -> str:
    bad = next(v for v in run.verdicts if not v.passed)
    after = f" after {rounds} fix round{'' if rounds == 1 else 's'}" if rounds else ""
    first = bad.output.splitlines()[0] if bad.output else ""
    if bad.status == "missing":
        return first
    what = "failed" if bad.status == "fail" else "broke"
    return f"{bad.linter} {what}{after}: {first}" if first else f"{bad.linter} {what}{after}"


def run_gate(
    workspace: Workspace,
    sandbox: SandboxAdapter,
    session: LMSession,
    config: GateConfig,
    *,
    request: str,
    paths: Iterable[str],
    message: str,
    emit: EventSink = _ignore,
    trust_config_changes: bool = False,
    conventions: str = "",
    environ: Mapping[str, str] | None = None,
    review_budget_tokens: int = DEFAULT_BUDGET_TOKENS,
) -> GateOutcome:
    """Lint, fix, review, polish and commit the task's change to `paths` (the paths its
    operations touched) in `workspace`, or refuse it.

    `request` is the intent the review checks against; `message` the commit message;
    `conventions` the repository's (MEMORY.md); `environ` the environment the linters were
    looked for in (default: this process's), for the verdicts' "where it looked"."""
    env = os.environ if environ is None else environ
    user_tree = workspace.paths.workdir or workspace.path
    change = Change(workspace.repo, workspace.base_oid, workspace.path)
    linting = Linting(
        change,
        sandbox,
        places=looked_in(user_tree, env),
        configured=config.linters,
        trusted=trust_config_changes,
        candidates=workspace.dirty_paths(),
        timeout=None,
    )
    gate = _Gate(workspace, session, config, request, emit, linting, list(dict.fromkeys(paths)))
    calls_before = len(session.usage.records)
    run, rounds = gate.fix_rounds(gate.lint())
    outcome = GateOutcome(
        passed=run.passed,
        verdicts=run.verdicts,
        fix_rounds=rounds,
        config_changes=tuple(c.render(trust_config_changes) for c in run.config_changes),
        suppressions=tuple(s.render() for s in run.suppressions),
    )
    review: Review | None = None
    blocking: tuple[Finding, ...] = ()
    if run.passed and config.review != "off":
        emit(StepStarted("review"))
        notes = [f"configuration change: {c}" for c in outcome.config_changes]
        notes += [f"new inline suppression: {s}" for s in outcome.suppressions]
        review = review_change(
            session,
            request,
            change.diff(gate.touched),
            conventions=conventions,
            budget_tokens=review_budget_tokens,
            notes=notes,
            context=_around(change.worktree, gate.touched, request),
        )
        blocking = review.over(config.severity_threshold) if config.review == "block" else ()
        emit(Reviewed(review, blocking))
    if not run.passed:
        outcome = replace(outcome, reason=_lint_reason(run, rounds))
    elif blocking:
        shown = blocking[0].render()
        more = f" (and {len(blocking) - 1} more)" if len(blocking) > 1 else ""
        outcome = replace(outcome, passed=False, reason=f"the review blocks: {shown}{more}")
    elif review is not None and config.polish:
        run, polished = gate.polish(run, review, blocking)
        outcome = replace(outcome, verdicts=run.verdicts, polished=polished)
    outcome = replace(outcome, review=review, blocking=blocking, history=tuple(gate.history))
    note = gate_note(outcome, session.usage.records[calls_before:], gate.notes)
    if not outcome.passed:
        return replace(outcome, note=note)
    emit(StepStarted("commit"))
    trailer = outcome.trailer()
    result = workspace.commit(gate.touched, message, gate=trailer, note=note)
    if result is not None:
        subject = message.strip().splitlines()[0] if message.strip() else ""
        emit(Committed(CommitInfo(result.oid, subject, result.paths, trailer, result.signed)))
    return replace(outcome, commit=result.oid if result else None, note=note)
