"""Task records: versioned JSON values in SQLite, several processes at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from memfun_git.errors import BackendUnavailable
from memfun_git.records import Records, database_path


def test_put_get_and_versions(tmp_path: Path) -> None:
    with Records(tmp_path / "memfun.db") as store:
        assert store.get("task/a") is None
        first = store.put("task/a", {"status": "running"})
        assert first.version == 1
        assert store.put("task/a", {"status": "done"}).version == 2
        got = store.get("task/a")
        assert got is not None
        assert (got.value, got.version) == ({"status": "done"}, 2)


def test_compare_and_set_refuses_a_stale_writer(tmp_path: Path) -> None:
    with Records(tmp_path / "memfun.db") as store:
        assert store.compare_and_set("lease/x", 0, {"owner": "a"}) is not None
        assert store.compare_and_set("lease/x", 0, {"owner": "b"}) is None
        assert store.compare_and_set("lease/x", 1, {"owner": "b"}) is not None
        got = store.get("lease/x")
        assert got is not None
        assert got.value == {"owner": "b"}


def test_time_to_live_and_prefix_listing(tmp_path: Path) -> None:
    with Records(tmp_path / "memfun.db") as store:
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
    with Records(Path(path)) as store:
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
    with Records(path) as store:
        assert sum(r.version for r in store.items("task/")) == 120


def test_an_unusable_place_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(BackendUnavailable, match="sqlite_path"), Records(blocker / "memfun.db"):
        pass
    assert database_path(tmp_path) == tmp_path / "memfun" / "memfun.db"
    assert database_path(tmp_path, "~/x.db").name == "x.db"
