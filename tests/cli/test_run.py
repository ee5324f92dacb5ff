"""`memfun run` through its real door (`cli.main.run`, or a real process for signals), its
model answering over HTTP from the stub server: success, every way it fails, the output forms,
bad input. The user's repository is compared byte for byte before and after each."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from memfun_git.cli.main import run
from tests.conftest import git
from tests.helpers.messy import snapshot, without_memfun_refs
from tests.helpers.processes import memfun_process
from tests.helpers.projects import CLEAN, GREET, answer, large_files, messy_with_ruff, small_project
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubReply
from tests.quality.kit import venv_with_ruff

GH_TOKEN = "ghs_" + "R7xT2kLm9QpZ4vWc8NbY3hJd6FgS1aEu0oIq"
UNUSED_IMPORT = """src/greet.py
<<<<<<< WRITE
import os

VALUE = 1
>>>>>>> WRITE"""
GARBAGE = "src/greet.py\n<<<<<<< SEARCH\nnothing closes this\n"


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return messy_with_ruff(tmp_path_factory.mktemp("messy") / "repo")


def _model(monkeypatch: pytest.MonkeyPatch, stub: StubLLMServer, engine: str = "auto") -> None:
    for key, value in {
        "PROVIDER": "custom",
        "MODEL": "stub-model",
        "BASE_URL": stub.url,
        "ENGINE": engine,
        "NUM_RETRIES": "0",
    }.items():
        monkeypatch.setenv(f"MEMFUN_LLM_{key}", value)
    monkeypatch.setenv("MEMFUN_WORKFLOW_ESCALATE", "false")  # the context-first tier alone


def _memfun(repo: Path, *args: str) -> int:
    return run(["-C", str(repo), "run", *args])


@pytest.mark.parametrize("engine", ["auto", "litellm"])
def test_a_task_answered_over_http_ends_in_a_gated_commit(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    engine: str,
) -> None:
    """Over 200 KB: the planner picks a file holding a token, which the solver sees redacted;
    an edit whose search and replacement end in whitespace lands byte for byte; the stub's
    calls and tokens are the result's."""
    files = {
        **large_files(),
        "deploy/settings.py": f'TOKEN = "{GH_TOKEN}"\n',
        "notes/data.txt": "alpha  \nbeta\n",
    }
    repo = small_project(tmp_path / "repo", files)
    venv_with_ruff(repo)
    edit = "notes/data.txt\n<<<<<<< SEARCH\nalpha  \n=======\nalpha\t \n\n>>>>>>> REPLACE"
    replies = [
        StubReply("deploy/settings.py\nnotes/data.txt\n", input_tokens=3000, output_tokens=12),
        StubReply(answer("Spacing, as asked.", edit, GREET), input_tokens=900, output_tokens=40),
        StubReply(CLEAN, input_tokens=500, output_tokens=9),
    ]
    with StubLLMServer(replies) as stub:
        _model(monkeypatch, stub, engine)
        code = _memfun(repo, "reformat the first line of notes/data.txt", "--json")
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out)
    assert result["status"] == "done"
    assert result["usage"]["calls"] == 3
    assert (result["usage"]["input_tokens"], result["usage"]["output_tokens"]) == (4400, 61)
    assert {step: u["calls"] for step, u in result["usage"]["by_step"].items()} == {
        "plan": 1,
        "solve": 1,
        "review": 1,
    }
    assert result["usage"]["by_step"]["solve"]["input_tokens"] == 900
    assert result["files_gathered"] == ["deploy/settings.py", "notes/data.txt"]
    (commit,) = result["commits"]
    assert commit["paths"] == ["notes/data.txt", "src/greet.py"]
    assert commit["gate"] == "ruff=pass review=pass"
    assert git(repo, "show", f"{result['branch']}:notes/data.txt") == "alpha\t \n\nbeta\n"
    assert [r.path for r in stub.posts] == ["/v1/chat/completions"] * 3
    solve = stub.posts[1].text
    assert 'TOKEN = \\"[REDACTED]\\"' in solve
    for request in stub.posts:
        assert GH_TOKEN not in request.text


@pytest.mark.parametrize(
    ("replies", "env", "posts", "error"),
    [
        (
            [answer("Adds VALUE.", UNUSED_IMPORT), "I cannot see a fix."],
            {"MEMFUN_GATE_FIX_ROUNDS": "1"},
            2,
            "memfun: ruff failed after 1 fix round: src/greet.py:1: error: F401",
        ),
        (
            [answer("Adds greet.", GREET), "src/greet.py:2: error: wrong\nSUMMARY: no."],
            {},
            2,
            "memfun: the review blocks: src/greet.py:2: error: wrong",
        ),
        (
            [StubReply(status=500, error_body={"error": {"message": "boom"}})],
            {},
            1,
            "memfun: ",
        ),
        ([GARBAGE, GARBAGE], {}, 2, "memfun: the model's answer to solve is not in the operation"),
    ],
    ids=["gate", "review", "llm-error", "garbage"],
)
def test_a_failed_task_exits_1_keeps_its_attempt_and_leaves_the_user_untouched(
    messy: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    replies: list[Any],
    env: dict[str, str],
    posts: int,
    error: str,
) -> None:
    before = snapshot(messy)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with StubLLMServer(replies) as stub:
        _model(monkeypatch, stub)
        code = _memfun(messy, "add a greet function", "--json")
    out, err = capsys.readouterr()
    assert code == 1
    assert len(stub.posts) == posts  # no hidden call, no retry beyond the one allowed
    assert err.splitlines()[-1].startswith(error)
    assert without_memfun_refs(snapshot(messy)) == without_memfun_refs(before)
    result = json.loads(out)
    assert (result["status"], result["commits"]) == ("failed", [])
    assert result["error"] in err
    assert git(messy, "branch", "--list", result["branch"]) == ""  # no commit, no branch
    assert result["attempt"] == f"refs/memfun/attempts/{result['id']}/1"
    assert git(messy, "rev-parse", "--verify", "-q", result["attempt"]).strip()


def test_the_summary_is_plain_text_off_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = small_project(tmp_path / "repo")
    venv_with_ruff(repo)
    with StubLLMServer([answer("I add greet.", GREET), CLEAN]) as stub:
        _model(monkeypatch, stub)
        code = _memfun(repo, "add a greet function")
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    assert "\x1b" not in out
    branch = re.search(r"^Branch (memfun/\S+) \(1 commit\)$", out, re.M)
    assert branch is not None
    oid = git(repo, "rev-parse", "--short=7", branch.group(1)).strip()
    ruff = repo / ".venv" / "bin" / "ruff"
    lines = out.splitlines()
    assert lines[:6] == [
        "Context-first: gathered 2 files (39 B)",
        "",
        "Operations:",
        "  write  src/greet.py (2 lines)",
        "",
        f"Verified: 0 lint errors — ruff pass ({ruff})",
    ]
    assert "Review: no findings — adds greet as asked." in lines
    assert "I add greet." in lines
    assert re.search(r"^\d+\.\d s  •  \d+ tokens \(2 calls\)  •  cost unknown$", out, re.M)
    assert lines[-1] == f"  {oid} Add a greet function"


def test_a_bad_base_is_one_line_and_exit_2(
    messy: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(messy)
    with StubLLMServer() as stub:
        _model(monkeypatch, stub)
        code = _memfun(messy, "anything", "--base", "no-such-ref")
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == (
        "memfun: 'no-such-ref' is not a commit in this repository — "
        "pass a branch, tag or commit that exists\n"
    )
    assert stub.posts == []
    assert snapshot(messy) == before


def test_ctrl_c_mid_task_exits_130_and_keeps_the_attempt(messy: Path) -> None:
    before = snapshot(messy)
    with StubLLMServer([StubReply("late", delay=30)]) as stub:
        env = {
            "MEMFUN_LLM_PROVIDER": "custom",
            "MEMFUN_LLM_MODEL": "stub-model",
            "MEMFUN_LLM_BASE_URL": stub.url,
        }
        with memfun_process(["run", "add a greet function"], cwd=messy, env=env) as proc:
            deadline = time.monotonic() + 60
            while not stub.posts and time.monotonic() < deadline:
                time.sleep(0.05)
            assert stub.posts, "the model was never asked"
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert out == ""
    kept, stopped = err.strip().splitlines()[-2:]
    assert stopped == "memfun: interrupted — nothing of yours was changed"
    found = re.fullmatch(r"memfun: the task's work so far is kept under (\S+)", kept)
    assert found is not None
    assert git(messy, "rev-parse", "--verify", "-q", found.group(1)).strip()
    assert without_memfun_refs(snapshot(messy)) == without_memfun_refs(before)
    task_id = found.group(1).split("/")[3]
    assert git(messy, "branch", "--list", f"memfun/{task_id}") == ""
