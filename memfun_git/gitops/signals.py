"""Holding stop signals while git state changes, so none can leave it half-done.

SIGINT (Ctrl-C), SIGTERM (workers, CI runners and `kill` stop processes with it) and SIGHUP
(the terminal was closed) are blocked with `pthread_sigmask` for the few operations that
change refs and worktrees: creating a branch and its worktree, recording an attempt's ref,
taking a worktree and its branch away. A signal that arrives meanwhile stays pending and is
delivered as soon as the block ends. Slow work (hashing files, deleting a large tree) runs
outside: it can be stopped, and stopping it loses nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Generator
from contextlib import contextmanager

__all__ = ["HELD_SIGNALS", "no_interrupts"]

HELD_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


@contextmanager
def no_interrupts() -> Generator[None]:
    """Hold SIGINT, SIGTERM and SIGHUP for the block; pending ones are delivered after it.

    Only the main thread receives Python's signal handlers, so elsewhere this does nothing;
    nested blocks keep the signals held until the outermost one ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, HELD_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
