"""Task records: versioned JSON values behind the configured tier's state store (SQLite by
default; Redis and NATS when configured), several processes at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from memfun_git.config import BackendConfig
from memfun_git.errors import BackendUnavailable
from memfun_git.records import Records, database_path
from tests.helpers.require import need_service


def test_put_get_and_versions(tmp_path: Path) -> None:
    with Records.at(tmp_path / "memfun.db") as store:
        assert store.get("task/a") is None
        first = store.put("task/a", {"status": "running"})
        assert first.version == 1
        assert store.put("task/a", {"status": "done"}).version == 2
        got = store.get("task/a")
        assert got is not None
        assert (got.value, got.version) == ({"status": "done"}, 2)


def test_compare_and_set_refuses_a_stale_writer(tmp_path: Path) -> None:
    with Records.at(tmp_path / "memfun.db") as store:
        assert store.compare_and_set("lease/x", 0, {"owner": "a"}) is not None
        assert store.compare_and_set("lease/x", 0, {"owner": "b"}) is None
        assert store.compare_and_set("lease/x", 1, {"owner": "b"}) is not None
        got = store.get("lease/x")
        assert got is not None
        assert got.value == {"owner": "b"}


def test_time_to_live_and_prefix_listing(tmp_path: Path) -> None:
    with Records.at(tmp_path / "memfun.db") as store:
        store.put("task/a", {"n": 1})
        store.put("task/b_c", {"n": 2})
        store.put("taskXb", {"n": 3})
        store.put("task/gone", {"n": 4}, ttl=-1)  # already expired
        assert sorted(r.key for r in store.items("task/")) == ["task/a", "task/b_c"]
        assert [r.key for r in store.items("task/b_")] == ["task/b_c"]
        assert store.get("task/gone") is None
        assert store.delete("task/a")
        assert not store.delete("task/a")


def _writer(path: str, n: int) -> None:
    with Records.at(Path(path)) as store:
        for i in range(n):
            store.put(f"task/{i % 5}", {"i": i})


def test_several_processes_write_at_once(tmp_path: Path) -> None:
    path = tmp_path / "memfun.db"
    procs = [multiprocessing.get_context("spawn").Process(target=_writer, args=(str(path), 40))
             for _ in range(3)]  # fmt: skip
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    with Records.at(path) as store:
        assert sum(r.version for r in store.items("task/")) == 120


def test_an_unusable_place_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BackendUnavailable, match="sqlite_path"), Records.at(blocker / "memfun.db"):
        pass
    assert database_path(tmp_path) == tmp_path / "memfun" / "memfun.db"
    assert database_path(tmp_path, "~/x.db").name == "x.db"


def test_records_of_an_earlier_version_are_moved_into_the_store(tmp_path: Path) -> None:
    import json
    import sqlite3

    path = tmp_path / "memfun.db"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL, version INTEGER NOT NULL, "
        "updated REAL NOT NULL, expires REAL)"
    )
    db.execute("INSERT INTO state VALUES ('task/old', ?, 3, 1700000000.0, NULL)",
               (json.dumps({"status": "done", "branch": "memfun/old"}),))  # fmt: skip
    db.commit()
    db.close()
    with Records.open(BackendConfig(sqlite_path=str(path)), tmp_path) as store:
        found = store.get("task/old")
        assert found is not None
        assert (found.value["branch"], found.version, found.updated) == ("memfun/old", 3, 1.7e9)
        assert store.put("task/old", {"status": "merged"}).version == 4
    tables = sqlite3.connect(path).execute("SELECT name FROM sqlite_master").fetchall()
    assert ("state",) not in tables


@pytest.mark.parametrize("tier", ["redis", "nats"])
def test_records_live_on_a_shared_tier_when_configured(tmp_path: Path, tier: str) -> None:
    import asyncio
    import uuid

    from tests.backends.conftest import drop

    need_service(tier.upper() if tier == "nats" else "Redis", "127.0.0.1",
                 6379 if tier == "redis" else 4222)  # fmt: skip
    namespace = f"test-{uuid.uuid4().hex[:10]}"
    backend = BackendConfig(tier=tier, namespace=namespace)  # type: ignore[arg-type]
    try:
        with Records.open(backend, tmp_path) as store:
            store.put("task/a", {"status": "running"})
            assert store.compare_and_set("task/a", 1, {"status": "done"}) is not None
            assert store.compare_and_set("task/a", 1, {"status": "lost"}) is None
        with Records.open(backend, tmp_path / "another-clone") as store:
            got = store.get("task/a")
            assert got is not None
            assert (got.value, got.version) == ({"status": "done"}, 2)
            assert [r.key for r in store.items("task/")] == ["task/a"]
        assert not (tmp_path / "memfun").exists()  # nothing went to a local file
    finally:
        asyncio.run(drop(tier, namespace))


def test_an_unreachable_server_is_one_error_naming_it(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = BackendConfig(tier="redis", redis_url=f"redis://:hunter2@127.0.0.1:{port}/0")
    with pytest.raises(BackendUnavailable) as caught, Records.open(backend, tmp_path):
        pass
    assert f"127.0.0.1:{port}" in caught.value.message
    assert "hunter2" not in caught.value.message
