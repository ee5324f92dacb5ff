"""`memfun skill list | show | run` through the real door, the model answering from the stub
server: a task-mode skill run as a task with its instructions in the prompt and its script
run in the sandbox, a question-mode skill answered, and bad names one line each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from tests.conftest import git
from tests.helpers.projects import CLEAN, GREET, answer, small_project
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubRequest
from tests.quality.kit import venv_with_ruff

SCRIPTED = """---
name: stamp-version
description: Stamp the project's version file. Use when asked to stamp or bump the version.
metadata:
  memfun-mode: task
---

Write VERSION with the output of scripts/version.sh, run in the sandbox.
"""


def _model(monkeypatch: pytest.MonkeyPatch, stub: StubLLMServer) -> None:
    for key, value in {"PROVIDER": "custom", "MODEL": "stub-model", "BASE_URL": stub.url,
                       "NUM_RETRIES": "0"}.items():  # fmt: skip
        monkeypatch.setenv(f"MEMFUN_LLM_{key}", value)
    monkeypatch.setenv("MEMFUN_WORKFLOW_ESCALATE", "false")


def _shown(request: StubRequest) -> str:
    return "\n".join(m["content"] for m in request.body["messages"])


def test_a_task_skill_runs_as_a_task_and_its_script_runs_in_the_sandbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    need_tool("bwrap")
    repo = small_project(tmp_path / "repo")
    venv_with_ruff(repo)
    skill = Path.home() / ".memfun" / "skills" / "stamp-version"
    (skill / "scripts").mkdir(parents=True)
    (skill / "SKILL.md").write_text(SCRIPTED)
    (skill / "scripts" / "version.sh").write_text("echo 1.2.3-from-the-skill\n")
    solve = answer("Stamped.", f"RUN sh {skill}/scripts/version.sh",
                   "VERSION\n<<<<<<< WRITE\n1.2.3\n>>>>>>> WRITE")  # fmt: skip
    prompts: list[str] = []

    def reply(request: StubRequest) -> str:
        shown = _shown(request)
        prompts.append(shown)
        return CLEAN if "Reply with the `review` text only" in shown else solve

    with StubLLMServer(responder=reply) as stub:
        _model(monkeypatch, stub)
        code = run(["-C", str(repo), "skill", "run", "stamp-version", "--json", "stamp", "it"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0, result
    assert "Follow the skill stamp-version (its scripts are in" in prompts[0]
    assert "Write VERSION with the output of scripts/version.sh" in prompts[0]
    (ran,) = result["commands"]
    assert ran["exit_code"] == 0
    assert "1.2.3-from-the-skill" in ran["stdout"]
    assert git(repo, "show", f"{result['branch']}:VERSION").strip() == "1.2.3"


def test_a_question_skill_answers_and_list_and_show_tell_what_is_there(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []

    def reply(request: StubRequest) -> str:
        asked.append(_shown(request))
        return "[[ ## answer ## ]]\nsrc/app.py holds add().\n\n[[ ## completed ## ]]"

    with StubLLMServer(responder=reply) as stub:
        _model(monkeypatch, stub)
        assert run(["-C", str(git_repo), "skill", "run", "explain-code", "what", "is", "add"]) == 0
    assert "src/app.py holds add()." in capsys.readouterr().out
    assert "Follow the skill explain-code:" in asked[0]
    assert run(["-C", str(git_repo), "skill", "list", "--json"]) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed["fix-bugs"]["mode"] == "task"
    assert listed["ask"]["place"] == "package"
    assert run(["-C", str(git_repo), "skill", "show", "refactor"]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith("refactor (package: ")
    assert "mode: task" in shown
    assert "# Refactor" in shown


def test_an_unknown_or_malformed_skill_is_one_line(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = git_repo / ".memfun" / "skills" / "Broken"
    bad.mkdir(parents=True)
    (bad / "SKILL.md").write_text("---\nname: Broken\ndescription: x\n---\n")
    assert run(["-C", str(git_repo), "skill", "show", "nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("memfun: skipped a malformed skill: ")
    assert err[0].endswith("Broken/SKILL.md: name: 'Broken' must be lowercase letters, digits "
                           "and single hyphens, not starting or ending with one")  # fmt: skip
    assert err[1].startswith("memfun: no skill 'nope' — `memfun skill list` shows them (")


def test_a_skill_is_drafted_from_the_trace_of_a_task_done_well(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    need_tool("bwrap")
    repo = small_project(tmp_path / "repo")
    venv_with_ruff(repo)
    drafted = ("[[ ## description ## ]]\nAdd a small greeting helper. Use when asked for one."
               "\n\n[[ ## body ## ]]\n# Add greeters\n\n1. Write src/greet.py.\n\n"
               "[[ ## completed ## ]]")  # fmt: skip
    prompts: list[str] = []

    def reply(request: StubRequest) -> str:
        shown = _shown(request)
        prompts.append(shown)
        if "Reply with the `review` text only" in shown:
            return CLEAN
        if "[[ ## examples ## ]]" in shown:
            return drafted
        return answer("Added greet.", GREET)

    with StubLLMServer(responder=reply) as stub:
        _model(monkeypatch, stub)
        assert run(["-C", str(repo), "run", "add a greet function"]) == 0
        capsys.readouterr()
        assert run(["-C", str(repo), "skill", "new", "add-greeters"]) == 2
        assert "--from-traces" in capsys.readouterr().err
        code = run(["-C", str(repo), "skill", "new", "add-greeters", "--from-traces",
                    "--about", "add a greet function"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith("Drafted .memfun/skills/add-greeters/SKILL.md from 1 task(s): ")
    assert "Example 1: add a greet function" in prompts[-1]
    assert "write src/greet.py" in prompts[-1]
    assert run(["-C", str(repo), "skill", "list", "--json"]) == 0
    listed = {s["name"]: s for s in json.loads(capsys.readouterr().out)}
    assert listed["add-greeters"]["place"] == "project"
    assert listed["add-greeters"]["mode"] == "task"
