"""The engine's ladder: `--tier workflow` runs the specialists at once; with [workflow]
escalate, a failed context-first run hands the task to the workflow, saying why, its change
kept as an attempt; and when the workflow fails too, one line says both."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.engine import Engine
from memfun_git.events import CommandRan, Event, StepStarted
from memfun_git.tasks import Task
from tests.conftest import git
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubRequest

CLEAN = "SUMMARY: does what was asked."
PLAN = json.dumps({"subtasks": [
    {"id": "greet", "specialist": "coder", "request": "write greet() in src/greet.py"},
    {"id": "docs", "specialist": "coder", "request": "document greet() in docs/greet.md"},
]})  # fmt: skip


def _responder(context_first: str, plan: str = PLAN) -> Callable[[StubRequest], str]:
    def answer(request: StubRequest) -> str:
        text = request.text
        if "Reply with the `review` text only" in text:
            return CLEAN
        if "Reply with the `plan` text only" in text:
            return plan
        shown = "\n".join(m["content"] for m in request.body["messages"])
        found = re.findall(r"\[\[ ## request ## \]\]\s*\n(.*)", shown)
        first = found[-1] if found else ""
        if first.startswith("write greet()"):
            return "src/greet.py\n<<<<<<< WRITE\ndef greet():\n    return 'hi'\n>>>>>>> WRITE\n"
        if first.startswith("document greet()"):
            return "docs/greet.md\n<<<<<<< WRITE\n# greet\n>>>>>>> WRITE\n"
        return context_first

    return answer


def _engine(repo: Path, stub: StubLLMServer, events: list[Event], **more: str) -> Engine:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env |= {"MEMFUN_LLM_PROVIDER": "custom", "MEMFUN_LLM_MODEL": "stub-model",
            "MEMFUN_LLM_BASE_URL": stub.url, "MEMFUN_LLM_NUM_RETRIES": "0",
            "MEMFUN_GATE_FIX_ROUNDS": "0", **more}  # fmt: skip
    return Engine(config.load(repo, environ=env), environ=env, emit=events.append)


def test_the_workflow_tier_merges_its_specialists_into_the_task_branch(git_repo: Path) -> None:
    need_tool("bwrap")
    events: list[Event] = []
    with StubLLMServer(responder=_responder("unused")) as stub:
        result = _engine(git_repo, stub, events).run(
            Task.create("add greet and its docs", git_repo, tier="workflow")
        )
    assert result.ok, result.error
    assert git(git_repo, "show", f"{result.branch}:src/greet.py").startswith("def greet()")
    assert git(git_repo, "show", f"{result.branch}:docs/greet.md").strip() == "# greet"
    merges = [c for c in result.commits if c.subject.startswith("memfun: merge memfun-agents/")]
    assert len(merges) == 2
    assert "greet: done (coder, 1 commit(s))" in result.summary
    assert [e.step for e in events if isinstance(e, StepStarted)][:2] == ["decompose", "workflow"]


def test_a_failed_context_first_run_escalates_to_the_workflow_saying_why(git_repo: Path) -> None:
    need_tool("bwrap")
    events: list[Event] = []
    nothing = "I looked around and changed nothing."
    with StubLLMServer(responder=_responder(nothing)) as stub:
        result = _engine(git_repo, stub, events, MEMFUN_WORKFLOW_ESCALATE="true").run(
            Task.create("add greet and its docs", git_repo)
        )
    assert result.ok, result.error
    escalated = [e for e in events if isinstance(e, StepStarted) and e.step == "escalate"]
    assert len(escalated) == 1
    assert "the model changed nothing" in escalated[0].detail
    assert result.summary.startswith("context-first failed (the model changed nothing")
    assert git(git_repo, "show", f"{result.branch}:src/greet.py").startswith("def greet()")


def test_without_escalate_the_context_first_failure_stands(git_repo: Path) -> None:
    need_tool("bwrap")
    events: list[Event] = []
    with StubLLMServer(responder=_responder("I changed nothing.")) as stub:
        result = _engine(git_repo, stub, events, MEMFUN_WORKFLOW_ESCALATE="false").run(
            Task.create("add greet", git_repo)
        )
    assert not result.ok
    assert result.error.startswith("the model changed nothing")
    assert not any(isinstance(e, StepStarted) and e.step == "decompose" for e in events)


def test_when_the_workflow_fails_too_one_line_says_both_and_the_attempt_is_kept(
    git_repo: Path,
) -> None:
    need_tool("bwrap")
    events: list[Event] = []
    half = "src/half.py\n<<<<<<< WRITE\nimport os\n>>>>>>> WRITE\n"
    with StubLLMServer(responder=_responder(half, plan="no plan today")) as stub:
        (git_repo / "pyproject.toml").write_text("[tool.ruff]\n")
        git(git_repo, "add", "pyproject.toml")
        git(git_repo, "commit", "-qm", "ruff")
        result = _engine(git_repo, stub, events, MEMFUN_WORKFLOW_ESCALATE="true").run(
            Task.create("add half", git_repo)
        )
    assert not result.ok
    assert re.match(
        r"ruff failed: src/half.py:1: error: F401 [^—]*; then the workflow tier failed too: the "
        r"decomposer gave no usable plan",
        result.error,
    ), result.error
    attempts = git(git_repo, "for-each-ref", "--format=%(refname)", "refs/memfun/attempts/")
    first = attempts.splitlines()[0]
    assert "import os" in git(git_repo, "show", f"{first}:src/half.py")


def test_an_unknown_tier_is_one_line(git_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from memfun_git.cli.main import run

    assert run(["-C", str(git_repo), "run", "--tier", "swarm", "add greet"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "memfun: --tier swarm is not a tier — use auto, context-first, workflow or explore"
    )


def _explore_answer(text: str) -> str | None:
    """The explore tier's step for its prompt (its iteration number), or None."""
    found = re.search(r"\[\[ ## iteration ## \]\]\s*\n(\d+)/", text)
    if found is None:
        return None
    code = {
        "1": "print(write_file(path='src/greet.py',\n"
        "    content=\"def greet():\\n    return 'hi'\\n\"))",
        "2": "print(run(command=['python3', '-c', 'import sys; sys.path[:0] = [\"src\"]; "
        "import greet; print(greet.greet())']))",
        "3": "SUBMIT(summary='wrote greet() in src/greet.py; it says hi')",
    }[found.group(1)]
    return f"[[ ## reasoning ## ]]\nnext\n\n[[ ## code ## ]]\n{code}\n\n[[ ## completed ## ]]\n"


def test_the_ladder_climbs_from_context_first_through_the_workflow_to_explore(
    git_repo: Path,
) -> None:
    need_tool("bwrap")
    events: list[Event] = []
    nothing = "I looked around and changed nothing."
    plain = _responder(nothing, plan="no plan today")

    def answer(request: StubRequest) -> str:
        shown = "\n".join(m["content"] for m in request.body["messages"])
        return _explore_answer(shown.split("[[ ## variables_info ## ]]")[-1]) or plain(request)

    with StubLLMServer(responder=answer) as stub:
        result = _engine(git_repo, stub, events).run(  # the default: it climbs
            Task.create("add greet", git_repo)
        )
    assert result.ok, result.error
    escalated = [e.detail for e in events if isinstance(e, StepStarted) and e.step == "escalate"]
    assert len(escalated) == 2
    assert escalated[0].startswith("context-first failed (the model changed nothing")
    assert escalated[0].endswith("workflow next")
    assert escalated[1].startswith("workflow failed (the decomposer gave no usable plan")
    assert escalated[1].endswith("explore next")
    lines = result.summary.splitlines()
    assert lines[0].startswith("context-first failed (the model changed nothing")
    assert lines[1].startswith("workflow failed (the decomposer gave no usable plan")
    assert lines[1].endswith("the explore tier took over")
    assert lines[2] == "wrote greet() in src/greet.py; it says hi"
    assert (
        git(git_repo, "show", f"{result.branch}:src/greet.py") == "def greet():\n    return 'hi'\n"
    )
    steps = [e.step for e in events if isinstance(e, StepStarted)]
    assert steps.count("explore step") == 3
    assert any(c.result.stdout.strip() == "hi" for c in events if isinstance(c, CommandRan))


def test_the_explore_tier_alone_and_its_failure_said_in_one_line(git_repo: Path) -> None:
    need_tool("bwrap")
    events: list[Event] = []

    def answer(request: StubRequest) -> str:
        shown = "\n".join(m["content"] for m in request.body["messages"])
        if "[[ ## iteration ## ]]" in shown.split("[[ ## variables_info ## ]]")[-1]:
            return (
                "[[ ## reasoning ## ]]\nnothing to do\n\n[[ ## code ## ]]\n"
                "SUBMIT(summary='it already greets')\n\n[[ ## completed ## ]]\n"
            )
        return CLEAN

    with StubLLMServer(responder=answer) as stub:
        result = _engine(git_repo, stub, events).run(
            Task.create("add greet", git_repo, tier="explore")
        )
    assert not result.ok
    assert result.error == (
        "the explore tier changed nothing: it already greets — say more precisely what to "
        "change, and where"
    )
    assert not any(isinstance(e, StepStarted) and e.step == "escalate" for e in events)


def test_a_workflow_past_its_call_budget_hands_the_task_to_explore(git_repo: Path) -> None:
    need_tool("bwrap")
    events: list[Event] = []
    plain = _responder("I looked around and changed nothing.")

    def answer(request: StubRequest) -> str:
        shown = "\n".join(m["content"] for m in request.body["messages"])
        return _explore_answer(shown.split("[[ ## variables_info ## ]]")[-1]) or plain(request)

    with StubLLMServer(responder=answer) as stub:
        result = _engine(
            git_repo, stub, events, MEMFUN_WORKFLOW_ESCALATE="true", MEMFUN_WORKFLOW_MAX_CALLS="2"
        ).run(Task.create("add greet", git_repo))
    assert result.ok, result.error
    escalated = [e.detail for e in events if isinstance(e, StepStarted) and e.step == "escalate"]
    assert len(escalated) == 2
    assert "the workflow tier used its 2 model calls" in escalated[1]
    assert escalated[1].endswith("explore next")
    assert (
        git(git_repo, "show", f"{result.branch}:src/greet.py") == "def greet():\n    return 'hi'\n"
    )


def test_a_failed_workflow_s_merges_are_set_aside_before_explore(git_repo: Path) -> None:
    need_tool("bwrap")
    events: list[Event] = []
    plain = _responder("I looked around and changed nothing.")

    def answer(request: StubRequest) -> str:
        shown = "\n".join(m["content"] for m in request.body["messages"])
        if "Reply with the `review` text only" in request.text and "docs/greet.md" in shown:
            return "docs/greet.md:1: error: the docs are wrong\nSUMMARY: blocked."
        return _explore_answer(shown.split("[[ ## variables_info ## ]]")[-1]) or plain(request)

    with StubLLMServer(responder=answer) as stub:
        result = _engine(git_repo, stub, events, MEMFUN_WORKFLOW_REVISION_ROUNDS="0").run(
            Task.create("add greet", git_repo)
        )
    assert result.ok, result.error
    assert not [c for c in result.commits if c.subject.startswith("memfun: merge")]
    log = git(git_repo, "log", "--format=%s", f"{result.base}..{result.branch}")
    assert "memfun: merge" not in log  # the workflow's merged work did not ship
    assert "the workflow tier took over" not in result.summary.splitlines()[1]
    assert "its work is kept as refs/memfun/attempts/" in result.summary.splitlines()[1]
    kept = git(git_repo, "for-each-ref", "--format=%(refname)", "refs/memfun/attempts/")
    assert any(
        "memfun: merge" in git(git_repo, "log", "-1", "--format=%s", ref) for ref in kept.split()
    )


def test_the_explore_tier_refuses_the_unisolated_local_backend(git_repo: Path) -> None:
    events: list[Event] = []
    with StubLLMServer(responder=lambda _r: CLEAN) as stub:
        result = _engine(git_repo, stub, events, MEMFUN_SANDBOX_BACKEND="local").run(
            Task.create("add greet", git_repo, tier="explore")
        )
        assert not stub.posts
    assert result.error.startswith(
        "the explore tier runs model-written Python, which the local sandbox backend cannot "
        "isolate — use bubblewrap, or allow it with [workflow] explore_local = true"
    )
