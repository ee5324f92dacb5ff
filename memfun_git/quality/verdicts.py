"""What the quality gate and the review program conclude: findings, verdicts, reviews.

Values only (frozen), shared by every front end that shows them: the CLI's summary, the
pre-commit hook's `path:line: severity: message` lines, the Action's inline comments and
suggestions, the App's progress comment. One finding format and one severity scale for the
linters and the review alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from memfun_git.config import Severity

__all__ = [
    "SEVERITIES",
    "Finding",
    "GateOutcome",
    "LintStatus",
    "LintVerdict",
    "Review",
    "at_least",
]

SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")
"""From least to most severe."""

LintStatus = Literal["pass", "fail", "missing", "skipped", "error"]
"""pass/fail: the linter ran; missing: a configured linter was not found (fails the gate);
skipped: a detected linter was not found, or had nothing to check (does not fail); error: the
linter itself broke (fails the gate)."""


def at_least(severity: Severity, threshold: Severity) -> bool:
    """True when `severity` reaches `threshold` on the info < warning < error scale."""
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)


@dataclass(frozen=True, slots=True)
class Finding:
    path: str
    """Relative to the repository's root, '/'-separated."""
    line: int
    """1-based; 0 when the finding is about the whole file."""
    severity: Severity
    message: str
    source: str = "review"
    """"review", or the linter that reported it ("ruff", "eslint"...), with its rule
    ("ruff:E501") where known."""
    end_line: int | None = None
    """The last line the finding (and its suggestion) covers; None: `line` alone."""
    suggestion: str | None = None
    """Replacement text for lines `line`..`end_line` (exact, each line ending in a newline),
    or None. An empty string suggests deleting them."""

    def render(self) -> str:
        """`path:line: severity: message`, the form every front end prints."""
        return f"{self.path}:{self.line}: {self.severity}: {self.message}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "line": self.line,
            "end_line": self.end_line,
            "severity": self.severity,
            "message": self.message,
            "source": self.source,
            "suggestion": self.suggestion,
        }


@dataclass(frozen=True, slots=True)
class LintVerdict:
    linter: str
    status: LintStatus
    program: str = ""
    """The binary that ran, by its full path ('' when none ran), so the user knows which."""
    output: str = ""
    """The linter's own output, trimmed, control sequences stripped, redacted."""
    findings: tuple[Finding, ...] = ()
    looked_in: tuple[str, ...] = ()
    """Where the linter was looked for (when it is missing)."""
    config_changes: tuple[str, ...] = ()
    """Config files of this linter that the task added, changed or deleted: not used (the
    base commit's config linted the change) unless the user trusted them."""
    suppressions: tuple[str, ...] = ()
    """New inline suppressions the task wrote, as `path:line: text` (`# noqa`, ...)."""
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status in ("pass", "skipped")

    def as_dict(self) -> dict[str, Any]:
        return {
            "linter": self.linter,
            "status": self.status,
            "program": self.program,
            "output": self.output,
            "findings": [f.as_dict() for f in self.findings],
            "looked_in": list(self.looked_in),
            "config_changes": list(self.config_changes),
            "suppressions": list(self.suppressions),
            "seconds": round(self.seconds, 3),
        }


@dataclass(frozen=True, slots=True)
class Review:
    """What the review program concluded about a change, against its intent."""

    findings: tuple[Finding, ...]
    summary: str
    """A short account of the change and how it meets the intent."""
    unreviewed: tuple[str, ...] = ()
    """Paths left out when the diff was packed under a token budget (said, never hidden)."""
    lessons: tuple[tuple[str, str], ...] = ()
    """(kind, text) of what the review proposed to remember (its REMEMBER lines)."""

    def over(self, threshold: Severity) -> tuple[Finding, ...]:
        """The findings at or over `threshold`."""
        return tuple(f for f in self.findings if at_least(f.severity, threshold))

    def as_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "findings": [f.as_dict() for f in self.findings],
            "unreviewed": list(self.unreviewed),
            "lessons": [{"kind": kind, "text": text} for kind, text in self.lessons],
        }


@dataclass(frozen=True, slots=True)
class GateOutcome:
    """The gate's whole account of one change: lint, fixes, review, polish, the commit."""

    passed: bool
    verdicts: tuple[LintVerdict, ...] = ()
    """The last lint of each linter (after the fix rounds)."""
    review: Review | None = None
    """None when the review is off, or was not reached (lint failed)."""
    blocking: tuple[Finding, ...] = ()
    """Review findings that stopped the commit ([gate] review = "block")."""
    fix_rounds: int = 0
    polished: bool = False
    commit: str | None = None
    """The commit's id, when one was made."""
    reason: str = ""
    """One line: why the gate refused (empty when it passed)."""
    history: tuple[tuple[LintVerdict, ...], ...] = field(default=())
    """Every lint run, in order (the first, then one per fix round)."""
    config_changes: tuple[str, ...] = ()
    """Every configuration change of the task, each linter's and memfun.toml's, as
    `path (what; used or not)`."""
    suppressions: tuple[str, ...] = ()
    """Every new inline suppression, as `path:line: text`."""
    note: str = ""
    """The trace summary kept as the commit's git note (also when no commit was made)."""

    def trailer(self) -> str:
        """The `Memfun-Gate` trailer's value: `ruff=pass eslint=skipped review=pass`."""
        parts = [f"{v.linter}={v.status}" for v in self.verdicts]
        if self.review is not None:
            parts.append("review=" + ("block" if self.blocking else "pass"))
        else:
            parts.append("review=off")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "verdicts": [v.as_dict() for v in self.verdicts],
            "review": self.review.as_dict() if self.review is not None else None,
            "blocking": [f.as_dict() for f in self.blocking],
            "fix_rounds": self.fix_rounds,
            "polished": self.polished,
            "commit": self.commit,
            "reason": self.reason,
            "config_changes": list(self.config_changes),
            "suppressions": list(self.suppressions),
        }
