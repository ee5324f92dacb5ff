"""Starting `memfun` as a real child process for signal tests.

A child inherits its parent's ignored signals: a suite started in the background of a shell
without job control (`pytest ... &` in a script) has SIGINT ignored, one under `nohup` SIGHUP.
Python installs its Ctrl-C handler only where SIGINT is not ignored, so such a child would sit
out the signal a test sends it and the test would hang until a time-out. The child is started
through a small launcher that gives it default dispositions for the stop signals (except those
a test asks to ignore) and then execs memfun: no `preexec_fn`, which is unsafe in a process
with threads (the stub servers run in threads) and slated for deprecation.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Generator, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["STOP_SIGNALS", "memfun_process", "read_until"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

# argv: ignored signal numbers (comma-separated), "tty" to take stdin as the controlling
# terminal (the child must lead a session of its own), then memfun's arguments.
_LAUNCHER = """\
import os, signal, sys
ignored = {int(n) for n in sys.argv[1].split(",") if n}
for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(signum, signal.SIG_IGN if signum in ignored else signal.SIG_DFL)
if sys.argv[2] == "tty":
    import fcntl, termios
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
os.execv(sys.executable, [sys.executable, "-m", "memfun_git", *sys.argv[3:]])
"""


@contextlib.contextmanager
def memfun_process(
    args: Iterable[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    ignored: Iterable[int] = (),
    terminal: bool = False,
    **popen: Any,
) -> Generator[subprocess.Popen[str]]:
    """`python -m memfun_git <args>` with SIGINT, SIGTERM and SIGHUP at their defaults (or
    ignored, for those in `ignored`), whatever this process inherited. With `terminal`, the
    child leads a new session whose controlling terminal is its stdin (a pty), so closing the
    pty hangs it up. stdout and stderr are pipes unless `popen` says otherwise. A child still
    running when the block ends is killed (a failed test leaves no process)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    launcher = [sys.executable, "-c", _LAUNCHER, ",".join(str(int(s)) for s in ignored)]
    with subprocess.Popen(
        [*launcher, "tty" if terminal else "-", *args],
        cwd=cwd,
        env=dict(os.environ if env is None else env),
        text=True,
        start_new_session=terminal,
        **popen,
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    """Bytes read from `fd` up to and including `marker`; what came when it never does."""
    seen = b""
    while marker not in seen:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            break
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # a pty's reader gets EIO once the other side is closed
            break
        if not chunk:
            break
        seen += chunk
    return seen
