"""Making a worktree safe for the host to read again, and removing any tree a command built.

A sandboxed command may leave anything its user can make in the worktree: named pipes and
sockets (libgit2 opens `.gitignore` and `.gitattributes` by path, following links, and waits on
a pipe forever), links to pipes or devices, folders it took its own permissions from
(`chmod 0`, mode 311: unreadable, so a scan could not see what is inside), names that are not
UTF-8, and folders nested thousands deep (deeper than a path may be long, and deeper than a
recursive walk's stack). Before memfun reads a worktree on the host:
- every folder gets its owner's read, write and search permission back (top-down, so what was
  hidden under a closed folder is scanned too);
- pipes, sockets and devices are removed, and so are links to them (links are never followed
  otherwise);
- the walk uses folder descriptors (`openat`), not paths, so depth is bounded by open files,
  not by PATH_MAX or the interpreter's stack.

`Tidier` remembers each folder's stamp (mtime, ctime, inode) between commands: a new entry
changes its folder's mtime, a `chmod` its ctime, so after the first walk only folders whose
stamp changed are listed again (a stamp within a clock tick of the last walk is not trusted,
as git treats racy index entries). The command has ended (its sandbox is gone) whenever this
runs, so nothing changes the tree during a walk.

`remove_tree` deletes a folder the same way: iteratively, through descriptors, links unlinked
and never followed, closed folders opened up first.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Tidier", "TidyReport", "remove_tree", "tidy_tree"]

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OWNER_RWX = stat.S_IRWXU
_RACY_NS = 50_000_000
"""A folder stamped within this long before a walk began may change again in the same clock
tick (file times come from a coarse clock): it is listed again next time."""
_SPARE_FDS = 128
_PATH_ROOM = 3500
"""Paths up to this long are walked by name; a deeper tree is walked through descriptors."""


@dataclass
class TidyReport:
    removed: list[str] = field(default_factory=list[str])
    """Pipes, sockets, devices and links to them, removed (paths relative to the root)."""
    repaired: list[str] = field(default_factory=list[str])
    """Folders whose owner permissions were restored."""
    unreached: list[str] = field(default_factory=list[str])
    """Folders too deep to open (more than the open-file limit allows): not scanned."""
    listed: int = 0
    """Folders listed in this walk (the rest were unchanged since the last one)."""


_Stamp = tuple[int, int, int]
"""A folder's (mtime, ctime, inode) in nanoseconds."""


@dataclass
class _Frame:
    fd: int
    rel: str
    children: list[str]


class Tidier:
    """Tidies one worktree after each command, listing only folders that changed."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[str, tuple[_Stamp, tuple[str, ...]]] = {}
        """Each folder seen in the last walk: its stamp and its sub-folders' names."""
        self._trusted_before = 0

    def tidy(self, *, full: bool = False) -> TidyReport:
        """Restore folder permissions and remove special files; `full`: list every folder."""
        started = time.time_ns()
        report = TidyReport()
        seen: dict[str, tuple[_Stamp, tuple[str, ...]]] = {}
        known_depth = max((len(rel) for rel in self._folders), default=0)
        if full or not self._folders or len(str(self.root)) + known_depth > _PATH_ROOM:
            self._walk_by_descriptors(report, seen)
        else:
            self._walk_by_paths(report, seen)
        self._folders = seen
        self._trusted_before = started - _RACY_NS
        return report

    def _walk_by_paths(
        self, report: TidyReport, seen: dict[str, tuple[_Stamp, tuple[str, ...]]]
    ) -> None:
        """The walk after the first: one `lstat` per unchanged folder. Every folder on the way
        down was checked to be a folder in this same walk, so a path reaches only folders."""
        top = str(self.root)
        prefix = top + "/"
        queue = [""]
        while queue:
            rel = queue.pop()
            path = prefix + rel if rel else top
            try:
                st = os.lstat(path)
                if not stat.S_ISDIR(st.st_mode):
                    continue
                if st.st_mode & _OWNER_RWX != _OWNER_RWX:
                    _chmod_folder(path, st.st_mode)
                    report.repaired.append(rel or ".")
                    st = os.lstat(path)
            except OSError:
                continue
            stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            if self._unchanged(rel, stamp):
                children = self._folders[rel][1]
            else:
                report.listed += 1
                try:
                    entries = list(os.scandir(path))
                except OSError:
                    entries = []
                children = tuple(self._sort(entries, rel, None, report))
            seen[rel] = (stamp, children)
            queue.extend(f"{rel}/{child}" if rel else child for child in children)

    def _walk_by_descriptors(
        self, report: TidyReport, seen: dict[str, tuple[_Stamp, tuple[str, ...]]]
    ) -> None:
        """A walk through folder descriptors: any depth, any name."""
        root_fd = _open_folder(self.root)
        if root_fd is None:
            return  # gone, or not a folder: nothing to tidy
        limit = _fd_budget()
        stack = [_Frame(root_fd, "", [])]
        try:
            self._visit(stack[0], report, seen)
            while stack:
                frame = stack[-1]
                if not frame.children:
                    os.close(frame.fd)
                    stack.pop()
                    continue
                name = frame.children.pop()
                rel = f"{frame.rel}/{name}" if frame.rel else name
                if len(stack) >= limit:
                    report.unreached.append(rel)
                    continue
                try:
                    if _open_up(frame.fd, name):
                        report.repaired.append(rel)
                    fd = os.open(name, _DIR_FLAGS, dir_fd=frame.fd)
                except OSError:
                    continue  # no folder (any more): nothing below it to tidy
                child = _Frame(fd, rel, [])
                stack.append(child)
                self._visit(child, report, seen)
        finally:
            for frame in stack:
                with contextlib.suppress(OSError):
                    os.close(frame.fd)

    def _unchanged(self, rel: str, stamp: _Stamp) -> bool:
        """True when the folder's stamp is the one recorded, and old enough to trust."""
        known = self._folders.get(rel)
        return (
            known is not None
            and known[0] == stamp
            and stamp[0] < self._trusted_before
            and stamp[1] < self._trusted_before
        )

    def _sort(
        self, entries: list[os.DirEntry[str]], rel: str, fd: int | None, report: TidyReport
    ) -> list[str]:
        """Remove the special entries of a listed folder; return its folders' names."""
        folders: list[str] = []
        for entry in entries:
            try:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(entry.name)
                    continue
                if entry.is_file(follow_symlinks=False):
                    continue
                special = not entry.is_symlink() or _special_target(entry.path, fd)
            except OSError:
                special = False
            if special:
                with contextlib.suppress(OSError):
                    os.unlink(entry.name if fd is not None else entry.path, dir_fd=fd)
                    report.removed.append(f"{rel}/{entry.name}" if rel else entry.name)
        return folders

    def _visit(
        self, frame: _Frame, report: TidyReport, seen: dict[str, tuple[_Stamp, tuple[str, ...]]]
    ) -> None:
        """List `frame`'s folder, or only recall its sub-folders when it is unchanged."""
        st = os.fstat(frame.fd)
        stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
        if self._unchanged(frame.rel, stamp):
            frame.children = list(self._folders[frame.rel][1])
        else:
            report.listed += 1
            try:
                entries = list(os.scandir(frame.fd))
            except OSError:
                entries = []
            frame.children = self._sort(entries, frame.rel, frame.fd, report)
        seen[frame.rel] = (stamp, tuple(frame.children))


def _open_folder(path: Path) -> int | None:
    """A descriptor of the folder `path` (not a link), its permissions restored first."""
    try:
        parent = os.open(path.parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        with contextlib.suppress(OSError):
            _open_up(parent, path.name)
        return os.open(path.name, _DIR_FLAGS, dir_fd=parent)
    except OSError:
        return None
    finally:
        os.close(parent)


def tidy_tree(root: Path) -> TidyReport:
    """One full tidy of `root` (for a worktree memfun has not watched since it was made)."""
    return Tidier(root).tidy(full=True)


def remove_tree(path: Path) -> None:
    """Delete `path` and everything under it, without following any link out of it.

    Iterative and descriptor-based (any depth, any name); closed folders are opened up first.
    A link at `path` itself is unlinked. Raises OSError only when something cannot be removed
    even so."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(path)
        return
    parent_fd = os.open(path.parent, _DIR_FLAGS & ~os.O_NOFOLLOW)
    try:
        _remove_folder(parent_fd, path.name)
    finally:
        os.close(parent_fd)


def _remove_folder(parent_fd: int, name: str) -> None:
    limit = _fd_budget()
    stack: list[tuple[int, _Frame]] = []
    try:
        _open_up(parent_fd, name)
        stack.append((parent_fd, _listed(os.open(name, _DIR_FLAGS, dir_fd=parent_fd), name)))
        while stack:
            parent, frame = stack[-1]
            if frame.children:
                child = frame.children.pop()
                if len(stack) >= limit:
                    raise OSError(errno.EMFILE, "folders nested too deep to remove", frame.rel)
                _open_up(frame.fd, child)
                fd = os.open(child, _DIR_FLAGS, dir_fd=frame.fd)
                stack.append((frame.fd, _listed(fd, child)))
                continue
            os.close(frame.fd)
            stack.pop()
            os.rmdir(frame.rel, dir_fd=parent)
    finally:
        for _, frame in stack:
            with contextlib.suppress(OSError):
                os.close(frame.fd)


def _listed(fd: int, name: str) -> _Frame:
    """Unlink everything in the folder `fd` that is no folder; its folders to do next."""
    frame = _Frame(fd, name, [])
    try:
        for entry in os.scandir(fd):
            if entry.is_dir(follow_symlinks=False):
                frame.children.append(entry.name)
            else:
                os.unlink(entry.name, dir_fd=fd)
    except BaseException:
        os.close(fd)
        raise
    return frame


def _open_up(parent_fd: int, name: str) -> bool:
    """Give the folder `name` its owner's permissions back; True when they were missing."""
    st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISDIR(st.st_mode) or st.st_mode & _OWNER_RWX == _OWNER_RWX:
        return False
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent_fd)
    try:
        # chmod through /proc on an O_PATH descriptor: it names the folder itself.
        os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(st.st_mode) | _OWNER_RWX)
    finally:
        os.close(fd)
    return True


def _special_target(name: str, fd: int | None) -> bool:
    """True when the link `name` points at a pipe, socket or device (on the host)."""
    try:
        mode = os.stat(name, dir_fd=fd).st_mode
    except OSError:
        return False  # dangling: nothing to open
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _chmod_folder(path: str, mode: int) -> None:
    """Add the owner's permissions to the folder at `path`, never through a link."""
    fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        os.chmod(f"/proc/self/fd/{fd}", stat.S_IMODE(mode) | _OWNER_RWX)
    finally:
        os.close(fd)


def _fd_budget() -> int:
    """How many folders deep a walk may hold open: the open-file limit (raised to the hard
    limit where allowed) less a margin for everything else."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = 65536 if hard == resource.RLIM_INFINITY else min(hard, 65536)
        if wanted > soft:
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
                soft = wanted
    return max(16, soft - _SPARE_FDS - len(os.listdir("/proc/self/fd")))
