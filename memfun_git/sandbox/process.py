"""Running one process tree with a hard time limit, capped output, and process and memory
limits.

Shared by both sandbox members. The process starts in a session of its own; when the time
runs out the whole tree is ended (for bubblewrap, killing bwrap ends its PID namespace, which
also takes `setsid` children that left the group; for the local member, its first process is
`reaper.py`, the child subreaper that kills everything the command left). Where cgroups can be
made (`cgroups.py`: v1 `pids` and `memory`, or v2 with both enabled) the tree is also put into
its own with `pids.max` and a memory limit, and every process still in them is killed at the
end; where none can be made, the memory limit is each process's RLIMIT_DATA.

For bwrap (`BwrapPipes`), two pipes let the sandbox's init join the cgroups before it starts
anything: bwrap reports the init on one (`--info-fd`), and the init waits on the other
(`--block-fd`), its mounts done, until it has been moved into the cgroups and given its data
limit, so everything it starts is counted. Joining a cgroup can wait for an RCU grace period
(5-15 ms on cgroup v1 when no other process joined one just before); this way it overlaps
bwrap's own set-up. The init is also what `run_limited` waits for at the end: bwrap exits as
soon as the command does, while its init is still reaping (and, bwrap gone, killing) what the
command left behind, so no process of the sandbox is alive when `run_limited` returns, with or
without a cgroup.

After each command both members tidy the worktree (`gitops.tidy.Tidier`): folder permissions
restored, named pipes, sockets and links to them removed, since memfun reads the worktree on
the host afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

from memfun_git.backends.protocols import OutputSink, RunResult
from memfun_git.sandbox.cgroups import Cgroups
from memfun_git.terminal import ControlStripper

__all__ = [
    "BwrapPipes",
    "Limits",
    "OutputSink",
    "Started",
    "pids_cgroup_available",
    "run_limited",
    "start_limited",
]

TIMEOUT_EXIT = 124
_INIT_GRACE = 5.0
"""Seconds to wait, after the command, for the sandbox's init to finish tearing it down."""


@dataclass(frozen=True, slots=True)
class Limits:
    timeout: float
    max_output_bytes: int
    max_processes: int = 256
    """pids.max of the command's cgroup (where one can be made); 0: no process limit."""
    max_memory: int = 0
    """Bytes: the command's memory cgroup limit where one can be made, else each process's
    RLIMIT_DATA; 0: no memory limit."""


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

    def started(self, deadline: float, group: Cgroups | None, data_limit: int = 0) -> None:
        """bwrap runs: close its ends, learn its init, put that into `group` (and limit its
        data size to `data_limit` bytes, inherited by all it starts), release it."""
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
        if data_limit > 0 and self.init is not None:
            with contextlib.suppress(OSError):
                resource.prlimit(self.init.pid, resource.RLIMIT_DATA, (data_limit, data_limit))
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


@dataclass
class _Capture:
    """One output stream of the command: stripped of terminal control sequences (it reaches
    the user's terminal, the log and prompts), then kept up to `limit` bytes."""

    limit: int
    echo: Callable[[bytes], None] | None = None
    """Called with each kept chunk as it arrives (to stream it), within the same cap."""
    data: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    stripper: ControlStripper = field(default_factory=ControlStripper)

    def add(self, chunk: bytes) -> None:
        self._keep(self.stripper.feed(chunk))

    def finish(self) -> None:
        self._keep(self.stripper.close())

    def _keep(self, chunk: bytes) -> None:
        if not chunk:
            return
        room = self.limit - len(self.data)
        if room > 0:
            kept = chunk[:room]
            self.data += kept
            if self.echo is not None:
                self.echo(kept)
        if len(chunk) > max(room, 0):
            self.truncated = True


class Started:
    """One process tree started by `start_limited`: `proc` and what ends it whole."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes] | subprocess.Popen[str],
        group: Cgroups | None,
        bwrap: BwrapPipes | None,
        started: float,
    ) -> None:
        self.proc = proc
        self.group = group
        self.bwrap = bwrap
        self.started = started
        self._ended = False
        self._then: list[Callable[[], None]] = []

    def finally_(self, step: Callable[[], None]) -> None:
        """Run `step` once the tree has ended."""
        self._then.append(step)

    def end(self) -> None:
        """End every process of the tree (the reaper's or the sandbox's init included) and
        release its cgroups; idempotent."""
        if self._ended:
            return
        self._ended = True
        proc = self.proc
        if self.bwrap is None and proc.poll() is None:
            # The reaper kills what the command left (setsid daemons included), then exits.
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(_INIT_GRACE)
        _kill_group(proc.pid)
        proc.wait()
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                with contextlib.suppress(OSError):
                    pipe.close()
        if self.bwrap is not None and self.bwrap.init is not None:
            self.bwrap.init.wait_gone(_INIT_GRACE)
        if self.group:
            self.group.kill_all()
            self.group.remove()
        for step in self._then:
            step()


def start_limited(
    argv: Sequence[str],
    *,
    cwd: str | Path,
    env: Mapping[str, str],
    limits: Limits,
    stdin: bool = False,
    stderr: bool = True,
    text: bool = False,
    bwrap: BwrapPipes | None = None,
) -> Started:
    """Start `argv` in a session and cgroups of its own (its stdout piped, stdin and stderr
    piped when asked); end it with `Started.end`. `limits.timeout` bounds only bwrap's
    start-up here. `bwrap`: `argv` is bwrap, given `bwrap.arguments`; the pipes are closed
    here."""
    wanted = limits.max_processes > 0 or limits.max_memory > 0
    group = Cgroups.create(limits.max_processes, limits.max_memory) if wanted else None
    data_limit = 0 if group is not None and group.memory else limits.max_memory
    command = list(argv)
    if bwrap is None:
        # The reaper joins the cgroups and sets the data limit before exec (no preexec_fn: it
        # is unsafe in a threaded process), and ends what the command leaves running.
        procs = [str(p) for p in group.procs] if group is not None else []
        reaper = [sys.executable, "-I", "-S", str(Path(__file__).with_name("reaper.py"))]
        command = [*reaper, *procs, "--", str(data_limit), *command]
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            command,
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if stderr else subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=bwrap.child_fds if bwrap is not None else (),
            text=text,
        )
    except BaseException:
        if bwrap is not None:
            bwrap.close()
        if group:
            group.remove()
        raise
    running = Started(proc, group, bwrap, started)
    if bwrap is not None:
        try:
            bwrap.started(started + limits.timeout, group, data_limit)
        except BaseException:
            running.end()
            raise
    return running


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
    running = start_limited(
        argv, cwd=cwd, env=env, limits=limits, stdin=stdin is not None, bwrap=bwrap
    )
    proc = cast("subprocess.Popen[bytes]", running.proc)
    out = _Capture(limits.max_output_bytes, on_output.stdout if on_output else None)
    err = _Capture(limits.max_output_bytes, on_output.stderr if on_output else None)
    timed_out = False
    try:
        if stdin is not None and proc.stdin is not None:
            writer = threading.Thread(target=_feed, args=(proc.stdin, stdin), daemon=True)
            writer.start()
        timed_out = not _collect(proc, out, err, running.started + limits.timeout)
        out.finish()
        err.finish()
    finally:
        running.end()
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    code = TIMEOUT_EXIT if timed_out else code
    return RunResult(
        argv=tuple(report_argv if report_argv is not None else argv),
        exit_code=code,
        stdout=out.data.decode("utf-8", errors="replace"),
        stderr=err.data.decode("utf-8", errors="replace"),
        seconds=time.monotonic() - running.started,
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
    group = Cgroups.create(1, 0)
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


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""
