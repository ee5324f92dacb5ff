"""The memory index: every entry this clone knows, ranked for a request with BM25 (FTS5).

One SQLite file, `<git-common-dir>/memfun/memory.db`, shared by every worktree. It holds the
entries of MEMORY.md as given by its sources (the file at the task's base, at each task
branch's tip, and the user-level `~/.memfun/MEMORY.md`), each source fingerprinted by its blob
id or content hash: when a fingerprint changes, that source's rows are replaced. A task's new
entries are put in at once (`add`), before its branch is merged anywhere. Forgotten ids are
kept as tombstones, so an entry forgotten here stays forgotten even while an old branch still
has it.

The index is a cache of what git and the user's file hold: a missing or corrupt file is
rebuilt from them, never an error.

Ranking: FTS5's BM25 over the entry text and its section, with the Porter stemmer
(`pooling` finds `pool`), the request's words OR-ed (stop words dropped), so an entry that
shares the request's rarest words ranks first, not the newest nor any keyword hit.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from memfun_git.memory.entries import Entry
from memfun_git.sqlite_wal import open_wal

__all__ = ["MemoryIndex", "index_path", "query_terms"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entry (
    rowid INTEGER PRIMARY KEY, id TEXT NOT NULL, source TEXT NOT NULL, date TEXT NOT NULL,
    section TEXT NOT NULL, text TEXT NOT NULL, UNIQUE (id, source)
);
CREATE VIRTUAL TABLE IF NOT EXISTS entry_fts USING fts5(
    section, text, content = 'entry', content_rowid = 'rowid', tokenize = 'porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS entry_added AFTER INSERT ON entry BEGIN
    INSERT INTO entry_fts (rowid, section, text) VALUES (new.rowid, new.section, new.text);
END;
CREATE TRIGGER IF NOT EXISTS entry_removed AFTER DELETE ON entry BEGIN
    INSERT INTO entry_fts (entry_fts, rowid, section, text)
        VALUES ('delete', old.rowid, old.section, old.text);
END;
CREATE TABLE IF NOT EXISTS sources (name TEXT PRIMARY KEY, fingerprint TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS forgotten (id TEXT PRIMARY KEY);
"""
_COLUMNS = "id, text, section, date, source"
_INSERT = "INSERT INTO entry (id, source, date, section, text) VALUES (?, ?, ?, ?, ?)"
_WORD = re.compile(r"[^\W_]{3,}")
_PREFIX_FROM = 7
_PREFIX_LETTERS = 6
_STOP = frozenset(
    re.findall(
        r"\w+",
        """the and for with from that this into when then than what which where while also
        only use uses using should would could must can not does how are was were have has
        our your their them they there here please make sure want need about""",
    )
)


def index_path(common_dir: Path) -> Path:
    return common_dir / "memfun" / "memory.db"


def query_terms(text: str) -> list[str]:
    """The words of a request worth searching for (three letters or more, not stop words)."""
    return list(dict.fromkeys(w.lower() for w in _WORD.findall(text) if w.lower() not in _STOP))


class MemoryIndex:
    """Open with `MemoryIndex.open(path)`; a context manager."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self.db = db
        self.path = path

    @classmethod
    def open(cls, path: Path) -> MemoryIndex:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return cls(_connect(path), path)
        except sqlite3.DatabaseError as exc:
            logger.warning("the memory index %s is unusable (%s): rebuilding it", path, exc)
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(OSError):
                    Path(f"{path}{suffix}").unlink()
            return cls(_connect(path), path)

    @classmethod
    def in_memory(cls) -> MemoryIndex:
        """An index of no file (to rank entries kept elsewhere, as the knowledge base does)."""
        db = sqlite3.connect(":memory:", isolation_level="DEFERRED")
        db.executescript(_SCHEMA)
        return cls(db, Path(":memory:"))

    def __enter__(self) -> MemoryIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()

    # -- sources ---------------------------------------------------------------------------

    def fingerprint(self, source: str) -> str | None:
        row = self.db.execute("SELECT fingerprint FROM sources WHERE name = ?", (source,))
        found = row.fetchone()
        return str(found[0]) if found else None

    def replace_source(self, source: str, fingerprint: str, entries: Iterable[Entry]) -> None:
        """Make `source`'s rows exactly `entries` (one transaction)."""
        unique = {e.id: e for e in entries}.values()
        rows = [(e.id, source, e.date, e.section, e.text) for e in unique]
        with self.db:
            self.db.execute("DELETE FROM entry WHERE source = ?", (source,))
            self.db.executemany(_INSERT, rows)
            self.db.execute("INSERT OR REPLACE INTO sources VALUES (?, ?)", (source, fingerprint))

    def drop_sources_except(self, keep: Sequence[str]) -> None:
        """Forget sources no longer there (a deleted branch), keeping `keep` and "learned"."""
        names = [r[0] for r in self.db.execute("SELECT name FROM sources")]
        gone = [n for n in names if n not in keep and n != "learned"]
        with self.db:
            for name in gone:
                self.db.execute("DELETE FROM entry WHERE source = ?", (name,))
                self.db.execute("DELETE FROM sources WHERE name = ?", (name,))

    # -- entries ---------------------------------------------------------------------------

    def add(self, entries: Iterable[Entry], source: str = "learned") -> None:
        """Put entries in at once (a task's lessons, the user's `memory add`)."""
        fresh = list({e.id: e for e in entries}.values())
        with self.db:
            self.db.executemany("DELETE FROM forgotten WHERE id = ?", [(e.id,) for e in fresh])
            self.db.executemany(
                "DELETE FROM entry WHERE id = ? AND source = ?", [(e.id, source) for e in fresh]
            )
            self.db.executemany(_INSERT, [(e.id, source, e.date, e.section, e.text) for e in fresh])
            self.db.execute("INSERT OR IGNORE INTO sources VALUES (?, '')", (source,))

    def forget(self, entry_id: str) -> None:
        with self.db:
            self.db.execute("INSERT OR IGNORE INTO forgotten VALUES (?)", (entry_id,))
            self.db.execute("DELETE FROM entry WHERE id = ? AND source = 'learned'", (entry_id,))

    def all(self) -> list[Entry]:
        """Every entry once (by id), forgotten ones left out, newest first."""
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM entry WHERE id NOT IN (SELECT id FROM forgotten) "
            "ORDER BY date DESC, id"
        )
        return _unique(Entry(*row) for row in rows)

    def from_sources(self, names: Sequence[str]) -> list[Entry]:
        """Every entry (once, by id, forgotten ones left out) that one of the sources `names`
        holds, newest first; each says the first of those sources that holds it."""
        if not names:
            return []
        marks = ", ".join("?" for _ in names)
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM entry WHERE source IN ({marks}) "
            "AND id NOT IN (SELECT id FROM forgotten) ORDER BY date DESC, id",
            tuple(names),
        )
        return _unique(Entry(*row) for row in rows)

    def forgotten_ids(self) -> set[str]:
        return {str(r[0]) for r in self.db.execute("SELECT id FROM forgotten")}

    def count(self) -> int:
        return int(self.db.execute("SELECT count(DISTINCT id) FROM entry").fetchone()[0])

    def search(self, query: str, limit: int = 8) -> list[Entry]:
        """The entries best matching `query` by BM25, best first (forgotten ones left out)."""
        terms = query_terms(query)
        if not terms or limit <= 0:
            return []
        match = " OR ".join(_match_terms(terms))
        rows = self.db.execute(
            f"SELECT {_COLUMNS} FROM entry JOIN (SELECT rowid AS hit, bm25(entry_fts, 0.5, 1.0) "
            "AS score FROM entry_fts WHERE entry_fts MATCH ? ORDER BY score LIMIT ?) "
            "ON entry.rowid = hit WHERE id NOT IN (SELECT id FROM forgotten) ORDER BY score",
            (match, limit * 3 + 8),
        )
        return _unique(Entry(*row) for row in rows)[:limit]


def _match_terms(terms: Sequence[str]) -> list[str]:
    """FTS5 query terms: each word (the Porter stemmer matches `pooling` to `pool`), and for a
    long word also its first six letters as a prefix, for what the stemmer leaves apart
    (`formatter` and `formatted`)."""
    found: list[str] = []
    for term in terms:
        found.append('"' + term.replace('"', '""') + '"')
        if len(term) >= _PREFIX_FROM and term.isalpha():
            found.append(f'"{term[:_PREFIX_LETTERS]}"*')
    return list(dict.fromkeys(found))


def _connect(path: Path) -> sqlite3.Connection:
    def setup(db: sqlite3.Connection) -> None:
        db.executescript(_SCHEMA)
        db.execute("SELECT count(*) FROM entry_fts").fetchone()

    db = open_wal(path, setup)
    db.isolation_level = "DEFERRED"  # `with db:` commits a batch
    return db


def _unique(entries: Iterable[Entry]) -> list[Entry]:
    seen: set[str] = set()
    found: list[Entry] = []
    for entry in entries:
        if entry.id not in seen:
            seen.add(entry.id)
            found.append(entry)
    return found
