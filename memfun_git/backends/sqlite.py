"""The SQLite tier (the default): the control plane in one WAL-mode file.

Processes on one machine share it (workers, `memfun status`): every change is one statement
or one `BEGIN IMMEDIATE` transaction, so two workers never lease the same task. Times are
wall-clock seconds (several processes compare them). A lease is a row's `receipt` and
`visible_at`: a worker that dies leaves the row to be leased again when `visible_at` passes.
Events are rows too, read by subscribers polling from the id they started at (every 20 ms),
and kept for a minute.

Statements run on the event loop's thread with the standard sqlite3 module, not through
aiosqlite: each takes microseconds on a local file, and aiosqlite's hand-off to its own thread
cost more than the statements themselves (bench/backends.py measured 0.13x sqlite3's cycles
per second through aiosqlite); only waiting (a lease's wait, a subscription) is asynchronous. A
writer waits at most 5 s for another process's lock (the busy time-out), then fails.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from memfun_git.backends.protocols import AgentInfo, Backend, DeadLetter, Lease

__all__ = [
    "SqliteAgents",
    "SqliteBus",
    "SqliteQueue",
    "SqliteState",
    "database_path",
    "kv_cas",
    "kv_delete",
    "kv_get",
    "kv_keys",
    "kv_put",
    "kv_sweep",
    "open_db",
    "open_sqlite",
]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value BLOB NOT NULL, expires REAL);
CREATE TABLE IF NOT EXISTS queue (
    id TEXT PRIMARY KEY, payload TEXT NOT NULL, seq INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0, visible_at REAL NOT NULL DEFAULT 0,
    receipt TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS queue_ready ON queue (visible_at, seq);
CREATE TABLE IF NOT EXISTS dead (
    id TEXT PRIMARY KEY, payload TEXT NOT NULL, error TEXT NOT NULL, attempts INTEGER NOT NULL,
    at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, event TEXT NOT NULL,
    at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY, info TEXT NOT NULL, seen REAL NOT NULL, ttl REAL NOT NULL);
"""
_POLL = 0.02
_EVENTS_KEPT = 60.0


async def open_sqlite(path: Path, *, visibility: float = 300.0, max_attempts: int = 3) -> Backend:
    db = open_db(path)
    kv_sweep(db)  # expired values are invisible already; this frees their rows

    async def close() -> None:
        db.close()

    return Backend(
        "sqlite",
        SqliteState(db),
        SqliteQueue(db, visibility, max_attempts),
        SqliteBus(db),
        SqliteAgents(db),
        closers=[close],
    )


def _one(db: sqlite3.Connection, sql: str, args: tuple[Any, ...] = ()) -> Any:
    cursor = db.execute(sql, args)
    try:
        return cursor.fetchone()
    finally:
        cursor.close()


def _all(db: sqlite3.Connection, sql: str, args: tuple[Any, ...] = ()) -> list[Any]:
    cursor = db.execute(sql, args)
    try:
        return cursor.fetchall()
    finally:
        cursor.close()


class SqliteState:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    async def get(self, key: str) -> bytes | None:
        return kv_get(self.db, key)

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        kv_put(self.db, key, value, ttl)

    async def cas(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        return kv_cas(self.db, key, expected, value, ttl)

    async def delete(self, key: str) -> bool:
        return kv_delete(self.db, key)

    async def keys(self, prefix: str) -> list[str]:
        return kv_keys(self.db, prefix)


# The state store's statements, shared with the synchronous store of backends/sync.py.


def kv_get(db: sqlite3.Connection, key: str) -> bytes | None:
    row = _one(
        db,
        "SELECT value FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)",
        (key, time.time()),
    )
    return bytes(row[0]) if row else None


def kv_put(db: sqlite3.Connection, key: str, value: bytes, ttl: float | None) -> None:
    expires = time.time() + ttl if ttl is not None else None
    db.execute(
        "INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?, ?, ?)", (key, value, expires)
    )


def kv_cas(
    db: sqlite3.Connection, key: str, expected: bytes | None, value: bytes, ttl: float | None
) -> bool:
    now = time.time()
    expires = now + ttl if ttl is not None else None
    if expected is None:
        # Absent, or present only as an expired row.
        cursor = db.execute(
            "INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
            "expires = excluded.expires WHERE kv.expires IS NOT NULL AND kv.expires <= ?",
            (key, value, expires, now),
        )
    else:
        cursor = db.execute(
            "UPDATE kv SET value = ?, expires = ? WHERE key = ? AND value = ? "
            "AND (expires IS NULL OR expires > ?)",
            (value, expires, key, expected, now),
        )
    return cursor.rowcount == 1


def kv_delete(db: sqlite3.Connection, key: str) -> bool:
    cursor = db.execute(
        "DELETE FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)", (key, time.time())
    )
    db.execute("DELETE FROM kv WHERE key = ?", (key,))  # an expired row goes too
    return cursor.rowcount > 0


def kv_keys(db: sqlite3.Connection, prefix: str) -> list[str]:
    rows = _all(
        db,
        "SELECT key FROM kv WHERE substr(key, 1, ?) = ? AND (expires IS NULL OR expires > ?) "
        "ORDER BY key",
        (len(prefix), prefix, time.time()),
    )
    return [str(r[0]) for r in rows]


def kv_sweep(db: sqlite3.Connection) -> None:
    """Drop the expired values (they are invisible already; this frees their rows)."""
    db.execute("DELETE FROM kv WHERE expires IS NOT NULL AND expires <= ?", (time.time(),))


def open_db(path: Path) -> sqlite3.Connection:
    """The tier's file, schema made, in WAL mode (any thread may use the connection)."""
    from memfun_git.sqlite_wal import open_wal

    path.parent.mkdir(parents=True, exist_ok=True)

    def schema(db: sqlite3.Connection) -> None:
        db.executescript(_SCHEMA)

    return open_wal(path, schema, timeout=5.0, any_thread=True)


def database_path(common_dir: Path, configured: str = "") -> Path:
    """`[backend] sqlite_path`, else `<git-common-dir>/memfun/memfun.db`."""
    if configured:
        return Path(configured).expanduser()
    return common_dir / "memfun" / "memfun.db"


class SqliteQueue:
    def __init__(self, db: sqlite3.Connection, visibility: float, max_attempts: int) -> None:
        self.db = db
        self.visibility = visibility
        self.max_attempts = max_attempts

    async def enqueue(self, payload: dict[str, Any], *, task_id: str | None = None) -> str:
        task_id = task_id or uuid.uuid4().hex
        self.db.execute(
            "INSERT OR IGNORE INTO queue (id, payload, seq) "
            "VALUES (?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM queue))",
            (task_id, json.dumps(payload)),
        )
        return task_id

    def _take(self, worker: str) -> Lease | None:
        now = time.time()
        receipt = f"{worker}:{uuid.uuid4().hex}"
        row = _one(
            self.db,
            "UPDATE queue SET attempts = attempts + 1, visible_at = ?, receipt = ? WHERE id = "
            "(SELECT id FROM queue WHERE visible_at <= ? ORDER BY seq LIMIT 1) "
            "RETURNING id, payload, attempts",
            (now + self.visibility, receipt, now),
        )
        if row is None:
            return None
        return Lease(str(row[0]), json.loads(row[1]), int(row[2]), receipt)

    async def lease(self, worker: str, *, wait: float = 0.0) -> Lease | None:
        deadline = time.monotonic() + wait
        while True:
            found = self._take(worker)
            if found is not None or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))

    async def extend(self, lease: Lease) -> None:
        self.db.execute(
            "UPDATE queue SET visible_at = ? WHERE id = ? AND receipt = ?",
            (time.time() + self.visibility, lease.task_id, lease.receipt),
        )

    async def ack(self, lease: Lease) -> None:
        self.db.execute(
            "DELETE FROM queue WHERE id = ? AND receipt = ?", (lease.task_id, lease.receipt)
        )

    async def nack(self, lease: Lease, error: str, *, delay: float = 0.0) -> bool:
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = _one(
                db,
                "SELECT payload, attempts FROM queue WHERE id = ? AND receipt = ?",
                (lease.task_id, lease.receipt),
            )
            alive = True
            if row is not None and int(row[1]) >= self.max_attempts:
                db.execute("DELETE FROM queue WHERE id = ?", (lease.task_id,))
                db.execute(
                    "INSERT OR REPLACE INTO dead (id, payload, error, attempts, at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (lease.task_id, row[0], error, int(row[1]), time.time()),
                )
                alive = False
            elif row is not None:
                db.execute(
                    "UPDATE queue SET visible_at = ?, receipt = '' WHERE id = ?",
                    (time.time() + delay, lease.task_id),
                )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return alive

    async def depth(self) -> int:
        row = _one(self.db, "SELECT count(*) FROM queue")
        return int(row[0]) if row else 0

    async def dead(self) -> list[DeadLetter]:
        rows = _all(self.db, "SELECT id, payload, error, attempts FROM dead ORDER BY at")
        return [DeadLetter(str(r[0]), json.loads(r[1]), str(r[2]), int(r[3])) for r in rows]


class _SqliteSubscription:
    def __init__(self, db: sqlite3.Connection, topic: str, after: int) -> None:
        self.db = db
        self.topic = topic
        self.after = after
        self.closed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        while not self.closed:
            found = _all(
                self.db,
                "SELECT id, event FROM events WHERE topic = ? AND id > ? ORDER BY id",
                (self.topic, self.after),
            )
            for event_id, text in found:
                self.after = int(event_id)
                yield json.loads(text)
            if not found:
                await asyncio.sleep(_POLL)

    async def close(self) -> None:
        self.closed = True


class SqliteBus:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        now = time.time()
        self.db.execute(
            "INSERT INTO events (topic, event, at) VALUES (?, ?, ?)",
            (topic, json.dumps(event), now),
        )
        self.db.execute("DELETE FROM events WHERE at < ?", (now - _EVENTS_KEPT,))

    async def subscribe(self, topic: str) -> _SqliteSubscription:
        row = _one(self.db, "SELECT coalesce(max(id), 0) FROM events")
        return _SqliteSubscription(self.db, topic, int(row[0]) if row else 0)


class SqliteAgents:
    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    async def register(self, agent_id: str, info: dict[str, Any], *, ttl: float) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO agents (id, info, seen, ttl) VALUES (?, ?, ?, ?)",
            (agent_id, json.dumps(info), time.time(), ttl),
        )

    async def heartbeat(self, agent_id: str) -> bool:
        now = time.time()
        cursor = self.db.execute(
            "UPDATE agents SET seen = ? WHERE id = ? AND seen + ttl > ?", (now, agent_id, now)
        )
        return cursor.rowcount == 1

    async def unregister(self, agent_id: str) -> None:
        self.db.execute("DELETE FROM agents WHERE id = ?", (agent_id,))

    async def live(self) -> list[AgentInfo]:
        rows = _all(
            self.db, "SELECT id, info, seen FROM agents WHERE seen + ttl > ? ORDER BY id",
            (time.time(),),
        )  # fmt: skip
        return [AgentInfo(str(r[0]), json.loads(r[1]), float(r[2])) for r in rows]
