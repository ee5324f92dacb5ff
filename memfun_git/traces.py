"""Each task's trace: every model call's prompt, answer, usage and time, and every event of
the task, redacted, kept in the backend's store; its summary as a git note.

- `TraceCollector` is an event sink the engine subscribes for every task: each event as a
  small JSON record stamped with the seconds since the task began (the model's call events
  are left out: the calls themselves are in the trace, from the session's usage records).
- `build_trace(result, events, usage)` is the whole trace as one JSON value: the task, its
  outcome, usage per step, the calls (step, start, seconds, tokens, cost, finish reason,
  prompt, answer) and the events; every string redacted (`redact_value`). A trace larger than
  `MAX_TRACE_CHARS` keeps its calls' heads and tails and says what it cut.
- `save_trace` puts it under `trace/<task id>` in the configured tier's store (the same store
  as the task records: `<git-common-dir>/memfun/memfun.db` by default) for `TRACE_DAYS`, and
  marks the task's record `traced`; `load_trace` reads it back; `traced_tasks` lists the
  traced tasks from their records (without reading each trace).
- `note_trace(repo, trace)` adds the summary (`summary_text`) to the note of the task's last
  commit (after the gate's own note of that commit), or notes its kept attempt, under
  `refs/notes/memfun`: `git log --notes=memfun` and `memfun show` show it. Only that notes ref
  is written; the user's branches, index and tree are not touched.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from memfun_git.llm.meter import TRACE_CHARS
from memfun_git.redact import redact, redact_value

if TYPE_CHECKING:
    import pygit2

    from memfun_git.events import Event
    from memfun_git.llm.usage import Usage
    from memfun_git.records import Records
    from memfun_git.tasks import TaskResult

__all__ = [
    "MAX_TRACE_CHARS",
    "TRACE_DAYS",
    "TraceCollector",
    "build_trace",
    "load_trace",
    "note_trace",
    "save_trace",
    "summary_text",
    "traced_tasks",
]

TRACE_DAYS = 30
MAX_TRACE_CHARS = 4_000_000
"""A trace's JSON is kept under this size (a shared tier's server limits a value's size)."""
_KEPT_WHEN_CUT = 4_000
_LEFT_OUT = frozenset({"TaskFinished", "CallStarted", "CallFinished"})


class TraceCollector:
    """An event sink keeping each event of a task as a JSON record."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: Event) -> None:
        kind = type(event).__name__
        if kind in _LEFT_OUT or not dataclasses.is_dataclass(event):
            return
        fields = json.loads(json.dumps(dataclasses.asdict(event), default=str))
        self.events.append({"at": round(time.monotonic() - self.started, 3), "event": kind,
                            **fields})  # fmt: skip


def build_trace(result: TaskResult, events: list[dict[str, Any]], usage: Usage) -> dict[str, Any]:
    """The task's whole trace, redacted (see the module)."""
    task = result.task
    calls = [
        {
            "step": r.step,
            "started": round(r.started, 3),
            "seconds": round(r.seconds, 3),
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cost_usd": r.cost,
            "finish_reason": r.finish_reason,
            "prompt": r.prompt,
            "answer": r.answer,
        }
        for r in usage.records
    ]
    trace: dict[str, Any] = {
        "id": task.id,
        "request": task.request,
        "origin": task.origin,
        "tier": task.tier,
        "status": result.status,
        "error": result.error,
        "branch": result.branch,
        "base": result.base,
        "commits": [c.as_dict() for c in result.commits],
        "attempt": result.attempt,
        "summary": result.summary,
        "seconds": round(result.seconds, 3),
        "usage": result.usage.as_dict(),
        "calls": calls,
        "events": events,
        "written": time.time(),
    }
    trace = redact_value(trace)
    for call in trace["calls"]:  # redacted first, then cut: no secret is split by the cut
        call["prompt"], call["answer"] = call["prompt"][:TRACE_CHARS], call["answer"][:TRACE_CHARS]
    _fit(trace)
    return trace


def _fit(trace: dict[str, Any]) -> None:
    """Cut the calls' prompts and answers to their heads and tails until the trace fits."""
    size = len(json.dumps(trace))
    if size <= MAX_TRACE_CHARS:
        return
    for call in sorted(trace["calls"], key=lambda c: -len(c["prompt"]) - len(c["answer"])):
        for key in ("prompt", "answer"):
            text: str = call[key]
            if len(text) > 2 * _KEPT_WHEN_CUT:
                cut = len(text) - 2 * _KEPT_WHEN_CUT
                call[key] = (f"{text[:_KEPT_WHEN_CUT]}\n… ({cut:,} characters left out of the "
                             f"trace) …\n{text[-_KEPT_WHEN_CUT:]}")  # fmt: skip
                size -= cut
        if size <= MAX_TRACE_CHARS:
            return
    trace["events"] = trace["events"][-200:]


def save_trace(store: Records, trace: Mapping[str, Any]) -> None:
    """Keep `trace` for TRACE_DAYS and mark its task's record as traced."""
    store.put(f"trace/{trace['id']}", dict(trace), ttl=TRACE_DAYS * 86_400)
    record = store.get(f"task/{trace['id']}")
    if record is not None:
        store.put(f"task/{trace['id']}", {**record.value, "traced": True})


def load_trace(store: Records, task_id: str) -> dict[str, Any] | None:
    found = store.get(f"trace/{task_id}")
    return found.value if found is not None else None


def traced_tasks(store: Records, clone: str | None = None) -> list[dict[str, Any]]:
    """The task records that have a trace, newest first (of `clone` only, when given)."""
    records = [r.value for r in store.items("task/") if r.value.get("traced")]
    if clone is not None:
        records = [r for r in records if r.get("clone") in (None, clone)]
    return sorted(records, key=lambda r: -float(r.get("updated") or 0))


def summary_text(trace: Mapping[str, Any]) -> str:
    """A few lines saying what the task did and cost, for the git note."""
    usage: Mapping[str, Any] = trace.get("usage") or {}
    steps: dict[str, int] = {}
    for call in trace.get("calls") or []:
        steps[call["step"]] = steps.get(call["step"], 0) + 1
    lines = [
        f"memfun task {trace['id']}: {trace['status']} in {float(trace['seconds']):.1f} s",
        f"request: {trace['request'].splitlines()[0] if trace['request'] else ''}",
    ]
    if trace.get("error"):
        lines.append(f"error: {trace['error']}")
    climbs = [e["detail"] for e in trace.get("events") or []
              if e.get("event") == "StepStarted" and e.get("step") == "escalate"]  # fmt: skip
    lines += [f"escalated: {c}" for c in climbs]
    per_step = ", ".join(f"{s} {n}" for s, n in steps.items())
    lines.append(
        f"model calls: {usage.get('calls', 0)}"
        + (f" ({per_step})" if per_step else "")
        + f"; tokens {usage.get('input_tokens', 0):,} in, {usage.get('output_tokens', 0):,} out"
        + f"; cost ${float(usage.get('cost_usd') or 0):.4f}"
    )
    lines.append(f"trace: memfun traces show {trace['id']}")
    return redact("\n".join(lines)) + "\n"


def note_trace(
    repo: pygit2.Repository, trace: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> str | None:
    """Write the summary as a note on the task's last commit, else on its kept attempt;
    the annotated commit's id, or None when the task has neither."""
    import pygit2

    from memfun_git.gitops.commit import NOTES_REF, identity

    commits: list[Mapping[str, Any]] = trace.get("commits") or []
    target = commits[-1]["oid"] if commits else None
    if target is None and trace.get("attempt"):
        try:
            target = str(repo.revparse_single(str(trace["attempt"])).peel(pygit2.Commit).id)
        except (KeyError, ValueError, pygit2.GitError):
            target = None
    if target is None:
        return None
    text = summary_text(trace)
    try:  # the gate's note of that commit stays: the task's summary goes after it
        kept = str(repo.lookup_note(target, NOTES_REF).message).rstrip("\n")
    except KeyError:
        kept = ""
    if kept and text.splitlines()[0] not in kept:
        text = f"{kept}\n\n{text}"
    elif kept:
        text = kept[: kept.index(text.splitlines()[0])] + text
    author, committer = identity(repo, environ)
    repo.create_note(text, author, committer, target, NOTES_REF, True)
    return target
