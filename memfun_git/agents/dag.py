"""The decomposer's plan: a DAG of sub-tasks, each for one specialist, and its checks.

The model writes it as JSON (`{"subtasks": [{"id", "specialist", "request", "after"}]}`),
read by `parse_dag`, which refuses (DagError, one line saying what to change) an answer that
is not such an object, an empty or oversized plan, a duplicate or malformed id (ids name
branches: `memfun-agents/<task>/<id>`), an unknown specialist, a dependency on a sub-task
that does not exist or on itself, a cycle, a node no root reaches, or a plan in which no
specialist may write (the workflow exists to change files).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from memfun_git.agents.specialists import SPECIALISTS

__all__ = ["Dag", "DagError", "SubTask", "parse_dag"]

_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")
_FENCE = re.compile(r"```(?:json)?\s*\n(.*?)```", re.DOTALL)


class DagError(ValueError):
    """A plan the workflow cannot run; the message says what to change."""


@dataclass(frozen=True, slots=True)
class SubTask:
    id: str
    specialist: str
    request: str
    after: tuple[str, ...] = ()
    """The sub-tasks whose work this one starts from (their branches merged)."""


@dataclass(frozen=True, slots=True)
class Dag:
    nodes: tuple[SubTask, ...]

    def node(self, node_id: str) -> SubTask:
        return next(n for n in self.nodes if n.id == node_id)

    def successors(self, node_id: str) -> list[str]:
        return [n.id for n in self.nodes if node_id in n.after]

    def order(self) -> list[str]:
        """The ids, each after everything it depends on (ties in the plan's order)."""
        done: list[str] = []
        waiting = list(self.nodes)
        while waiting:
            ready = [n for n in waiting if set(n.after) <= set(done)]
            if not ready:
                raise DagError("the sub-tasks depend on each other in a cycle")
            done += [n.id for n in ready]
            waiting = [n for n in waiting if n not in ready]
        return done

    def critical_path(self, cost: Mapping[str, float]) -> float:
        """The longest chain of `cost` through the DAG: the least time it can take with
        every independent sub-task running at once."""
        finish: dict[str, float] = {}
        for node_id in self.order():
            node = self.node(node_id)
            start = max((finish[a] for a in node.after), default=0.0)
            finish[node_id] = start + cost.get(node_id, 0.0)
        return max(finish.values(), default=0.0)

    def to_json(self) -> str:
        return json.dumps(
            {"subtasks": [{"id": n.id, "specialist": n.specialist, "request": n.request,
                           "after": list(n.after)} for n in self.nodes]},
            indent=1,
        )  # fmt: skip


def parse_dag(text: str, *, max_nodes: int = 9) -> Dag:
    """The plan in the model's answer `text` (its JSON object, fenced or not), checked."""
    data = _json_object(text)
    raw = data.get("subtasks")
    if not isinstance(raw, list) or not raw:
        raise DagError('the answer has no "subtasks" list: give at least one sub-task')
    items = cast(list[Any], raw)
    if len(items) > max_nodes:
        raise DagError(f"{len(items)} sub-tasks are too many: use at most {max_nodes}")
    nodes: list[SubTask] = []
    for number, item in enumerate(items, 1):
        if not isinstance(item, dict):
            raise DagError(f"sub-task {number} is not an object with id, specialist, request")
        nodes.append(_subtask(number, cast(dict[str, Any], item)))
    dag = Dag(tuple(nodes))
    _check(dag)
    return dag


def _json_object(text: str) -> dict[str, Any]:
    fenced = _FENCE.search(text)
    body = fenced.group(1) if fenced else text
    start, end = body.find("{"), body.rfind("}")
    if start < 0 or end < start:
        raise DagError("the answer holds no JSON object: answer with the plan's JSON only")
    try:
        data = json.loads(body[start : end + 1])
    except ValueError as exc:
        raise DagError(f"the plan is not valid JSON ({exc}): answer with valid JSON") from None
    if not isinstance(data, dict):
        raise DagError("the plan is not a JSON object")
    return cast(dict[str, Any], data)


def _subtask(number: int, item: dict[str, Any]) -> SubTask:
    node_id = str(item.get("id") or "").strip()
    if not _ID.fullmatch(node_id):
        raise DagError(
            f"sub-task {number} has the id {node_id!r}: use 1-32 lower-case letters, digits "
            "and hyphens (it names a branch)"
        )
    name = str(item.get("specialist") or "").strip()
    if name not in SPECIALISTS:
        raise DagError(
            f"sub-task {node_id} names the specialist {name!r}: use one of "
            + ", ".join(SPECIALISTS)
        )
    request = str(item.get("request") or "").strip()
    if not request:
        raise DagError(f"sub-task {node_id} has no request: say what that specialist must do")
    after = item.get("after") or []
    if not isinstance(after, list) or not all(isinstance(a, str) for a in after):  # pyright: ignore[reportUnknownVariableType]
        raise DagError(f'sub-task {node_id}: "after" is a list of sub-task ids')
    return SubTask(node_id, name, request, tuple(dict.fromkeys(cast(list[str], after))))


def _check(dag: Dag) -> None:
    ids = [n.id for n in dag.nodes]
    seen: set[str] = set()
    for node_id in ids:
        if node_id in seen:
            raise DagError(f"two sub-tasks have the id {node_id}: give each its own")
        seen.add(node_id)
    for node in dag.nodes:
        for dep in node.after:
            if dep == node.id:
                raise DagError(f"sub-task {node.id} depends on itself")
            if dep not in seen:
                raise DagError(f"sub-task {node.id} depends on {dep}, which is not in the plan")
    dag.order()  # DagError on a cycle
    roots = [n.id for n in dag.nodes if not n.after]
    reached = set(roots)
    frontier = list(roots)
    while frontier:
        for nxt in dag.successors(frontier.pop()):
            if nxt not in reached:
                reached.add(nxt)
                frontier.append(nxt)
    unreached = [i for i in ids if i not in reached]
    if unreached:
        raise DagError(f"no sub-task without dependencies leads to {', '.join(unreached)}")
    if not any(SPECIALISTS[n.specialist].may_write for n in dag.nodes):
        raise DagError("no sub-task changes files: give the change to coder, tester or debugger")
