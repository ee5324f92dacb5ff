"""`/memfun fix <instruction>` on a pull request: the engine's gated commits pushed to its branch.

- The command is read from the comment's own lines (`command.py`); the commenter's permission
  is asked of the API (admin, maintain or write), never read from the payload; anyone else gets
  a reply saying so and nothing runs.
- The pull request is fetched with its head in a working tree of memfun's own (`fetch.py`),
  and `Engine.run` does the task there, from the head commit, with the configuration of the
  base branch (never the head's) and the instruction as its request: worktree, sandbox, gate,
  review and commits as everywhere else.
- Same repository: the task's branch is pushed over HTTPS to the pull request's branch with
  dulwich (token as the password, never in a URL), only as a fast-forward; a branch that moved
  meanwhile is said, not overwritten. A fork's branch cannot be pushed with this token: the
  change becomes `suggestion` comments where its lines are in the pull request's diff, and a
  diff block for the rest.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git.errors import MemfunError
from memfun_git.github.api import Api, ApiRefused
from memfun_git.github.command import fix_request

if TYPE_CHECKING:
    from memfun_git.github.action import Outcome
    from memfun_git.github.fetch import Fetched
    from memfun_git.github.inputs import Runner
    from memfun_git.tasks import TaskResult

__all__ = ["fix_on_comment"]

log = logging.getLogger(__name__)

_WRITERS = ("admin", "maintain", "write")
_MAX_DIFF_CHARS = 60_000


def fix_on_comment(runner: Runner, env: dict[str, str], lm: Any) -> Outcome:
    from memfun_git.github.action import Outcome

    event = runner.event
    issue = event.get("issue") or {}
    comment = event.get("comment") or {}
    if event.get("action") != "created" or not isinstance(issue, dict):
        return Outcome("skipped", f"nothing to do on issue_comment.{event.get('action')}")
    if not issue.get("pull_request"):
        return Outcome("skipped", "the comment is on an issue, not a pull request")
    instruction = fix_request(str(comment.get("body") or ""))
    if instruction is None:
        return Outcome("skipped", "the comment holds no /memfun fix command")
    number = int(issue["number"])
    user = str((comment.get("user") or {}).get("login") or "")
    api = Api(runner.inputs.token, runner.api_url, runner.owner, runner.name)
    try:
        role = api.permission(user)
    except ApiRefused as exc:
        return Outcome("error", f"cannot ask GitHub for @{user}'s permission: {exc.message}")
    if role not in _WRITERS:
        _reply(api, number, f"@{user}: `/memfun fix` runs for people with write access to "
               f"this repository (yours: {role}). Nothing was changed.")  # fmt: skip
        return Outcome("skipped", f"@{user} may not write to the repository ({role})")
    try:
        return _fix(runner, env, lm, api, number, instruction)
    except MemfunError as exc:
        _reply(api, number, f"`/memfun fix` failed: {exc.message}")
        return Outcome("error", exc.message)


def _fix(
    runner: Runner, env: dict[str, str], lm: Any, api: Api, number: int, instruction: str
) -> Outcome:
    from memfun_git.engine import Engine
    from memfun_git.github.action import Outcome, base_config
    from memfun_git.github.fetch import fetch_for
    from memfun_git.tasks import Task

    pull = api.pull(number)
    head_ref = str(pull["head"]["ref"])
    fork = str((pull["head"].get("repo") or {}).get("full_name") or "") != runner.repository
    folder, fetched = fetch_for(runner, pull, checkout=True)
    cfg = base_config(fetched.git_dir, fetched.base, runner, env, folder)
    task = Task.create(instruction, folder / "repo", base=fetched.head, origin="action")
    result = Engine(cfg, lm=lm, environ=env).run(task)
    if not result.ok:
        _reply(api, number, f"`/memfun fix` made no commit: {result.error}")
        return Outcome("error", f"the task failed: {result.error}")
    if fork:
        _suggest(api, number, fetched, result, pull)
        outcome = Outcome("reviewed", summary=result.summary)
        outcome.notes.append("A fork's branch cannot be pushed: the fix was posted as suggestions.")
        return outcome
    _push(folder / "repo", runner, result.branch, head_ref)
    lines = [f"- `{c.oid[:7]}` {c.subject}" for c in result.commits]
    _reply(api, number, f"Pushed {len(lines)} commit(s) to `{head_ref}`:\n\n" + "\n".join(lines))
    outcome = Outcome("reviewed", summary=result.summary, branch=head_ref)
    outcome.notes.append(f"Pushed {len(lines)} commit(s) to {head_ref}.")
    return outcome


def _push(repo: Path, runner: Runner, branch: str, head_ref: str) -> None:
    from dulwich.porcelain import DivergedBranches

    from memfun_git.github.fetch import push_branch

    try:
        push_branch(repo, runner.clone_url, runner.inputs.token, branch, head_ref)
    except DivergedBranches:
        raise MemfunError(
            f"{head_ref} moved while the fix was made: nothing was pushed",
            "ask again with /memfun fix",
        ) from None


def _suggest(
    api: Api, number: int, fetched: Fetched, result: TaskResult, pull: dict[str, Any]
) -> None:
    """The task's change as suggestions on the pull request's diff, the rest as a diff block."""
    import pygit2

    from memfun_git.github.diffmap import DiffMap

    placed = DiffMap.of(fetched.diff)
    repo = pygit2.Repository(str(fetched.git_dir))
    try:
        head = repo[fetched.head].peel(pygit2.Commit)
        tip = repo.branches.local[result.branch].peel(pygit2.Commit)
        diff = head.tree.diff_to_tree(tip.tree)
        comments: list[dict[str, Any]] = []
        rest: list[str] = []
        for patch in diff:
            if patch is None:
                continue
            path = patch.delta.new_file.path
            for hunk in patch.hunks:
                first, last = hunk.old_start, hunk.old_start + hunk.old_lines - 1
                new = "".join(line.content for line in hunk.lines if line.origin in (" ", "+"))
                if hunk.old_lines and placed.commentable(path, first, last):
                    comment: dict[str, Any] = {
                        "path": path, "line": last, "side": "RIGHT",
                        "body": f"```suggestion\n{new}```",
                    }  # fmt: skip
                    if last > first:
                        comment |= {"start_line": first, "start_side": "RIGHT"}
                    comments.append(comment)
                else:
                    rest.append(patch.text or "")
    finally:
        repo.free()
    body = "`/memfun fix` on a fork: the branch cannot be pushed from here, so here is the fix."
    unique = list(dict.fromkeys(rest))
    if unique:
        text = "".join(unique)[:_MAX_DIFF_CHARS]
        body += f"\n\nNot on the diff's lines:\n\n```diff\n{text}```"
    api.create_review(number, str(pull["head"]["sha"]), body, comments)


def _reply(api: Api, number: int, body: str) -> None:
    try:
        api.comment(number, body)
    except ApiRefused as exc:
        log.warning("the reply could not be posted: %s", exc.message)
