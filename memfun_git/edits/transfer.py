"""Carrying a search→replace change onto the original text the search was matched to.

The model's search block is its memory of the original; slips (indentation, trailing spaces,
blank lines, a misremembered word) make it differ. Once the matching span of the original is
known, the change the model meant is the difference between its search and its replace. That
difference is applied to the span, in two passes:

1. Lines with text. Lines the model left unchanged come out exactly as they are in the file;
   new lines come from the replace block, re-indented the way the search was re-indented; file
   lines the model did not quote stay where they are.
2. Blank lines, gap by gap. Between two lines of the result, the blank lines are the file's when
   the model's search and replace agree on that gap (its memory of blank lines is not a change
   it meant), and the replacement's when they differ (it changed the spacing, or the gap is new).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher

__all__ = [
    "align",
    "norm",
    "transfer",
]


def norm(line: str) -> str:
    """A line with its whitespace normalised: what a slip cannot change."""
    return " ".join(line.split())


def _lead(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _tail(line: str) -> str:
    return line[len(line.rstrip()) :]


def _width(lead: str) -> int:
    return len(lead.expandtabs(4))


@dataclass(frozen=True, slots=True)
class _Side:
    """The lines of one block with text, and where each sits in the full block."""

    lines: list[str]
    text: list[int]
    """Positions (in `lines`) of the lines with text."""

    @classmethod
    def of(cls, lines: list[str]) -> _Side:
        return cls(lines, [i for i, x in enumerate(lines) if x.strip()])

    def gap(self, a: int, b: int) -> list[str] | None:
        """Blank lines between text lines a and b (indexes into `text`), if b follows a."""
        if b != a + 1:
            return None
        return self.lines[self.text[a] + 1 : self.text[b]]

    def lead(self) -> list[str]:
        return self.lines[: self.text[0]] if self.text else list(self.lines)

    def trail(self) -> list[str]:
        return self.lines[self.text[-1] + 1 :] if self.text else []


@dataclass(slots=True)
class _Out:
    text: str
    s: int | None = None
    r: int | None = None
    o: int | None = None
    first: tuple[int, int | None] | None = None
    """For the first line of a rewritten block: (search index, file index) it replaced."""
    last: tuple[int, int | None] | None = None
    """For the last line of a rewritten block: (search index, file index) it replaced."""


def align(search: list[str], span: list[str]) -> dict[int, int]:
    """Map search index → span index for lines the two share, or nearly share (in order); in
    a run of differing lines as long on both sides, each line stands for the one in its place."""
    mapping: dict[int, int] = {}
    a, b = [norm(x) for x in search], [norm(x) for x in span]
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            mapping.update({i1 + k: j1 + k for k in range(i2 - i1)})
        elif tag == "replace" and i2 - i1 == j2 - j1:
            # As many lines on each side: each misremembered line stands for the file's line
            # in its place (a window match quotes its span line for line).
            mapping.update({i1 + k: j1 + k for k in range(i2 - i1)})
        elif tag == "replace":
            j = j1  # a misremembered line: pair similar lines in order
            for i in range(i1, i2):
                while j < j2:
                    j += 1
                    if SequenceMatcher(None, a[i], b[j - 1]).ratio() >= 0.6:
                        mapping[i] = j - 1
                        break
    return mapping


class _Indenter:
    """Maps the replace block's indentation onto the file's, learned from aligned lines."""

    def __init__(self, pairs: Counter[tuple[str, str]]) -> None:
        self.table: dict[str, str] = {}
        for (s_lead, o_lead), _ in pairs.most_common():
            self.table.setdefault(s_lead, o_lead)
        deltas: Counter[int] = Counter()
        for (s_lead, o_lead), n in pairs.items():
            deltas[_width(o_lead) - _width(s_lead)] += n
        self.delta = deltas.most_common(1)[0][0] if deltas else 0
        self.tabs = any("\t" in o for o in self.table.values())
        self.identity = all(s == o for s, o in self.table.items())

    def __call__(self, line: str) -> str:
        if self.identity:
            return line
        lead = _lead(line)
        body = line[len(lead) :]
        if lead in self.table:
            return self.table[lead] + body
        best = max((s for s in self.table if lead.startswith(s)), key=len, default=None)
        if best is not None:
            return self.table[best] + lead[len(best) :] + body
        width = max(0, _width(lead) + self.delta)  # shallower than any line seen
        return ("\t" * (width // 4) if self.tabs else " " * width) + body


def transfer(search: list[str], replace: list[str], span: list[str]) -> list[str]:
    """The new lines for `span`, given that the model's `search` stands for it."""
    s, r, o = _Side.of(search), _Side.of(replace), _Side.of(span)
    s_text = [search[i] for i in s.text]
    r_text = [replace[i] for i in r.text]
    o_text = [span[i] for i in o.text]
    mapping = align(s_text, o_text)
    pairs: Counter[tuple[str, str]] = Counter(
        (_lead(s_text[i]), _lead(o_text[j])) for i, j in mapping.items()
    )
    indent = _Indenter(pairs)
    strip_trailing = any(
        s_text[i] != s_text[i].rstrip() and o_text[j] == o_text[j].rstrip()
        for i, j in mapping.items()
    )
    items = _text_lines(s_text, r_text, o_text, mapping, indent, strip_trailing)

    out: list[str] = []
    lead = o.lead() if s.lead() == r.lead() else r.lead()
    out.extend(lead)
    for k, item in enumerate(items):
        if k:
            out.extend(_gap(items[k - 1], item, s, r, o))
        out.append(item.text)
    trail = o.trail() if s.trail() == r.trail() else r.trail()
    out.extend(trail)
    return out


def _gap(x: _Out, y: _Out, s: _Side, r: _Side, o: _Side) -> list[str]:
    """The blank lines between two text lines of the result."""
    f_gap = o.gap(x.o, y.o) if x.o is not None and y.o is not None else None
    s_gap = s.gap(x.s, y.s) if x.s is not None and y.s is not None else None
    r_gap = r.gap(x.r, y.r) if x.r is not None and y.r is not None else None
    if f_gap is not None and r_gap is None:
        return f_gap
    if f_gap is not None and r_gap is not None and s_gap is not None and len(s_gap) == len(r_gap):
        # Same count: only whitespace on blank lines may differ. It is a change the model
        # meant when its search had the file's exact blank lines; otherwise a slip.
        return r_gap if s_gap == f_gap and r_gap != s_gap else f_gap
    if r_gap is not None and (f_gap is None or s_gap is None):
        # A line next to the gap was rewritten in place: the gap is the one the search had
        # between the unchanged line and the line rewritten, and the replacement keeps its
        # count, so the file's blank lines there stay.
        if x.s is not None and x.o is not None and y.first is not None and y.first[0] == x.s + 1:
            kept = _same_gap(s.gap(x.s, y.first[0]), r_gap, o, x.o, y.first[1])
            if kept is not None:
                return kept
        if y.s is not None and y.o is not None and x.last is not None and x.last[0] == y.s - 1:
            kept = _same_gap(s.gap(x.last[0], y.s), r_gap, o, x.last[1], y.o)
            if kept is not None:
                return kept
    if r_gap is not None:
        return r_gap
    if x.o is not None and y.o is not None and y.o > x.o:
        return [b for b in _span_between(o, x.o, y.o) if not b.strip()]
    return []


def _same_gap(
    s_gap: list[str] | None, r_gap: list[str], o: _Side, a: int | None, b: int | None
) -> list[str] | None:
    if s_gap is None or a is None or b is None or len(s_gap) != len(r_gap):
        return None
    f_gap = o.gap(a, b)
    if f_gap is not None and s_gap == f_gap and r_gap != s_gap:
        return r_gap  # only whitespace on blank lines changed, knowingly
    return f_gap


def _span_between(o: _Side, a: int, b: int) -> list[str]:
    return o.lines[o.text[a] + 1 : o.text[b]]


def _text_lines(
    s_text: list[str],
    r_text: list[str],
    o_text: list[str],
    mapping: dict[int, int],
    indent: _Indenter,
    strip_trailing: bool,
) -> list[_Out]:
    used = set(mapping.values())
    out: list[_Out] = []
    last = -1  # index in o_text of the last line consumed

    def pending(upto: int) -> list[int]:
        return [k for k in range(last + 1, upto) if k not in used]

    def new_line(line: str) -> str:
        line = indent(line)
        return line.rstrip() if strip_trailing else line

    def next_mapped(start: int) -> int:
        later = [j for i, j in mapping.items() if i >= start]
        return min(later) if later else len(o_text)

    # What the model kept, judged two ways: against its own search lines, and against the file
    # lines they stand for (a misremembered line it did not mean to change, or one that now
    # looks like its neighbour). The reading that changes fewer lines is the one meant.
    r_keys = [x.rstrip() for x in r_text]
    by_search = SequenceMatcher(None, [x.rstrip() for x in s_text], r_keys, autojunk=False)
    as_file = [
        _respell(o_text[mapping[i]], s_text[i]) if i in mapping else x.rstrip()
        for i, x in enumerate(s_text)
    ]
    by_file = SequenceMatcher(None, as_file, r_keys, autojunk=False)
    ops = min(by_search.get_opcodes(), by_file.get_opcodes(), key=_cost)
    for tag, i1, i2, j1, j2 in ops:
        mapped = [mapping[i] for i in range(i1, i2) if i in mapping]
        if tag == "equal":
            for i in range(i1, i2):
                if i not in mapping:
                    continue  # a line of the model's memory that is not in the file
                j = mapping[i]
                out.extend(_Out(o_text[k], o=k) for k in pending(j))
                text = o_text[j]
                mine = r_text[j1 + (i - i1)]
                s_tail, o_tail, r_tail = _tail(s_text[i]), _tail(text), _tail(mine)
                if (s_tail == o_tail and r_tail != o_tail) or (s_tail and not r_tail):
                    # Equal but for trailing whitespace, which the model changed knowingly:
                    # its search had the file's exact line, or it removed what it quoted.
                    text = text.rstrip() + r_tail
                out.append(_Out(text, s=i, r=j1 + (i - i1), o=j))
                last = j
            continue
        # replace / delete / insert. File lines the search did not quote, from the last
        # consumed line up to the next quoted line after this region: those the replacement
        # also has are one line (kept as in the file); of the rest, those before the region
        # stay, those inside it go with it, those after it wait for their turn.
        first = min(mapped) if mapped else next_mapped(i2)
        window = pending(next_mapped(i2))
        new = r_text[j1:j2]
        paired: dict[int, int] = {}  # offset in `new` -> o index
        if window and new:
            m = SequenceMatcher(
                None, [norm(o_text[k]) for k in window], [norm(x) for x in new], autojunk=False
            )
            for block in m.get_matching_blocks():
                paired.update({block.b + d: window[block.a + d] for d in range(block.size)})
        used.update(paired.values())
        inside_end = max(mapped) if mapped else first
        out.extend(_Out(o_text[k], o=k) for k in window if k < first and k not in used)
        for offset, line in enumerate(new):
            k = paired.get(offset)
            text = o_text[k] if k is not None else new_line(line)
            item = _Out(text, r=j1 + offset, o=k)
            if tag == "replace" and offset == 0:
                item.first = (i1, mapping.get(i1))
            if tag == "replace" and offset == len(new) - 1:
                item.last = (i2 - 1, mapping.get(i2 - 1))
            out.append(item)
        used.update(k for k in window if first < k < inside_end)
        last = max([last, *mapped, *(k for k in window if k < first)])
    out.extend(_Out(o_text[k], o=k) for k in pending(len(o_text)))
    return out


def _cost(ops: Sequence[tuple[str, int, int, int, int]]) -> int:
    return sum(max(i2 - i1, j2 - j1) for tag, i1, i2, j1, j2 in ops if tag != "equal")


def _respell(file_line: str, search_line: str) -> str:
    """The file's line at the search line's indentation (what the model would have quoted)."""
    return _lead(search_line) + file_line.strip()
