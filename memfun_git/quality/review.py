"""The review program: a change checked against its intent, as findings every front end shows.

One program for the gate, the pre-commit hook, the GitHub Action and the App:
`review_change(session, intent, diff, conventions=..., budget_tokens=...) -> Review`. The
intent is a request, or a pull request's title and body; the diff is unified (`git diff`);
the conventions are the repository's own (its MEMORY.md). Intent, diff, conventions and notes
are redacted before they reach the prompt.

The answer is raw text (`LMSession.text`) that `parse_review` reads, because a suggestion
becomes a GitHub suggestion block and must be byte-exact: DSPy's field parsing strips edges
and cuts at marker-like lines. The format (`REVIEW_FORMAT`, what the model is told):

    src/app.py:12: error: the request asked for a 404, this returns 500
    src/app.py:20-21: warning: the loop reads the file twice
    <<<<<<< SUGGESTION
        data = path.read_text()
        return parse(data)
    >>>>>>> SUGGESTION
    SUMMARY: adds the /health route as asked; one wrong status code.

- A finding is one line `path:LINE: SEVERITY: message` or `path:START-END: ...`: the path as
  the diff names it (no `a/`/`b/`), lines of the new version, SEVERITY `error`, `warning` or
  `info`. A leading `- ` or `* ` and backticks around the path are tolerated.
- A suggestion may follow a finding (blank lines between allowed): the exact replacement of
  those lines between a `<<<<<<< SUGGESTION` line and a `>>>>>>> SUGGESTION` line. Its lines
  are taken as written, blank lines and trailing whitespace included; nothing between the
  markers suggests deleting the lines. Code whose own lines start with 7 `<` or `>` is
  wrapped in longer markers (N `<` close with N `>`).
- `SUMMARY: ...` once; prose lines after it continue it. Other prose is ignored.
- Unparseable (`LLMUnparseable`, with the text): no SUMMARY, an unterminated or stray
  suggestion, a range that ends before it starts, or a line that looks like a finding and is
  not one (`src/app.py:12 error: ...`). The program does not retry: one retry is the caller's
  choice (the gate's engine, the hook) and costs one visible call.

A diff over `budget_tokens` is packed (`diffpack.py`): whole files, most relevant first; the
files left out are `Review.unreviewed` and the model is told which they are. A suggestion
holding the redaction marker is dropped (the finding stays): applying it would write the
marker over the secret.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, cast

from memfun_git.config import Severity
from memfun_git.errors import LLMUnparseable
from memfun_git.quality.diffpack import pack_diff
from memfun_git.quality.verdicts import Finding, Review
from memfun_git.redact import MARKER, redact

if TYPE_CHECKING:
    from memfun_git.llm.session import LMSession

__all__ = [
    "DEFAULT_BUDGET_TOKENS",
    "REVIEW_FORMAT",
    "parse_lessons",
    "parse_review",
    "review_change",
]

DEFAULT_BUDGET_TOKENS = 30_000
"""Tokens of diff one review reads (about 120 KB of diff)."""

REVIEW_FORMAT = """\
Write one finding per problem, each on one line:

path:LINE: SEVERITY: message
path:START-END: SEVERITY: message

path is the file's path as the diff names it (without a/ or b/); LINE, or START-END, are line
numbers in the new version of the file (the + side); SEVERITY is one of:
- error: the change is wrong or does not do what the intent asks (a bug, a missing part, a
  security problem, a broken caller);
- warning: it works, but should change (fragile code, a convention broken, a missed case);
- info: a small improvement.

When you know the exact fix, put a suggestion right after the finding: the lines that should
replace LINE (or START-END), exactly as they should read, with their indentation, between two
marker lines:

src/app.py:20-21: warning: the loop reads the file twice
<<<<<<< SUGGESTION
    data = path.read_text()
    return parse(data)
>>>>>>> SUGGESTION

Nothing between the markers suggests deleting the lines. If the code has lines starting with
7 or more < or >, use longer markers (as many < to open as > to close).

When the intent states something lasting that later changes to this project should follow
(a preference, a convention, a decision, a fact such as a port or a tool), add one line for
each before the SUMMARY line, in the intent's own words, never a secret:

REMEMBER: preference: always use pool_size=10 for dev

(the kind is one of preference, convention, decision, fact). Nothing lasting: no such line.

End with one line: SUMMARY: what the change does, and whether it does what the intent asks.
With no problems, write only the SUMMARY line. Report real problems only, at the line where
each is; do not restate the change or praise it."""

_SEVERITIES = ("info", "warning", "error")
_FINDING = re.compile(
    r"^(?:[-*] )?`?(?P<path>[^\s`][^`]*?)`?:(?P<line>\d+)(?:-(?P<end>\d+))?:\s*"
    r"(?P<severity>info|warning|error):\s*(?P<message>\S.*?)\s*$",
    re.IGNORECASE,
)
_LOOKS_LIKE = re.compile(
    r"^(?:[-*] |\d+[.)] )?`?[\w./-]+\.\w+`?:\d+|:\s*(?:info|warning|error)\s*:", re.IGNORECASE
)
_OPEN = re.compile(r"^(<{7,}) SUGGESTION\s*$")
_CLOSE = re.compile(r"^(>{7,}) SUGGESTION\s*$")
_SUMMARY = re.compile(r"^(?:[-*] )?\**SUMMARY\**:\s*(?P<text>.*?)\s*$", re.IGNORECASE)
_REMEMBER = re.compile(
    r"^(?:[-*] )?\**REMEMBER\**:\s*(?:(?P<kind>preference|convention|decision|fact)\s*:\s*)?"
    r"(?P<text>\S.*?)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class _Answer:
    text: str
    step: str

    def bad(self, why: str, index: int | None = None) -> LLMUnparseable:
        where = f"line {index + 1}: " if index is not None else ""
        return LLMUnparseable(
            f"the model's review is not in the form asked for ({where}{why})",
            "try again, or use a stronger model",
            raw=self.text,
            step=self.step,
        )


def parse_review(text: str, *, step: str = "review") -> tuple[tuple[Finding, ...], str]:
    """(findings, summary) of a review answer in `REVIEW_FORMAT`; LLMUnparseable otherwise."""
    answer = _Answer(text, step)
    lines = text.splitlines(keepends=True)
    findings: list[Finding] = []
    summary: list[str] | None = None
    last: int | None = None
    """Index in `findings` of the finding a suggestion may still follow."""
    i = 0
    while i < len(lines):
        line = lines[i].rstrip("\r\n")
        opener = _OPEN.match(line)
        if opener is not None:
            if last is None:
                raise answer.bad("a suggestion with no finding before it", i)
            end = _closing(lines, i, ">" * len(opener[1]) + " SUGGESTION")
            if end is None:
                raise answer.bad("the suggestion is never closed", i)
            findings[last] = _with_suggestion(findings[last], "".join(lines[i + 1 : end]))
            last, i = None, end + 1
            continue
        if _CLOSE.match(line):
            raise answer.bad("a suggestion closed that was never opened", i)
        found = _FINDING.match(line)
        if _REMEMBER.match(line):
            last = None  # a lesson, read by `parse_lessons`
        elif found is not None:
            findings.append(_finding(found, i, answer))
            last = len(findings) - 1
        elif (match := _SUMMARY.match(line)) is not None:
            summary, last = [match["text"]], None
        elif _LOOKS_LIKE.search(line):
            raise answer.bad(f"this looks like a finding but is not one: {line[:80]!r}", i)
        elif line.strip():
            last = None
            if summary is not None:
                summary.append(line.strip())
        i += 1
    if summary is None:
        raise answer.bad("it has no SUMMARY line")
    return tuple(findings), " ".join(s for s in summary if s)


def parse_lessons(text: str) -> tuple[tuple[str, str], ...]:
    """The (kind, text) of each REMEMBER line of a review answer, outside suggestions."""
    lessons: list[tuple[str, str]] = []
    inside: str | None = None
    for line in text.splitlines():
        if inside is not None:
            if line.rstrip() == inside:
                inside = None
            continue
        if (opener := _OPEN.match(line)) is not None:
            inside = ">" * len(opener[1]) + " SUGGESTION"
        elif (found := _REMEMBER.match(line)) is not None:
            lessons.append(((found["kind"] or "fact").lower(), found["text"]))
    return tuple(lessons)


def _closing(lines: Sequence[str], start: int, closer: str) -> int | None:
    """The index of the line after `start` that is `closer` (trailing blanks aside)."""
    for j in range(start + 1, len(lines)):
        if lines[j].rstrip("\r\n").rstrip() == closer:
            return j
    return None


def _finding(found: re.Match[str], index: int, answer: _Answer) -> Finding:
    start = int(found["line"])
    end = int(found["end"]) if found["end"] else None
    if end is not None and end < start:
        raise answer.bad(f"the range {start}-{end} ends before it starts", index)
    severity = cast(Severity, found["severity"].lower())
    return Finding(
        path=found["path"].strip().removeprefix("b/").removeprefix("./"),
        line=start,
        end_line=end if end is not None and end != start else None,
        severity=severity,
        message=found["message"],
        source="review",
    )


def _with_suggestion(finding: Finding, suggestion: str) -> Finding:
    if MARKER in suggestion or finding.line < 1:
        return finding  # writing it would put the marker where the secret is
    return replace(finding, suggestion=suggestion)


def _notes(notes: Sequence[str], unreviewed: Sequence[str]) -> str:
    lines = [f"- {note}" for note in notes]
    if unreviewed:
        lines.append(
            "- changed but not shown (over the review's size limit; do not report them as "
            f"missing): {', '.join(unreviewed)}"
        )
    return redact("\n".join(lines)) or "(none)"


def review_change(
    session: LMSession,
    intent: str,
    diff: str,
    *,
    conventions: str = "",
    budget_tokens: int = DEFAULT_BUDGET_TOKENS,
    notes: Sequence[str] = (),
    context: str = "",
    step: str = "review",
) -> Review:
    """Review `diff` against `intent` with one model call (none for an empty diff).

    `notes` are facts the caller knows about the change (the gate's config changes and new
    suppressions); `context` the code around it (`codemap.around`); `step` names the call in
    usage records ("review" in the gate)."""
    from memfun_git.llm.signatures import ReviewChange

    packed = pack_diff(redact(diff), budget_tokens, intent)
    if not packed.text.strip():
        summary = (
            "nothing to review: the diff is empty"
            if not packed.unreviewed
            else ("nothing reviewed: every file is over the review's size limit")
        )
        return Review(findings=(), summary=summary, unreviewed=packed.unreviewed)
    answer = session.text(
        step,
        ReviewChange,
        intent=redact(intent).strip() or "(not given)",
        conventions=redact(conventions).strip() or "(none)",
        notes=_notes(notes, packed.unreviewed),
        context=redact(context).strip() or "(not given)",
        diff=packed.text,
        format=REVIEW_FORMAT,
    )
    findings, summary = parse_review(answer, step=step)
    return Review(
        findings=findings,
        summary=summary,
        unreviewed=packed.unreviewed,
        lessons=parse_lessons(answer),
    )
