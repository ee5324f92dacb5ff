"""`memfun action`: the GitHub Action, a thin front end over the review program.

`pull_request` (opened, synchronize, reopened, ready_for_review): the diff base...head is fetched
into a bare repository of memfun's own (`fetch.py`; the pull request's code is never checked
out nor run), reviewed by `review_change` with the pull request's title and body as the intent,
the configuration, conventions and code map read from the base branch (never the head), and
posted as one review: inline comments on the diff's RIGHT side with `suggestion` blocks,
validated against the hunks first (`diffmap.py`), the rest in the review's body; findings
posted on an earlier push are not posted again (fingerprints, `comments.py`). GitHub refusing
the review (422) falls back to one comment holding the same findings.

Honest status: a check run `memfun review` (success when reviewed, failure when `fail-on` is
reached or the review errs, neutral with the reason when nothing was reviewed: a draft, no
model, every file in `paths-ignore`), the job summary, and the outputs `verdict` (reviewed,
blocked, skipped, error), `findings` and `branch`. A fork's read-only token (GitHub answers 403
to posts) or a missing key is said there, never a failure a contributor cannot fix and never a
green "reviewed". The step exits non-zero only for real errors or `fail-on`.
"""

from __future__ import annotations

import fnmatch
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from memfun_git.errors import LLMError, MemfunError
from memfun_git.github.api import Api, ApiRefused
from memfun_git.github.inputs import Runner, read_runner
from memfun_git.github.outputs import write_outputs, write_summary
from memfun_git.quality.verdicts import Finding, at_least
from memfun_git.redact import redact, register_secret

if TYPE_CHECKING:
    from memfun_git.config import Config
    from memfun_git.github.fetch import Fetched
    from memfun_git.llm.session import LMSession
    from memfun_git.quality.verdicts import Review

__all__ = ["Outcome", "base_config", "run_action"]

log = logging.getLogger(__name__)

Verdict = Literal["reviewed", "described", "blocked", "skipped", "error"]
DESCRIBE_MARK = "<!-- memfun:describe -->"
_REVIEWED_ACTIONS = ("opened", "synchronize", "reopened", "ready_for_review")
_CONCLUSION = {
    "reviewed": "success",
    "described": "success",
    "blocked": "failure",
    "skipped": "neutral",
    "error": "failure",
}


@dataclass
class Outcome:
    verdict: Verdict
    reason: str = ""
    """One line: why nothing was reviewed, or what went wrong."""
    findings: tuple[Finding, ...] = ()
    notes: list[str] = field(default_factory=list[str])
    """Lines for the job summary (what was posted, what could not be)."""
    summary: str = ""
    branch: str = ""

    @property
    def exit_code(self) -> int:
        return 1 if self.verdict in ("blocked", "error") else 0


def run_action(environ: Mapping[str, str] | None = None, *, lm: Any = None) -> int:
    """Run the step the runner describes; its exit code. `lm`: a DSPy LM instead of the
    configured one (tests)."""
    env = dict(os.environ if environ is None else environ)
    runner = read_runner(env)
    register_secret(runner.inputs.token)
    if runner.inputs.api_key:
        register_secret(runner.inputs.api_key)
    mode = runner.inputs.mode
    if runner.event_name == "pull_request" and mode in ("review", "describe", "auto"):
        outcome = _pull_request(runner, env, lm)
    elif runner.event_name == "issue_comment" and mode in ("fix", "auto"):
        from memfun_git.github.fix import fix_on_comment

        outcome = fix_on_comment(runner, env, lm)
    else:
        what = f"{runner.event_name} with mode {runner.inputs.mode}"
        outcome = Outcome("skipped", f"memfun action does not handle {what} yet")
    _report(runner, outcome)
    return outcome.exit_code


# -- pull_request -------------------------------------------------------------------------


def _pull_request(runner: Runner, env: dict[str, str], lm: Any) -> Outcome:
    event = runner.event
    action = str(event.get("action", ""))
    pull = event.get("pull_request")
    if not isinstance(pull, dict):
        return Outcome("error", "the pull_request event has no pull_request object")
    if action not in _REVIEWED_ACTIONS:
        return Outcome("skipped", f"nothing to review on pull_request.{action}")
    api = Api(runner.inputs.token, runner.api_url, runner.owner, runner.name)
    mode = runner.inputs.mode
    described: Outcome | None = None
    if mode == "describe" or (mode == "auto" and action == "opened"):
        described = _guarded(lambda: _describe(runner, env, lm, api, pull), "describe")
        if mode == "describe":
            return described
    head = str(pull["head"]["sha"])
    check = _start_check(api, head)
    outcome = _review_pull(runner, env, lm, api, pull)
    if check is not None:
        conclusion = _CONCLUSION[outcome.verdict]
        title = _title(outcome)
        try:
            api.finish_check(check, conclusion, title, _markdown(outcome))
        except ApiRefused as exc:
            outcome.notes.append(f"The check run could not be completed: {exc.message}")
    else:
        outcome.notes.append(
            "No check run: the token cannot create one (a fork's pull request gets a read-only "
            "token; give the job `checks: write`)."
        )
    if described is not None:
        outcome.notes += described.notes or [f"Not described: {described.reason}"]
    return outcome


def _guarded(step: Callable[[], Outcome], what: str) -> Outcome:
    """`step`, with the model's and memfun's errors as an error Outcome."""
    try:
        return step()
    except LLMError as exc:
        return Outcome("error", f"the model could not {what} it: {exc.message}")
    except MemfunError as exc:
        return Outcome("error", exc.message)


def _start_check(api: Api, head: str) -> int | None:
    try:
        return api.start_check(head)
    except ApiRefused as exc:
        log.warning("no check run: %s", exc.message)
        return None


def _review_pull(
    runner: Runner, env: dict[str, str], lm: Any, api: Api, pull: dict[str, Any]
) -> Outcome:
    if pull.get("draft"):
        return Outcome("skipped", "the pull request is a draft: reviewed when it is ready")
    return _guarded(lambda: _review(runner, env, lm, api, pull), "review")


@dataclass(frozen=True, slots=True)
class _Prepared:
    fetched: Fetched
    diff: str
    """The diff less the files paths-ignore leaves out."""
    ignored: tuple[str, ...]
    cfg: Config


def _prepare(
    runner: Runner, env: dict[str, str], lm: Any, pull: dict[str, Any]
) -> _Prepared | Outcome:
    """The pull request fetched, its diff less paths-ignore, the base's configuration; or why
    there is nothing to do (an Outcome)."""
    from memfun_git.github.fetch import fetch_for

    folder, fetched = fetch_for(runner, pull)
    diff, ignored = _without_ignored(fetched.diff, runner.inputs.paths_ignore)
    if not diff.strip():
        why = "every changed file is in paths-ignore" if ignored else "the diff is empty"
        return Outcome("skipped", why)
    cfg = base_config(fetched.git_dir, fetched.base, runner, env, folder)
    if lm is None and (not cfg.llm.model or cfg.llm.provider is None):
        return Outcome("skipped", "no model is configured (the provider and model inputs)")
    if lm is None and cfg.llm.key_env and not env.get(cfg.llm.key_env):
        return Outcome(
            "skipped",
            f"no API key: the api-key input is empty ({cfg.llm.key_env}; a fork's pull request "
            "gets no secrets)",
        )
    return _Prepared(fetched, diff, ignored, cfg)


def _session(cfg: Config, env: dict[str, str], lm: Any) -> LMSession:
    from memfun_git.llm.session import LMSession

    return LMSession(cfg.llm, lm) if lm is not None else LMSession.from_config(cfg.llm, env)


def _review(
    runner: Runner, env: dict[str, str], lm: Any, api: Api, pull: dict[str, Any]
) -> Outcome:
    from memfun_git.github.comments import plan_review, posted
    from memfun_git.github.diffmap import DiffMap

    number = int(pull["number"])
    ready = _prepare(runner, env, lm, pull)
    if isinstance(ready, Outcome):
        return ready
    review = _run_review(ready, env, lm, pull)
    known = posted(api.comment_bodies(number))
    planned = plan_review(
        review.findings, DiffMap.of(ready.diff), known, runner.inputs.max_comments
    )
    outcome = Outcome("reviewed", findings=review.findings, summary=review.summary)
    fail_on = runner.inputs.fail_on
    if fail_on is not None and any(at_least(f.severity, fail_on) for f in review.findings):
        outcome.verdict = "blocked"
        outcome.reason = f"findings at or over {fail_on} (the fail-on input)"
    body = _review_body(review.summary, planned, review.unreviewed, ready.ignored)
    if planned.new == 0 and planned.repeated:
        outcome.notes.append(f"Nothing new to post: {planned.repeated} finding(s) already posted.")
        return outcome
    _post(api, number, ready.fetched.head, body, list(planned.comments), planned, outcome)
    return outcome


def _describe(
    runner: Runner, env: dict[str, str], lm: Any, api: Api, pull: dict[str, Any]
) -> Outcome:
    """The change described in one comment of memfun's, edited in place on later runs."""
    from memfun_git.quality.describe import describe_change

    ready = _prepare(runner, env, lm, pull)
    if isinstance(ready, Outcome):
        return ready
    intent = f"{pull.get('title') or ''}\n\n{pull.get('body') or ''}".strip()
    described = describe_change(_session(ready.cfg, env, lm), intent, ready.diff)
    lines = [DESCRIBE_MARK, "### memfun: what this pull request does", "", described.text]
    if described.unreviewed:
        lines += ["", f"Not read (over the size limit): {', '.join(described.unreviewed)}"]
    number = int(pull["number"])
    outcome = Outcome("described", summary=described.text.split("\n", 1)[0])
    try:
        mine = [c for c in api.issue_comments(number) if DESCRIBE_MARK in str(c.get("body"))]
        if mine:
            api.edit_comment(int(mine[0]["id"]), "\n".join(lines))
            outcome.notes.append("Updated the description comment.")
        else:
            api.comment(number, "\n".join(lines))
            outcome.notes.append("Posted the description comment.")
    except ApiRefused as exc:
        outcome.notes.append(_refusal(exc))
        outcome.notes += ["", described.text]
    return outcome


def _without_ignored(diff: str, patterns: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """`diff` without the files `patterns` (globs) match; the paths left out."""
    from memfun_git.quality.diffpack import split_diff

    if not patterns:
        return diff, ()
    kept: list[str] = []
    ignored: list[str] = []
    for part in split_diff(diff):
        if part.path and any(fnmatch.fnmatch(part.path, p) for p in patterns):
            ignored.append(part.path)
        else:
            kept.append(part.text)
    return "".join(kept), tuple(ignored)


def base_config(
    git_dir: Path, base: str, runner: Runner, env: dict[str, str], folder: Path
) -> Config:
    """The configuration as the base branch has it (its memfun.toml; never the head's), with
    the inputs over it; the key from the api-key input in its variable."""
    import pygit2

    from memfun_git import config

    root = folder / "base-config"
    root.mkdir()
    repo = pygit2.Repository(str(git_dir))
    try:
        tree = repo[base].peel(pygit2.Tree)
        if "memfun.toml" in tree:
            blob = repo[tree["memfun.toml"].id].peel(pygit2.Blob)
            (root / "memfun.toml").write_bytes(blob.data)
    finally:
        repo.free()
    inputs = runner.inputs
    overrides = {"llm.provider": inputs.provider or None, "llm.model": inputs.model or None}
    # The user's configuration on a runner is nobody's: only memfun.toml and the inputs.
    settings = {k: v for k, v in env.items() if not k.startswith("MEMFUN_")}
    settings["HOME"] = str(folder)
    cfg = config.load(root, environ=settings, overrides=overrides)
    if inputs.api_key and cfg.llm.key_env:
        env[cfg.llm.key_env] = inputs.api_key
    return cfg


def _run_review(ready: _Prepared, env: dict[str, str], lm: Any, pull: dict[str, Any]) -> Review:
    from memfun_git.codemap import around, build
    from memfun_git.gitops.repo import RepoPaths
    from memfun_git.memory.store import recall
    from memfun_git.quality.diffpack import split_diff
    from memfun_git.quality.review import review_change

    fetched, cfg, diff = ready.fetched, ready.cfg, ready.diff
    intent = f"{pull.get('title') or ''}\n\n{pull.get('body') or ''}".strip()
    paths = tuple(p.path for p in split_diff(diff) if p.path)
    repo_paths = RepoPaths(None, fetched.git_dir, fetched.git_dir, bare=True, unborn=False)
    conventions = ""
    if cfg.memory.enabled:
        try:
            conventions = recall(
                repo_paths, intent, base=fetched.base, user_memory=False, environ=env
            ).conventions
        except Exception as exc:  # the review goes on without them
            log.warning("memory was not recalled: %s", exc)
    try:
        context = around(build(fetched.git_dir, commit=fetched.head), paths, 3_000, intent=intent)
    except Exception as exc:  # the review goes on without it
        log.warning("the code map was not built: %s", exc)
        context = ""
    return review_change(
        _session(cfg, env, lm), intent, diff, conventions=conventions, context=context,
        step="action",
    )  # fmt: skip


def _review_body(
    summary: str, planned: Any, unreviewed: tuple[str, ...], ignored: tuple[str, ...]
) -> str:
    from memfun_git.github.comments import render_finding

    lines = [f"**memfun review**: {summary}" if summary else "**memfun review**"]
    if planned.elsewhere:
        lines += ["", "Findings outside the diff's lines:", ""]
        lines += [render_finding(f, inline=False) for f in planned.elsewhere]
    if planned.capped:
        lines += ["", f"{planned.capped} more finding(s) over the max-comments cap are above."]
    if planned.repeated:
        lines += ["", f"{planned.repeated} finding(s) posted on an earlier push are not repeated."]
    if unreviewed:
        lines += ["", f"Not reviewed (over the size limit): {', '.join(unreviewed)}"]
    if ignored:
        lines += ["", f"Not reviewed (paths-ignore): {', '.join(ignored)}"]
    return "\n".join(lines)


def _post(
    api: Api,
    number: int,
    head: str,
    body: str,
    comments: list[dict[str, Any]],
    planned: Any,
    outcome: Outcome,
) -> None:
    """One review; on 422 one comment with the same findings; 403 said, not failed."""
    from memfun_git.github.comments import render_finding

    try:
        api.create_review(number, head, body, comments)
        outcome.notes.append(
            f"Posted a review: {len(comments)} inline comment(s), "
            f"{len(planned.elsewhere)} in its body."
        )
        return
    except ApiRefused as exc:
        if exc.status != 422:
            outcome.notes.append(_refusal(exc))
            return
        log.warning("the review was refused (422), posting one comment instead: %s", exc.message)
    placed = [f for f in outcome.findings if _fingerprinted(f, comments)]
    lines = [body, ""] + [render_finding(f, inline=False) for f in placed]
    try:
        api.comment(number, "\n".join(lines))
        outcome.notes.append("GitHub refused the inline review (422): posted one comment.")
    except ApiRefused as exc:
        outcome.notes.append(_refusal(exc))


def _fingerprinted(finding: Finding, comments: list[dict[str, Any]]) -> bool:
    from memfun_git.github.comments import fingerprint

    mark = fingerprint(finding)
    return any(mark in str(c["body"]) for c in comments)


def _refusal(exc: ApiRefused) -> str:
    if exc.status == 403:
        return (
            "Nothing was posted: the token may not write to this pull request (a fork's pull "
            "request gets a read-only token). The findings are in this summary."
        )
    return f"Nothing was posted: {exc.message}"


# -- reporting ----------------------------------------------------------------------------


def _title(outcome: Outcome) -> str:
    if outcome.verdict == "skipped":
        return f"Not reviewed: {outcome.reason}"
    if outcome.verdict == "error":
        return f"Review failed: {outcome.reason}"
    count = len(outcome.findings)
    blocked = f" ({outcome.reason})" if outcome.verdict == "blocked" else ""
    return f"Reviewed: {count} finding{'s' if count != 1 else ''}{blocked}"


def _markdown(outcome: Outcome) -> str:
    lines = [f"## memfun: {_title(outcome)}", ""]
    if outcome.summary:
        lines += [outcome.summary, ""]
    lines += [f"- {f.render()}" for f in outcome.findings]
    if outcome.findings:
        lines.append("")
    lines += outcome.notes
    return redact("\n".join(lines))


def _report(runner: Runner, outcome: Outcome) -> None:
    write_summary(runner.summary, _markdown(outcome))
    write_outputs(
        runner.output,
        {
            "verdict": outcome.verdict,
            "findings": str(len(outcome.findings)),
            "branch": outcome.branch,
        },
    )
    print(_title(outcome))
    for note in outcome.notes:
        print(note)
