"""The chat (`memfun` with no arguments) driven in a real pseudo-terminal with pexpect, the
model answering over HTTP from the stub server: a question, a task, a follow-up on its branch,
a remembered preference reaching the next task's prompt, Ctrl-C in the middle of a task (the
chat goes on, the user's tree untouched), every slash command, and Ctrl-D leaving."""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

import pexpect
import pytest

from tests.conftest import git
from tests.helpers.messy import PROJECT, snapshot, without_memfun_refs
from tests.helpers.projects import CLEAN, GREET, answer, small_project
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubReply, StubRequest
from tests.quality.kit import venv_with_ruff

LOUD = """src/greet.py
<<<<<<< SEARCH
    return f"hello {name}"
=======
    return f"HELLO {name}"
>>>>>>> REPLACE"""
POOL = """src/pool.py
<<<<<<< WRITE
POOL_SIZE = 10
>>>>>>> WRITE"""


def _shown(request: StubRequest) -> str:
    return "\n".join(m["content"] for m in request.body["messages"])


def _request_of(shown: str) -> str:
    found = re.findall(r"\[\[ ## request ## \]\]\s*\n(.*)", shown)
    return found[-1] if found else ""


def _reply(request: StubRequest) -> StubReply | str:
    shown = _shown(request)
    if "Reply with the `review` text only" in shown:
        return CLEAN
    if "Reply with the `route` text only" in shown:
        return "project"
    if "[[ ## question ## ]]" in shown:
        return "[[ ## answer ## ]]\nIt is tested with **pytest**.\n\n[[ ## completed ## ]]"
    asked = _request_of(shown)
    if asked.startswith("add a greet"):
        return answer("Added greet.", GREET)
    if asked.startswith("make it loud"):
        return answer("Greets loudly.", LOUD)
    if asked.startswith("add the pool"):
        return answer("Added the pool.", POOL)
    if asked.startswith("write a slow"):
        return StubReply(answer("Slow.", POOL), delay=60)
    return "I do not know."


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    need_tool("bwrap")
    made = small_project(tmp_path / "repo")
    venv_with_ruff(made)
    return made


def _spawn(repo: Path, stub: StubLLMServer, *, color: bool = False) -> pexpect.spawn[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env |= {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), env.get("PYTHONPATH")])),
        "MEMFUN_LLM_PROVIDER": "custom", "MEMFUN_LLM_MODEL": "stub-model",
        "MEMFUN_LLM_BASE_URL": stub.url, "MEMFUN_LLM_NUM_RETRIES": "0",
        "MEMFUN_WORKFLOW_ESCALATE": "false", "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1",
    }  # fmt: skip
    env.pop("NO_COLOR", None)
    if not color:
        env["NO_COLOR"] = "1"
    child = pexpect.spawn(
        sys.executable, ["-m", "memfun_git", "-C", str(repo)], env=env, cwd=str(repo),
        encoding="utf-8", timeout=30, dimensions=(50, 200),
    )  # fmt: skip
    child.expect_exact("/help for commands, Ctrl-D to leave")
    banner = "███╗   ███╗" in str(child.before)
    assert banner == color  # the seed's banner; one plain line for NO_COLOR
    return child


def _say(child: pexpect.spawn[str], line: str, *expected: str) -> None:
    child.expect_exact("memfun >")
    child.sendline(line)
    for text in expected:
        child.expect_exact(text)


def test_a_chat_asks_works_follows_up_remembers_and_survives_ctrl_c(repo: Path) -> None:
    with StubLLMServer(responder=_reply) as stub:
        child = _spawn(repo, stub)
        _say(child, "how is this project tested?", "It is tested with", "pytest")
        _say(child, "/explain-code how is it tested", "(following the skill explain-code)",
             "It is tested with")  # fmt: skip
        question = _shown(stub.posts[-1])
        assert "Follow the skill explain-code:" in question
        _say(child, "add a greet function", "✓ committed", "Branch memfun/")
        first = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/memfun/")
        _say(child, "make it loud", "(a follow-up on memfun/", "✓ committed")
        branches = git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads/memfun/")
        assert branches == first  # the follow-up built on the same branch
        branch = branches.strip()
        assert "HELLO {name}" in git(repo, "show", f"{branch}:src/greet.py")
        _say(child, "/remember always name constants in CAPITALS", "Remembered ")
        _say(child, "/clear", "the next request starts a new task")
        _say(child, "add the pool", "✓ committed")
        solve = next(
            p for p in reversed(stub.posts) if _request_of(_shown(p)).startswith("add the pool")
        )
        assert "always name constants in CAPITALS" in _shown(solve)  # it reached the prompt
        before = without_memfun_refs(snapshot(repo))
        child.expect_exact("memfun >")
        child.sendline("write a slow thing")
        deadline = time.monotonic() + 60
        while not any(_request_of(_shown(p)).startswith("write a slow") for p in stub.posts):
            assert time.monotonic() < deadline, "the slow task never asked the model"
            time.sleep(0.1)
        child.sendintr()
        child.expect_exact("Your files are untouched.")
        assert without_memfun_refs(snapshot(repo)) == before
        _say(child, "/workflow", "No workflow yet")  # the session went on
        child.expect_exact("memfun >")
        child.sendeof()
        child.expect_exact("Bye.")
        child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_every_slash_command_answers(repo: Path) -> None:
    with StubLLMServer(responder=_reply) as stub:
        child = _spawn(repo, stub, color=True)
        _say(child, "/help", "Commands:", "/workflow", "Skills, as /<name> <request>: ",
             "Ctrl-D leaves.")  # fmt: skip
        _say(child, "/remember the API lives in src/api", "Remembered ")
        _say(child, "/memory", "the API lives in src/api")
        child.expect_exact("memfun >")
        child.sendline("/memory")
        child.expect(r"([0-9a-f]{6,})  the API lives in src/api")
        found = child.match
        assert isinstance(found, re.Match)
        entry = str(found.group(1))
        _say(child, f"/forget {entry}", f"Forgot {entry}")
        _say(child, "/memory", "Nothing remembered yet")
        _say(child, "/context", "Rescanned the project: ")
        _say(child, "/traces", "No traces yet")
        _say(child, "/agents", "No workflow is running")
        _say(child, "/workflow", "No workflow yet")
        _say(child, "/model", "Model: custom / stub-model")
        _say(child, "/model other-model", "Model for this session: custom / other-model")
        _say(child, "/clear", "Conversation cleared")
        _say(child, "/nope sk-memfun-history-secret-93c1e7a0", "/nope is not a command")
        _say(child, "/forget", "memfun: name the entry to forget")
        child.expect_exact("memfun >")
        child.sendeof()
        child.expect(pexpect.EOF)
        assert not stub.posts  # no slash command asks the model
    child.close()
    assert child.exitstatus == 0
    history = (repo / ".git" / "memfun" / "chat-history").read_text()
    assert "/remember the API lives in src/api" in history
    assert "sk-memfun-history-secret" not in history
