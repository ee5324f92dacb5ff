"""memfun's record of the worktrees it made, and of the process that made each.

When memfun creates a worktree it writes `memfun.json` into the worktree's admin folder
(`<common-dir>/worktrees/<name>/`): what the worktree is for (a task, a specialist, a
throwaway), its folder, and its owner (the process id and that process's start time, so a
reused pid is not mistaken for it). The admin folder lies in the common dir, which sandboxed
commands see read-only, so a task cannot forge or remove a record. gc removes only worktrees
that hold a record naming their own folder: a worktree the user made (`git worktree add
../review memfun/t1`) is never memfun's, whatever branch it has checked out.

`Checkout` describes every linked worktree, read from the admin folders' own files (`gitdir`,
`HEAD`), so that a worktree whose folder or `.git` file is gone is still seen.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Literal

__all__ = [
    "RECORD_NAME",
    "Checkout",
    "Owner",
    "WorktreeRecord",
    "admin_dir_of",
    "checkouts",
    "read_record",
    "release_record",
    "write_record",
]

RECORD_NAME = "memfun.json"
RecordKind = Literal["task", "specialist", "throwaway"]


@dataclass(frozen=True, slots=True)
class Owner:
    """A process, told apart from a later one with the same pid by its start time."""

    pid: int
    started: str
    """`<boot id>:<start time in clock ticks>` from /proc; '' where /proc is missing."""

    @classmethod
    def this_process(cls) -> Owner:
        return cls(os.getpid(), _start_of(os.getpid()))

    def alive(self) -> bool:
        """True while the owner runs. Where its start time cannot be read (no /proc, or
        another user's process hidden), while its pid exists: never taken for dead wrongly."""
        now = _start_of(self.pid)
        if self.started and now:
            return now == self.started
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


@dataclass(frozen=True, slots=True)
class WorktreeRecord:
    kind: RecordKind
    path: str
    """The worktree's folder when memfun made it."""
    owner: Owner | None
    """The process working in it; None once released (a worktree kept for later)."""
    created: float

    @property
    def in_use(self) -> bool:
        return self.owner is not None and self.owner.alive()


@dataclass(frozen=True, slots=True)
class Checkout:
    """A linked worktree as git records it, and memfun's record of it if it made it."""

    name: str
    admin: Path
    folder: Path
    branch: str | None
    """`refs/heads/...`, or None when detached (or unreadable)."""
    record: WorktreeRecord | None
    locked: bool

    @property
    def ours(self) -> bool:
        """memfun made it, and it is still where memfun made it (not moved by the user)."""
        return self.record is not None and Path(self.record.path) == self.folder


def write_record(admin: Path, kind: RecordKind, folder: Path) -> WorktreeRecord:
    """Record that this process made the worktree at `folder`, and works in it."""
    record = WorktreeRecord(kind, str(folder), Owner.this_process(), time.time())
    _write(admin, record)
    return record


def release_record(admin: Path) -> None:
    """The owner is done with the worktree but leaves it on disk: gc judges it by its content
    from now on, not by whether the process still runs."""
    record = read_record(admin)
    if record is not None:
        _write(admin, replace(record, owner=None))


def _write(admin: Path, record: WorktreeRecord) -> None:
    """Written to a temporary file renamed over the record: never half a record."""
    tmp = admin / f".{RECORD_NAME}.tmp"
    tmp.write_text(json.dumps(asdict(record)), encoding="utf-8")
    os.replace(tmp, admin / RECORD_NAME)


def read_record(admin: Path) -> WorktreeRecord | None:
    """The record in `admin`, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads((admin / RECORD_NAME).read_text(encoding="utf-8"))
        held = data["owner"]
        owner = None if held is None else Owner(int(held["pid"]), str(held["started"]))
        kind = data["kind"]
        if kind not in ("task", "specialist", "throwaway"):
            return None
        return WorktreeRecord(kind, str(data["path"]), owner, float(data["created"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def admin_dir_of(folder: Path) -> Path | None:
    """The admin folder a worktree's `.git` file points at, or None."""
    try:
        text = (folder / ".git").read_text(encoding="utf-8", errors="surrogateescape")
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    return (folder / text[len("gitdir:") :].strip()).resolve()


def checkouts(common: Path) -> list[Checkout]:
    """Every linked worktree of the clone whose common dir is `common`, sorted by name."""
    found: list[Checkout] = []
    base = common / "worktrees"
    with contextlib.suppress(OSError):
        for entry in sorted(os.scandir(base), key=lambda e: e.name):
            if not entry.is_dir(follow_symlinks=False):
                continue
            admin = Path(entry.path)
            try:
                gitdir = (admin / "gitdir").read_text(errors="surrogateescape").strip()
            except OSError:
                continue  # not a worktree's admin folder
            found.append(
                Checkout(
                    name=entry.name,
                    admin=admin,
                    folder=Path(gitdir).parent,
                    branch=_head_of(admin),
                    record=read_record(admin),
                    locked=(admin / "locked").exists(),
                )
            )
    return found


def _head_of(git_dir: Path) -> str | None:
    try:
        text = (git_dir / "HEAD").read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None
    return text[4:].strip() if text.startswith("ref:") else None


def _start_of(pid: int) -> str:
    """`<boot id>:<start ticks>` of process `pid`; '' when it does not exist or /proc is
    missing (field 22 of /proc/<pid>/stat, after the command name, which may hold spaces)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return ""
    fields = stat[stat.rfind(b")") + 2 :].split()
    return f"{boot}:{fields[19].decode()}" if len(fields) > 19 else ""
