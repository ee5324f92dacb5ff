"""The DAG scheduler: dependencies first, at most max_parallel at once, each node started as
soon as its last dependency ends; a failure skips what depends on it, never silently."""

from __future__ import annotations

import threading
import time

import pytest

from memfun_git.agents.dag import Dag, SubTask
from memfun_git.agents.schedule import NodeOutcome, run_dag
from memfun_git.errors import MemfunError


def _dag(*edges: tuple[str, tuple[str, ...]]) -> Dag:
    return Dag(tuple(SubTask(i, "coder", f"do {i}", after) for i, after in edges))


def test_dependencies_run_first_and_their_outcomes_are_given() -> None:
    dag = _dag(("a", ()), ("b", ("a",)), ("c", ("a",)), ("d", ("b", "c")))
    seen: dict[str, list[str]] = {}
    ended: list[str] = []
    lock = threading.Lock()

    def work(node: SubTask, given: dict[str, NodeOutcome]) -> str:
        with lock:
            seen[node.id] = sorted(given)
            assert all(d in ended for d in node.after)
        time.sleep(0.02)
        with lock:
            ended.append(node.id)
        return node.id.upper()

    outcomes = run_dag(dag, work, max_parallel=3)
    assert seen == {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
    assert {k: (o.status, o.value) for k, o in outcomes.items()} == {
        "a": ("done", "A"), "b": ("done", "B"), "c": ("done", "C"), "d": ("done", "D"),
    }  # fmt: skip


def test_no_more_than_max_parallel_run_at_once() -> None:
    dag = _dag(*[(f"n{i}", ()) for i in range(7)])
    active, peak = [0], [0]
    lock = threading.Lock()

    def work(node: SubTask, given: dict[str, NodeOutcome]) -> None:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1

    run_dag(dag, work, max_parallel=3)
    assert peak[0] == 3


def test_a_node_starts_when_its_own_dependency_ends_not_its_level() -> None:
    """a (slow) and b (fast) are roots; c needs only b: it must not wait for a."""
    dag = _dag(("a", ()), ("b", ()), ("c", ("b",)))
    started: dict[str, float] = {}
    begin = time.monotonic()

    def work(node: SubTask, given: dict[str, NodeOutcome]) -> None:
        started[node.id] = time.monotonic() - begin
        time.sleep({"a": 0.4, "b": 0.05, "c": 0.05}[node.id])

    run_dag(dag, work, max_parallel=3)
    assert started["c"] < 0.3


def test_a_failure_skips_what_depends_on_it_and_the_rest_goes_on() -> None:
    dag = _dag(("a", ()), ("b", ("a",)), ("c", ("b",)), ("d", ()))
    finished: list[tuple[str, str]] = []

    def work(node: SubTask, given: dict[str, NodeOutcome]) -> None:
        if node.id == "a":
            raise MemfunError("the gate refused it", "")

    outcomes = run_dag(dag, work, on_finish=lambda n, o: finished.append((n.id, o.status)))
    assert {k: (o.status, o.error) for k, o in outcomes.items()} == {
        "a": ("failed", "the gate refused it"),
        "b": ("skipped", "a failed"),
        "c": ("skipped", "b failed"),
        "d": ("done", ""),
    }
    assert sorted(finished) == [("a", "failed"), ("b", "skipped"), ("c", "skipped"),
                                ("d", "done")]  # fmt: skip


def test_a_bug_in_the_work_stops_the_run_and_is_raised() -> None:
    dag = _dag(("a", ()), ("b", ("a",)))

    def work(node: SubTask, given: dict[str, NodeOutcome]) -> None:
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        run_dag(dag, work)
