"""The SQLite tier (the default): the control plane in one WAL-mode file, via aiosqlite.

Processes on one machine share it (workers, `memfun status`): every change is one statement
or one `BEGIN IMMEDIATE` transaction, so two workers never lease the same task. Times are
wall-clock seconds (several processes compare them). A lease is a row's `receipt` and
`visible_at`: a worker that dies leaves the row to be leased again when `visible_at` passes.
Events are rows too, read by subscribers polling from the id they started at (a few ms apart),
and kept for a minute.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git.backends.protocols import AgentInfo, Backend, DeadLetter, Lease

if TYPE_CHECKING:
    import aiosqlite

__all__ = [
    "SqliteAgents",
    "SqliteBus",
    "SqliteQueue",
    "SqliteState",
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
    import aiosqlite

    path.parent.mkdir(parents=True, exist_ok=True)
    db = await aiosqlite.connect(str(path), timeout=30.0, isolation_level=None)
    await db.execute("PRAGMA journal_mode=WAL")
    await db.execute("PRAGMA synchronous=NORMAL")
    await db.executescript(_SCHEMA)
    lock = asyncio.Lock()
    return Backend(
        "sqlite",
        SqliteState(db),
        SqliteQueue(db, lock, visibility, max_attempts),
        SqliteBus(db),
        SqliteAgents(db),
        closers=[db.close],
    )


class SqliteState:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def get(self, key: str) -> bytes | None:
        async with self.db.execute(
            "SELECT value FROM kv WHERE key = ? AND (expires IS NULL OR expires > ?)",
            (key, time.time()),
        ) as rows:
            row = await rows.fetchone()
        return bytes(row[0]) if row else None

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        expires = time.time() + ttl if ttl is not None else None
        await self.db.execute(
            "INSERT OR REPLACE INTO kv (key, value, expires) VALUES (?, ?, ?)",
            (key, value, expires),
        )

    async def cas(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        now = time.time()
        expires = now + ttl if ttl is not None else None
        if expected is None:
            # Absent, or present only as an expired row.
            cursor = await self.db.execute(
                "INSERT INTO kv (key, value, expires) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                "expires = excluded.expires WHERE kv.expires IS NOT NULL AND kv.expires <= ?",
                (key, value, expires, now),
            )
        else:
            cursor = await self.db.execute(
                "UPDATE kv SET value = ?, expires = ? WHERE key = ? AND value = ? "
                "AND (expires IS NULL OR expires > ?)",
                (value, expires, key, expected, now),
            )
        return cursor.rowcount == 1

    async def delete(self, key: str) -> bool:
        present = await self.get(key) is not None
        await self.db.execute("DELETE FROM kv WHERE key = ?", (key,))
        return present

    async def keys(self, prefix: str) -> list[str]:
        async with self.db.execute(
            "SELECT key FROM kv WHERE substr(key, 1, ?) = ? AND (expires IS NULL OR expires > ?) "
            "ORDER BY key",
            (len(prefix), prefix, time.time()),
        ) as rows:
            return [str(r[0]) for r in await rows.fetchall()]


class SqliteQueue:
    def __init__(
        self, db: aiosqlite.Connection, lock: asyncio.Lock, visibility: float, max_attempts: int
    ) -> None:
        self.db = db
        self.lock = lock
        self.visibility = visibility
        self.max_attempts = max_attempts

    async def enqueue(self, payload: dict[str, Any], *, task_id: str | None = None) -> str:
        task_id = task_id or uuid.uuid4().hex
        await self.db.execute(
            "INSERT OR IGNORE INTO queue (id, payload, seq) "
            "VALUES (?, ?, (SELECT coalesce(max(seq), 0) + 1 FROM queue))",
            (task_id, json.dumps(payload)),
        )
        return task_id

    async def _take(self, worker: str) -> Lease | None:
        now = time.time()
        receipt = f"{worker}:{uuid.uuid4().hex}"
        async with (
            self.lock,
            self.db.execute(
                "UPDATE queue SET attempts = attempts + 1, visible_at = ?, receipt = ? WHERE id = "
                "(SELECT id FROM queue WHERE visible_at <= ? ORDER BY seq LIMIT 1) "
                "RETURNING id, payload, attempts",
                (now + self.visibility, receipt, now),
            ) as rows,
        ):
            row = await rows.fetchone()
        if row is None:
            return None
        return Lease(str(row[0]), json.loads(row[1]), int(row[2]), receipt)

    async def lease(self, worker: str, *, wait: float = 0.0) -> Lease | None:
        deadline = time.monotonic() + wait
        while True:
            found = await self._take(worker)
            if found is not None or time.monotonic() >= deadline:
                return found
            await asyncio.sleep(min(_POLL, max(0.0, deadline - time.monotonic())))

    async def extend(self, lease: Lease) -> None:
        await self.db.execute(
            "UPDATE queue SET visible_at = ? WHERE id = ? AND receipt = ?",
            (time.time() + self.visibility, lease.task_id, lease.receipt),
        )

    async def ack(self, lease: Lease) -> None:
        await self.db.execute(
            "DELETE FROM queue WHERE id = ? AND receipt = ?", (lease.task_id, lease.receipt)
        )

    async def nack(self, lease: Lease, error: str, *, delay: float = 0.0) -> bool:
        async with self.lock:
            await self.db.execute("BEGIN IMMEDIATE")
            try:
                async with self.db.execute(
                    "SELECT payload, attempts FROM queue WHERE id = ? AND receipt = ?",
                    (lease.task_id, lease.receipt),
                ) as rows:
                    row = await rows.fetchone()
                alive = True
                if row is not None and int(row[1]) >= self.max_attempts:
                    await self.db.execute("DELETE FROM queue WHERE id = ?", (lease.task_id,))
                    await self.db.execute(
                        "INSERT OR REPLACE INTO dead (id, payload, error, attempts, at) "
                        "VALUES (?, ?, ?, ?, ?)",
                        (lease.task_id, row[0], error, int(row[1]), time.time()),
                    )
                    alive = False
                elif row is not None:
                    await self.db.execute(
                        "UPDATE queue SET visible_at = ?, receipt = '' WHERE id = ?",
                        (time.time() + delay, lease.task_id),
                    )
                await self.db.execute("COMMIT")
            except BaseException:
                await self.db.execute("ROLLBACK")
                raise
        return alive

    async def depth(self) -> int:
        async with self.db.execute("SELECT count(*) FROM queue") as rows:
            row = await rows.fetchone()
        return int(row[0]) if row else 0

    async def dead(self) -> list[DeadLetter]:
        async with self.db.execute(
            "SELECT id, payload, error, attempts FROM dead ORDER BY at"
        ) as rows:
            found = await rows.fetchall()
        return [DeadLetter(str(r[0]), json.loads(r[1]), str(r[2]), int(r[3])) for r in found]


class _SqliteSubscription:
    def __init__(self, db: aiosqlite.Connection, topic: str, after: int) -> None:
        self.db = db
        self.topic = topic
        self.after = after
        self.closed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        while not self.closed:
            async with self.db.execute(
                "SELECT id, event FROM events WHERE topic = ? AND id > ? ORDER BY id",
                (self.topic, self.after),
            ) as rows:
                found = await rows.fetchall()
            for event_id, text in found:
                self.after = int(event_id)
                yield json.loads(text)
            if not found:
                await asyncio.sleep(_POLL)

    async def close(self) -> None:
        self.closed = True


class SqliteBus:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        now = time.time()
        await self.db.execute(
            "INSERT INTO events (topic, event, at) VALUES (?, ?, ?)",
            (topic, json.dumps(event), now),
        )
        await self.db.execute("DELETE FROM events WHERE at < ?", (now - _EVENTS_KEPT,))

    async def subscribe(self, topic: str) -> _SqliteSubscription:
        async with self.db.execute("SELECT coalesce(max(id), 0) FROM events") as rows:
            row = await rows.fetchone()
        return _SqliteSubscription(self.db, topic, int(row[0]) if row else 0)


class SqliteAgents:
    def __init__(self, db: aiosqlite.Connection) -> None:
        self.db = db

    async def register(self, agent_id: str, info: dict[str, Any], *, ttl: float) -> None:
        await self.db.execute(
            "INSERT OR REPLACE INTO agents (id, info, seen, ttl) VALUES (?, ?, ?, ?)",
            (agent_id, json.dumps(info), time.time(), ttl),
        )

    async def heartbeat(self, agent_id: str) -> bool:
        now = time.time()
        cursor = await self.db.execute(
            "UPDATE agents SET seen = ? WHERE id = ? AND seen + ttl > ?", (now, agent_id, now)
        )
        return cursor.rowcount == 1

    async def unregister(self, agent_id: str) -> None:
        await self.db.execute("DELETE FROM agents WHERE id = ?", (agent_id,))

    async def live(self) -> list[AgentInfo]:
        async with self.db.execute(
            "SELECT id, info, seen FROM agents WHERE seen + ttl > ? ORDER BY id", (time.time(),)
        ) as rows:
            found = await rows.fetchall()
        return [AgentInfo(str(r[0]), json.loads(r[1]), float(r[2])) for r in found]
