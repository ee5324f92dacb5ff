"""The backend family: Protocols (protocols.py) and one module per tier, opened by
`open_backend` as `[backend] tier` says (in-process, sqlite, redis, nats)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memfun_git.backends.protocols import Backend
    from memfun_git.config import BackendConfig

__all__ = ["open_backend"]


async def open_backend(config: BackendConfig, common_dir: Path | None) -> Backend:
    """The configured tier's members (BackendUnavailable naming the server that does not
    answer). `common_dir`: the clone's git common dir, where the sqlite file lives by default."""
    visibility, attempts = config.visibility_timeout_seconds, config.max_attempts
    if config.tier == "in-process":
        from memfun_git.backends.inprocess import open_inprocess

        return open_inprocess(visibility=visibility, max_attempts=attempts)
    if config.tier == "redis":
        from memfun_git.backends.redis_tier import open_redis

        return await open_redis(
            config.redis_url, namespace=config.namespace, visibility=visibility,
            max_attempts=attempts,
        )  # fmt: skip
    if config.tier == "nats":
        from memfun_git.backends.nats_tier import open_nats

        return await open_nats(
            config.nats_url, namespace=config.namespace, visibility=visibility,
            max_attempts=attempts,
        )  # fmt: skip
    from memfun_git.backends.sqlite import database_path, open_sqlite

    base = common_dir if common_dir is not None else Path.cwd() / ".memfun"
    path = database_path(base, config.sqlite_path)
    return await open_sqlite(path, visibility=visibility, max_attempts=attempts)
