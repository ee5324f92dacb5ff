"""The gate's editing steps: fix (lint findings), polish (review findings), suggestions.

Fix and polish are one raw-text model call each (`LMSession.text`, steps "fix" and "polish"),
answered in the operation format (`memfun_git.operations`) and applied edit-only through
`FileOps`: SEARCH/REPLACE on existing files, nothing else. An edit is refused, and the reason
goes back to the model in the next fix round, when it is no edit (a write, delete, rename or
command), when the file is linter or memfun configuration (the gate lints with the base
commit's anyway; weakening it is no fix), when it adds an inline suppression (`# noqa`...),
or when its text holds the redaction marker (the line holds a secret the model never saw:
writing the marker would destroy it). An answer the parser cannot read spends its round: the
parser's message is the refusal.

A review suggestion is exact replacement text for known lines, so it is applied as it is,
without a model call: the lines it replaces become the search, widened by a line above and
below until it matches one place only, and it goes through the same checks and `FileOps`.
Suggestions in a file are applied from the bottom up (line numbers above stay true); one that
overlaps another applied before it is left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memfun_git.edits.guard import clean
from memfun_git.edits.ops import FileOps
from memfun_git.errors import EditError, OperationFormatError
from memfun_git.operations import FORMAT_INSTRUCTIONS, EditFile, parse
from memfun_git.quality.configs import is_config_path, suppression_added
from memfun_git.quality.verdicts import Finding
from memfun_git.redact import MARKER, redact
from memfun_git.solvers.context import estimate_tokens

if TYPE_CHECKING:
    import dspy

    from memfun_git.llm.session import LMSession

__all__ = [
    "EDIT_ONLY",
    "FILES_BUDGET_TOKENS",
    "Edits",
    "apply_answer",
    "apply_edits",
    "apply_suggestions",
    "files_text",
    "fix",
    "polish",
]

FILES_BUDGET_TOKENS = 60_000
"""Tokens of file contents one fix or polish prompt holds; files past it are named only."""

EDIT_ONLY = (
    "In this step only SEARCH/REPLACE edits of existing files are accepted: WRITE, DELETE, "
    "RENAME and RUN are refused, and so are edits of the linters' configuration, edits that "
    "add an inline suppression, and edits of lines that show [REDACTED]."
)


@dataclass(frozen=True, slots=True)
class Edits:
    """What one step did: the paths it changed, and the refusals (for the model and the
    trace)."""

    applied: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()


def _instructions() -> str:
    return f"{FORMAT_INSTRUCTIONS}\n{EDIT_ONLY}"


def files_text(fileops: FileOps, paths: Iterable[str]) -> str:
    """The files at `paths` as they are now, each under `### path`, redacted, within the
    budget (files past it, and unreadable ones, are named)."""
    parts: list[str] = []
    left: list[str] = []
    used = 0
    for rel in dict.fromkeys(paths):
        try:
            text = redact(fileops.read(rel).text)
        except EditError:
            continue
        cost = estimate_tokens(text)
        if used + cost > FILES_BUDGET_TOKENS:
            left.append(rel)
            continue
        used += cost
        parts.append(f"### {rel}\n{text}" + ("" if text.endswith("\n") else "\n"))
    if left:
        parts.append(f"(not shown, over the size limit: {', '.join(left)})\n")
    return "\n".join(parts) or "(none)"


def _check(edit: EditFile, allowed: frozenset[str] | None) -> str | None:
    """Why the gate refuses `edit` in an edit-only step, or None (a path that is no path is
    left to `FileOps`, which says why)."""
    try:
        rel = clean(edit.path)
    except EditError:
        return None
    if allowed is not None and rel not in allowed:
        return f"editing {rel} is refused: this step edits only the change's own files"
    if is_config_path(rel):
        return (
            f"editing {edit.path} is refused: it configures the linters or memfun, and the "
            "gate lints with the base commit's configuration; fix the code instead"
        )
    if MARKER in edit.search or MARKER in edit.replace:
        return (
            f"the edit of {edit.path} quotes {MARKER}: that text is a secret memfun hides from "
            "you; leave the lines that hold it as they are"
        )
    added = suppression_added(edit.path, edit.search, edit.replace)
    if added is not None:
        return f"the edit of {edit.path} adds a suppression ({added!r}): fix the code instead"
    return None


def apply_edits(
    fileops: FileOps, edits: Sequence[EditFile], allowed: frozenset[str] | None = None
) -> Edits:
    """Apply `edits` after the gate's checks (`allowed`: the only paths it may edit; None:
    any); every refusal is kept with its reason."""
    applied: list[str] = []
    refused: list[str] = []
    for edit in edits:
        why = _check(edit, allowed)
        if why is not None:
            refused.append(why)
            continue
        (result,) = fileops.apply([edit])
        if result.ok:
            applied.append(edit.path)
        else:
            refused.append(result.message)
    return Edits(tuple(dict.fromkeys(applied)), tuple(refused))


def apply_answer(fileops: FileOps, answer: str, allowed: frozenset[str] | None = None) -> Edits:
    """Read `answer` in the operation format and apply its edits (edit-only)."""
    try:
        parsed = parse(answer)
    except OperationFormatError as exc:
        return Edits(refused=(f"your answer could not be read: {exc}",))
    edits: list[EditFile] = []
    refused: list[str] = []
    for op in parsed.operations:
        if isinstance(op, EditFile):
            edits.append(op)
        else:
            refused.append(f"{type(op).__name__} is refused: {EDIT_ONLY}")
    done = apply_edits(fileops, edits, allowed)
    return Edits(done.applied, (*refused, *done.refused))


def _ask(
    session: LMSession,
    step: str,
    signature: type[dspy.Signature],
    fileops: FileOps,
    request: str,
    findings: Sequence[Finding],
    **more: str,
) -> str:
    """One raw-text call of an editing step: the request, the findings and their files."""
    return session.text(
        step,
        signature,
        request=redact(request),
        findings="\n".join(redact(f.render()) for f in findings) or "(none)",
        files=files_text(fileops, (f.path for f in findings)),
        format=_instructions(),
        **more,
    )


def fix(
    session: LMSession,
    fileops: FileOps,
    request: str,
    findings: Sequence[Finding],
    refused: Sequence[str],
) -> Edits:
    """One fix round: one call (step "fix"), its edits applied."""
    from memfun_git.llm.signatures import FixLint

    refusals = redact("\n".join(f"- {r}" for r in refused)) or "(none)"
    answer = _ask(session, "fix", FixLint, fileops, request, findings, refused=refusals)
    return apply_answer(fileops, answer)


def polish(
    session: LMSession,
    fileops: FileOps,
    request: str,
    findings: Sequence[Finding],
    allowed: frozenset[str],
) -> Edits:
    """One polish call (step "polish") for review findings without a suggestion; it may edit
    the `allowed` paths only (the change's files)."""
    from memfun_git.llm.signatures import PolishChange

    answer = _ask(session, "polish", PolishChange, fileops, request, findings)
    return apply_answer(fileops, answer, allowed)


def _suggestion_edit(fileops: FileOps, finding: Finding) -> EditFile | None:
    """The edit that puts `finding.suggestion` in place of its lines, with as many lines
    around as it takes to match one place; None when the lines are not in the file."""
    assert finding.suggestion is not None
    try:
        text = fileops.read(finding.path).text
    except EditError:
        return None
    lines = text.splitlines(keepends=True)
    first, last = finding.line, finding.end_line or finding.line
    if first < 1 or last > len(lines):
        return None
    low, high = first - 1, last
    while text.count("".join(lines[low:high])) != 1:
        if low == 0 and high == len(lines):
            return None
        low, high = max(0, low - 1), min(len(lines), high + 1)
    before, after = "".join(lines[low : first - 1]), "".join(lines[last:high])
    return EditFile(finding.path, "".join(lines[low:high]), before + finding.suggestion + after)


def apply_suggestions(
    fileops: FileOps, findings: Sequence[Finding], allowed: frozenset[str]
) -> Edits:
    """Apply the findings' suggestions as they are (no model call), bottom up per file, in
    the `allowed` paths only."""
    applied: list[str] = []
    refused: list[str] = []
    taken: dict[str, list[tuple[int, int]]] = {}
    ordered = sorted(
        (f for f in findings if f.suggestion is not None),
        key=lambda f: (f.path, -f.line),
    )
    for finding in ordered:
        span = (finding.line, finding.end_line or finding.line)
        if any(span[0] <= b and a <= span[1] for a, b in taken.get(finding.path, [])):
            refused.append(f"{finding.render()}: overlaps another suggestion")
            continue
        edit = _suggestion_edit(fileops, finding)
        if edit is None:
            refused.append(f"{finding.render()}: its lines are not in the file")
            continue
        done = apply_edits(fileops, [edit], allowed)
        applied.extend(done.applied)
        refused.extend(done.refused)
        if done.applied:
            taken.setdefault(finding.path, []).append(span)
    return Edits(tuple(dict.fromkeys(applied)), tuple(refused))
