"""Task and TaskResult: ids that are branch names, results that print as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from memfun_git.backends.protocols import RunResult
from memfun_git.edits.ops import OpResult
from memfun_git.gitops.branches import valid_name
from memfun_git.operations import EditFile
from memfun_git.quality.verdicts import Finding, GateOutcome, LintVerdict, Review
from memfun_git.tasks import CommitInfo, Task, TaskResult, new_task_id


def test_ids_say_what_the_task_is_and_make_valid_branch_names() -> None:
    for request in ("Add JWT auth to the Flask API!", "", "…", "a" * 300, "../../etc", "x.lock"):
        task_id = new_task_id(request)
        assert valid_name(task_id), task_id
    assert new_task_id("Add JWT auth to the Flask API").startswith("add-jwt-auth-to-")
    assert new_task_id("same") != new_task_id("same")


def test_a_result_is_one_json_document(tmp_path: Path) -> None:
    task = Task.create("fix the bug", tmp_path, trust_config_changes=True)
    token = "ghs_" + "R7xT2kLm9QpZ4vWc8NbY3hJd6FgS1aEu0oIq"
    verdict = LintVerdict("ruff", "pass", program="/x/.venv/bin/ruff")
    finding = Finding("a.py", 3, "warning", "naming", suggestion="x = 1\n")
    gate = GateOutcome(True, (verdict,), Review((finding,), "fine"), commit="abc")
    result = TaskResult(
        task=task,
        status="done",
        branch=f"memfun/{task.id}",
        base="0" * 40,
        commits=(CommitInfo("abc", "fix the bug", ("a.py",), gate.trailer()),),
        operations=(OpResult(EditFile("a.py", "x=1\n", "x = 1\n"), True, "edited a.py"),),
        commands=(RunResult(("cat", ".env"), 0, f"TOKEN={token}\n", "", 0.01),),
        gate=gate,
    )
    data = json.loads(json.dumps(result.as_dict()))
    assert data["status"] == "done"
    assert data["operations"][0]["operation"] == "edit a.py"
    assert data["gate"]["verdicts"][0]["program"] == "/x/.venv/bin/ruff"
    assert data["commits"][0]["gate"] == "ruff=pass review=pass"
    assert data["gate"]["review"]["findings"][0]["suggestion"] == "x = 1\n"
    assert data["commands"][0]["stdout"] == "TOKEN=[REDACTED]\n"  # kept, never a secret
    assert result.ok
