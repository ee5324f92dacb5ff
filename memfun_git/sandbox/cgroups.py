"""The cgroups of one sandboxed command: a process limit and a memory limit, where the
machine lets us make them.

cgroup v1 keeps each controller in a hierarchy of its own (`/sys/fs/cgroup/pids`,
`/sys/fs/cgroup/memory`): the command gets a group in each. cgroup v2 has one hierarchy
(`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` beside v1): one group with both controllers,
made under a `memfun` group that enables them for its children. Groups are named
`<owner>-<id>` (`leftovers.owner_tag`) so that those of a killed run can be found and removed.

Making a cgroup needs write access to the hierarchy (root, or a delegated v2 subtree). Where
none can be made: the process limit is the time limit and, for bubblewrap, the PID namespace;
the memory limit is per process (RLIMIT_DATA: what a process may have committed, so runtimes
that reserve address space up front, Go, Java, node, still start).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from memfun_git.sandbox.leftovers import owner_tag

__all__ = ["Cgroups"]

_V1 = {"pids": Path("/sys/fs/cgroup/pids"), "memory": Path("/sys/fs/cgroup/memory")}
_V2 = (Path("/sys/fs/cgroup/unified"), Path("/sys/fs/cgroup"))


@dataclass
class Cgroups:
    """The groups one command runs in (one per v1 hierarchy, or one v2 group)."""

    paths: list[Path]
    memory: bool
    """True when a cgroup enforces the memory limit (else it is per process)."""
    processes: bool
    """True when a cgroup enforces the process limit."""

    @classmethod
    def create(cls, max_processes: int, max_memory: int) -> Cgroups | None:
        """Groups limiting the command to `max_processes` and `max_memory` bytes (0: no such
        limit), or None when neither limit can be enforced by a cgroup here."""
        name = f"{owner_tag()}-{secrets.token_hex(4)}"
        made = _v2(name, max_processes, max_memory)
        if made is not None:
            return made
        paths: list[Path] = []
        memory = processes = False
        if max_processes > 0:
            group = _make(_V1["pids"], name, {"pids.max": str(max_processes)})
            if group is not None:
                paths.append(group)
                processes = True
        if max_memory > 0:
            limits = {"memory.limit_in_bytes": str(max_memory)}
            if (_V1["memory"] / "memory.memsw.limit_in_bytes").exists():
                limits["memory.memsw.limit_in_bytes"] = str(max_memory)  # no escape into swap
            group = _make(_V1["memory"], name, limits)
            if group is not None:
                paths.append(group)
                memory = True
        return cls(paths, memory, processes) if paths else None

    @property
    def procs(self) -> list[Path]:
        return [path / "cgroup.procs" for path in self.paths]

    def add(self, pid: int) -> None:
        for procs in self.procs:
            with contextlib.suppress(OSError):
                procs.write_text(str(pid))

    def kill_all(self) -> None:
        """Kill every process in the groups, and wait (up to ~2 s) until none is left."""
        for pause in _pauses(2.0):
            pids = {int(p) for procs in self.procs for p in _read(procs).split() if p.strip()}
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(pause)

    def remove(self) -> None:
        for path in self.paths:
            for pause in _pauses(1.0):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(pause)


def _v2(name: str, max_processes: int, max_memory: int) -> Cgroups | None:
    for base in _V2:
        controllers = _read(base / "cgroup.controllers").split()
        if not controllers:
            continue
        wanted = [c for c, v in (("pids", max_processes), ("memory", max_memory)) if v > 0]
        if not all(c in _read(base / "cgroup.subtree_control").split() for c in wanted):
            continue
        parent = base / "memfun"
        try:
            parent.mkdir(exist_ok=True)
            enabled = _read(parent / "cgroup.subtree_control").split()
            missing = [c for c in wanted if c not in enabled]
            if missing:
                (parent / "cgroup.subtree_control").write_text(" ".join("+" + c for c in missing))
        except OSError:
            continue
        limits: dict[str, str] = {}
        if max_processes > 0:
            limits["pids.max"] = str(max_processes)
        if max_memory > 0:
            limits["memory.max"] = str(max_memory)
            limits["memory.swap.max"] = "0"
        group = _make(parent.parent, f"memfun/{name}", limits, optional={"memory.swap.max"})
        if group is not None:
            return Cgroups([group], max_memory > 0, max_processes > 0)
    return None


def _make(
    base: Path, name: str, limits: dict[str, str], optional: set[str] | None = None
) -> Path | None:
    """A new group `base/<name>` (under `base/memfun/` for v1) with `limits` written."""
    if not (base / "cgroup.procs").exists():
        return None
    path = base / name if "/" in name else base / "memfun" / name
    try:
        path.mkdir(parents=True)
    except OSError:
        return None
    try:
        for file, value in limits.items():
            try:
                (path / file).write_text(value)
            except OSError:
                if file not in (optional or set()):
                    raise
    except OSError:
        with contextlib.suppress(OSError):
            path.rmdir()
        return None
    return path


def _pauses(total: float) -> list[float]:
    """Sleeps from 0.5 ms doubling to 10 ms, adding up to about `total` seconds: a process
    killed a moment ago is usually gone within a millisecond."""
    pauses: list[float] = []
    pause = 0.0005
    while sum(pauses) < total:
        pauses.append(pause)
        pause = min(pause * 2, 0.01)
    return pauses


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
