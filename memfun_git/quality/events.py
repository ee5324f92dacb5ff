"""What the gate reports while it works, as values for the event stream.

These are the gate's members of the engine's one typed event stream (issue 18), named and
shaped as `memfun_git/events.py` will define them; they move there when it lands, and the gate
imports them from it. Each is frozen: a renderer or a recorded trace cannot change it.
"""

from __future__ import annotations

from dataclasses import dataclass

from memfun_git.gitops.commit import CommitResult
from memfun_git.quality.verdicts import Finding, LintVerdict, Review

__all__ = ["Committed", "FixRound", "LintRan", "Reviewed", "StepStarted"]


@dataclass(frozen=True, slots=True)
class StepStarted:
    step: str
    """"lint", "fix", "review", "polish", "commit"."""


@dataclass(frozen=True, slots=True)
class LintRan:
    verdict: LintVerdict


@dataclass(frozen=True, slots=True)
class FixRound:
    number: int
    """1-based."""
    findings: tuple[Finding, ...]
    """What this round asks the model to fix."""


@dataclass(frozen=True, slots=True)
class Reviewed:
    review: Review
    blocking: tuple[Finding, ...]


@dataclass(frozen=True, slots=True)
class Committed:
    commit: CommitResult
