"""One backend per tier for the contract suite: in-process, SQLite (a file in tmp), Redis and
NATS JetStream (the real servers on loopback, a namespace of the test's own; without a server
those tiers skip, and with MEMFUN_REQUIRE_SERVICES=1 they fail)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from memfun_git.backends.protocols import Backend
from tests.helpers.require import need_service

TIERS = ("in-process", "sqlite", "redis", "nats")
VISIBILITY = 1.0
MAX_ATTEMPTS = 2
REDIS_URL = "redis://127.0.0.1:6379/0"
NATS_URL = "nats://127.0.0.1:4222"


async def open_tier(tier: str, tmp_path: Path, namespace: str = "") -> Backend:
    namespace = namespace or f"test-{uuid.uuid4().hex[:10]}"
    visibility, attempts = VISIBILITY, MAX_ATTEMPTS
    if tier == "in-process":
        from memfun_git.backends.inprocess import open_inprocess

        return open_inprocess(visibility=visibility, max_attempts=attempts)
    if tier == "sqlite":
        from memfun_git.backends.sqlite import open_sqlite

        return await open_sqlite(
            tmp_path / "memfun.db", visibility=visibility, max_attempts=attempts
        )
    if tier == "redis":
        from memfun_git.backends.redis_tier import open_redis

        need_service("Redis", "127.0.0.1", 6379)
        return await open_redis(
            REDIS_URL, namespace=namespace, visibility=visibility, max_attempts=attempts
        )
    from memfun_git.backends.nats_tier import open_nats

    need_service("NATS", "127.0.0.1", 4222)
    return await open_nats(
        NATS_URL, namespace=namespace, visibility=visibility, max_attempts=attempts
    )


async def drop(tier: str, namespace: str) -> None:
    """Remove what a test left on a shared server."""
    if tier == "redis":
        from redis.asyncio import Redis

        client = Redis.from_url(REDIS_URL)
        keys = [k async for k in client.scan_iter(match=f"memfun:{namespace}:*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    elif tier == "nats":
        from memfun_git.backends.nats_tier import drop_namespace

        await drop_namespace(NATS_URL, namespace)


@pytest.fixture(params=TIERS)
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    namespace = f"test-{uuid.uuid4().hex[:10]}"
    opened = await open_tier(request.param, tmp_path, namespace)
    yield opened
    await opened.close()
    await drop(request.param, namespace)
