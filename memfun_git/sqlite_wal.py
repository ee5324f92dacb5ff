"""Opening a SQLite file in WAL mode that other processes may be opening at the same time.

Switching a file to WAL (and creating its schema) can fail with "database is locked" at once,
without waiting out the busy time-out, when another process does the same at that moment: the
code map cache, the memory index and the task records are opened by every memfun process of a
clone. `open_wal` retries that until the time-out."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["open_wal"]


def open_wal(
    path: Path,
    setup: Callable[[sqlite3.Connection], None],
    *,
    timeout: float = 30.0,
    any_thread: bool = False,
) -> sqlite3.Connection:
    """A connection (autocommit) to `path` in WAL mode, after `setup` (the schema) ran;
    `any_thread`: usable from threads other than this one (one at a time)."""
    deadline = time.monotonic() + timeout
    while True:
        db = sqlite3.connect(
            path, timeout=timeout, isolation_level=None, check_same_thread=not any_thread
        )
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            setup(db)
            return db
        except sqlite3.OperationalError as exc:
            db.close()
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)
        except BaseException:
            db.close()
            raise
