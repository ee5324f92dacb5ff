"""`memfun fix "<bug>"`: a task whose request is the bug report, framed to find and fix the
cause with a test; through the real door with the stub model; an empty report is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from tests.conftest import git
from tests.helpers.projects import CLEAN, answer, small_project
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubRequest
from tests.quality.kit import venv_with_ruff

FIX = """src/app.py
<<<<<<< SEARCH
    return a + b
=======
    return (a or 0) + (b or 0)
>>>>>>> REPLACE"""


def test_a_bug_report_becomes_a_fix_task(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    need_tool("bwrap")
    repo = small_project(tmp_path / "repo")
    venv_with_ruff(repo)
    asked: list[str] = []

    def reply(request: StubRequest) -> str:
        shown = "\n".join(m["content"] for m in request.body["messages"])
        asked.append(shown)
        if "Reply with the `review` text only" in shown:
            return CLEAN
        return answer("add() treats None as 0.", FIX)

    with StubLLMServer(responder=reply) as stub:
        for key, value in {"PROVIDER": "custom", "MODEL": "stub-model", "BASE_URL": stub.url,
                           "NUM_RETRIES": "0"}.items():  # fmt: skip
            monkeypatch.setenv(f"MEMFUN_LLM_{key}", value)
        code = run(["-C", str(repo), "fix", "--json", "add(None, 1)", "raises", "TypeError"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    assert result["request"].startswith("Fix this bug: add(None, 1) raises TypeError\n\n")
    assert "Find its cause in the code and fix the cause" in asked[0]
    assert "(a or 0)" in git(repo, "show", f"{result['branch']}:src/app.py")
    assert run(["-C", str(repo), "fix", " "]) == 2
    assert capsys.readouterr().err.strip() == (
        "memfun: the bug report is empty — say what goes wrong, e.g. memfun fix "
        '"mean() crashes on an empty list"'
    )
