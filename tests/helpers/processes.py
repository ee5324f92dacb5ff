"""Starting `memfun` as a real child process for signal tests.

A child inherits its parent's ignored signals: a suite started in the background of a shell
without job control (`pytest ... &` in a script) has SIGINT ignored, one under `nohup` SIGHUP.
Python installs its Ctrl-C handler only where SIGINT is not ignored, so such a child would sit
out the signal a test sends it and the test would hang until a time-out. The helper gives the
child default dispositions for the stop signals, except those a test asks to ignore.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from collections.abc import Callable, Generator, Iterable, Mapping
from pathlib import Path
from typing import Any

__all__ = ["STOP_SIGNALS", "memfun_process", "read_until"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _dispositions(
    ignored: frozenset[int], in_child: Callable[[], None] | None
) -> Callable[[], None]:
    def reset() -> None:
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN if signum in ignored else signal.SIG_DFL)
        if in_child is not None:
            in_child()

    return reset


@contextlib.contextmanager
def memfun_process(
    args: Iterable[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    ignored: Iterable[int] = (),
    in_child: Callable[[], None] | None = None,
    **popen: Any,
) -> Generator[subprocess.Popen[str]]:
    """`python -m memfun_git <args>` with SIGINT, SIGTERM and SIGHUP at their defaults (or
    ignored, for those in `ignored`), whatever this process inherited; `in_child` runs in the
    child just before memfun starts. stdout and stderr are pipes unless `popen` says otherwise.
    A child still running when the block ends is killed (a failed test leaves no process)."""
    popen.setdefault("stdout", subprocess.PIPE)
    popen.setdefault("stderr", subprocess.PIPE)
    with subprocess.Popen(
        [sys.executable, "-m", "memfun_git", *args],
        cwd=cwd,
        env=dict(os.environ if env is None else env),
        text=True,
        preexec_fn=_dispositions(frozenset(ignored), in_child),
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
