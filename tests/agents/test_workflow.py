"""The workflow tier on real git: specialists on branches of their own in worktrees of their
own (bubblewrap sandbox, the quality gate), the local stub model answering each by its
sub-task, and the reviewer merging their branches into the task branch."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.agents.dag import Dag, SubTask
from memfun_git.agents.workflow import Unsettled, Workflow, WorkflowResult, settle
from memfun_git.backends.protocols import SandboxAdapter
from memfun_git.cli.views import WorkflowView
from memfun_git.events import Event
from memfun_git.gitops.merge import Conflict
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from memfun_git.llm.session import LMSession
from memfun_git.operations import EditFile, Operation, WriteFile
from memfun_git.redact import MARKER
from tests.conftest import git
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubRequest

CLEAN = "SUMMARY: does what the sub-task asks."
TASK = "t-flow"


def _write(path: str, text: str) -> str:
    return f"{path}\n<<<<<<< WRITE\n{text}>>>>>>> WRITE\n"


def _edit(path: str, old: str, new: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n"


def _responder(answers: dict[str, str]) -> Callable[[StubRequest], str]:
    """Reviews: clean. A specialist's solve: the answer whose key its prompt holds first (the
    sub-task's own request is the prompt's first line)."""

    def answer(request: StubRequest) -> str:
        if "Reply with the `review` text only" in request.text:
            return CLEAN
        shown = "\n".join(m["content"] for m in request.body["messages"])
        found = re.findall(r"\[\[ ## request ## \]\]\s*\n(.*)", shown)
        first = found[-1] if found else shown
        for key, text in answers.items():
            if key in first:
                return text
        return "I do not know this sub-task."

    return answer


def _run(
    repo: Path, stub: StubLLMServer, dag: Dag, seen: list[Event] | None = None, **workflow: int
) -> tuple[WorkflowResult, str]:
    from memfun_git.sandbox import make_sandbox

    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env |= {"MEMFUN_LLM_PROVIDER": "custom", "MEMFUN_LLM_MODEL": "stub-model",
            "MEMFUN_LLM_BASE_URL": stub.url, "MEMFUN_LLM_NUM_RETRIES": "0",
            "MEMFUN_GATE_FIX_ROUNDS": "0"}  # fmt: skip
    env |= {f"MEMFUN_WORKFLOW_{k.upper()}": str(v) for k, v in workflow.items()}
    cfg = config.load(repo, environ=env)
    paths = require_repo(repo)
    session = LMSession.from_config(cfg.llm, env)
    events: list[Event] = [] if seen is None else seen
    with Workspace(paths, TASK, environ=env) as target:

        def sandbox_for(ws: Workspace) -> SandboxAdapter:
            return make_sandbox(cfg.sandbox, ws.path, user_tree=repo,
                                common_dir=paths.common_dir, environ=env)  # fmt: skip

        flow = Workflow(
            paths=paths, task_id=TASK, request="build the notes app", target=target,
            session=session, config=cfg, sandbox_for=sandbox_for,
            emit=events.append, environ=env,
        )  # fmt: skip
        result = flow.run(dag)
        head = str(target.repo.head.target)
    return result, head


def _dag(*nodes: tuple[str, str, str, tuple[str, ...]]) -> Dag:
    return Dag(tuple(SubTask(i, s, r, a) for i, s, r, a in nodes))


def test_five_specialists_branches_are_merged_into_the_task_branch(git_repo: Path) -> None:
    need_tool("bwrap")
    dag = _dag(
        ("models", "coder", "create the Note model", ()),
        ("api", "coder", "add the notes API on the Note model", ("models",)),
        ("docs", "coder", "document the notes app", ()),
        ("tests", "tester", "test the notes API", ("api",)),
        ("audit", "security", "audit the notes API", ("api",)),
        ("fix", "debugger", "fix what the tests and the audit found", ("tests", "audit")),
    )
    answers = {
        "create the Note model": "I add the model.\n\n"
        + _write("src/notes.py", "class Note:\n    pass\n"),
        "add the notes API": "I add the API.\n\n"
        + _edit(
            "src/notes.py",
            "class Note:\n    pass\n",
            "class Note:\n    pass\n\n\ndef notes():\n    return [Note()]\n",
        ),
        "document the notes app": "I document it.\n\n" + _write("docs/notes.md", "# Notes\n"),
        "test the notes API": "I test it.\n\n"
        + _write(
            "tests/test_notes.py",
            "from src.notes import notes\n\n\ndef test_notes():\n    assert notes()\n",
        ),
        "audit the notes API": "notes() trusts nothing external: no finding. "
        "I also tidy it.\n\n" + _write("src/notes.py", "hacked\n"),
        "fix what the tests": "I add the empty case.\n\n"
        + _edit(
            "src/notes.py",
            "    return [Note()]\n",
            "    return [Note()]\n\n\ndef no_notes():\n    return []\n",
        ),
    }
    seen: list[Event] = []
    with StubLLMServer(responder=_responder(answers)) as stub:
        result, head = _run(git_repo, stub, dag, seen, max_parallel=3)
    assert result.ok, (result.outcomes, result.unmerged)
    view = WorkflowView()
    for event in seen:
        view(event)
    agents = [text.split() for text, _ in view.agents()]
    assert [a[:3] for a in agents] == [
        ["coder", "models", "done"], ["coder", "api", "done"], ["coder", "docs", "done"],
        ["tester", "tests", "done"], ["security", "audit", "done"], ["debugger", "fix", "done"],
    ]  # fmt: skip
    assert agents[0][3] == f"memfun-agents/{TASK}/models"
    shown = [text for text, _ in view.workflow()]
    assert shown[0] == "Workflow: 6 of 6 sub-tasks done"
    assert (
        "  fix [debugger] merged (after tests, audit): fix what the tests and the audit found"
        in (shown)
    )
    assert "  audit [security] done (after api): audit the notes API" in shown
    branches = [f"memfun-agents/{TASK}/{n}" for n in ("models", "docs", "api", "tests", "fix")]
    assert result.merged == branches
    assert "notes() trusts nothing external" in result.reports["audit"]
    assert result.outcomes["audit"].value.refused == 1  # the read-only write was refused
    tree = {
        p: git(git_repo, "show", f"{head}:{p}").rstrip("\n")
        for p in ("src/notes.py", "docs/notes.md", "tests/test_notes.py", "src/app.py")
    }
    assert tree["src/notes.py"] == (
        "class Note:\n    pass\n\n\ndef notes():\n    return [Note()]\n\n\n"
        "def no_notes():\n    return []"
    )
    assert tree["docs/notes.md"] == "# Notes"
    assert "def test_notes" in tree["tests/test_notes.py"]
    merges = git(git_repo, "log", "--merges", "--format=%s", f"main..{head}").splitlines()
    for branch in branches:
        assert any(f"merge {branch} " in m for m in merges), (branch, merges)
    for branch in branches:  # each branch kept, its gated commit on it
        assert "Memfun-Gate:" in git(git_repo, "log", "-1", "--format=%B", branch)
    assert "hacked" not in git(git_repo, "log", "-p", "--all")


def _same_line() -> tuple[Dag, dict[str, str]]:
    """Two coders changing the one line of add(), independently."""
    dag = _dag(
        ("bump", "coder", "make add() add one more", ()),
        ("double", "coder", "make add() double the sum", ()),
    )
    answers = {
        "make add() add one more": _edit(
            "src/app.py", "    return a + b\n", "    return a + b + 1\n"
        ),
        "make add() double the sum": _edit(
            "src/app.py", "    return a + b\n", "    return (a + b) * 2\n"
        ),
    }
    return dag, answers


def test_two_specialists_on_the_same_line_are_revised_not_lost(git_repo: Path) -> None:
    need_tool("bwrap")
    dag, answers = _same_line()

    def answer(request: StubRequest) -> str:
        if "conflicted with the others' work" in request.text and "`review`" not in request.text:
            return _edit("src/app.py", "    return a + b + 1\n", "    return (a + b + 1) * 2\n")
        return _responder(answers)(request)

    with StubLLMServer(responder=answer) as stub:
        result, head = _run(git_repo, stub, dag, max_parallel=2)
    assert result.ok, result.unmerged
    assert result.merged == [f"memfun-agents/{TASK}/bump", f"memfun-agents/{TASK}/double-r1"]
    assert git(git_repo, "show", f"{head}:src/app.py").rstrip().endswith("return (a + b + 1) * 2")
    # The first attempt is kept on its branch, never dropped.
    assert "(a + b) * 2" in git(git_repo, "show", f"memfun-agents/{TASK}/double:src/app.py")


_REGION = (
    "%%%%%%% CONFLICT: the work merged so far\n    return a + b + 1\n"
    "%%%%%%% CONFLICT: the work being merged\n    return (a + b) * 2\n%%%%%%% CONFLICT END\n"
)


@pytest.mark.parametrize("first_try", ["settles", "leaves a region"])
def test_the_reviewer_settles_a_conflict_with_edits_in_the_merge(
    git_repo: Path, first_try: str
) -> None:
    need_tool("bwrap")
    dag, answers = _same_line()
    asked: list[str] = []

    def answer(request: StubRequest) -> str:
        shown = "\n".join(m["content"] for m in request.body["messages"])
        if "%%%%%%% CONFLICT END" in shown and "`answer`" in shown:
            asked.append(shown)
            if first_try == "leaves a region" and len(asked) == 1:
                return _edit("src/app.py", "    return a + b + 1\n", "    return a + b + 2\n")
            return "Kept both: one more, then doubled.\n" + _edit(
                "src/app.py", _REGION, "    return (a + b + 1) * 2\n"
            )
        return _responder(answers)(request)

    seen: list[Event] = []
    with StubLLMServer(responder=answer) as stub:
        result, head = _run(git_repo, stub, dag, seen, max_parallel=2)
    assert result.ok, result.unmerged
    assert result.merged == [f"memfun-agents/{TASK}/bump", f"memfun-agents/{TASK}/double"]
    view = WorkflowView()
    for event in seen:
        view(event)
    assert "    conflicts settled by the reviewer: src/app.py" in [t for t, _ in view.workflow()]
    assert git(git_repo, "show", f"{head}:src/app.py").rstrip().endswith("return (a + b + 1) * 2")
    message = git(git_repo, "log", "-1", "--format=%B", head)
    assert message.startswith(f"memfun: merge memfun-agents/{TASK}/double")
    assert "Conflicts resolved by the reviewer: src/app.py" in message
    assert (
        git(git_repo, "rev-parse", f"{head}^2").strip()
        == git(git_repo, "rev-parse", f"memfun-agents/{TASK}/double").strip()
    )
    assert _REGION in asked[0]
    if first_try == "leaves a region":
        assert len(asked) == 2
        assert "Your answer was refused: conflicting regions are left in src/app.py" in asked[1]
    else:
        assert len(asked) == 1


def test_a_conflict_left_after_the_last_revision_is_named_with_its_branch(
    git_repo: Path,
) -> None:
    need_tool("bwrap")
    dag, answers = _same_line()
    with StubLLMServer(responder=_responder(answers)) as stub:
        result, _ = _run(git_repo, stub, dag, max_parallel=2, revision_rounds=0)
    assert not result.ok
    assert result.unmerged == [
        (f"memfun-agents/{TASK}/double", "conflicts in src/app.py after 0 revision(s)")
    ]
    assert "(a + b) * 2" in git(git_repo, "show", f"memfun-agents/{TASK}/double:src/app.py")


@pytest.mark.parametrize("failing", ["models"])
def test_a_failed_sub_task_skips_what_depends_on_it(git_repo: Path, failing: str) -> None:
    need_tool("bwrap")
    dag = _dag(
        ("models", "coder", "create the Note model", ()),
        ("api", "coder", "add the notes API", ("models",)),
        ("docs", "coder", "document the notes app", ()),
    )
    answers = {"document the notes app": _write("docs/notes.md", "# Notes\n")}
    with StubLLMServer(responder=_responder(answers)) as stub:
        result, head = _run(git_repo, stub, dag)
    assert not result.ok
    assert result.outcomes[failing].status == "failed"
    assert result.outcomes["api"].status == "skipped"
    assert result.merged == [f"memfun-agents/{TASK}/docs"]
    assert [b for b, _ in result.unmerged] == [
        f"memfun-agents/{TASK}/models", f"memfun-agents/{TASK}/api",
    ]  # fmt: skip
    assert git(git_repo, "show", f"{head}:docs/notes.md").rstrip() == "# Notes"


def test_the_cross_review_sends_a_finding_back_to_the_specialist_who_made_it(
    git_repo: Path,
) -> None:
    need_tool("bwrap")
    dag = _dag(
        ("models", "coder", "create the Note model", ()),
        ("docs", "coder", "document the notes app", ()),
    )
    answers = {
        "create the Note model": _write("src/notes.py", "class Note:\n    pass\n"),
        "document the notes app": _write("docs/notes.md", "# Notes\n"),
    }
    reviewed: list[str] = []

    def answer(request: StubRequest) -> str:
        shown = "\n".join(m["content"] for m in request.body["messages"])
        if "Reply with the `review` text only" in request.text:
            intent = re.findall(r"\[\[ ## intent ## \]\]\s*\n(.*)", shown)[-1]
            if intent != "build the notes app":
                return CLEAN  # a specialist's own gate
            reviewed.append(shown)
            if len(reviewed) == 1:
                return "src/notes.py:1: error: Note has no docstring\nSUMMARY: almost."
            return CLEAN
        if "The reviewer of everyone's merged work found" in shown:
            return _edit("src/notes.py", "class Note:\n    pass\n",
                         'class Note:\n    """A note."""\n')  # fmt: skip
        return _responder(answers)(request)

    with StubLLMServer(responder=answer) as stub:
        result, head = _run(git_repo, stub, dag)
    assert result.ok, (result.findings, result.unmerged)
    assert len(reviewed) == 2
    assert "+class Note:" in reviewed[0]
    assert result.merged[-1] == f"memfun-agents/{TASK}/models-r1"  # the owner revised it
    assert '"""A note."""' in git(git_repo, "show", f"{head}:src/notes.py")


def test_a_finding_left_after_the_last_round_fails_the_workflow(git_repo: Path) -> None:
    need_tool("bwrap")
    dag = _dag(("models", "coder", "create the Note model", ()))
    answers = {"create the Note model": _write("src/notes.py", "class Note:\n    pass\n")}

    def answer(request: StubRequest) -> str:
        shown = "\n".join(m["content"] for m in request.body["messages"])
        if "Reply with the `review` text only" in request.text:
            intent = re.findall(r"\[\[ ## intent ## \]\]\s*\n(.*)", shown)[-1]
            if intent == "build the notes app":
                return "src/notes.py:1: error: Note has no docstring\nSUMMARY: no."
            return CLEAN
        return _responder(answers)(request)

    with StubLLMServer(responder=answer) as stub:
        result, _ = _run(git_repo, stub, dag, revision_rounds=0)
    assert not result.ok
    assert result.findings == ["src/notes.py:1: error: Note has no docstring"]


@pytest.mark.parametrize(
    ("operations", "why"),
    [
        ((), "no edit given"),
        ((WriteFile("src/app.py", "x\n"),), "only edits of src/app.py settle this merge"),
        ((EditFile("other.py", "a", "b"),), "only edits of src/app.py settle this merge"),
        ((EditFile("src/app.py", _REGION, f"x = '{MARKER}'\n"),), "quotes [REDACTED]"),
        ((EditFile("src/app.py", "    return a + b + 1\n", "    pass\n"),), "regions are left"),
    ],
)
def test_an_answer_that_does_not_settle_the_conflict_says_why(
    operations: tuple[Operation, ...], why: str
) -> None:
    conflict = Conflict("src/app.py", "def add(a, b):\n" + _REGION)
    with pytest.raises(Unsettled, match=re.escape(why)):
        settle([conflict], operations)
    settled = settle([conflict], [EditFile("src/app.py", _REGION, "    return a + b\n")])
    assert settled == {"src/app.py": "def add(a, b):\n    return a + b\n"}
