"""action.yml, its examples and the project's own workflows say what the code reads: every
input reaches `memfun action` under the name it reads, every output is one it writes, actions
are pinned by full commit ids, and each workflow asks for the least permissions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from memfun_git.github.inputs import read_runner

PROJECT = Path(__file__).resolve().parents[2]


def _load(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def test_every_input_reaches_memfun_action_and_every_output_is_written(tmp_path: Path) -> None:
    action = _load(PROJECT / "action.yml")
    inputs = set(action["inputs"])
    assert inputs == {
        "github-token", "provider", "model", "api-key", "mode", "fail-on", "max-comments",
        "paths-ignore",
    }  # fmt: skip
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "memfun")
    assert step["run"] == "memfun action"
    passed = {name.removeprefix("INPUT_").lower().replace("_", "-") for name in step["env"]}
    assert passed == inputs
    event = tmp_path / "event.json"
    event.write_text("{}")
    env = {
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": "o/r",
        **{name: "" for name in step["env"]},
        "INPUT_GITHUB_TOKEN": "t",
        "INPUT_MODE": "review",
        "INPUT_FAIL_ON": "warning",
        "INPUT_MAX_COMMENTS": "7",
        "INPUT_PATHS_IGNORE": "a/*, b/*",
        "INPUT_API_KEY": "k",
    }
    runner = read_runner(env)
    assert (runner.inputs.token, runner.inputs.fail_on, runner.inputs.max_comments) == (
        "t", "warning", 7,
    )  # fmt: skip
    assert (runner.inputs.paths_ignore, runner.inputs.api_key) == (("a/*", "b/*"), "k")
    assert set(action["outputs"]) == {"verdict", "findings", "branch"}


def test_workflows_pin_actions_by_commit_and_ask_for_little() -> None:
    files = [*sorted((PROJECT / "action" / "examples").glob("*.yml")),
             *sorted((PROJECT / ".github" / "workflows").glob("*.yml"))]  # fmt: skip
    assert files
    for path in files:
        workflow = _load(path)
        for job in workflow["jobs"].values():
            for step in job["steps"]:
                uses = step.get("uses", "./")
                assert uses == "./" or re.search(r"@[0-9a-f]{40}$", uses), (path, uses)
        granted = workflow["permissions"]
        assert set(granted.values()) <= {"read", "write"}
        assert set(granted) <= {"contents", "pull-requests", "checks", "issues"}, path
