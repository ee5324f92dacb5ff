"""`.memfun/MEMORY.md`: what the agent remembers, in a file people read, edit and review.

    # Memory

    ## Preferences
    - [3f9a1c 2026-12-03] always use pool_size=10 for dev
    - use tabs in Makefiles            (a hand-written line: read as an entry, kept as written)

    ## Project facts
    - [77b2e0 2026-12-04] the API server listens on port 8080

An entry is one `- ` line under a `## ` section; memfun writes `[id date]` before the text.
The id is the first 6 hex digits of the SHA-256 of the text, normalised (case and spacing), so
the same fact learned on two branches is one entry after a merge, and a hand-written line
gets the same id memfun would give it. Parsing is tolerant: a line it cannot read (prose, a
sub-list, a table) is kept where it is, reported in `MemoryFile.odd`, and written back
unchanged; only the entries memfun adds or removes change the file.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field

__all__ = [
    "SECTIONS",
    "Entry",
    "MemoryFile",
    "entry_id",
    "normalise",
    "union",
]

SECTIONS: dict[str, str] = {
    "preference": "Preferences",
    "fact": "Project facts",
    "convention": "Conventions",
    "decision": "Decisions",
}
"""Entry kinds and the section each goes under."""
_TITLE = "# Memory"
_ENTRY = re.compile(r"^[-*] +\[([0-9a-f]{6,16})(?: (\d{4}-\d{2}-\d{2}))?\] +(\S.*?)\s*$")
_BULLET = re.compile(r"^[-*] +(\S.*?)\s*$")
_SECTION = re.compile(r"^## +(\S.*?)\s*$")


def normalise(text: str) -> str:
    return " ".join(text.split()).casefold()


def entry_id(text: str) -> str:
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:6]


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    text: str
    section: str = "Project facts"
    """The `## ` heading it is under ("" above the first heading)."""
    date: str = ""
    """YYYY-MM-DD it was learned ("" for a hand-written line without one)."""
    source: str = ""
    """Where it was read: MEMORY.md at a commit, ~/.memfun/MEMORY.md, or this clone's index."""

    @classmethod
    def new(cls, text: str, kind: str = "fact", *, day: str | None = None) -> Entry:
        text = " ".join(text.split())
        section = SECTIONS.get(kind, SECTIONS["fact"])
        return cls(entry_id(text), text, section, day or time.strftime("%Y-%m-%d"))

    def line(self) -> str:
        date = f" {self.date}" if self.date else ""
        return f"- [{self.id}{date}] {self.text}"


@dataclass(slots=True)
class _Line:
    raw: str
    entry: Entry | None = None


@dataclass(slots=True)
class MemoryFile:
    """A parsed MEMORY.md; `render()` gives it back, the odd lines as they were."""

    lines: list[_Line] = field(default_factory=list[_Line])
    odd: list[tuple[int, str]] = field(default_factory=list[tuple[int, str]])
    """(line number, text) of lines that are neither a heading, an entry nor blank."""

    @classmethod
    def parse(cls, text: str, source: str = "") -> MemoryFile:
        parsed = cls()
        section = ""  # entries above the first `## ` heading belong to no section
        for number, raw in enumerate(text.splitlines(), 1):
            stripped = raw.strip()
            heading = _SECTION.match(stripped)
            entry: Entry | None = None
            if heading:
                section = heading.group(1)
            elif found := _ENTRY.match(stripped):
                entry = Entry(found.group(1), found.group(3), section, found.group(2) or "", source)
            elif (bullet := _BULLET.match(stripped)) and raw == raw.lstrip():
                entry = Entry(entry_id(bullet.group(1)), bullet.group(1), section, "", source)
            elif stripped and not stripped.startswith("# ") and stripped != _TITLE:
                parsed.odd.append((number, raw))
            parsed.lines.append(_Line(raw, entry))
        return parsed

    @property
    def entries(self) -> list[Entry]:
        seen: set[str] = set()
        found: list[Entry] = []
        for line in self.lines:
            if line.entry is not None and line.entry.id not in seen:
                seen.add(line.entry.id)
                found.append(line.entry)
        return found

    def has(self, entry_id: str) -> bool:
        return any(line.entry is not None and line.entry.id == entry_id for line in self.lines)

    def add(self, entry: Entry) -> bool:
        """Add `entry` at the end of its section (made when missing); False if its id is in."""
        if self.has(entry.id):
            return False
        if not any(line.raw.strip() for line in self.lines):
            self.lines = [_Line(_TITLE), _Line("")]
        if not entry.section:
            first = next(
                (i for i, line in enumerate(self.lines) if _SECTION.match(line.raw.strip())),
                len(self.lines),
            )
            at = first
            while at > 0 and not self.lines[at - 1].raw.strip():
                at -= 1
            self.lines.insert(at, _Line(entry.line(), entry))
            return True
        start = next(
            (
                i
                for i, line in enumerate(self.lines)
                if (m := _SECTION.match(line.raw.strip())) and m.group(1) == entry.section
            ),
            None,
        )
        if start is None:
            while self.lines and not self.lines[-1].raw.strip():
                self.lines.pop()
            self.lines += [_Line(""), _Line(f"## {entry.section}"), _Line(entry.line(), entry)]
            return True
        end = start + 1
        while end < len(self.lines) and not _SECTION.match(self.lines[end].raw.strip()):
            end += 1
        at = end
        while at > start + 1 and not self.lines[at - 1].raw.strip():
            at -= 1  # after the section's last line, before the blank lines that close it
        self.lines.insert(at, _Line(entry.line(), entry))
        return True

    def remove(self, entry_id: str) -> Entry | None:
        """Remove the entry `entry_id` (every line holding it); the entry removed or None."""
        gone = [line.entry for line in self.lines if line.entry and line.entry.id == entry_id]
        self.lines = [line for line in self.lines if not (line.entry and line.entry.id == entry_id)]
        return gone[0] if gone else None

    def render(self) -> str:
        text = "\n".join(line.raw for line in self.lines)
        return text + "\n" if text else ""


def union(ours: str, theirs: str) -> str:
    """MEMORY.md merged as memfun merges it: ours as it is, then each entry of theirs whose
    id ours lacks, under its section. Odd lines of theirs that ours lacks go at the end, so
    nothing either side wrote is lost, and nothing is doubled."""
    merged = MemoryFile.parse(ours)
    other = MemoryFile.parse(theirs)
    for entry in other.entries:
        merged.add(entry)
    known = {line.raw for line in merged.lines}
    extra = [raw for _, raw in other.odd if raw not in known]
    if extra:
        merged.lines += [_Line(raw) for raw in extra]
    return merged.render()
