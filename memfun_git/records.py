"""Task records: what `memfun list`, `show`, `diff`, `merge` and `undo` read, behind the
configured tier's StateStore (backends/sync.py).

One record per task under `task/<id>`: a JSON envelope `{"value": {...}, "version": n,
"updated": t}` whose version each write raises by one (compare-and-set compares it). With the
default sqlite tier the records are in `<git-common-dir>/memfun/memfun.db` (or `[backend]
sqlite_path`): machine-local, shared by every worktree of the clone, never committed. On a
redis or nats tier they are on the server with the queue, so every process of the team sees
them; each record names the clone it describes (`clone`: host and git common dir), and
`memfun list` shows a clone its own tasks, whose branches it has.

Records written by earlier versions (a `state` table in the same file) are moved into the
store the first time it is opened.
"""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git.backends.sqlite import database_path

if TYPE_CHECKING:
    from memfun_git.backends.sync import SyncState
    from memfun_git.config import BackendConfig

__all__ = ["Record", "Records", "clone_name", "database_path"]


def clone_name(common_dir: Path) -> str:
    """The clone a record describes: `host:/path/to/.git`."""
    return f"{socket.gethostname()}:{common_dir.resolve()}"


@dataclass(frozen=True, slots=True)
class Record:
    key: str
    value: dict[str, Any]
    version: int
    """Starts at 1; each write adds one (compare-and-set compares it)."""
    updated: float


class Records:
    """Open per use: `with Records.open(config.backend, common_dir) as store:` (the
    configured tier), or `Records.at(path)` (a SQLite file)."""

    def __init__(self, state: SyncState) -> None:
        self.state = state

    @classmethod
    def open(cls, config: BackendConfig, common_dir: Path) -> Records:
        from memfun_git.backends.sync import open_sync_state

        if config.tier not in ("redis", "nats"):
            _migrate(database_path(common_dir, config.sqlite_path))
        return cls(open_sync_state(config, common_dir))

    @classmethod
    def at(cls, path: Path) -> Records:
        from memfun_git.backends.sync import SqliteSyncState

        _migrate(path)
        return cls(SqliteSyncState.open(path))

    def __enter__(self) -> Records:
        return self

    def __exit__(self, *exc: object) -> None:
        self.state.close()

    def get(self, key: str) -> Record | None:
        return _record(key, self.state.get(key))

    def put(self, key: str, value: dict[str, Any], *, ttl: float | None = None) -> Record:
        """Write `value` under `key` whatever is there; returns the new record."""
        while True:
            raw = self.state.get(key)
            found = _record(key, raw)
            written = self._write(key, raw, found.version if found else 0, value, ttl)
            if written is not None:
                return written

    def compare_and_set(
        self, key: str, expected: int, value: dict[str, Any], *, ttl: float | None = None
    ) -> Record | None:
        """Write only if the record's version is `expected` (0: only if there is none);
        None when another writer came first."""
        raw = self.state.get(key)
        found = _record(key, raw)
        if (found.version if found else 0) != expected:
            return None
        return self._write(key, raw, expected, value, ttl)

    def delete(self, key: str) -> bool:
        return self.state.delete(key)

    def items(self, prefix: str = "") -> list[Record]:
        """Records whose key starts with `prefix`, most recently updated first."""
        found = [_record(key, self.state.get(key)) for key in self.state.keys(prefix)]
        return sorted((r for r in found if r is not None), key=lambda r: r.updated, reverse=True)

    def _write(
        self,
        key: str,
        raw: bytes | None,
        version: int,
        value: dict[str, Any],
        ttl: float | None,
    ) -> Record | None:
        now = time.time()
        envelope = {"value": value, "version": version + 1, "updated": now}
        if not self.state.cas(key, raw, json.dumps(envelope).encode(), ttl=ttl):
            return None
        return Record(key, value, version + 1, now)


def _record(key: str, raw: bytes | None) -> Record | None:
    if raw is None:
        return None
    try:
        envelope = json.loads(raw)
        value = envelope["value"]
        return Record(
            key,
            value if isinstance(value, dict) else {"value": value},
            int(envelope["version"]),
            float(envelope["updated"]),
        )
    except (ValueError, KeyError, TypeError):
        return None


def _migrate(path: Path) -> None:
    """Move the records an earlier version kept in the `state` table into the store."""
    if not path.is_file():
        return
    try:
        db = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    except sqlite3.Error:
        return  # opening the store reports it
    try:
        legacy = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'state'")
        if legacy.fetchone() is None:
            return
        from memfun_git.backends.sqlite import open_db

        open_db(path).close()  # the kv table
        db.execute("BEGIN IMMEDIATE")
        rows = db.execute("SELECT key, value, version, updated, expires FROM state").fetchall()
        for key, value, version, updated, expires in rows:
            envelope = {"value": json.loads(value), "version": version, "updated": updated}
            db.execute(
                "INSERT OR IGNORE INTO kv (key, value, expires) VALUES (?, ?, ?)",
                (key, json.dumps(envelope).encode(), expires),
            )
        db.execute("DROP TABLE state")
        db.execute("COMMIT")
    except (sqlite3.Error, ValueError):
        if db.in_transaction:
            db.execute("ROLLBACK")
    finally:
        db.close()
