"""The Action's runner environment and inputs, checked: one clear line for each fault.

GitHub puts a step's inputs in `INPUT_<NAME>` (upper-cased, hyphens kept: `INPUT_GITHUB-TOKEN`);
action.yml passes them so. The runner's own variables (`GITHUB_EVENT_NAME`, `GITHUB_EVENT_PATH`,
`GITHUB_REPOSITORY`, `GITHUB_API_URL`, `GITHUB_SERVER_URL`, `GITHUB_OUTPUT`,
`GITHUB_STEP_SUMMARY`, `RUNNER_TEMP`) are read here too; `GITHUB_API_URL` and
`GITHUB_SERVER_URL` default to github.com's, and are honoured for GitHub Enterprise Server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from memfun_git.config import Severity
from memfun_git.errors import UsageError

__all__ = ["MODES", "ActionInputs", "Runner", "read_runner"]

Mode = Literal["review", "fix", "describe", "auto"]
MODES: tuple[Mode, ...] = ("review", "fix", "describe", "auto")
_SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True, slots=True)
class ActionInputs:
    token: str
    provider: str
    model: str
    api_key: str
    mode: Mode
    fail_on: Severity | None
    """Findings this severe fail the step; None: never."""
    max_comments: int
    paths_ignore: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Runner:
    event_name: str
    event: dict[str, Any]
    repository: str
    """owner/name"""
    api_url: str
    server_url: str
    output: str
    summary: str
    temp: Path
    inputs: ActionInputs

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repository.split("/", 1)[1]

    @property
    def clone_url(self) -> str:
        return f"{self.server_url.rstrip('/')}/{self.repository}.git"


def _input(env: Mapping[str, str], name: str, default: str = "") -> str:
    """`INPUT_<NAME>` as GitHub sets it (hyphens kept), or with underscores (as a composite
    action's `env:` can pass it to a shell)."""
    for key in (f"INPUT_{name.upper()}", f"INPUT_{name.upper().replace('-', '_')}"):
        if env.get(key, "").strip():
            return env[key].strip()
    return default


def read_runner(env: Mapping[str, str]) -> Runner:
    """The runner's variables and the inputs; UsageError naming the first fault."""
    for name in ("GITHUB_EVENT_NAME", "GITHUB_EVENT_PATH", "GITHUB_REPOSITORY"):
        if not env.get(name):
            raise UsageError(
                f"{name} is not set: memfun action runs as a step of a GitHub Actions job",
                "use it from a workflow (see action/examples/)",
            )
    repository = env["GITHUB_REPOSITORY"]
    if repository.count("/") != 1 or not all(repository.split("/")):
        raise UsageError(f"GITHUB_REPOSITORY is {repository!r}", "it should read owner/name")
    event_path = Path(env["GITHUB_EVENT_PATH"])
    try:
        event = json.loads(event_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the event at {event_path}: {exc}", "") from None
    if not isinstance(event, dict):
        raise UsageError(f"the event at {event_path} is not a JSON object", "")
    temp = Path(env.get("RUNNER_TEMP") or "/tmp")
    return Runner(
        event_name=env["GITHUB_EVENT_NAME"],
        event=cast(dict[str, Any], event),
        repository=repository,
        api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
        server_url=env.get("GITHUB_SERVER_URL") or "https://github.com",
        output=env.get("GITHUB_OUTPUT", ""),
        summary=env.get("GITHUB_STEP_SUMMARY", ""),
        temp=temp,
        inputs=_inputs(env),
    )


def _inputs(env: Mapping[str, str]) -> ActionInputs:
    token = _input(env, "github-token") or env.get("GITHUB_TOKEN", "")
    if not token:
        raise UsageError(
            "the github-token input is empty",
            "pass github-token: ${{ secrets.GITHUB_TOKEN }} (or a token with pull-requests: write)",
        )
    mode = _input(env, "mode", "review")
    if mode not in MODES:
        raise UsageError(f"the mode input is {mode!r}", f"use one of: {', '.join(MODES)}")
    fail_on = _input(env, "fail-on", "never")
    if fail_on not in (*_SEVERITIES, "never"):
        raise UsageError(f"the fail-on input is {fail_on!r}", "use info, warning, error, or never")
    count = _input(env, "max-comments", "20")
    if not count.isdigit():
        raise UsageError(f"the max-comments input is {count!r}", "use a whole number, e.g. 20")
    ignored = _input(env, "paths-ignore").replace(",", "\n")
    return ActionInputs(
        token=token,
        provider=_input(env, "provider"),
        model=_input(env, "model"),
        api_key=_input(env, "api-key"),
        mode=mode,
        fail_on=None if fail_on == "never" else fail_on,
        max_comments=int(count),
        paths_ignore=tuple(p.strip() for p in ignored.splitlines() if p.strip()),
    )
