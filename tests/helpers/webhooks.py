"""The App's webhook cases: every stored payload (tests/fixtures/github-webhooks) with the
decision it must get, and copies adapted so that each trigger fires.

`CASES` is shared by the routing tests (pure functions) and the server tests (the same
payloads signed with `SECRET` and posted). Raw payloads are routed with `TRIGGERS`, whose
label is the fixtures' own (`bug`), so the real `labeled` payloads start tasks as they are.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memfun_git.github.webhook import Triggers

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github-webhooks"
SECRET = b"memfun-webhook-test-secret-0123456789"
TRIGGERS = Triggers(label="bug", app_slug="memfun-test")
BOT = "memfun-test[bot]"
REPO = "Codertocat/Hello-World"


@dataclass(frozen=True)
class Case:
    name: str
    event: str
    payload: dict[str, Any]
    action: str
    """start, skip or ignore."""
    reason: str
    """A part of the decision's reason."""
    trigger: str | None = None
    instruction: str | None = None


def sign(body: bytes, secret: bytes = SECRET) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def load(event: str, name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / event / name).read_text())


def fixture_files() -> list[tuple[str, str]]:
    """(event, file name) of every stored payload."""
    return sorted(
        (path.parent.name, path.name) for path in FIXTURES.glob("*/*.json") if path.is_file()
    )


def _raw_expectation(event: str, payload: dict[str, Any]) -> tuple[str, str]:
    action = payload.get("action")
    if event == "ping":
        return "ignore", "ping"
    if event not in ("issues", "issue_comment"):
        return "ignore", f"{event} events start nothing"
    if (event, action) == ("issues", "labeled"):
        return "start", f"label on {REPO}#1"
    if (event, action) == ("issues", "assigned"):
        return "ignore", "assigned to Codertocat, not the App"
    if (event, action) == ("issue_comment", "created"):
        return "ignore", "no /memfun command"
    return "ignore", f"{event}.{action} starts nothing"


def _with(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A deep copy with dotted paths set: `_with(p, **{"issue.state": "closed"})`."""
    out = copy.deepcopy(payload)
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = out
        for part in parents:
            node = node[part]
        node[last] = value
    return out


def _adapted() -> list[Case]:
    labeled = load("issues", "labeled.payload.json")
    assigned = load("issues", "assigned.with-installation.payload.json")
    comment = load("issue_comment", "created.with-installation.payload.json")
    title = labeled["issue"]["title"]
    asked = "/memfun add a test for the empty list\nand keep it short\n\nthanks"
    return [
        Case(
            "comment-command",
            "issue_comment",
            _with(comment, **{"comment.body": "Sure.\n\n  " + asked}),
            "start",
            f"comment on {REPO}#1",
            "comment",
            "add a test for the empty list and keep it short",
        ),
        Case(
            "comment-on-pull-request",
            "issue_comment",
            _with(comment, **{"comment.body": asked, "issue.pull_request": {"url": "x"}}),
            "start",
            f"comment on {REPO}#1",
            "comment",
        ),
        Case(
            "bare-command-takes-the-issue",
            "issue_comment",
            _with(comment, **{"comment.body": "/memfun"}),
            "start",
            "comment on",
            "comment",
            title,
        ),
        Case(
            "quoted-command",
            "issue_comment",
            _with(comment, **{"comment.body": "> /memfun delete everything\n\nno thanks"}),
            "ignore",
            "no /memfun command",
        ),
        Case(
            "fenced-command",
            "issue_comment",
            _with(comment, **{"comment.body": "```\n/memfun run this\n```"}),
            "ignore",
            "no /memfun command",
        ),
        Case(
            "tilde-fenced-command",
            "issue_comment",
            _with(comment, **{"comment.body": "~~~sh\n/memfun run this\n~~~"}),
            "ignore",
            "no /memfun command",
        ),
        Case(
            "hidden-command",
            "issue_comment",
            _with(comment, **{"comment.body": "<!--\n/memfun hidden\n-->looks harmless"}),
            "ignore",
            "no /memfun command",
        ),
        Case(
            "mid-line-command",
            "issue_comment",
            _with(comment, **{"comment.body": "please /memfun do it"}),
            "ignore",
            "no /memfun command",
        ),
        Case(
            "bot-comment",
            "issue_comment",
            _with(comment, **{"comment.body": asked, "sender.login": "dependabot[bot]"}),
            "ignore",
            "is a bot",
        ),
        Case(
            "bot-typed-sender",
            "issue_comment",
            _with(comment, **{"comment.body": asked, "sender.type": "Bot"}),
            "ignore",
            "is a bot",
        ),
        Case(
            "the-apps-own-comment",
            "issue_comment",
            _with(comment, **{"comment.body": asked, "sender.login": BOT, "sender.type": "Bot"}),
            "ignore",
            "is a bot",
        ),
        Case(
            "label-any-case",
            "issues",
            _with(labeled, **{"label.name": "BUG"}),
            "start",
            "label on",
            "label",
        ),
        Case(
            "other-label",
            "issues",
            _with(labeled, **{"label.name": "enhancement"}),
            "ignore",
            "'enhancement' is not 'bug'",
        ),
        Case(
            "closed-issue",
            "issues",
            _with(labeled, **{"issue.state": "closed"}),
            "skip",
            "#1 is a closed issue",
            "label",
        ),
        Case(
            "locked-issue",
            "issues",
            _with(labeled, **{"issue.locked": True}),
            "skip",
            "#1 is a locked issue",
            "label",
        ),
        Case(
            "comment-on-locked-pull-request",
            "issue_comment",
            _with(
                comment,
                **{"comment.body": asked, "issue.locked": True, "issue.pull_request": {}},
            ),
            "skip",
            "#1 is a locked pull request",
            "comment",
        ),
        Case(
            "assigned-to-the-app",
            "issues",
            _with(assigned, **{"assignee.login": BOT, "assignee.type": "Bot"}),
            "start",
            "assign on",
            "assign",
        ),
        Case(
            "labelled-by-a-bot",
            "issues",
            _with(labeled, **{"sender.login": "renovate[bot]"}),
            "ignore",
            "is a bot",
        ),
    ]


def _cases() -> list[Case]:
    cases: list[Case] = []
    for event, name in fixture_files():
        payload = load(event, name)
        action, reason = _raw_expectation(event, payload)
        trigger = "label" if action == "start" else None
        cases.append(Case(f"{event}/{name}", event, payload, action, reason, trigger))
    return cases + _adapted()


CASES = _cases()
