"""Fuzzy search/replace that lands every honest slip and never guesses.

`apply_edit(original, search, replace)` finds the one place of `original` that `search` stands
for, trying in turn:
1. exact text;
2. lines equal once whitespace is normalised (indentation, trailing spaces), blank lines
   ignored;
3. the elided form: a line `...` in the search stands for an unchanged run of lines (and a
   `...` in the replacement keeps that run);
4. a sliding window of lines scored with difflib, for a misremembered word or two.
A search found in more than one place, at any step, is refused, never guessed; so is an edit
that adds or removes blank lines, whose search misquotes the file's blank lines, when no line
with text would change (which blank lines it meant cannot be known; issue 18). A refusal is
an `EditError` whose message tells the model why (not found, or found in N places) and shows the
closest candidate, so it can try again; its `refusal` carries the same as data (`Reason`, every
place found, the closest `Candidate`) for the engine and its events. The change is then carried
onto the file (transfer.py): unchanged lines keep the file's exact text, new lines take the
file's indentation. CRLF line endings are preserved. The result says how the search matched
(`EditMatch`: the stage, the lines, the window's score), so a caller can tell a landed slip
from an exact quote.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass
from difflib import SequenceMatcher

from memfun_git.edits.results import (
    Candidate,
    EditMatch,
    EditResult,
    MatchKind,
    Reason,
    Refusal,
)
from memfun_git.edits.transfer import norm, transfer
from memfun_git.errors import EditError

__all__ = ["FUZZY_THRESHOLD", "EditError", "apply_edit"]

ELISION = "..."
FUZZY_THRESHOLD = 0.85
_MAX_CANDIDATE_LINES = 12
_MAX_SPAN_LINES = 40


@dataclass(frozen=True, slots=True)
class _Span:
    """The lines of the original a search stands for (0-based, end exclusive)."""

    start: int
    end: int
    kind: MatchKind
    parts: tuple[tuple[int, int], ...] = ()
    """For an elided match: the line ranges of the quoted parts, in order."""
    score: float = 1.0


def apply_edit(original: str, search: str, replace: str) -> EditResult:
    """`original` with the part `search` stands for replaced by `replace`, and how the search
    matched; else EditError, whose `refusal` says why."""
    crlf = "\r\n" in original and original.count("\r\n") == original.count("\n")
    text = original.replace("\r\n", "\n") if crlf else original
    search = search.replace("\r\n", "\n")
    replace = replace.replace("\r\n", "\n")
    result = _apply(text, search, replace)
    return EditResult(result.text.replace("\n", "\r\n"), result.match) if crlf else result


def _apply(text: str, search: str, replace: str) -> EditResult:
    if not search.strip():
        raise EditError(
            "the search text is empty",
            "quote the lines to change (or write the file)",
            refusal=Refusal(Reason.EMPTY_SEARCH),
        )
    # A search of whole lines matches at line starts only: "\n\n  x" must not match the end
    # of one line plus a blank line.
    starts = _exact_starts(text, search, lines_only="\n" in search)
    if len(starts) == 1:
        at = starts[0]
        end = at + len(search)
        if search.endswith("\n") and replace and not replace.endswith("\n"):
            replace += "\n"
        elif (
            "\n" in search
            and not search.endswith("\n")
            and replace.endswith("\n")
            and text[end : end + 1] in ("\n", "")
        ):
            replace = replace[:-1]  # the search ended where a line ends: so does the change
        first = text.count("\n", 0, at) + 1
        last = first + search.count("\n", 0, len(search) - 1)
        return EditResult(
            text[:at] + replace + text[end:], EditMatch(MatchKind.EXACT, first, last, 1.0)
        )
    if len(starts) > 1:
        raise _ambiguous([text.count("\n", 0, at) + 1 for at in starts], MatchKind.EXACT)
    lines = text.split("\n")
    s_lines = _lines(search)
    r_lines = _lines(replace)
    match = _with_edges(lines, s_lines, _find(lines, s_lines))
    result = _result(lines, match, s_lines, r_lines)
    if match.kind is not MatchKind.ELIDED and any(x.strip() == ELISION for x in s_lines):
        # `...` matched the file's own `...` line; read as elided lines it must agree.
        key = [i for i, line in enumerate(lines) if line.strip()]
        try:
            alt = _find_elided(lines, key, [norm(lines[i]) for i in key], s_lines)
            other = _result(lines, _with_edges(lines, s_lines, alt), s_lines, r_lines)
        except EditError:
            other = result
        if other != result:
            raise EditError(
                "the search's `...` line can be read as the file's own `...` line or as elided "
                "lines, with different results",
                "quote the lines in full",
                refusal=Refusal(Reason.BAD_ELISION, stage=MatchKind.ELIDED),
            )
    return EditResult(result, EditMatch(match.kind, match.start + 1, match.end, match.score))


def _result(lines: list[str], match: _Span, s_lines: list[str], r_lines: list[str]) -> str:
    if match.kind is MatchKind.ELIDED:
        s_lines, r_lines = _expand(lines, match, s_lines, r_lines)
    span = lines[match.start : match.end]
    new = transfer(s_lines, r_lines, span)
    if (
        _texts(new) == _texts(span)
        and _layout(s_lines) != _layout(span)
        and _changes_blank_lines(s_lines, r_lines)
    ):
        raise _unclear_blank_lines(lines, match)
    return "\n".join([*lines[: match.start], *new, *lines[match.end :]])


def _texts(lines: list[str]) -> list[str]:
    return [norm(x) for x in lines if x.strip()]


def _layout(lines: list[str]) -> list[int]:
    """How many blank lines come before each line with text, and after the last one."""
    counts = [0]
    for line in lines:
        if line.strip():
            counts.append(0)
        else:
            counts[-1] += 1
    return counts


def _changes_blank_lines(search: list[str], replace: list[str]) -> bool:
    """True when the edit's own diff adds or removes blank lines (moving one counts)."""
    a, b = [norm(x) for x in search], [norm(x) for x in replace]
    return any(
        a[i1:i2].count("") != b[j1:j2].count("")
        for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
        if tag != "equal"
    )


def _unclear_blank_lines(lines: list[str], match: _Span) -> EditError:
    """The edit is about blank lines and its search misquotes them: which ones it meant to
    change (the gap it misquoted may be the one it changes) cannot be known, and a guess would
    be the whole result. Refused, with the file's lines to quote."""
    span = Candidate(
        match.start + 1,
        match.end,
        "\n".join(lines[match.start : match.end]),
        match.score,
    )
    return EditError(
        f"the edit adds or removes blank lines, but its search's blank lines differ from the "
        f"file's (lines {span.start_line}-{span.end_line}) and no other line changes: which "
        "blank lines to change is unclear",
        "quote the lines with the file's blank lines, exactly. The file's lines:\n"
        + _listing(span, _MAX_SPAN_LINES),
        refusal=Refusal(Reason.BLANK_LINES, closest=span, stage=match.kind),
    )


def _with_edges(lines: list[str], search: list[str], match: _Span) -> _Span:
    """Widen the span over the blank lines the search quotes before and after its text."""
    lead = next((i for i, x in enumerate(search) if x.strip()), 0)
    trail = next((i for i, x in enumerate(reversed(search)) if x.strip()), 0)
    start, end = match.start, match.end
    while lead and start > 0 and not lines[start - 1].strip():
        start, lead = start - 1, lead - 1
    while trail and end < len(lines) and not lines[end].strip():
        end, trail = end + 1, trail - 1
    return _Span(start, end, match.kind, match.parts, match.score)


def _lines(block: str) -> list[str]:
    if block.endswith("\n"):
        block = block[:-1]
    return block.split("\n") if block else []


def _find(lines: list[str], search: list[str]) -> _Span:
    """The unique span of `lines` that `search` (lines, at least one with text) stands for."""
    key = [i for i, line in enumerate(lines) if line.strip()]
    o_norm = [norm(lines[i]) for i in key]
    s_norm = [norm(x) for x in search if x.strip()]
    spots = _occurrences(o_norm, s_norm)
    if len(spots) > 1:
        # Indentation is information too: a place whose lines sit at the search's relative
        # indentation (one shift for all) is the reading; a place that needs several is not.
        s_leads = [_lead_width(x) for x in search if x.strip()]
        steady = [p for p in spots if _steady(lines, key, [(p, p + len(s_norm))], s_leads)]
        if len(steady) == 1:
            spots = steady
    if len(spots) == 1:
        p = spots[0]
        return _Span(key[p], key[p + len(s_norm) - 1] + 1, MatchKind.WHITESPACE)
    if len(spots) > 1:
        raise _ambiguous([key[p] + 1 for p in spots], MatchKind.WHITESPACE)

    if any(x.strip() == ELISION for x in search):
        return _find_elided(lines, key, o_norm, search)

    return _find_fuzzy(lines, key, o_norm, s_norm)


def _lead_width(line: str) -> int:
    return len(line.expandtabs(4)) - len(line.lstrip().expandtabs(4))


def _steady(
    lines: list[str], key: list[int], parts: list[tuple[int, int]], s_leads: list[int]
) -> bool:
    """True when the file's lines in `parts` are indented like the search, up to one shift."""
    widths = [_lead_width(lines[key[i]]) for a, b in parts for i in range(a, b)]
    return len({w - s for w, s in zip(widths, s_leads, strict=False)}) <= 1


def _occurrences(haystack: list[str], needle: list[str]) -> list[int]:
    n = len(needle)
    first = needle[0]
    out: list[int] = []
    p = -1
    last = len(haystack) - n
    while True:
        try:
            p = haystack.index(first, p + 1, last + 1)
        except ValueError:
            return out
        if n == 1 or haystack[p : p + n] == needle:
            out.append(p)


def _find_elided(lines: list[str], key: list[int], o_norm: list[str], search: list[str]) -> _Span:
    chunks: list[list[str]] = [[]]
    for line in search:
        if line.strip() == ELISION:
            chunks.append([])
        elif line.strip():
            chunks[-1].append(norm(line))
    chunks = [c for c in chunks if c]
    if len(chunks) < 2:
        raise EditError(
            "the search text's `...` has no quoted lines on one side",
            "quote lines on both sides of each `...`",
            refusal=Refusal(Reason.BAD_ELISION, stage=MatchKind.ELIDED),
        )
    # Each `...` stands for a run of at least one line. For every place of the first part, the
    # reading takes each later part at its first place after the one before (preferring places
    # at the search's indentation). Readings that keep the search's indentation (one shift for
    # all lines) beat those that do not; of those, a "tight" one (no run holds another copy of
    # the parts next to it) is the one meant. More than one is ambiguous.
    leads: list[list[int]] = [[] for _ in chunks]
    k = 0
    for line in search:
        if line.strip() == ELISION:
            k += 1 if leads[k] else 0
        elif line.strip():
            leads[k].append(_lead_width(line))

    def shift(at: int, k: int) -> int | None:
        found = {_lead_width(lines[key[at + i]]) - w for i, w in enumerate(leads[k])}
        return found.pop() if len(found) == 1 else None

    # Every place of every part, found once (bisect then answers "the first after x").
    places = [_occurrences(o_norm, chunk) for chunk in chunks]

    def between(k: int, lo: int, hi: int) -> list[int]:
        """Places of part k lying wholly inside lines [lo, hi)."""
        spots = places[k]
        return spots[bisect_left(spots, lo) : bisect_left(spots, hi - len(chunks[k]) + 1)]

    readings: list[list[tuple[int, int]]] = []
    for p in places[0]:
        parts = [(p, p + len(chunks[0]))]
        first = shift(p, 0)
        for k in range(1, len(chunks)):
            begin = parts[-1][1] + 1
            spots = places[k][bisect_left(places[k], begin) :]
            if not spots:
                break
            at = spots[0]
            if first is not None and shift(at, k) != first:
                at = next((a for a in spots[:512] if shift(a, k) == first), at)
            parts.append((at, at + len(chunks[k])))
        if len(parts) == len(chunks):
            readings.append(parts)

    def steady(parts: list[tuple[int, int]]) -> bool:
        shifts = {shift(a, k) for k, (a, _) in enumerate(parts)}
        return len(shifts) == 1 and None not in shifts

    def tight(parts: list[tuple[int, int]]) -> bool:
        same = shift(parts[0][0], 0) if steady(parts) else None
        for k in range(1, len(parts)):
            lo, hi = parts[k - 1][1], parts[k][0]
            for j in (k - 1, k):
                for q in between(j, lo, hi):
                    if same is None or shift(q, j) == same:
                        return False
        return True

    kept = [r for r in readings if steady(r)] or readings
    placements = [r for r in kept if tight(r)] or kept
    if not placements:
        # The candidate is for the first part the file lacks: that is the one to quote again.
        missing = next((k for k, spots in enumerate(places) if not spots), None)
        if missing is None:
            what = "its quoted parts are not in the file in this order"
            quoted = [line for chunk in chunks for line in chunk]
        else:
            what = f"quoted part {missing + 1} of {len(chunks)} is not in the file"
            quoted = chunks[missing]
        raise _not_found(
            f"the search text with `...` was not found ({what})",
            "every quoted part must match the file, in order",
            _closest(lines, key, o_norm, quoted, _windows(o_norm, quoted)),
            MatchKind.ELIDED,
        )
    if len(placements) > 1:
        starts = [key[reading[0][0]] + 1 for reading in placements]
        raise EditError(
            "the search text with `...` can be read in more than one way "
            f"(from lines {_list(starts)})",
            "quote more lines around each `...`",
            refusal=Refusal(Reason.AMBIGUOUS, places=tuple(starts), stage=MatchKind.ELIDED),
        )
    parts = tuple((key[a], key[b - 1] + 1) for a, b in placements[0])
    return _Span(parts[0][0], parts[-1][1], MatchKind.ELIDED, parts)


def _expand(
    lines: list[str], match: _Span, search: list[str], replace: list[str]
) -> tuple[list[str], list[str]]:
    """Put the elided runs of the file in place of the `...` lines of search and replace."""
    groups: list[list[str]] = [[]]
    for line in search:
        if line.strip() == ELISION:
            groups.append([])
        else:
            groups[-1].append(line)
    groups = [g for g in groups if any(x.strip() for x in g)]
    runs: list[list[str]] = []
    for k in range(len(match.parts) - 1):
        start, end = match.parts[k][1], match.parts[k + 1][0]
        # Blank lines the search quotes next to a `...` are not part of the elided run.
        after = next((n for n, x in enumerate(reversed(groups[k])) if x.strip()), 0)
        before = next((n for n, x in enumerate(groups[k + 1]) if x.strip()), 0)
        while after and start < end and not lines[start].strip():
            start, after = start + 1, after - 1
        while before and end > start and not lines[end - 1].strip():
            end, before = end - 1, before - 1
        runs.append(lines[start:end])
    o = len(runs)
    elisions_in_replace = sum(1 for x in replace if x.strip() == ELISION)
    if elisions_in_replace not in (0, o):
        raise EditError(
            f"the replacement has {elisions_in_replace} `...` lines but the search has {o}",
            "use the same number, or none to replace the elided lines too",
            refusal=Refusal(Reason.BAD_ELISION, stage=MatchKind.ELIDED),
        )

    def fill(block: list[str]) -> list[str]:
        out: list[str] = []
        n = 0
        for line in block:
            if line.strip() == ELISION and n < len(runs):
                out.extend(runs[n])
                n += 1
            else:
                out.append(line)
        return out

    return fill(search), fill(replace)


def _find_fuzzy(lines: list[str], key: list[int], o_norm: list[str], s_norm: list[str]) -> _Span:
    n = len(s_norm)
    scored = _windows(o_norm, s_norm)
    good = [(score, p) for score, p in scored if score >= FUZZY_THRESHOLD]
    if n >= 2 and good:
        best_score, best = good[0]
        rivals = [p for score, p in good[1:] if abs(p - best) >= n and score >= best_score - 0.05]
        if not rivals:
            return _Span(key[best], key[best + n - 1] + 1, MatchKind.WINDOW, score=best_score)
        raise _ambiguous(sorted(key[p] + 1 for p in [best, *rivals]), MatchKind.WINDOW)
    raise _not_found(
        "the search text was not found in the file",
        "quote the lines exactly as they are",
        _closest(lines, key, o_norm, s_norm, scored),
        MatchKind.WINDOW,
    )


def _windows(o_norm: list[str], s_norm: list[str]) -> list[tuple[float, int]]:
    """Candidate windows (score, start) best first: windows sharing lines with the search."""
    n = len(s_norm)
    where: dict[str, list[int]] = defaultdict(list)
    for j, line in enumerate(o_norm):
        where[line].append(j)
    votes: dict[int, int] = defaultdict(int)
    for i, line in enumerate(s_norm):
        for j in where.get(line, ()):
            start = j - i
            if 0 <= start <= len(o_norm) - n:
                votes[start] += 1
    need = max(1, math.ceil(0.5 * n)) if n >= 2 else 1
    scored: list[tuple[float, int]] = []
    for start, count in votes.items():
        if count < need:
            continue
        total = 0.0
        for i in range(n):
            a, b = s_norm[i], o_norm[start + i]
            total += 1.0 if a == b else SequenceMatcher(None, a, b).ratio()
        scored.append((total / n, start))
    scored.sort(key=lambda item: (-item[0], item[1]))
    return scored


def _closest_line(o_norm: list[str], s_norm: list[str]) -> tuple[float, int] | None:
    """The single most similar line, shown as a candidate when no window shares lines."""
    if not o_norm:
        return None
    ratios = [SequenceMatcher(None, s_norm[0], line).ratio() for line in o_norm]
    best = max(range(len(o_norm)), key=ratios.__getitem__)
    return ratios[best], best


def _closest(
    lines: list[str],
    key: list[int],
    o_norm: list[str],
    s_norm: list[str],
    scored: list[tuple[float, int]],
) -> Candidate | None:
    """The best scored window, else the line most like the search's first; None when the file
    has no line with text."""
    best = scored[0] if scored else _closest_line(o_norm, s_norm)
    if best is None:
        return None
    score, start = best
    first = key[start]
    last = key[min(start + len(s_norm), len(key)) - 1]
    return Candidate(first + 1, last + 1, "\n".join(lines[first : last + 1]), score)


def _not_found(message: str, hint: str, closest: Candidate | None, stage: MatchKind) -> EditError:
    if closest is not None:
        listing = _listing(closest, _MAX_CANDIDATE_LINES)
        hint += f". The closest lines (similarity {closest.score:.0%}):\n{listing}"
    return EditError(message, hint, refusal=Refusal(Reason.NOT_FOUND, closest=closest, stage=stage))


def _listing(candidate: Candidate, most: int) -> str:
    """The candidate's lines, numbered as an editor numbers them (at most `most`)."""
    shown = candidate.text.split("\n")[:most]
    return "\n".join(f"{candidate.start_line + k:>5} | {x}" for k, x in enumerate(shown))


def _ambiguous(places: list[int], stage: MatchKind) -> EditError:
    return EditError(
        f"the search text matches {len(places)} places (lines {_list(places)})",
        "include more surrounding lines so that it matches one place",
        refusal=Refusal(Reason.AMBIGUOUS, places=tuple(places), stage=stage),
    )


def _exact_starts(text: str, search: str, *, lines_only: bool) -> list[int]:
    out: list[int] = []
    at = text.find(search)
    while at != -1:
        if not lines_only or at == 0 or text[at - 1] == "\n":
            out.append(at)
        at = text.find(search, at + 1)
    return out


def _list(numbers: list[int]) -> str:
    shown = ", ".join(str(n) for n in numbers[:6])
    return shown + (", …" if len(numbers) > 6 else "")
