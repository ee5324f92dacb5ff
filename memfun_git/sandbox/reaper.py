"""The local sandbox's first process: it starts the command and, when the command is done,
ends whatever the command left running.

Run as a script (`python -I -S reaper.py [cgroup.procs files] -- <data limit> <argv...>`),
standard library only. It joins the command's cgroups (when there are any), sets the
per-process memory limit (RLIMIT_DATA, when no cgroup enforces one), makes itself the child
subreaper (`prctl(PR_SET_CHILD_SUBREAPER)`: a process that leaves its parent, a `setsid`
daemon, is re-parented to the reaper instead of to init) and starts the command. When the
command exits, or SIGTERM asks it to stop, every process still below it is killed, and it
exits with the command's status (128 + N when signal N ended it, as bwrap and a shell say).

Without bubblewrap's PID namespace this is what keeps a `setsid` daemon from outliving the
command; a process that escapes the subreaper too (a double fork in a new user namespace)
is beyond the local backend, which isolates nothing.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import sys

__all__ = ["main"]

_PR_SET_CHILD_SUBREAPER = 36


def _children() -> list[int]:
    me = str(os.getpid())
    found: list[int] = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1] == me:
            found.append(int(entry))
    return found


def _end_all() -> None:
    """Kill every process below this one (they are re-parented here as their parents die)."""
    for _ in range(1000):
        kids = _children()
        if not kids:
            return
        for pid in kids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass


def main(args: list[str]) -> int:
    split = args.index("--")
    procs, limit, argv = args[:split], int(args[split + 1]), args[split + 2 :]
    for file in procs:
        with contextlib.suppress(OSError), open(file, "w") as handle:
            handle.write(str(os.getpid()))
    if limit > 0:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    child = 0

    def on_term(signum: int, frame: object) -> None:
        if child > 0:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signal.SIGKILL)

    signal.signal(signal.SIGTERM, on_term)
    try:
        child = os.fork()
    except OSError as exc:
        print(f"memfun: cannot start {argv[0]}: {exc.strerror}", file=sys.stderr)
        return 126
    if child == 0:
        # Python ignores SIGPIPE and SIGXFSZ; an ignored signal stays ignored across exec
        # (`yes | head` would then complain of a broken pipe instead of ending quietly).
        for signum in (signal.SIGTERM, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(signum, signal.SIG_DFL)
        try:
            os.execvp(argv[0], argv)
        except FileNotFoundError:
            os._exit(127)
        except OSError:
            os._exit(126)
    _, status = os.waitpid(child, 0)
    _end_all()
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)  # as a shell, and bwrap, report it
    return os.WEXITSTATUS(status)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
