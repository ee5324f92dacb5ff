"""The decomposer: one raw-text call (step "decompose") whose JSON answer is the workflow's
DAG (dag.py). A plan the checks refuse is asked for once more with the refusal as feedback;
refused twice, the workflow cannot start and says why (DecomposeFailed), for the escalation
ladder to record and go on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memfun_git.agents.dag import Dag, DagError, parse_dag
from memfun_git.agents.specialists import SPECIALISTS
from memfun_git.errors import LLMUnparseable, MemfunError
from memfun_git.redact import redact

if TYPE_CHECKING:
    from memfun_git.llm.session import LMSession

__all__ = ["DecomposeFailed", "decompose", "specialist_table"]

_ATTEMPTS = 2


class DecomposeFailed(MemfunError):
    """The model gave no plan the workflow can run (the reason is the last refusal)."""


def specialist_table() -> str:
    return "\n".join(
        f"- {s.name}: {s.role} ({'writes files' if s.may_write else 'read-only: reports'})"
        for s in SPECIALISTS.values()
    )


def decompose(
    session: LMSession,
    request: str,
    *,
    project: str,
    conventions: str = "",
    max_nodes: int = 9,
    lead: str | None = None,
) -> Dag:
    """The DAG for `request` (`project`: the code map or listing the model plans from);
    `lead`: a specialist the plan must give work to (a bug fix's debugger)."""
    from memfun_git.llm.signatures import Decompose

    if lead is not None:
        request += f"\n\nThis is a bug fix: give the fix to the {lead} specialist."
    feedback = ""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            answer = session.text(
                "decompose",
                Decompose,
                request=redact(request),
                conventions=conventions,
                project=redact(project),
                specialists=specialist_table(),
                limits=f"at most {max_nodes} sub-tasks",
                feedback=feedback,
            )
        except LLMUnparseable as exc:
            answer = exc.raw
        try:
            dag = parse_dag(answer, max_nodes=max_nodes)
            if lead is not None and not any(n.specialist == lead for n in dag.nodes):
                raise DagError(f"no sub-task is the {lead}'s, and this bug fix is its work")
            return dag
        except DagError as exc:
            feedback = f"Your plan was refused: {exc}."
            if attempt == _ATTEMPTS:
                raise DecomposeFailed(
                    f"the decomposer gave no usable plan: {exc}",
                    "the request may be too vague to split; say which parts to change",
                ) from None
    raise AssertionError("unreachable")  # pragma: no cover
