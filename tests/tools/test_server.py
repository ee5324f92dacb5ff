"""The MCP server (tools/server.py) through FastMCP's in-memory client and through a real
stdio subprocess (`memfun mcp`): every tool, redaction, path escapes refused, run_task's
change only as commits on a branch of its own (the user's tree byte for byte unchanged)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from fastmcp.exceptions import ToolError

from memfun_git.tools.server import QUIET, build_server
from tests.conftest import git
from tests.helpers.messy import PROJECT, snapshot, without_memfun_refs
from tests.helpers.projects import CLEAN, GREET, answer, small_project
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer
from tests.quality.kit import venv_with_ruff

SECRET = "sk-memfun-mcp-test-6a1f3c9e2b7d"


def _call(server: Any, tool: str, args: dict[str, Any]) -> Any:
    async def go() -> Any:
        async with Client(server) as client:
            return (await client.call_tool(tool, args)).data

    return asyncio.run(go())


def test_the_read_tools_answer_and_redact(git_repo: Path) -> None:
    (git_repo / "settings.py").write_text(f"API_KEY = {SECRET!r}\n")
    git(git_repo, "add", "settings.py")
    git(git_repo, "commit", "-qm", "settings")
    server = build_server(git_repo)

    async def go() -> dict[str, Any]:
        async with Client(server) as client:
            names = sorted(t.name for t in await client.list_tools())
            got = {"names": names}
            for tool, args in {
                "read_file": {"path": "src/app.py"},
                "secret": {"path": "settings.py"},
                "search_code": {"pattern": "def add", "glob": "src/*"},
                "code_map": {"query": "add numbers"},
                "git_log": {"limit": 5},
                "git_diff": {"spec": "HEAD"},
                "recall": {"query": "anything"},
            }.items():
                name = "read_file" if tool == "secret" else tool
                got[tool] = (await client.call_tool(name, args)).data
            return got

    got = asyncio.run(go())
    assert got["names"] == ["code_map", "git_diff", "git_log", "read_file", "recall",
                            "remember", "run_task", "search_code"]  # fmt: skip
    assert got["read_file"] == "def add(a, b):\n    return a + b"
    assert got["secret"] == "API_KEY = '[REDACTED]'"
    assert got["search_code"] == ["src/app.py:1: def add(a, b):"]
    assert "src/app.py" in got["code_map"]
    assert [c["subject"] for c in got["git_log"]] == ["settings", "initial"]
    assert "+API_KEY = '[REDACTED]'" in got["git_diff"]
    assert SECRET not in str(got)
    assert got["recall"] == []


@pytest.mark.parametrize("path", ["../outside.txt", "/etc/passwd", ".git/config", "link/x.py",
                                  "src/../../x"])  # fmt: skip
def test_a_path_that_leaves_the_repository_is_refused(git_repo: Path, path: str) -> None:
    (git_repo / "link").symlink_to(git_repo.parent)
    with pytest.raises(ToolError, match="is refused"):
        _call(build_server(git_repo), "read_file", {"path": path})


def test_bad_arguments_are_one_line(git_repo: Path) -> None:
    server = build_server(git_repo)
    with pytest.raises(ToolError, match="not a regular expression"):
        _call(server, "search_code", {"pattern": "("})
    with pytest.raises(ToolError, match="max_lines must be between 1 and 5000"):
        _call(server, "read_file", {"path": "README.md", "max_lines": 0})
    with pytest.raises(ToolError, match="'nope' is not a commit here"):
        _call(server, "git_log", {"ref": "nope"})
    with pytest.raises(ToolError, match="tier 'swarm' is not one of"):
        _call(server, "run_task", {"request": "x", "tier": "swarm"})


def test_remember_then_recall(git_repo: Path) -> None:
    server = build_server(git_repo)
    kept = _call(server, "remember", {"text": "use pool_size=10 for dev", "kind": "preference"})
    assert kept["section"] == "Preferences"
    found = _call(server, "recall", {"query": "pool size"})
    assert [e["id"] for e in found] == [kept["id"]]


def test_run_task_commits_on_a_branch_and_leaves_the_tree_alone(tmp_path: Path) -> None:
    need_tool("bwrap")
    repo = small_project(tmp_path / "repo")
    venv_with_ruff(repo)
    before = without_memfun_refs(snapshot(repo))
    with StubLLMServer([answer("Added greet.", GREET), CLEAN]) as stub:
        env = {**os.environ, "MEMFUN_LLM_PROVIDER": "custom", "MEMFUN_LLM_MODEL": "stub-model",
               "MEMFUN_LLM_BASE_URL": stub.url, "MEMFUN_LLM_NUM_RETRIES": "0"}  # fmt: skip
        done = _call(build_server(repo, env), "run_task", {"request": "add a greet function"})
    assert done["status"] == "done", done
    assert done["branch"].startswith("memfun/")
    assert "def greet" in git(repo, "show", f"{done['branch']}:src/greet.py")
    assert without_memfun_refs(snapshot(repo)) == before


def test_memfun_mcp_serves_over_stdio(git_repo: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env |= {"PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), env.get("PYTHONPATH")])),
            **QUIET}  # fmt: skip
    transport = StdioTransport(sys.executable, ["-m", "memfun_git", "-C", str(git_repo), "mcp"],
                               env=env, cwd=str(git_repo))  # fmt: skip

    async def go() -> tuple[list[str], Any]:
        async with Client(transport) as client:
            names = [t.name for t in await client.list_tools()]
            read = (await client.call_tool("read_file", {"path": "README.md"})).data
            return names, read

    names, read = asyncio.run(go())
    assert "run_task" in names
    assert read.startswith("# Demo")


def test_an_ignored_file_is_not_served(git_repo: Path) -> None:
    (git_repo / ".gitignore").write_text(".env\n")
    (git_repo / ".env").write_text("DATABASE_PASSWORD=hunter2hunter2\n")
    with pytest.raises(ToolError, match=r"\.env is ignored by git"):
        _call(build_server(git_repo), "read_file", {"path": ".env"})
