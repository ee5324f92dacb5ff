"""The code map's cache: what each blob holds, keyed by git blob id, in one SQLite file.

The file is `<git-common-dir>/memfun/codemap.db`, shared by every worktree of the clone, so a
file's content is parsed once whatever its path or branch. A row is keyed by the blob id, the
language the blob was read as (the same bytes read as TypeScript and as TSX differ) and the
extractor's version (a change to the queries invalidates every row at once). Rows are
immutable facts about content, so concurrent builders cannot disagree: WAL mode, a busy
time-out and `INSERT OR IGNORE` are all the coordination needed.

A cache that cannot be opened or read (read-only folder, corrupt file) degrades to no cache:
the map is built all the same, only slower, and says so.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from memfun_git.sqlite_wal import open_wal

__all__ = ["VERSION", "Cache"]

VERSION = 4
"""Bump when extraction changes what it records for the same bytes."""

_BATCH = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    blob TEXT NOT NULL,
    lang TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (blob, lang, version)
) WITHOUT ROWID
"""

log = logging.getLogger(__name__)


class Cache:
    """Open with `Cache.open(path)`; `Cache.none()` keeps nothing (`--no-cache`)."""

    def __init__(self, db: sqlite3.Connection | None, path: Path | None) -> None:
        self._db = db
        self.path = path
        self.problem = ""
        """Why the cache is off, when it could not be used ("" otherwise)."""

    @classmethod
    def none(cls) -> Cache:
        return cls(None, None)

    @classmethod
    def open(cls, path: Path, *, timeout: float = 30.0) -> Cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = _connect(path, timeout)
        except (sqlite3.DatabaseError, OSError) as exc:
            cache = cls.none()
            cache.problem = f"the code map cache {path} cannot be used ({exc}); building without"
            log.warning("%s", cache.problem)
            if "not a database" in str(exc):
                cache = cls._replace(path, timeout) or cache
            return cache
        return cls(db, path)

    @classmethod
    def _replace(cls, path: Path, timeout: float) -> Cache | None:
        """A corrupt file holds nothing that git cannot give again: start a new one."""
        with contextlib.suppress(OSError):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
            db = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            return cls(db, path)
        return None

    def get(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        """The cached data of each (blob, lang) found."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        if self._db is None or not keys:
            return found
        by_lang: dict[str, list[str]] = {}
        for blob, lang in keys:
            by_lang.setdefault(lang, []).append(blob)
        try:
            for lang, blobs in by_lang.items():
                for start in range(0, len(blobs), _BATCH):
                    chunk = blobs[start : start + _BATCH]
                    marks = ",".join("?" * len(chunk))
                    rows = self._db.execute(
                        f"SELECT blob, data FROM blobs WHERE lang = ? AND version = ? "
                        f"AND blob IN ({marks})",
                        (lang, VERSION, *chunk),
                    )
                    for blob, data in rows:
                        found[(blob, lang)] = json.loads(data)
        except (sqlite3.DatabaseError, ValueError) as exc:
            self._off(exc)
        return found

    def put(self, items: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
        if self._db is None:
            return
        rows = [
            (blob, lang, VERSION, json.dumps(data, separators=(",", ":"), ensure_ascii=False))
            for blob, lang, data in items
        ]
        if not rows:
            return
        try:
            with self._db:
                self._db.execute("BEGIN IMMEDIATE")
                self._db.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?, ?)", rows)
        except sqlite3.DatabaseError as exc:
            self._off(exc)

    def count(self) -> int:
        if self._db is None:
            return 0
        return int(self._db.execute("SELECT count(*) FROM blobs").fetchone()[0])

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    def _off(self, exc: Exception) -> None:
        self.problem = f"the code map cache {self.path} failed ({exc}); building without"
        log.warning("%s", self.problem)
        self.close()

    def __enter__(self) -> Cache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _forget_old_versions(db: sqlite3.Connection) -> None:
    """Rows another extractor version wrote are never read again: drop them (once per bump)."""
    if db.execute("SELECT 1 FROM blobs WHERE version != ? LIMIT 1", (VERSION,)).fetchone():
        with db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM blobs WHERE version != ?", (VERSION,))


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    def setup(db: sqlite3.Connection) -> None:
        db.execute(_SCHEMA)
        _forget_old_versions(db)

    return open_wal(path, setup, timeout=timeout)
