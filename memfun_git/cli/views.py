"""The workflow as its event stream tells it: what the chat's /agents and /workflow show, and
what `memfun run` draws as a workflow task goes.

`WorkflowView` is an event sink that keeps the plan (`WorkflowPlanned`), each sub-task's
specialist, branch, state and revision round (`AgentStarted`, `AgentFinished`), the reviewer's
merges and the conflicts it settled (`BranchMerged`) and the ladder's climbs (a
`StepStarted("escalate")`). It draws nothing itself: `agents()` and `workflow()` return
(text, style) lines for a renderer, as `cli/render.py`'s summary does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from memfun_git.events import (
    AgentFinished,
    AgentStarted,
    BranchMerged,
    Event,
    StepStarted,
    WorkflowPlanned,
)
from memfun_git.redact import redact

__all__ = ["SubTaskState", "WorkflowView"]

Line = tuple[str, str | None]

_STYLES = {"done": "green", "failed": "red", "skipped": "yellow", "working": "cyan"}


@dataclass
class SubTaskState:
    node_id: str
    specialist: str
    request: str
    after: tuple[str, ...] = ()
    status: str = "waiting"
    """waiting, working, done, failed or skipped."""
    branch: str = ""
    round: int = 0
    error: str = ""
    commits: int = 0
    merged: bool = False
    settled: tuple[str, ...] = ()
    tried: list[str] = field(default_factory=list[str])
    """Its branches, a revision round's after the first."""


@dataclass
class WorkflowView:
    subtasks: dict[str, SubTaskState] = field(default_factory=dict[str, SubTaskState])
    escalations: list[str] = field(default_factory=list[str])
    unmerged: dict[str, tuple[str, ...]] = field(default_factory=dict[str, tuple[str, ...]])
    """Branch -> the paths it conflicts in (until a later merge of it succeeds)."""

    def __call__(self, event: Event) -> None:
        match event:
            case WorkflowPlanned(subtasks=planned):
                self.subtasks = {
                    i: SubTaskState(i, who, request, after) for i, who, request, after in planned
                }
            case AgentStarted():
                state = self._state(event.node_id, event.specialist, event.request)
                state.status, state.branch, state.round = "working", event.branch, event.round
                state.error = ""
                state.tried.append(event.branch)
            case AgentFinished():
                state = self._state(event.node_id, event.specialist, "")
                state.status, state.error = event.status, event.error
                state.commits += event.commits
            case BranchMerged(branch=branch, oid=oid, settled=settled, conflicts=conflicts):
                state = next((s for s in self.subtasks.values() if s.branch == branch), None)
                if oid:
                    for tried in state.tried if state is not None else [branch]:
                        self.unmerged.pop(tried, None)  # a revision merged: the first try is in
                    if state is not None:
                        state.merged, state.settled = True, state.settled + settled
                else:
                    self.unmerged[branch] = conflicts
            case StepStarted(step="escalate", detail=detail):
                self.escalations.append(detail)
            case _:
                pass

    def _state(self, node_id: str, who: str, request: str) -> SubTaskState:
        if node_id not in self.subtasks:
            self.subtasks[node_id] = SubTaskState(node_id, who, request)
        return self.subtasks[node_id]

    @property
    def active(self) -> bool:
        """Whether the task has reached the workflow (a plan or a specialist seen)."""
        return bool(self.subtasks)

    def agents(self) -> list[Line]:
        """/agents: each specialist of the running workflow, its sub-task and state."""
        if not self.subtasks:
            return [("No workflow is running: the task has not needed specialists.", None)]
        lines: list[Line] = []
        for state in self.subtasks.values():
            status = state.status + (f" (revision {state.round})" if state.round else "")
            text = f"{state.specialist:<11} {state.node_id:<16} {status}"
            if state.branch:
                text += f"  {state.branch}"
            if state.error:
                text += f"  — {redact(state.error)}"
            lines.append((text, _STYLES.get(state.status)))
        return lines

    def workflow(self) -> list[Line]:
        """/workflow: the ladder's climbs, the plan in order with what each sub-task follows,
        and the reviewer's merges (conflicts settled, or left)."""
        lines: list[Line] = [(f"↑ {redact(e)}", "yellow") for e in self.escalations]
        if not self.subtasks:
            return lines or [("No workflow yet: the task has not needed specialists.", None)]
        done = sum(s.status == "done" for s in self.subtasks.values())
        lines.append((f"Workflow: {done} of {len(self.subtasks)} sub-tasks done", "bold"))
        for state in self.subtasks.values():
            after = f" (after {', '.join(state.after)})" if state.after else ""
            mark = "merged" if state.merged else state.status
            lines.append(
                (f"  {state.node_id} [{state.specialist}] {mark}{after}: {redact(state.request)}",
                 _STYLES.get("done" if state.merged else state.status))
            )  # fmt: skip
            if state.settled:
                lines.append((f"    conflicts settled by the reviewer: {', '.join(state.settled)}",
                              "yellow"))  # fmt: skip
        for branch, paths in self.unmerged.items():
            lines.append((f"  not merged: {branch} conflicts in {', '.join(paths)}", "red"))
        return lines
