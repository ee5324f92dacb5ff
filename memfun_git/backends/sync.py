"""The configured tier's StateStore for synchronous code: the engine's task records, the
pre-commit hook's verdict cache, the CLI's task commands.

- sqlite (the default) and in-process: the clone's SQLite file, used directly on the caller's
  thread (the same `kv` table and statements as the asyncio SQLite tier; no event loop, so the
  hook stays fast). The in-process tier has nothing that outlives its process, so what must
  (records of tasks) is kept in that file too.
- redis and nats: the tier's asyncio store, run on an event loop of its own in a daemon thread
  (the caller may itself be inside a running loop, as a worker's engine thread is). Each call
  waits at most `timeout` seconds, then raises BackendUnavailable naming the server.

Open with `open_sync_state(config, common_dir)`, close after use (a context manager).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeVar

from memfun_git.errors import BackendUnavailable

if TYPE_CHECKING:
    import sqlite3

    from memfun_git.backends.protocols import Backend
    from memfun_git.config import BackendConfig

__all__ = ["LoopState", "SqliteSyncState", "SyncState", "open_sync_state"]

T = TypeVar("T")


class SyncState(Protocol):
    """StateStore's operations, synchronous (see protocols.StateStore for each)."""

    where: str
    """What it is, for messages: the file or the server's URL."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None: ...

    def cas(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool: ...

    def delete(self, key: str) -> bool: ...

    def keys(self, prefix: str) -> list[str]: ...

    def close(self) -> None: ...

    def __enter__(self) -> SyncState: ...

    def __exit__(self, *exc: object) -> None: ...


def open_sync_state(
    config: BackendConfig, common_dir: Path, *, timeout: float = 10.0
) -> SqliteSyncState | LoopState:
    """The configured tier's store (BackendUnavailable when it cannot be opened or reached)."""
    if config.tier in ("redis", "nats"):
        return LoopState.open(config, timeout=timeout)
    from memfun_git.backends.sqlite import database_path

    return SqliteSyncState.open(database_path(common_dir, config.sqlite_path), timeout=timeout)


class SqliteSyncState:
    def __init__(self, db: sqlite3.Connection, where: str) -> None:
        self.db = db
        self.where = where

    @classmethod
    def open(cls, path: Path, *, timeout: float = 10.0) -> SqliteSyncState:
        import sqlite3

        from memfun_git.backends.sqlite import open_db

        try:
            db = open_db(path)
            db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        except (OSError, sqlite3.Error) as exc:
            raise BackendUnavailable(
                f"cannot open memfun's state at {path} ({exc})",
                "check that folder's permissions and free space, or set [backend] sqlite_path",
            ) from None
        return cls(db, str(path))

    def get(self, key: str) -> bytes | None:
        from memfun_git.backends.sqlite import kv_get

        return self._guard(lambda: kv_get(self.db, key))

    def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        from memfun_git.backends.sqlite import kv_put

        self._guard(lambda: kv_put(self.db, key, value, ttl))

    def cas(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        from memfun_git.backends.sqlite import kv_cas

        return self._guard(lambda: kv_cas(self.db, key, expected, value, ttl))

    def delete(self, key: str) -> bool:
        from memfun_git.backends.sqlite import kv_delete

        return self._guard(lambda: kv_delete(self.db, key))

    def keys(self, prefix: str) -> list[str]:
        from memfun_git.backends.sqlite import kv_keys

        return self._guard(lambda: kv_keys(self.db, prefix))

    def sweep(self) -> None:
        from memfun_git.backends.sqlite import kv_sweep

        self._guard(lambda: kv_sweep(self.db))

    def _guard(self, call: Callable[[], T]) -> T:
        import sqlite3

        try:
            return call()
        except sqlite3.Error as exc:
            raise BackendUnavailable(
                f"memfun's state at {self.where} failed ({exc})",
                "another memfun process may hold it locked; try again, or run `memfun doctor`",
            ) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> SqliteSyncState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class LoopState:
    """A shared tier's store, run on an event loop in a daemon thread."""

    def __init__(self, loop: _Loop, backend: Backend, where: str, timeout: float) -> None:
        self.loop = loop
        self.backend = backend
        self.where = where
        self.timeout = timeout

    @classmethod
    def open(cls, config: BackendConfig, *, timeout: float = 10.0) -> LoopState:
        from memfun_git.backends import open_backend

        where = config.redis_url if config.tier == "redis" else config.nats_url
        loop = _Loop()
        future = asyncio.run_coroutine_threadsafe(open_backend(config, None), loop.loop)
        try:
            backend = future.result(timeout)
        except BackendUnavailable:
            loop.stop()
            raise
        except (FutureTimeout, OSError) as exc:
            future.cancel()
            loop.stop()
            why = str(exc) or "timed out"
            raise BackendUnavailable(
                f"the {config.tier} server at {_safe(where)} did not answer ({why})",
                f"start it, or set [backend] {config.tier}_url or tier in memfun.toml",
            ) from None
        return cls(loop, backend, _safe(where), timeout)

    def get(self, key: str) -> bytes | None:
        return self._call(lambda: self.backend.state.get(key))

    def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        self._call(lambda: self.backend.state.put(key, value, ttl=ttl))

    def cas(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        return self._call(lambda: self.backend.state.cas(key, expected, value, ttl=ttl))

    def delete(self, key: str) -> bool:
        return self._call(lambda: self.backend.state.delete(key))

    def keys(self, prefix: str) -> list[str]:
        return self._call(lambda: self.backend.state.keys(prefix))

    def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        async def run() -> T:
            return await make()

        future = asyncio.run_coroutine_threadsafe(run(), self.loop.loop)
        try:
            return future.result(self.timeout)
        except BackendUnavailable:
            raise
        except Exception as exc:
            future.cancel()
            raise BackendUnavailable(
                f"memfun's state at {self.where} failed "
                f"({type(exc).__name__}{f': {exc}' if str(exc) else ''})",
                "check that the server is up (`memfun doctor`), then try again",
            ) from None

    def close(self) -> None:
        future = asyncio.run_coroutine_threadsafe(self.backend.close(), self.loop.loop)
        try:
            future.result(self.timeout)
        except Exception:  # closing a connection that is gone
            future.cancel()
        self.loop.stop()

    def __enter__(self) -> LoopState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Loop:
    """An event loop running in a daemon thread until `stop`."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="memfun-state")
        self.thread.daemon = True
        self.thread.start()

    def stop(self) -> None:
        """End what still runs on the loop (a client's reconnect or reader, when its server
        went away), then the loop: nothing is left pending to be reported destroyed."""
        ending = asyncio.run_coroutine_threadsafe(_cancel_pending(), self.loop)
        try:
            ending.result(5.0)
        except Exception:  # the loop is stuck: stopping it is all that is left
            ending.cancel()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)
        if not self.thread.is_alive():
            self.loop.close()


async def _cancel_pending() -> None:
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _safe(url: str) -> str:
    from memfun_git.redact import redact

    return redact(url)
