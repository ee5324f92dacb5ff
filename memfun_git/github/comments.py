"""Findings as a pull request review: inline comments on the diff, `suggestion` blocks, a body
for the rest, and hidden fingerprints so a later push posts only what is new.

- A finding whose lines are inside one hunk of its file (`DiffMap.commentable`) becomes an
  inline comment on the RIGHT side (`start_line`/`line` for a range); its suggestion becomes a
  ```` ```suggestion ```` block (a longer fence when the code holds backticks). Others go in the
  review's body, so nothing found is lost.
- Every finding carries a fingerprint (path, severity and message, normalised; not the line,
  which moves between pushes) in an HTML comment GitHub does not show:
  `<!-- memfun:fp=0123abcd4567ef89 -->`. The runner starts with nothing on disk, so the
  fingerprints already posted are read back from the pull request's comments (`posted`), and
  those findings are not posted again (delta review).
- At most `max_comments` inline comments, errors first; the rest are counted in the body.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from memfun_git.github.diffmap import DiffMap
from memfun_git.quality.verdicts import SEVERITIES, Finding

__all__ = ["Planned", "fingerprint", "plan_review", "posted", "render_finding"]

MARK = "memfun:fp="
_FP = re.compile(r"<!-- memfun:fp=([0-9a-f]{16}) -->")
_SPACE = re.compile(r"\s+")
_ICON = {"error": "🔴", "warning": "🟠", "info": "🔵"}


def fingerprint(finding: Finding) -> str:
    text = _SPACE.sub(" ", f"{finding.path}\0{finding.severity}\0{finding.message}".lower())
    return hashlib.sha256(text.strip().encode()).hexdigest()[:16]


def posted(bodies: Iterable[str]) -> set[str]:
    """The fingerprints in comments already on the pull request."""
    return {fp for body in bodies for fp in _FP.findall(body or "")}


def _fence(text: str) -> str:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    return "`" * (longest + 1)


def render_finding(finding: Finding, *, inline: bool) -> str:
    """A finding as markdown: severity, message, its suggestion when inline, its fingerprint."""
    icon = _ICON.get(finding.severity, "")
    where = "" if inline else f"`{finding.path}:{finding.line}` "
    lines = [f"{icon} **{finding.severity}** {where}{finding.message}".strip()]
    if inline and finding.suggestion is not None:
        fence = _fence(finding.suggestion)
        lines += ["", f"{fence}suggestion", finding.suggestion.rstrip("\n"), fence]
    lines += ["", f"<!-- {MARK}{fingerprint(finding)} -->"]
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Planned:
    comments: tuple[dict[str, Any], ...]
    """Inline review comments, as the REST API takes them."""
    elsewhere: tuple[Finding, ...]
    """New findings that cannot be placed on the diff (or are over the cap): in the body."""
    repeated: int
    """Findings already posted on an earlier push (not posted again)."""
    capped: int
    """Placeable findings left out by `max_comments` (in the body instead)."""

    @property
    def new(self) -> int:
        return len(self.comments) + len(self.elsewhere)


def plan_review(
    findings: Sequence[Finding], diff: DiffMap, known: set[str], max_comments: int
) -> Planned:
    """What to post of `findings`: inline where the diff allows, the rest in the body; none
    whose fingerprint is in `known`; at most `max_comments` inline, most severe first."""
    fresh = [f for f in dict.fromkeys(findings) if fingerprint(f) not in known]
    repeated = len(findings) - len(fresh)
    order = sorted(fresh, key=lambda f: -SEVERITIES.index(f.severity))
    comments: list[dict[str, Any]] = []
    elsewhere: list[Finding] = []
    capped = 0
    for finding in order:
        if not diff.commentable(finding.path, finding.line, finding.end_line):
            elsewhere.append(finding)
        elif len(comments) >= max_comments:
            elsewhere.append(finding)
            capped += 1
        else:
            comments.append(_comment(finding))
    return Planned(tuple(comments), tuple(elsewhere), repeated, capped)


def _comment(finding: Finding) -> dict[str, Any]:
    comment: dict[str, Any] = {
        "path": finding.path,
        "line": finding.end_line or finding.line,
        "side": "RIGHT",
        "body": render_finding(finding, inline=True),
    }
    if finding.end_line is not None and finding.end_line > finding.line:
        comment |= {"start_line": finding.line, "start_side": "RIGHT"}
    return comment
