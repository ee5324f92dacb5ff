"""Running one process tree with a hard time limit, capped output and a process limit.

Shared by both sandbox members. The process starts in a session of its own; when the time
runs out the whole group is killed (for bubblewrap, killing bwrap ends its PID namespace,
which also takes `setsid` children that left the group). Where the pids cgroup controller is
writable (cgroup v1 `pids`, or v2 with `pids` enabled) the tree is also put into a cgroup of its
own with `pids.max`, and every process still in it is killed at the end.

For bwrap (`BwrapPipes`), two pipes replace the `/bin/sh` that otherwise joins the cgroup
before exec: bwrap reports the sandbox's init on one (`--info-fd`), and that init waits on the
other (`--block-fd`), its mounts done, until it has been moved into the cgroup, so everything
it starts is counted. Joining a cgroup can wait for an RCU grace period (5-15 ms on cgroup v1
when no other process joined one just before); this way it overlaps bwrap's own set-up. The
init is also what `run_limited` waits for at the end: bwrap exits as soon as the command does,
while its init is still reaping (and, bwrap gone, killing) what the command left behind, so no
process of the sandbox is alive when `run_limited` returns, with or without a cgroup.

After each command both members tidy the worktree (`gitops.tidy.Tidier`): folder permissions
restored, named pipes, sockets and links to them removed, since memfun reads the worktree on
the host afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import selectors
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

from memfun_git.backends.protocols import RunResult

__all__ = [
    "BwrapPipes",
    "Limits",
    "OutputSink",
    "pids_cgroup_available",
    "run_limited",
]

TIMEOUT_EXIT = 124
_INIT_GRACE = 5.0
"""Seconds to wait, after the command, for the sandbox's init to finish tearing it down."""


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float
    max_output_bytes: int
    max_processes: int = 256
    """pids.max of the command's cgroup (where one can be made); 0: no cgroup."""


class BwrapPipes:
    """The pipes `run_limited` and bwrap talk over; put `arguments` before bwrap's others."""

    def __init__(self, seccomp: bytes = b"") -> None:
        """`seccomp`: a compiled filter for bwrap to load before the command (`--seccomp`)."""
        self.info_read, self.info_write = os.pipe()
        self.block_read, self.block_write = os.pipe()
        self.seccomp_read: int | None = None
        self.init: _Init | None = None
        if seccomp:
            self.seccomp_read, write = os.pipe()
            try:
                os.write(write, seccomp)  # a few hundred bytes: the pipe holds them
            finally:
                os.close(write)

    @property
    def arguments(self) -> list[str]:
        args = ["--info-fd", str(self.info_write), "--block-fd", str(self.block_read)]
        if self.seccomp_read is not None:
            args += ["--seccomp", str(self.seccomp_read)]
        return args

    @property
    def child_fds(self) -> tuple[int, ...]:
        extra = () if self.seccomp_read is None else (self.seccomp_read,)
        return self.info_write, self.block_read, *extra

    def started(self, deadline: float, group: _PidsCgroup | None) -> None:
        """bwrap runs: close its ends, learn its init, put that into `group`, release it."""
        for fd in self.child_fds:
            os.close(fd)
        data = bytearray()
        with contextlib.suppress(OSError):
            while True:
                ready, _, _ = select.select(
                    [self.info_read], [], [], max(0, deadline - time.monotonic())
                )
                chunk = os.read(self.info_read, 4096) if ready else b""
                if not chunk:
                    break
                data += chunk
        os.close(self.info_read)
        self.init = _Init.from_info(bytes(data))
        if group is not None and self.init is not None:
            group.add(self.init.pid)
        with contextlib.suppress(OSError):
            os.write(self.block_write, b"go")
        os.close(self.block_write)

    def close(self) -> None:
        """On failure to start bwrap: close every end still open."""
        for fd in (self.info_read, self.info_write, self.block_read, self.block_write,
                   self.seccomp_read):  # fmt: skip
            if fd is None:
                continue
            with contextlib.suppress(OSError):
                os.close(fd)


class OutputSink(Protocol):
    """Receives a command's output as it arrives (for `memfun sandbox run` to stream it)."""

    def stdout(self, chunk: bytes) -> None: ...

    def stderr(self, chunk: bytes) -> None: ...


@dataclass
class _Capture:
    limit: int
    echo: Callable[[bytes], None] | None = None
    """Called with each kept chunk as it arrives (to stream it), within the same cap."""
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False

    def add(self, chunk: bytes) -> None:
        room = self.limit - len(self.data)
        if room > 0:
            kept = chunk[:room]
            self.data += kept
            if self.echo is not None:
                self.echo(kept)
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
    bwrap: BwrapPipes | None = None,
    on_output: OutputSink | None = None,
) -> RunResult:
    """Run `argv`; never raises for the command's own failure.

    `bwrap`: `argv` is bwrap, given `bwrap.arguments`; the pipes are closed here."""
    group = _PidsCgroup.create(limits.max_processes) if limits.max_processes > 0 else None
    command = list(argv)
    if group is not None and bwrap is None:
        # Join the cgroup before exec, so every descendant is counted (no preexec_fn: it is
        # unsafe in a threaded process).
        command = ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(group.procs), *command]
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            pass_fds=bwrap.child_fds if bwrap is not None else (),
        )
    except BaseException:
        if bwrap is not None:
            bwrap.close()
        if group:
            group.remove()
        raise
    out = _Capture(limits.max_output_bytes, on_output.stdout if on_output else None)
    err = _Capture(limits.max_output_bytes, on_output.stderr if on_output else None)
    timed_out = False
    try:
        if bwrap is not None:
            bwrap.started(started + limits.timeout, group)
        if stdin is not None and proc.stdin is not None:
            writer = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
            writer.start()
        timed_out = not _collect(proc, out, err, started + limits.timeout)
    finally:
        _kill_group(proc.pid)
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        if bwrap is not None and bwrap.init is not None:
            bwrap.init.wait_gone(_INIT_GRACE)
        if group:
            group.kill_all()
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
    try:
        with contextlib.suppress(OSError):
            pipe.write(data)
    finally:
        with contextlib.suppress(OSError):
            pipe.close()  # also when the command never read it (BrokenPipeError)


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


def pids_cgroup_available() -> bool:
    """True when commands get a pids cgroup here (their process limit); else only the time
    limit (and, for bubblewrap, the PID namespace) bounds what they start."""
    group = _PidsCgroup.create(1)
    if group is None:
        return False
    group.remove()
    return True


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


class _Init:
    """The sandbox's init (PID 1 of its namespace), as bwrap reports it on `--info-fd`.

    It ends only after every other process of the namespace has been killed and reaped, so
    its end is the sandbox's end. Its pidfd is opened the moment its pid is known (bwrap
    writes it before letting the init go on, so the pid cannot have been reused)."""

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self.pidfd: int | None = pidfd

    @classmethod
    def from_info(cls, data: bytes) -> _Init | None:
        try:
            pid = int(json.loads(data)["child-pid"])
        except (ValueError, KeyError, TypeError):
            return None  # bwrap failed before starting the sandbox: nothing to wait for
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            return None
        if not _is_namespace_init(pid):
            os.close(pidfd)  # gone already, its pid taken by an unrelated process
            return None
        return cls(pid, pidfd)

    def wait_gone(self, grace: float) -> None:
        if self.pidfd is None:
            return
        try:
            select.select([self.pidfd], [], [], grace)
        finally:
            os.close(self.pidfd)
            self.pidfd = None


def _is_namespace_init(pid: int) -> bool:
    """True when `pid` is PID 1 of a namespace below ours (its last NSpid is 1)."""
    for line in _read(Path(f"/proc/{pid}/status")).splitlines():
        if line.startswith("NSpid:"):
            ids = line.split()[1:]
            return len(ids) > 1 and ids[-1] == "1"
    return False


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

    def add(self, pid: int) -> None:
        with contextlib.suppress(OSError):
            self.procs.write_text(str(pid))

    def kill_all(self) -> None:
        """Kill every process in the cgroup, and wait (up to ~2 s) until none is left."""
        for pause in _pauses(2.0):
            pids = [int(p) for p in _read(self.path / "cgroup.procs").split() if p.strip()]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(pause)

    def remove(self) -> None:
        for pause in _pauses(1.0):
            try:
                self.path.rmdir()
                return
            except OSError:
                time.sleep(pause)


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
