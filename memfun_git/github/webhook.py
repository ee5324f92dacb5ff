"""The App's webhook, as pure functions: the signature, the routing decision, the queue's job.

- `verify_signature`: `X-Hub-Signature-256` (`sha256=<hex>`, HMAC-SHA256 of the raw body with
  the webhook secret), compared in constant time, before anything reads the body.
- `route`: what one delivery asks for, read from the raw JSON (githubkit's models reject some
  real payloads, and the App needs a dozen fields). Triggers: an issue labelled with
  `[github] label` (any case), `/memfun <instruction>` at the start of a line of an issue or
  pull request comment (`command.py`: never in a quote or a code fence), an issue assigned to
  the App (`<app_slug>[bot]`). Bots (the App itself among them) and every other event or
  action are ignored; a trigger on a closed or locked issue is skipped with the reason, which a
  worker posts as a comment. What needs the API (the requester's permission, an open memfun
  pull request already there) is the worker's to check: the job names the requester.
- The job (`Route.job`) is the queue's payload, a plain JSON object whose keys are the contract
  with the worker; `task_id` names it from the delivery, so the same delivery is one task.
- `sanitize_untrusted`: issue and comment text made fit for a prompt (hidden HTML comments and
  invisible or reordering characters removed); the worker fences it as well.

No I/O here: `appserver.py` reads requests and talks to the backend.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Literal, cast

from memfun_git.errors import BadPayload
from memfun_git.github.command import fix_request, memfun_request

__all__ = [
    "JOB_KEYS",
    "Route",
    "Triggers",
    "route",
    "sanitize_untrusted",
    "task_id",
    "verify_signature",
]

Action = Literal["start", "skip", "ignore"]
Trigger = Literal["label", "comment", "assign"]

JOB_KEYS = (
    "kind",
    "repo",
    "clone_url",
    "default_branch",
    "installation",
    "number",
    "is_pull",
    "title",
    "body",
    "instruction",
    "requester",
    "trigger",
    "comment_id",
    "delivery",
)
"""The keys of every job (a skipped one adds `skip_reason`): the worker's contract."""

_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")
_TRIGGERING = {("issues", "labeled"), ("issues", "assigned"), ("issue_comment", "created")}


@dataclass(frozen=True, slots=True)
class Triggers:
    """What starts a task: from `[github]` in the configuration."""

    label: str = "memfun"
    """The label that hands an issue to memfun (compared in any case)."""
    app_slug: str = ""
    """The App's slug: its own events come from `<slug>[bot]`, and assigning an issue to that
    login is a trigger (none without a slug)."""

    @property
    def bot_login(self) -> str:
        return f"{self.app_slug}[bot]" if self.app_slug else ""


@dataclass(frozen=True, slots=True)
class Route:
    """What a delivery asks for: `start` a task, `skip` one with a reason to post, or
    `ignore` it (nothing happens; the reason is for the log and the response)."""

    action: Action
    reason: str
    job: dict[str, Any] | None = None
    """The queue's payload for start and skip (JOB_KEYS, plus `skip_reason` for a skip)."""


def verify_signature(secret: bytes, body: bytes, header: str | None) -> bool:
    """Whether `header` (X-Hub-Signature-256) is GitHub's signature of `body` with `secret`.

    A missing or malformed header, or an empty secret, is never valid."""
    if not secret or header is None:
        return False
    match = _SIGNATURE.fullmatch(header.strip())
    if match is None:
        return False
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1).lower())


def route(event: str, delivery: str, payload: dict[str, Any], triggers: Triggers) -> Route:
    """Decide what one delivery asks for. Raises BadPayload when an event that may trigger a
    task lacks what GitHub always sends with it (issue, repository, sender...)."""
    action = str(payload.get("action") or "")
    if event == "ping":
        return Route("ignore", "ping: the webhook is set up")
    if event not in ("issues", "issue_comment"):
        return Route("ignore", f"{event} events start nothing")
    if (event, action) not in _TRIGGERING:
        return Route("ignore", f"{event}.{action} starts nothing")
    sender = _object(payload, "sender", event)
    requester = _text(sender, "login", f"{event} sender")
    if _is_bot(sender, requester) or (
        triggers.bot_login and requester.lower() == triggers.bot_login.lower()
    ):
        return Route("ignore", f"{requester} is a bot")
    issue = _object(payload, "issue", event)
    trigger: Trigger
    comment: dict[str, Any] | None = None
    instruction: str | None
    if event == "issue_comment":
        comment = _object(payload, "comment", event)
        text = sanitize_untrusted(str(comment.get("body") or ""))
        instruction = memfun_request(text)
        if instruction is None:
            return Route("ignore", "the comment holds no /memfun command")
        if fix_request(text) is not None and instruction.split(maxsplit=1)[:1] == ["fix"]:
            return Route("ignore", "`/memfun fix` is the GitHub Action's command")
        trigger = "comment"
    elif action == "labeled":
        label = payload.get("label")
        name = str(cast(dict[str, Any], label).get("name", "")) if isinstance(label, dict) else ""
        if name.casefold() != triggers.label.casefold():
            return Route("ignore", f"the label {name!r} is not {triggers.label!r}")
        trigger, instruction = "label", ""
    else:
        assignee = payload.get("assignee")
        login = (
            str(cast(dict[str, Any], assignee).get("login", ""))
            if isinstance(assignee, dict)
            else ""
        )
        if not triggers.bot_login:
            return Route("ignore", "assignments start nothing without [github] app_slug")
        if login.lower() != triggers.bot_login.lower():
            return Route("ignore", f"the issue was assigned to {login or 'nobody'}, not the App")
        trigger, instruction = "assign", ""
    repository = _object(payload, "repository", event)
    job = _job(payload, repository, issue, delivery, requester, trigger, instruction, comment)
    kind = "pull request" if job["is_pull"] else "issue"
    if issue.get("state") == "closed":
        return _skip(job, f"#{job['number']} is a closed {kind}: reopen it and ask again")
    if issue.get("locked") is True:
        return _skip(job, f"#{job['number']} is a locked {kind}: unlock it and ask again")
    return Route("start", f"{trigger} on {job['repo']}#{job['number']}", job)


def task_id(job: dict[str, Any]) -> str:
    """The queue's id of a job: `gh-<owner>-<name>-<number>-<8 hex of the delivery>`, made of
    `[A-Za-z0-9._-]` only (it names the branch memfun/<id> too)."""
    short = hashlib.sha256(str(job["delivery"]).encode()).hexdigest()[:8]
    raw = f"gh-{str(job['repo']).replace('/', '-')}-{job['number']}-{short}"
    return re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]", "-", raw))


# Hidden in rendered Markdown but read by a model: HTML comments (an unclosed one hides the
# rest), format characters (zero-width, bidi controls, tag characters: Unicode category Cf),
# control characters but newline and tab, and variation selectors (data can ride on them).
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|\Z)", re.DOTALL)
_VARIATION = re.compile("[\ufe00-\ufe0f\U000e0100-\U000e01ef]")


def sanitize_untrusted(text: str) -> str:
    """`text` (an issue's or comment's, written by anyone) without what a reader cannot see:
    HTML comments, zero-width, bidi and other format characters, control characters (newline
    and tab stay) and variation selectors. Invisible characters go first, so a comment marker
    split by one is still a comment."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    visible = "".join(
        ch
        for ch in text
        if ch in "\n\t" or unicodedata.category(ch) not in ("Cf", "Cc", "Cs", "Co")
    )
    return _HTML_COMMENT.sub("", _VARIATION.sub("", visible))


def _skip(job: dict[str, Any], reason: str) -> Route:
    return Route("skip", reason, {**job, "skip_reason": reason})


def _job(
    payload: dict[str, Any],
    repository: dict[str, Any],
    issue: dict[str, Any],
    delivery: str,
    requester: str,
    trigger: Trigger,
    instruction: str,
    comment: dict[str, Any] | None,
) -> dict[str, Any]:
    number = issue.get("number")
    if not isinstance(number, int) or isinstance(number, bool):
        raise BadPayload("the issue has no number", "send the payload GitHub sent, unchanged")
    installation = payload.get("installation")
    installation_id = (
        cast(dict[str, Any], installation).get("id") if isinstance(installation, dict) else None
    )
    title = str(issue.get("title") or "")
    body = str(issue.get("body") or "")
    comment_id = comment.get("id") if comment is not None else None
    return {
        "kind": "github-issue",
        "repo": _text(repository, "full_name", "repository"),
        "clone_url": _text(repository, "clone_url", "repository"),
        "default_branch": _text(repository, "default_branch", "repository"),
        "installation": installation_id if isinstance(installation_id, int) else None,
        "number": number,
        "is_pull": isinstance(issue.get("pull_request"), dict),
        "title": title,
        "body": body,
        "instruction": instruction or f"{title}\n\n{body}".strip(),
        "requester": requester,
        "trigger": trigger,
        "comment_id": comment_id if isinstance(comment_id, int) else None,
        "delivery": delivery,
    }


def _is_bot(sender: dict[str, Any], login: str) -> bool:
    return sender.get("type") == "Bot" or login.lower().endswith("[bot]")


def _object(payload: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = payload.get(key)
    if not isinstance(value, dict):
        raise BadPayload(
            f"the {where} payload has no {key} object", "send the payload GitHub sent, unchanged"
        )
    return cast(dict[str, Any], value)


def _text(obj: dict[str, Any], key: str, where: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value:
        raise BadPayload(f"the {where} has no {key}", "send the payload GitHub sent, unchanged")
    return value
