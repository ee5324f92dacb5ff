"""The gate's trace summary: what ran, what it found, what it cost, in a few lines.

Kept as the commit's git note (`refs/notes/memfun`), so `git notes --ref memfun show <commit>`
tells how a commit passed the gate; also in `GateOutcome.note` when the gate refused. The note
is redacted when it is written (gitops.commit).
"""

from __future__ import annotations

from collections.abc import Sequence

from memfun_git.llm.usage import CallRecord
from memfun_git.quality.verdicts import GateOutcome, LintVerdict

__all__ = ["gate_note"]

_STEPS = ("fix", "review", "polish")


def _verdict(verdict: LintVerdict) -> str:
    where = f"{verdict.program}, {verdict.seconds:.2f} s" if verdict.program else ""
    if verdict.status in ("skipped", "missing", "error") and verdict.output:
        where = verdict.output.splitlines()[0][:160]
    found = f", {len(verdict.findings)} findings" if verdict.findings else ""
    return f"{verdict.linter} {verdict.status}" + (f" ({where}{found})" if where else found)


def _usage(records: Sequence[CallRecord]) -> str:
    parts: list[str] = []
    for step in _STEPS:
        calls = [r for r in records if r.step == step]
        parts.append(f"{step} {len(calls)} call{'' if len(calls) == 1 else 's'}")
    tokens = sum(r.input_tokens + r.output_tokens for r in records)
    return f"{', '.join(parts)}; {tokens:,} tokens"


def gate_note(
    outcome: GateOutcome, records: Sequence[CallRecord], extra: Sequence[str] = ()
) -> str:
    """The trace summary of `outcome`; `records` are the model calls the gate made."""
    lines = [f"memfun gate: {'passed' if outcome.passed else 'refused: ' + outcome.reason}"]
    lines.append("lint: " + ("; ".join(_verdict(v) for v in outcome.verdicts) or "no linter"))
    if outcome.fix_rounds:
        counts = " → ".join(
            str(sum(len(v.findings) for v in run if v.status == "fail")) for run in outcome.history
        )
        lines.append(f"fix rounds: {outcome.fix_rounds} (failing findings {counts})")
    review = outcome.review
    if review is None:
        lines.append("review: not run")
    else:
        state = "blocked" if outcome.blocking else "pass"
        lines.append(f"review: {state}, {len(review.findings)} findings — {review.summary}")
        lines.extend(f"  {f.render()}" for f in review.findings)
        if review.unreviewed:
            lines.append(f"  not reviewed (over the size limit): {', '.join(review.unreviewed)}")
    lines.extend(extra)
    lines.extend(f"config change: {c}" for c in outcome.config_changes)
    lines.extend(f"new suppression: {s}" for s in outcome.suppressions)
    lines.append(f"model: {_usage(records)}")
    return "\n".join(lines) + "\n"
