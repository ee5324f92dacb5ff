"""The decomposer's plan as the model writes it: what is read, and what is refused with a
line saying what to change."""

from __future__ import annotations

import json

import pytest

from memfun_git.agents.dag import DagError, parse_dag


def _plan(*subtasks: dict[str, object]) -> str:
    return json.dumps({"subtasks": list(subtasks)})


def _n(node_id: str, specialist: str = "coder", *after: str) -> dict[str, object]:
    return {"id": node_id, "specialist": specialist, "request": f"do {node_id}",
            "after": list(after)}  # fmt: skip


def test_a_fenced_plan_with_prose_around_it_is_read() -> None:
    text = "Here is the plan:\n```json\n" + _plan(
        _n("model"), _n("api", "coder", "model"), _n("tests", "tester", "model", "api"),
        _n("audit", "security"),
    ) + "\n```\nDone."  # fmt: skip
    dag = parse_dag(text)
    assert [n.id for n in dag.nodes] == ["model", "api", "tests", "audit"]
    assert dag.node("tests").after == ("model", "api")
    assert dag.order() == ["model", "audit", "api", "tests"]
    assert dag.successors("model") == ["api", "tests"]
    assert dag.critical_path({"model": 2, "api": 3, "tests": 1, "audit": 4}) == 6
    assert parse_dag(dag.to_json()) == dag


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("no json here", "holds no JSON object"),
        ('{"subtasks": [', "holds no JSON object"),
        ('{"subtasks": [}', "not valid JSON"),
        ('{"steps": []}', 'no "subtasks" list'),
        (_plan(), 'no "subtasks" list'),
        (_plan(*[_n(f"n{i}") for i in range(10)]), "10 sub-tasks are too many: use at most 9"),
        (_plan(_n("Bad Id")), "has the id 'Bad Id'"),
        (_plan(_n("a", "wizard")), "names the specialist 'wizard': use one of coder, tester"),
        (_plan({"id": "a", "specialist": "coder", "request": " "}), "has no request"),
        (_plan({**_n("a"), "after": "b"}), '"after" is a list'),
        (_plan(_n("a"), _n("a")), "two sub-tasks have the id a"),
        (_plan(_n("a", "coder", "a")), "depends on itself"),
        (_plan(_n("a", "coder", "ghost")), "depends on ghost, which is not in the plan"),
        (_plan(_n("a", "coder", "b"), _n("b", "coder", "a")), "cycle"),
        (_plan(_n("a", "reviewer"), _n("b", "security")), "no sub-task changes files"),
    ],
)
def test_a_plan_that_cannot_run_is_refused_saying_what_to_change(text: str, said: str) -> None:
    with pytest.raises(DagError) as caught:
        parse_dag(text)
    assert said in str(caught.value)
    assert "\n" not in str(caught.value)


def test_the_size_limit_is_the_configured_one() -> None:
    three = _plan(_n("a"), _n("b"), _n("c"))
    assert len(parse_dag(three, max_nodes=3).nodes) == 3
    with pytest.raises(DagError, match="use at most 2"):
        parse_dag(three, max_nodes=2)
