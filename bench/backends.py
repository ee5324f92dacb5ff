"""The task queue's enqueue + lease + ack cycle per tier, beside the raw client doing the same
operations in the same run.

For each tier, N tasks go through one cycle each, one after the other (enqueue, lease, ack),
timed per cycle: cycles per second and the p99 of a cycle, for memfun's TaskQueue and for the
raw client: sqlite3 (insert, update ... returning, delete, as the SQLite tier's statements),
redis-py (XADD, XREADGROUP, XACK) and nats-py JetStream (publish, fetch, ack). The in-process
tier is printed alone (it has no client). Redis and NATS must run on loopback (their default
ports); a tier whose server is down is said and skipped. Target (issue 25): at least 0.5x the
raw client's cycles per second.

    uv run python bench/backends.py [--tasks 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from memfun_git.backends.protocols import Backend
from memfun_git.errors import BackendUnavailable

TARGET = 0.5
REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"
Cycle = Callable[[int], Awaitable[None]]


async def _time(cycle: Cycle, tasks: int) -> tuple[float, float]:
    """(cycles per second, p99 seconds of one cycle)."""
    for n in range(min(50, tasks)):  # warm up
        await cycle(-n - 1)
    samples: list[float] = []
    started = time.perf_counter()
    for n in range(tasks):
        begin = time.perf_counter()
        await cycle(n)
        samples.append(time.perf_counter() - begin)
    total = time.perf_counter() - started
    return tasks / total, statistics.quantiles(samples, n=100)[98]


def _memfun_cycle(backend: Backend) -> Cycle:
    async def cycle(n: int) -> None:
        await backend.queue.enqueue({"n": n})
        lease = await backend.queue.lease("bench")
        assert lease is not None
        await backend.queue.ack(lease)

    return cycle


def _raw_sqlite(path: Path) -> Cycle:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute(
        "CREATE TABLE q (id TEXT PRIMARY KEY, payload TEXT, seq INTEGER, attempts INTEGER "
        "DEFAULT 0, visible_at REAL DEFAULT 0, receipt TEXT DEFAULT '')"
    )

    async def cycle(n: int) -> None:
        task = uuid.uuid4().hex
        db.execute("INSERT INTO q (id, payload, seq) VALUES (?, ?, ?)", (task, '{"n": 1}', n))
        row = db.execute(
            "UPDATE q SET attempts = attempts + 1, visible_at = ?, receipt = 'r' WHERE id = "
            "(SELECT id FROM q WHERE visible_at <= ? ORDER BY seq LIMIT 1) RETURNING id",
            (time.time() + 300, time.time()),
        ).fetchone()
        db.execute("DELETE FROM q WHERE id = ?", (row[0],))

    return cycle


async def _raw_redis(namespace: str) -> tuple[Cycle, Callable[[], Awaitable[None]]]:
    from redis.asyncio import Redis

    client: Any = Redis.from_url(REDIS_URL)  # redis-py's own types are partial
    stream = f"bench:{namespace}:raw"
    await client.xgroup_create(stream, "g", id="0", mkstream=True)

    async def cycle(n: int) -> None:
        await client.xadd(stream, {"task": '{"n": 1}'})
        read = await client.xreadgroup("g", "bench", {stream: ">"}, count=1)
        await client.xack(stream, "g", read[0][1][0][0])

    async def close() -> None:
        await client.delete(stream)
        await client.aclose()

    return cycle, close


async def _raw_nats(namespace: str) -> tuple[Cycle, Callable[[], Awaitable[None]]]:
    import nats
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    name = f"BENCH_{namespace.upper().replace('-', '_')}"
    subject = f"bench.{namespace}.raw"
    await js.add_stream(
        StreamConfig(name=name, subjects=[subject], retention=RetentionPolicy.WORK_QUEUE)
    )
    pull = await js.pull_subscribe(
        subject, durable="raw", stream=name, config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT)
    )

    async def cycle(n: int) -> None:
        await js.publish(subject, b'{"n": 1}')
        (message,) = await pull.fetch(batch=1, timeout=5)
        await message.ack()

    async def close() -> None:
        await js.delete_stream(name)
        await nc.close()

    return cycle, close


async def _measure(tasks: int) -> int:
    from memfun_git.backends.inprocess import open_inprocess
    from memfun_git.backends.nats_tier import drop_namespace, open_nats
    from memfun_git.backends.redis_tier import open_redis
    from memfun_git.backends.sqlite import open_sqlite

    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    print(f"{tasks} cycles (enqueue + lease + ack) per case, one after the other")
    print(f"{'tier':<12}{'memfun/s':>10}{'p99 ms':>9}{'raw/s':>10}{'p99 ms':>9}{'ratio':>8}")
    ok = True
    backend = open_inprocess()
    rate, p99 = await _time(_memfun_cycle(backend), tasks)
    print(f"{'in-process':<12}{rate:>10.0f}{p99 * 1000:>9.2f}{'-':>10}{'-':>9}{'-':>8}")
    with tempfile.TemporaryDirectory(prefix="memfun-bench-") as tmp:
        backend = await open_sqlite(Path(tmp) / "memfun.db")
        ours = await _time(_memfun_cycle(backend), tasks)
        await backend.close()
        raw = await _time(_raw_sqlite(Path(tmp) / "raw.db"), tasks)
        ok &= _row("sqlite", ours, raw)
    for tier in ("redis", "nats"):
        try:
            if tier == "redis":
                backend = await open_redis(REDIS_URL, namespace=namespace)
                raw_cycle, close = await _raw_redis(namespace)
            else:
                backend = await open_nats(NATS_URL, namespace=namespace)
                raw_cycle, close = await _raw_nats(namespace)
        except (BackendUnavailable, OSError) as exc:
            print(f"{tier:<12}skipped: {exc}")
            continue
        ours = await _time(_memfun_cycle(backend), tasks)
        raw = await _time(raw_cycle, tasks)
        await backend.close()
        await close()
        ok &= _row(tier, ours, raw)
    await _drop_redis(namespace)
    await drop_namespace(NATS_URL, namespace)
    print(f"target: memfun at least {TARGET:.1f}x the raw client's cycles per second: "
          f"{'met' if ok else 'MISSED'}")  # fmt: skip
    return 0 if ok else 1


async def _drop_redis(namespace: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(match=f"memfun:{namespace}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def _row(tier: str, ours: tuple[float, float], raw: tuple[float, float]) -> bool:
    ratio = ours[0] / raw[0]
    print(
        f"{tier:<12}{ours[0]:>10.0f}{ours[1] * 1000:>9.2f}{raw[0]:>10.0f}{raw[1] * 1000:>9.2f}"
        f"{ratio:>8.2f}"
    )
    return ratio >= TARGET


def main() -> int:
    parser = argparse.ArgumentParser(description="task queue cycles per tier beside raw clients")
    parser.add_argument("--tasks", type=int, default=2000)
    args = parser.parse_args()
    return asyncio.run(_measure(args.tasks))


if __name__ == "__main__":
    sys.exit(main())
