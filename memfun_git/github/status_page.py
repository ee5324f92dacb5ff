"""The App's read-only status page for its operator (as Atlantis shows its jobs): the queue's
depth, the live workers, the recent tasks with their state, issue, pull request, tokens and
failure reason, and each task's event log.

Everything comes from the tier the App and its workers share: a task's log (`log/<id>`,
written by the server when it queues a job and by the worker at each step), its result
(`result/<id>`), whether a worker holds it (`running/<id>`) and the dead letter. The page is
plain HTML with every value escaped (titles and reasons come from GitHub users), no script,
and refreshes itself every 10 seconds.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memfun_git.backends.protocols import Backend

__all__ = ["StatusTask", "render_status", "status_tasks"]

_RECENT = 50


@dataclass
class StatusTask:
    task_id: str
    state: str
    """queued, running, retrying, done, skipped, failed."""
    repo: str = ""
    number: int | None = None
    trigger: str = ""
    requester: str = ""
    pull_request: str = ""
    tokens: int = 0
    reason: str = ""
    worker: str = ""
    updated: float = 0.0
    events: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])


async def status_tasks(backend: Backend, limit: int = _RECENT) -> list[StatusTask]:
    """The most recently active tasks, newest first."""
    from memfun_git.worker import read_log

    dead = {d.task_id: d for d in await backend.queue.dead()}
    found: list[StatusTask] = []
    for key in await backend.state.keys("log/"):
        task_id = key.removeprefix("log/")
        events = await read_log(backend.state, task_id)
        if not events:
            continue
        task = StatusTask(task_id, "queued", events=events, updated=float(events[-1]["at"]))
        for event in events:
            _apply(task, event)
        raw = await backend.state.get(f"result/{task_id}")
        result: dict[str, Any] = json.loads(raw) if raw else {}
        running = await backend.state.get(f"running/{task_id}")
        if result.get("state", "") == "done":
            task.state = "skipped" if result.get("skipped") else "done"
            task.reason = str(result.get("skipped") or "")
            task.pull_request = str(result.get("pull_request") or "")
            task.tokens = int(result.get("tokens") or 0)
        elif task_id in dead:
            task.state, task.reason = "failed", dead[task_id].error
        elif running is not None:
            task.state, task.worker = "running", running.decode(errors="replace")
        found.append(task)
    found.sort(key=lambda t: t.updated, reverse=True)
    return found[:limit]


def _apply(task: StatusTask, event: dict[str, Any]) -> None:
    kind = str(event.get("event", ""))
    if kind == "queued":
        task.repo = str(event.get("repo") or task.repo)
        number = event.get("number")
        task.number = number if isinstance(number, int) else task.number
        task.trigger = str(event.get("trigger") or task.trigger)
        task.requester = str(event.get("requester") or task.requester)
    elif kind == "started":
        task.state, task.worker = "running", str(event.get("worker") or "")
    elif kind == "retrying":
        task.state, task.reason = "retrying", str(event.get("error") or "")
    elif kind == "dead":
        task.state, task.reason = "failed", str(event.get("error") or "")


def render_status(
    depth: int, workers: list[tuple[str, dict[str, Any], float]], tasks: list[StatusTask]
) -> str:
    """The page: `workers` as (id, info, last heartbeat)."""
    e = html.escape
    now = time.time()
    worker_rows = (
        "".join(
            f"<tr><td>{e(wid)}</td><td>{e(str(info.get('host', '')))}</td>"
            f"<td>{now - seen:.0f} s ago</td></tr>"
            for wid, info, seen in workers
        )
        or '<tr><td colspan="3">no live worker</td></tr>'
    )
    task_rows: list[str] = []
    logs: list[str] = []
    for task in tasks:
        issue = f"{task.repo}#{task.number}" if task.number is not None else task.repo
        pull = (
            f'<a href="{e(task.pull_request, quote=True)}">{e(task.pull_request)}</a>'
            if task.pull_request.startswith(("https://", "http://"))
            else ""
        )
        task_rows.append(
            f'<tr class="{e(task.state)}"><td><a href="#log-{e(task.task_id)}">'
            f"{e(task.task_id)}</a></td><td>{e(task.state)}</td><td>{e(issue)}</td>"
            f"<td>{e(task.requester)}</td><td>{pull}</td><td>{task.tokens:,}</td>"
            f"<td>{e(task.reason)}</td></tr>"
        )
        lines = "\n".join(
            f"{time.strftime('%H:%M:%S', time.gmtime(float(ev.get('at', 0))))} "
            + " ".join(f"{k}={v}" for k, v in ev.items() if k != "at")
            for ev in task.events
        )
        logs.append(
            f'<section id="log-{e(task.task_id)}"><h3>{e(task.task_id)}</h3>'
            f"<pre>{e(lines)}</pre></section>"
        )
    rows = "".join(task_rows) or '<tr><td colspan="7">no task yet</td></tr>'
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="10">
<title>memfun App status</title>
<style>
body {{ font-family: sans-serif; margin: 2em; color: #1f2328; }}
table {{ border-collapse: collapse; margin-bottom: 2em; }}
td, th {{ border: 1px solid #d0d7de; padding: 4px 8px; text-align: left; }}
th {{ background: #f6f8fa; }}
tr.failed td {{ background: #ffebe9; }} tr.done td {{ background: #dafbe1; }}
tr.running td {{ background: #ddf4ff; }} tr.retrying td {{ background: #fff8c5; }}
pre {{ background: #f6f8fa; padding: 8px; }}
</style></head><body>
<h1>memfun App</h1>
<p id="depth">Queue depth: <strong>{depth}</strong></p>
<h2>Live workers ({len(workers)})</h2>
<table id="workers"><tr><th>worker</th><th>host</th><th>last heartbeat</th></tr>{worker_rows}
</table>
<h2>Recent tasks ({len(tasks)})</h2>
<table id="tasks"><tr><th>task</th><th>state</th><th>issue</th><th>requester</th>
<th>pull request</th><th>tokens</th><th>reason</th></tr>{rows}</table>
<h2>Event logs</h2>
{"".join(logs)}
</body></html>
"""
