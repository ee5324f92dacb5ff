"""The model's file operations on a workspace: write, edit, delete, rename, and reading.

The operations are values of `memfun_git.operations` (the format a solver's answer is parsed
from); `Op` is the file operations among them, what this module applies.

`FileOps(workspace, edit_only=...)` owns the read cache; `apply(ops)` runs a turn's operations in
order and returns one `OpResult` per operation. Each method raises `EditError` (the message is
for the model: what was refused and why; `refusal` is the same as data); `apply` turns each
refusal into a failed `OpResult` carrying that `Refusal`, and goes on with the next operation,
so the model learns every reason in one turn and the engine's events can show each one. An
applied `edit_file` reports how its search matched (`OpResult.match`).

Rules (ARCHITECTURE.md "File safety", issue 12):
- Every path passes `guard.resolve`: inside the worktree, no links, no `.git`, no submodule.
- `write_file` creates a file and its folders. On an existing file it is refused when the new
  content drops more than 30 % of the old. The measure: of the old file's non-blank lines
  (whitespace normalised), the share the new content lacks, counted as a multiset, so that
  moving code is not dropping it and re-indenting is not either; exactly 30 % passes.
- Edit-only mode (fix, polish): `edit_file` only; writing, creating, deleting and renaming
  are refused.
- Text only: a file with a NUL byte in its first 8 KB (git's test, 8000 bytes) or that does not
  decode is binary and refused for read, edit and write; so is anything over 1 MB (MAX_BYTES).
- Encodings: a UTF-8 or UTF-16 BOM decides (the BOM and byte order are kept); else UTF-8, else
  cp1252, else latin-1. Untouched text round-trips byte for byte, CRLF included (`apply_edit`
  keeps CRLF); `write_file` onto a CRLF file writes the new content with CRLF too.
- Writes go to a temporary file renamed over the old one (mode kept): a hard link to a file
  outside the worktree is never written through.
- Each `OpResult` names the paths its operation changed (both, for a rename);
  `Workspace.apply` records them, so committing `sorted(workspace.touched)` commits exactly
  what the operations changed.
- Read cache: a file whose stat (mtime, ctime, size, inode) is unchanged is not read again,
  unless its mtime was too close to the read to trust (git's "racy git" rule); `disk_reads`
  counts real reads. `read()` says whether the content (its MD5) is what the previous read
  of that path returned, so the model can be told "unchanged since you last read it".
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
import time
from collections import Counter
from collections.abc import Generator, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import replace as replace_fields
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.atomic import write_atomic
from memfun_git.edits.guard import clean, resolve
from memfun_git.edits.match import apply_edit
from memfun_git.edits.results import EditMatch, Reason, Refusal
from memfun_git.edits.transfer import norm
from memfun_git.errors import EditError
from memfun_git.operations import DeleteFile, EditFile, RenameFile, WriteFile

if TYPE_CHECKING:
    from memfun_git.gitops.worktree import Workspace

__all__ = [
    "MAX_BYTES",
    "MAX_DROP_PERCENT",
    "FileOps",
    "FileText",
    "Op",
    "OpResult",
    "apply_ops",
    "dropped_lines",
]

MAX_BYTES = 1024 * 1024
MAX_DROP_PERCENT = 30
_BINARY_PROBE = 8000
_RACY_NS = 2_000_000_000
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


Op = WriteFile | EditFile | DeleteFile | RenameFile
"""The operations `FileOps` applies: an answer's operations but `RunCommand` (operations/)."""


@dataclass(frozen=True, slots=True)
class OpResult:
    op: Op
    ok: bool
    message: str
    """What was done, or why the operation was refused (shown to the model)."""
    match: EditMatch | None = None
    """For an `EditFile` that was applied: how its search matched the file."""
    refusal: Refusal | None = None
    """For a refused operation: why, as data. A value, not the exception: events stay
    immutable and keep no traceback (and the frames it holds) alive."""
    paths: tuple[str, ...] = ()
    """The paths the operation changed (none when refused or when nothing changed)."""


@dataclass(frozen=True, slots=True)
class FileText:
    path: str
    text: str
    md5: str
    unchanged: bool
    """The content is what the previous `read` of this path returned."""


@dataclass(frozen=True, slots=True)
class _Decoded:
    text: str
    encoding: str
    bom: bytes

    def encode(self, rel: str, text: str) -> bytes:
        try:
            return self.bom + text.encode(self.encoding)
        except UnicodeEncodeError as exc:
            char = exc.object[exc.start]
            line = exc.object.count("\n", 0, exc.start) + 1
            raise _refused(
                Reason.ENCODING,
                rel,
                f"{rel} is encoded in {self.encoding}, which cannot hold {char!r} (line {line})",
                "use characters the file's encoding has",
            ) from None


@dataclass(frozen=True, slots=True)
class _Entry:
    stamp: tuple[int, int, int, int]
    decoded: _Decoded
    md5: str
    racy: bool


def dropped_lines(old: str, new: str) -> tuple[int, int]:
    """(lost, total): the old text's non-blank lines, whitespace normalised, that `new` lacks."""
    before = Counter(norm(x) for x in old.splitlines() if x.strip())
    after = Counter(norm(x) for x in new.splitlines() if x.strip())
    total = sum(before.values())
    return total - sum((before & after).values()), total


def _decode(rel: str, data: bytes) -> _Decoded:
    binary = _refused(
        Reason.BINARY, rel, f"{rel} is a binary file: only text files can be read or changed"
    )
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                text = data[len(bom) :].decode(encoding)
            except UnicodeDecodeError:
                raise binary from None
            if "\0" in text:
                raise binary
            return _Decoded(text, encoding, bom)
    if b"\0" in data[:_BINARY_PROBE]:
        raise binary
    for encoding in ("utf-8", "cp1252"):
        try:
            return _Decoded(data.decode(encoding), encoding, b"")
        except UnicodeDecodeError:
            continue
    return _Decoded(data.decode("latin-1"), "latin-1", b"")


def _too_big(rel: str, size: int) -> EditError:
    return _refused(
        Reason.TOO_BIG,
        rel,
        f"{rel} would be {size:,} bytes, over the 1 MB limit for files memfun reads or writes",
        "leave it to the user, or split it into smaller files",
    )


def _refused(reason: Reason, rel: str, message: str, hint: str = "") -> EditError:
    return EditError(message, hint, refusal=Refusal(reason, path=rel))


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


class FileOps:
    """The model's file operations on one workspace, with the read cache they share."""

    def __init__(self, workspace: Workspace, *, edit_only: bool = False) -> None:
        self.workspace = workspace
        self.edit_only = edit_only
        """Fix and polish: only `edit_file` is allowed."""
        self.disk_reads = 0
        """How many times a file's bytes were read from disk (cache misses)."""
        self._cache: dict[str, _Entry] = {}
        self._returned: dict[str, str] = {}
        self._changed: list[str] = []

    # -- reading -----------------------------------------------------------------------------

    def read(self, path: str) -> FileText:
        """The text of `path`; `unchanged` when it is what the previous read returned."""
        rel = clean(path)
        entry = self._load(rel, resolve(self.workspace, rel, for_write=False))
        unchanged = self._returned.get(rel) == entry.md5
        self._returned[rel] = entry.md5
        return FileText(rel, entry.decoded.text, entry.md5, unchanged)

    def _load(self, rel: str, full: Path) -> _Entry:
        if not os.path.lexists(full):
            raise _refused(Reason.MISSING, rel, f"{rel} does not exist")
        with _os_errors(rel):
            return self._load_existing(rel, full)

    def _load_existing(self, rel: str, full: Path) -> _Entry:
        st = os.lstat(full)
        if stat.S_ISDIR(st.st_mode):
            raise _refused(Reason.NOT_A_FILE, rel, f"{rel} is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise _refused(Reason.NOT_A_FILE, rel, f"{rel} is not a regular file")
        if st.st_size > MAX_BYTES:
            raise _too_big(rel, st.st_size)
        entry = self._cache.get(rel)
        if entry is not None and entry.stamp == _stamp(st) and not entry.racy:
            return entry
        # O_NOFOLLOW and O_NONBLOCK: a link or a FIFO swapped in since lstat is not followed.
        fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            st = os.fstat(handle.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise _refused(Reason.NOT_A_FILE, rel, f"{rel} is not a regular file")
            data = handle.read(MAX_BYTES + 1)
        self.disk_reads += 1
        if len(data) > MAX_BYTES:
            raise _too_big(rel, len(data))
        return self._remember(rel, st, _decode(rel, data), data)

    def _remember(self, rel: str, st: os.stat_result, decoded: _Decoded, data: bytes) -> _Entry:
        racy = st.st_mtime_ns >= time.time_ns() - _RACY_NS
        md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
        entry = _Entry(_stamp(st), decoded, md5, racy)
        self._cache[rel] = entry
        return entry

    # -- changing ----------------------------------------------------------------------------

    def write_file(self, path: str, content: str) -> str:
        """Create `path` with `content`, or replace its content (within the 30 % rule)."""
        rel = clean(path)
        self._writable("write_file", rel)
        full = resolve(self.workspace, rel)
        if not os.path.lexists(full):
            decoded = _Decoded(content, "utf-8", b"")
            self._store(rel, full, decoded, decoded.encode(rel, content))
            return f"created {rel}"
        old = self._load(rel, full).decoded
        lost, total = dropped_lines(old.text, content)
        if lost * 100 > total * MAX_DROP_PERCENT:
            raise _refused(
                Reason.DROPS_TOO_MUCH,
                rel,
                f"write_file would drop {lost} of the {total} lines of {rel} "
                f"({lost / total:.0%}; more than {MAX_DROP_PERCENT} % is refused)",
                "change it with edit_file, or write the whole file with the parts you keep",
            )
        if "\r" not in content and old.text.count("\r\n") == old.text.count("\n") > 0:
            content = content.replace("\n", "\r\n")
        if content == old.text:
            return f"{rel} already has this content"
        self._store(rel, full, _Decoded(content, old.encoding, old.bom), old.encode(rel, content))
        return f"wrote {rel}"

    def edit_file(self, path: str, search: str, replace: str) -> str:
        """Replace the part of `path` that `search` stands for (see `match.apply_edit`)."""
        return self._edit(path, search, replace)[0]

    def _edit(self, path: str, search: str, replace: str) -> tuple[str, EditMatch]:
        rel = clean(path)
        full = resolve(self.workspace, rel)
        if not os.path.lexists(full):
            how = "" if self.edit_only else "create it with write_file"
            raise _refused(Reason.MISSING, rel, f"{rel} does not exist", how)
        old = self._load(rel, full).decoded
        try:
            result = apply_edit(old.text, search, replace)
        except EditError as exc:
            refusal = replace_fields(exc.refusal, path=rel)
            raise EditError(f"{rel}: {exc.message}", exc.hint, refusal=refusal) from None
        text = result.text
        if text == old.text:
            message = f"{rel} is unchanged: the replacement equals the text it replaces"
            return message, result.match
        self._store(rel, full, _Decoded(text, old.encoding, old.bom), old.encode(rel, text))
        return f"edited {rel}", result.match

    def delete_file(self, path: str) -> str:
        rel = clean(path)
        self._writable("delete_file", rel)
        full = resolve(self.workspace, rel)
        self._existing_file(rel, full)
        with _os_errors(rel):
            os.unlink(full)
        self._cache.pop(rel, None)
        self._changed.append(rel)
        return f"deleted {rel}"

    def rename_file(self, path: str, new_path: str) -> str:
        rel, new_rel = clean(path), clean(new_path)
        self._writable("rename_file", rel)
        full, target = resolve(self.workspace, rel), resolve(self.workspace, new_rel)
        self._existing_file(rel, full)
        if os.path.lexists(target):
            raise _refused(
                Reason.EXISTS,
                new_rel,
                f"cannot rename {rel} to {new_rel}: {new_rel} already exists",
            )
        with _os_errors(new_rel):
            target.parent.mkdir(parents=True, exist_ok=True)
            os.rename(full, target)
        self._cache.pop(rel, None)
        self._changed += (rel, new_rel)
        return f"renamed {rel} to {new_rel}"

    def apply(self, ops: Iterable[Op]) -> list[OpResult]:
        """Apply `ops` in order; a refused operation is reported and the next one runs."""
        results: list[OpResult] = []
        for op in ops:
            matched: EditMatch | None = None
            self._changed = []
            try:
                match op:
                    case WriteFile(path, content):
                        message = self.write_file(path, content)
                    case EditFile(path, search, replace):
                        message, matched = self._edit(path, search, replace)
                    case DeleteFile(path):
                        message = self.delete_file(path)
                    case RenameFile(path, new_path):
                        message = self.rename_file(path, new_path)
            except EditError as exc:
                results.append(OpResult(op, False, str(exc), refusal=exc.refusal))
            else:
                results.append(
                    OpResult(op, True, message, match=matched, paths=tuple(self._changed))
                )
        return results

    def _writable(self, what: str, rel: str) -> None:
        if self.edit_only:
            raise _refused(
                Reason.EDIT_ONLY,
                rel,
                f"{what} {rel} is refused: this step may only change existing files with "
                "edit_file (no writing, creating, deleting or renaming)",
            )

    def _existing_file(self, rel: str, full: Path) -> None:
        if not os.path.lexists(full):
            raise _refused(Reason.MISSING, rel, f"{rel} does not exist")
        if full.is_dir():
            raise _refused(
                Reason.NOT_A_FILE, rel, f"{rel} is a folder", "name the files in it one by one"
            )

    def _store(self, rel: str, full: Path, decoded: _Decoded, data: bytes) -> None:
        if len(data) > MAX_BYTES:
            raise _too_big(rel, len(data))
        with _os_errors(rel):
            full.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(full, data)
            self._remember(rel, os.lstat(full), decoded, data)
        self._changed.append(rel)


@contextmanager
def _os_errors(rel: str) -> Generator[None]:
    """Turn an OSError into an EditError naming the path (disk full, permission, name length)."""
    try:
        yield
    except OSError as exc:
        raise _refused(Reason.OS_ERROR, rel, f"{rel}: {exc.strerror or exc}") from exc


def apply_ops(
    workspace: Workspace, ops: Iterable[Op], *, edit_only: bool = False
) -> list[OpResult]:
    """Apply `ops` to `workspace` with a fresh `FileOps` (no read cache carried over)."""
    return FileOps(workspace, edit_only=edit_only).apply(ops)
