"""The workflow view (cli/views.py) that /agents and /workflow and `memfun run` draw from the
event stream: the plan, each specialist's state and revision, merges, settled and left
conflicts, the ladder's climbs, and the words for a task that never reached the workflow."""

from __future__ import annotations

from memfun_git.cli.views import WorkflowView
from memfun_git.events import (
    AgentFinished,
    AgentStarted,
    BranchMerged,
    Event,
    StepStarted,
    WorkflowPlanned,
)

EVENTS: list[Event] = [
    StepStarted("escalate", "context-first failed (the model changed nothing); workflow next"),
    WorkflowPlanned(
        (
            ("models", "coder", "create the Note model", ()),
            ("api", "coder", "add the notes API", ("models",)),
            ("audit", "security", "audit the API", ("api",)),
        )
    ),
    AgentStarted("models", "coder", "create the Note model", "memfun-agents/t/models"),
    AgentFinished("models", "coder", "done", commits=1),
    BranchMerged("memfun-agents/t/models", "1234567"),
    AgentStarted("api", "coder", "add the notes API", "memfun-agents/t/api"),
    AgentFinished("api", "coder", "done", commits=1),
    BranchMerged("memfun-agents/t/api", "", conflicts=("src/app.py",)),
    AgentStarted("api", "coder", "add the notes API", "memfun-agents/t/api-r1", round=1),
]


def _view(events: list[Event]) -> WorkflowView:
    view = WorkflowView()
    for event in events:
        view(event)
    return view


def test_agents_show_each_specialist_its_state_and_branch() -> None:
    view = _view(EVENTS)
    assert view.active
    assert [(t.split(), s) for t, s in view.agents()] == [
        (["coder", "models", "done", "memfun-agents/t/models"], "green"),
        (["coder", "api", "working", "(revision", "1)", "memfun-agents/t/api-r1"], "cyan"),
        (["security", "audit", "waiting"], None),
    ]


def test_the_workflow_shows_the_climb_the_plan_and_what_is_left_unmerged() -> None:
    view = _view([*EVENTS, AgentFinished("audit", "security", "skipped", "api failed")])
    assert [t for t, _ in view.workflow()] == [
        "↑ context-first failed (the model changed nothing); workflow next",
        "Workflow: 1 of 3 sub-tasks done",
        "  models [coder] merged: create the Note model",
        "  api [coder] working (after models): add the notes API",
        "  audit [security] skipped (after api): audit the API",
        "  not merged: memfun-agents/t/api conflicts in src/app.py",
    ]
    later = _view([*EVENTS, BranchMerged("memfun-agents/t/api-r1", "89abcde", ("src/app.py",))])
    shown = [t for t, _ in later.workflow()]
    assert shown[2:] == [
        "  models [coder] merged: create the Note model",
        "  api [coder] merged (after models): add the notes API",
        "    conflicts settled by the reviewer: src/app.py",
        "  audit [security] waiting (after api): audit the API",
    ]


def test_before_any_workflow_the_views_say_so() -> None:
    view = _view([StepStarted("solve")])
    assert not view.active
    assert view.agents() == [("No workflow is running: the task has not needed specialists.", None)]
    assert view.workflow() == [("No workflow yet: the task has not needed specialists.", None)]
