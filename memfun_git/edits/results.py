"""What the edits package reports back, as data: how an edit matched, or why it was refused.

The model reads messages; the engine, its event stream and the benchmarks read these values.
A refused operation raises `errors.EditError`, whose `refusal` is a `Refusal`: the reason (a
closed set), the path, every place an ambiguous search was found, and the closest candidate of
a search that was not found (for an edit about blank lines that misquotes them, the lines it
matched). An applied edit reports an `EditMatch`: which matching stage found it, where, and how
closely. Line numbers are 1-based and inclusive, as an editor shows them, and count lines of
the file as it was before the edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["Candidate", "EditMatch", "EditResult", "MatchKind", "Reason", "Refusal"]


class MatchKind(Enum):
    """The stage of `match.apply_edit` that found the search, in the order they are tried."""

    EXACT = "exact"
    """The search is the file's text, character for character."""
    WHITESPACE = "whitespace"
    """Lines equal once indentation, trailing spaces and blank lines are set aside."""
    ELIDED = "elided"
    """A `...` line of the search stood for a run of the file's lines."""
    WINDOW = "window"
    """A difflib sliding window scored at least `match.FUZZY_THRESHOLD`: a slip or two."""


@dataclass(frozen=True, slots=True)
class EditMatch:
    """Where and how an edit's search matched: what an event shows of an applied edit."""

    kind: MatchKind
    start_line: int
    """First line of the file that the search stood for."""
    end_line: int
    """Last line of the file that the search stood for."""
    score: float
    """The window's similarity (0–1) for `WINDOW`; 1.0 for the other kinds, which match
    whitespace-normalised lines exactly."""


@dataclass(frozen=True, slots=True)
class EditResult:
    """The result of `match.apply_edit`: the new text and how the search matched."""

    text: str
    match: EditMatch


@dataclass(frozen=True, slots=True)
class Candidate:
    """The lines of the file most like a search that was not found: what the model meant?"""

    start_line: int
    end_line: int
    text: str
    """The file's lines `start_line`..`end_line`, joined with "\\n" (no line numbers)."""
    score: float
    """Similarity (0–1) of the search to these lines, as the message shows it."""


class Reason(Enum):
    """Why an operation was refused: a closed set, so callers decide by data, not by text."""

    EMPTY_SEARCH = "empty-search"
    """The search holds no text to look for."""
    NOT_FOUND = "not-found"
    """No place matched; `closest` holds the nearest lines, if the file has any."""
    BLANK_LINES = "blank-lines"
    """The edit adds or removes blank lines, its search's blank lines differ from the file's,
    and no line with text would change: which blank lines it meant is unclear (issue 18).
    `closest` holds the file's lines the search matched."""
    AMBIGUOUS = "ambiguous"
    """More than one place matched; `places` holds each one's first line."""
    BAD_ELISION = "bad-elision"
    """The `...` lines of the search or replacement cannot be used as written."""
    PATH_REFUSED = "path-refused"
    """Confinement (guard.py): outside the worktree, a link, `.git`, read-only."""
    MISSING = "missing"
    """The file does not exist."""
    NOT_A_FILE = "not-a-file"
    """A folder, a named pipe, a socket: not a regular file."""
    BINARY = "binary"
    """A NUL byte in the first 8 KB, or text that does not decode."""
    TOO_BIG = "too-big"
    """Over `ops.MAX_BYTES`, before or after the change."""
    DROPS_TOO_MUCH = "drops-too-much"
    """`write_file` would drop more than `ops.MAX_DROP_PERCENT` of the file's lines."""
    EDIT_ONLY = "edit-only"
    """Writing, creating, deleting or renaming in an edit-only step (fix, polish)."""
    ENCODING = "encoding"
    """The new text has a character the file's encoding cannot hold."""
    EXISTS = "exists"
    """A rename onto a path that already exists."""
    OS_ERROR = "os-error"
    """The operating system refused (permissions, disk full, name too long)."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an operation was refused, as data; the message for the model is the exception's."""

    reason: Reason
    path: str | None = None
    """The path refused: cleaned, except where confinement refused the name as given; for a
    rename onto an existing file, that file. None for `apply_edit` alone (it has no path)."""
    places: tuple[int, ...] = ()
    """For `AMBIGUOUS`: the first line of every place found (all of them; the message lists
    at most six)."""
    closest: Candidate | None = None
    """For `NOT_FOUND`: the file's lines most like the search, elided searches included; for
    `BLANK_LINES`: the file's lines the search matched, blank lines as they are."""
    stage: MatchKind | None = None
    """For the matcher's refusals: the stage that refused (an ambiguity seen on exact text
    needs more context lines; one seen on an elided search needs more around each `...`)."""
