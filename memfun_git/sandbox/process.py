"""Running one process tree with a hard time limit, capped output and a process limit.

Shared by both sandbox members. The process starts in a session of its own; when the time
runs out the whole group is killed (for bubblewrap, killing bwrap ends its PID namespace,
which also takes `setsid` children that left the group). Where the pids cgroup controller is
writable (cgroup v1 `pids`, or v2 with `pids` enabled) the tree is also put into a cgroup of its
own with `pids.max`, and every process still in it is killed at the end.
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from memfun_git.backends.protocols import RunResult

__all__ = ["Limits", "run_limited"]

TIMEOUT_EXIT = 124


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float
    max_output_bytes: int
    max_processes: int = 256


@dataclass
class _Capture:
    limit: int
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            self.data += chunk[:room]
        if len(chunk) > max(room, 0):
            self.truncated = True


def run_limited(
    argv: Sequence[str],
    *,
    cwd: str | Path,
    env: Mapping[str, str],
    limits: Limits,
    stdin: bytes | None = None,
    report_argv: Sequence[str] | None = None,
) -> RunResult:
    """Run `argv`; never raises for the command's own failure."""
    group = _PidsCgroup.create(limits.max_processes)
    command = list(argv)
    if group is not None:
        # Join the cgroup before exec, so every descendant is counted (no preexec_fn: it is
        # unsafe in a threaded process).
        command = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group.procs), *command]
    started = time.monotonic()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    out, err = _Capture(limits.max_output_bytes), _Capture(limits.max_output_bytes)
    if stdin is not None and proc.stdin is not None:
        writer = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
        writer.start()
    timed_out = False
    try:
        timed_out = not _collect(proc, out, err, started + limits.timeout)
    finally:
        _kill_group(proc.pid)
        if group:
            group.kill_all()
        proc.wait()
        if group:
            group.remove()
    code = TIMEOUT_EXIT if timed_out else proc.returncode
    return RunResult(
        argv=tuple(report_argv if report_argv is not None else argv),
        exit_code=code,
        stdout=out.data.decode("utf-8", errors="replace"),
        stderr=err.data.decode("utf-8", errors="replace"),
        seconds=time.monotonic() - started,
        timed_out=timed_out,
        truncated=out.truncated or err.truncated,
    )


def _feed(pipe: IO[bytes], data: bytes) -> None:
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.write(data)
        pipe.close()


def _collect(proc: subprocess.Popen[bytes], out: _Capture, err: _Capture, deadline: float) -> bool:
    """Read both pipes until the process has ended and they are closed; False when the
    deadline passed first. One loop, no threads; a pidfd wakes it the moment the process
    ends (Popen.wait's time-out polls, adding tens of milliseconds)."""
    assert proc.stdout is not None
    assert proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ, out)
    selector.register(proc.stderr, selectors.EVENT_READ, err)
    pidfd: int | None = None
    try:
        pidfd = os.pidfd_open(proc.pid)
        selector.register(pidfd, selectors.EVENT_READ, None)
    except (AttributeError, OSError):
        pidfd = None
    ended = False
    try:
        while len(selector.get_map()) > (1 if pidfd is not None and not ended else 0):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            for key, _ in selector.select(timeout=min(left, 0.5)):
                if key.data is None:
                    ended = True
                    selector.unregister(key.fileobj)
                    continue
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.add(chunk)
                else:
                    selector.unregister(key.fileobj)
            if pidfd is None and proc.poll() is not None:
                ended = True
        # Pipes closed: the process (or what held them) is done; wait for the exit status.
        while proc.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            if pidfd is not None:
                select.select([pidfd], [], [], left)
            else:
                time.sleep(min(left, 0.01))
        return True
    finally:
        selector.close()
        if pidfd is not None:
            os.close(pidfd)


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class _PidsCgroup:
    """A pids cgroup for one command, when this machine lets us make one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, max_processes: int) -> _PidsCgroup | None:
        for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup/unified")):
            if not (base / "cgroup.procs").exists():
                continue
            if base.name == "unified" and "pids" not in _read(base / "cgroup.subtree_control"):
                continue
            path = base / "memfun" / uuid.uuid4().hex[:12]
            try:
                path.mkdir(parents=True)
                (path / "pids.max").write_text(str(max_processes))
            except OSError:
                with contextlib.suppress(OSError):
                    path.rmdir()
                continue
            return cls(path)
        return None

    @property
    def procs(self) -> Path:
        return self.path / "cgroup.procs"

    def kill_all(self) -> None:
        for _ in range(50):
            pids = [int(p) for p in _read(self.path / "cgroup.procs").split() if p.strip()]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.01)

    def remove(self) -> None:
        for _ in range(100):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(0.01)


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
