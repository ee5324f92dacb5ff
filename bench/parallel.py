"""The workflow's scheduler against a model that takes L seconds per call: wall time beside
the DAG's critical path (the least time it can take with every independent sub-task running at
once) and beside the sequential sum (one sub-task after another), in the same run.

A nine-node DAG shaped as the decomposer draws them (a planner, three coders on separate
parts, a tester and a security audit after them, a debugger after the tests, a reviewer at the
end, and a file reader on the side), each node making its specialist's number of calls
through one LMSession on the scripted model (real DSPy calls, the model's latency a sleep).
Target (issue 27): wall time at most 1.3x the critical path, with [workflow] max_parallel = 4.

    uv run python bench/parallel.py [--latency 0.2] [--parallel 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from memfun_git.agents.dag import Dag, SubTask
from memfun_git.agents.schedule import NodeOutcome, run_dag
from memfun_git.config import LLMConfig
from memfun_git.llm.scripted import Answer, scripted_lm
from memfun_git.llm.session import LMSession

TARGET = 1.3
# (id, specialist, calls, after)
NODES: tuple[tuple[str, str, int, tuple[str, ...]], ...] = (
    ("plan", "planner", 1, ()),
    ("models", "coder", 3, ("plan",)),
    ("api", "coder", 4, ("plan",)),
    ("cli", "coder", 2, ("plan",)),
    ("read-docs", "file", 2, ()),
    ("tests", "tester", 3, ("models", "api")),
    ("audit", "security", 2, ("api",)),
    ("debug", "debugger", 2, ("tests",)),
    ("review", "reviewer", 1, ("debug", "audit", "cli", "read-docs")),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per model call")
    parser.add_argument("--parallel", type=int, default=4, help="[workflow] max_parallel")
    args = parser.parse_args()
    latency = float(args.latency)
    dag = Dag(tuple(SubTask(i, s, f"do {i}", after) for i, s, _, after in NODES))
    calls = {i: n for i, _, n, _ in NODES}
    answers = [
        Answer(raw=f"step {k} of {i}", step=f"agent:{i}", delay=latency)
        for i, n in calls.items()
        for k in range(n)
    ]
    session = LMSession(LLMConfig(provider="openai", model="memfun-scripted"), scripted_lm(answers))

    def work(node: SubTask, given: dict[str, NodeOutcome]) -> int:
        for _ in range(calls[node.id]):
            session.text(f"agent:{node.id}", "request -> answer", request=node.request)
        return calls[node.id]

    began = time.monotonic()
    outcomes = run_dag(dag, work, max_parallel=int(args.parallel))
    wall = time.monotonic() - began
    assert all(o.ok for o in outcomes.values()), outcomes
    critical = dag.critical_path({i: n * latency for i, n in calls.items()})
    sequential = sum(calls.values()) * latency
    print(f"{len(NODES)} sub-tasks, {sum(calls.values())} model calls of {latency:.2f} s, "
          f"max_parallel {args.parallel}; {session.usage.calls} calls made")  # fmt: skip
    print(f"{'':<24}{'seconds':>9}{'x critical':>12}")
    print(f"{'critical path':<24}{critical:>9.2f}{1.0:>12.2f}")
    print(f"{'workflow (wall)':<24}{wall:>9.2f}{wall / critical:>12.2f}")
    print(f"{'sequential sum':<24}{sequential:>9.2f}{sequential / critical:>12.2f}")
    met = wall <= TARGET * critical
    print(f"target: wall at most {TARGET}x the critical path: {'met' if met else 'NOT met'}")
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
