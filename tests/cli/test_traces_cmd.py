"""`memfun traces list | show`: the traces of a finished and a failed task, through the real
door (`memfun run` against the stub model over HTTP), listed, shown and printed as JSON;
their summary noted in git; and no secret the task saw (in a file it read, in the
environment) in any of them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memfun_git.cli.main import run
from tests.conftest import git
from tests.helpers.projects import CLEAN, GREET, answer, small_project
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubReply
from tests.quality.kit import venv_with_ruff

SECRET = "sk-memfun-trace-test-9d1e7c3b5a2f"
ENV_SECRET = "ghp_memfunTraceTestToken4b8e2d6f1a"
GARBAGE = "src/greet.py\n<<<<<<< SEARCH\nnothing closes this\n"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    need_tool("bwrap")
    made = small_project(tmp_path / "repo", {"settings.py": f"API_KEY = {SECRET!r}\n"})
    venv_with_ruff(made)
    for key, value in {"PROVIDER": "custom", "MODEL": "stub-model", "NUM_RETRIES": "0"}.items():
        monkeypatch.setenv(f"MEMFUN_LLM_{key}", value)
    monkeypatch.setenv("MEMFUN_WORKFLOW_ESCALATE", "false")
    monkeypatch.setenv("GITHUB_TOKEN", ENV_SECRET)
    return made


def _task(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    replies: list[str], request: str,
) -> dict[str, Any]:  # fmt: skip
    with StubLLMServer([StubReply(r) for r in replies]) as stub:
        monkeypatch.setenv("MEMFUN_LLM_BASE_URL", stub.url)
        run(["-C", str(repo), "run", "--json", request])
    return json.loads(capsys.readouterr().out)


def test_traces_of_a_done_and_a_failed_task_are_listed_shown_and_hold_no_secret(
    repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    done = _task(repo, capsys, monkeypatch, [answer("Done.", GREET), CLEAN], "add a greet function")
    assert done["status"] == "done"
    failed = _task(repo, capsys, monkeypatch, [GARBAGE, GARBAGE], "break something")
    assert failed["status"] == "failed"

    assert run(["-C", str(repo), "traces", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [t["id"] for t in listed] == [failed["id"], done["id"]]
    assert [t["status"] for t in listed] == ["failed", "done"]
    assert listed[1]["calls"] == 2  # the solve and the review

    assert run(["-C", str(repo), "traces", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["ID", "STATUS", "CALLS", "TOKENS", "COST", "SECONDS", "REQUEST"]
    assert table[1].startswith(failed["id"])

    assert run(["-C", str(repo), "traces", "show", done["id"][:12], "--json"]) == 0
    trace = json.loads(capsys.readouterr().out)
    assert trace["status"] == "done"
    assert [c["step"] for c in trace["calls"]] == ["solve", "review"]
    assert "add a greet function" in trace["calls"][0]["prompt"]
    assert "def greet(name: str)" in trace["calls"][0]["answer"]
    assert "settings.py" in trace["calls"][0]["prompt"]  # the task read the file whole…
    kinds = [e["event"] for e in trace["events"]]
    assert kinds[0] == "TaskStarted"
    assert "Committed" in kinds

    assert run(["-C", str(repo), "traces", "show", failed["id"], "--full"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"Task {failed['id']}: failed in ")
    assert "Error: " in shown
    assert "Call 1: solve" in shown
    assert "nothing closes this" in shown

    store = repo / ".git" / "memfun"
    kept = b"".join(p.read_bytes() for p in store.rglob("*") if p.is_file())
    for text in (json.dumps(trace), shown, json.dumps(listed)):
        assert SECRET not in text  # …and the trace holds it redacted
        assert ENV_SECRET not in text
    assert SECRET.encode() not in kept
    assert ENV_SECRET.encode() not in kept
    assert "API_KEY = '[REDACTED]'" in trace["calls"][0]["prompt"]

    note = git(repo, "notes", "--ref=memfun", "show", done["branch"])
    assert note.startswith("memfun gate: passed\n")  # the gate's note of the commit stays
    assert f"\n\nmemfun task {done['id']}: done in " in note
    assert "model calls: 2 (solve 1, review 1)" in note
    assert f"trace: memfun traces show {done['id']}" in note


def test_show_names_the_fix_for_an_unknown_or_ambiguous_task(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(repo), "traces", "show", "nope"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "memfun: no trace of a task 'nope' here — run a task"
    assert run(["-C", str(repo), "traces", "list"]) == 0
    assert "No traces yet" in capsys.readouterr().out
