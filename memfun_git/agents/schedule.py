"""Running a DAG's sub-tasks: each as soon as everything it depends on is done, at most
`[workflow] max_parallel` at once (threads: the work is waiting on the model and on
subprocesses). A sub-task whose dependency failed does not run: it is skipped, naming which.
Nothing is dropped silently: every node ends with an outcome.

Starting each node the moment its last dependency finishes (rather than in level-by-level
groups) keeps the wall time near the DAG's critical path (bench/parallel.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from memfun_git.agents.dag import Dag, SubTask
from memfun_git.errors import MemfunError

__all__ = ["NodeOutcome", "run_dag"]


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    node_id: str
    status: str
    """"done", "failed" or "skipped"."""
    value: Any = None
    """What the work returned (done)."""
    error: str = ""
    """Why it failed or was skipped."""
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "done"


Work = Callable[[SubTask, dict[str, NodeOutcome]], Any]
"""Does one sub-task, given its dependencies' outcomes; raises MemfunError when it fails."""


def run_dag(
    dag: Dag,
    work: Work,
    *,
    max_parallel: int = 4,
    on_start: Callable[[SubTask], None] | None = None,
    on_finish: Callable[[SubTask, NodeOutcome], None] | None = None,
) -> dict[str, NodeOutcome]:
    """Every node's outcome, by id. A MemfunError from `work` fails that node; any other
    exception (a bug, Ctrl-C) stops the run once the running nodes end, and is raised."""
    outcomes: dict[str, NodeOutcome] = {}
    lock = threading.Lock()
    order = dag.order()
    running: dict[Future[Any], tuple[SubTask, float]] = {}

    def finish(node: SubTask, outcome: NodeOutcome) -> None:
        with lock:
            outcomes[node.id] = outcome
        if on_finish is not None:
            on_finish(node, outcome)

    def launch(pool: ThreadPoolExecutor) -> None:
        for node_id in order:
            node = dag.node(node_id)
            if node_id in outcomes or any(n.id == node_id for n, _ in running.values()):
                continue
            if len(running) >= max_parallel:
                return
            deps = [outcomes.get(a) for a in node.after]
            if any(d is None for d in deps):
                continue
            failed = [a for a in node.after if not outcomes[a].ok]
            if failed:
                finish(node, NodeOutcome(node_id, "skipped", error=f"{', '.join(failed)} failed"))
                continue
            if on_start is not None:
                on_start(node)
            given = {a: outcomes[a] for a in node.after}
            running[pool.submit(work, node, given)] = (node, time.monotonic())

    with ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="memfun-agent") as pool:
        launch(pool)
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                node, began = running.pop(future)
                seconds = time.monotonic() - began
                try:
                    value = future.result()
                except MemfunError as exc:
                    finish(node, NodeOutcome(node.id, "failed", error=exc.message, seconds=seconds))
                except BaseException:
                    for other in running:
                        other.cancel()
                    raise
                else:
                    finish(node, NodeOutcome(node.id, "done", value=value, seconds=seconds))
            launch(pool)
            # A node skipped because of a failure may unblock nothing; those left behind
            # a skipped node are skipped in turn by the next launch.
    for node_id in order:  # nodes behind skipped ones
        if node_id not in outcomes:
            node = dag.node(node_id)
            failed = [a for a in node.after if a in outcomes and not outcomes[a].ok]
            finish(node, NodeOutcome(node_id, "skipped", error=f"{', '.join(failed)} failed"))
    return outcomes
