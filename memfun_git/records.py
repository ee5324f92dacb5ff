"""Task records: a small key-value store in SQLite, shaped as the StateStore will be.

Until the backends family lands (its own issue), the CLI keeps its records here: one table of
versioned JSON values under keys such as `task/<id>`, with the StateStore's operations (get,
put, compare-and-set, delete, a time to live, listing by prefix), so the engine's code does
not change when the tiers arrive. The file lives under `<git-common-dir>/memfun/memfun.db`
(or `[backend] sqlite_path`): machine-local, shared by every worktree of the clone, never
committed. WAL mode and a busy time-out let several memfun processes use it at once.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memfun_git.errors import BackendUnavailable

__all__ = ["Record", "Records", "database_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated REAL NOT NULL,
    expires REAL
)
"""


def database_path(common_dir: Path, configured: str = "") -> Path:
    """`[backend] sqlite_path`, else `<git-common-dir>/memfun/memfun.db`."""
    if configured:
        return Path(configured).expanduser()
    return common_dir / "memfun" / "memfun.db"


@dataclass(frozen=True, slots=True)
class Record:
    key: str
    value: dict[str, Any]
    version: int
    """Starts at 1; each write adds one (compare-and-set compares it)."""
    updated: float


class Records:
    """The store at `path`; open per use (`with Records(path) as store:`)."""

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self._db: sqlite3.Connection | None = None

    def __enter__(self) -> Records:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailable(
                f"cannot open the task records at {self.path} ({exc})",
                "check that folder's permissions and free space, or set [backend] sqlite_path",
            ) from None
        self._db = db
        return self

    def __exit__(self, *exc: object) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the records store is not open")
        return self._db

    def get(self, key: str) -> Record | None:
        row = self.db.execute(
            "SELECT key, value, version, updated FROM state WHERE key = ? "
            "AND (expires IS NULL OR expires > ?)",
            (key, time.time()),
        ).fetchone()
        return _record(row) if row is not None else None

    def put(self, key: str, value: dict[str, Any], *, ttl: float | None = None) -> Record:
        """Write `value` under `key` whatever is there; returns the new record."""
        with self._write():
            row = self.db.execute("SELECT version FROM state WHERE key = ?", (key,)).fetchone()
            version = (row[0] if row is not None else 0) + 1
            self._store(key, value, version, ttl)
        return Record(key, value, version, time.time())

    def compare_and_set(
        self, key: str, expected: int, value: dict[str, Any], *, ttl: float | None = None
    ) -> Record | None:
        """Write only if the record's version is `expected` (0: only if there is none);
        None when another writer came first."""
        with self._write():
            row = self.db.execute(
                "SELECT version, expires FROM state WHERE key = ?", (key,)
            ).fetchone()
            current = 0
            if row is not None and (row[1] is None or row[1] > time.time()):
                current = row[0]
            if current != expected:
                return None
            self._store(key, value, expected + 1, ttl)
        return Record(key, value, expected + 1, time.time())

    def delete(self, key: str) -> bool:
        with self._write():
            return self.db.execute("DELETE FROM state WHERE key = ?", (key,)).rowcount > 0

    def items(self, prefix: str = "") -> list[Record]:
        """Records whose key starts with `prefix`, most recently updated first."""
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        rows = self.db.execute(
            "SELECT key, value, version, updated FROM state WHERE key LIKE ? ESCAPE '\\' "
            "AND (expires IS NULL OR expires > ?) ORDER BY updated DESC",
            (like, time.time()),
        ).fetchall()
        return [_record(row) for row in rows]

    def _store(self, key: str, value: dict[str, Any], version: int, ttl: float | None) -> None:
        now = time.time()
        self.db.execute(
            "INSERT OR REPLACE INTO state (key, value, version, updated, expires) "
            "VALUES (?, ?, ?, ?, ?)",
            (key, json.dumps(value), version, now, now + ttl if ttl is not None else None),
        )

    @contextlib.contextmanager
    def _write(self) -> Generator[None]:
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")


def _record(row: tuple[str, str, int, float]) -> Record:
    value = json.loads(row[1])
    return Record(row[0], value if isinstance(value, dict) else {"value": value}, row[2], row[3])
