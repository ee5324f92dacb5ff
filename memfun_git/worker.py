"""`memfun worker`: tasks leased from the configured tier's queue, run by the engine, their
branches pushed to the clone's remote; `submit` puts a task in the queue.

A worker works in its own clone of the project (one per machine or more): it fetches the
remote before each task (the task names its base commit), runs `Engine.run` with the task's
request, and pushes the task's branch to the remote as `memfun/<task id>`. Delivery is at
least once: a worker that dies leaves its lease to expire and the task is leased again
(each attempt works on a branch of its own, `memfun/<task id>-a<attempt>`, so a dead
attempt's leftovers never block the next). Completion is idempotent: a finished task claims
`result/<task id>` with compare-and-set before it delivers (pushes, opens a pull request), so a
task finished twice records one result and delivers once; the loser acks and drops its own. A
claim left "delivering" by a worker that died is taken over by the worker holding the task's
next lease, whose delivery is idempotent (a forced push of the task's own branch; the App
reuses an open pull request of that branch). What a job is and how it is delivered is a
`JobRunner`: `GitTasks` here (`memfun submit`), `IssueTasks` for the GitHub App. A failed
attempt is nacked with a growing delay and dies after `[backend] max_attempts` with its error
(the dead letter).
While a task runs, the worker extends its lease and heartbeats its registration; its progress
is published on the event bus as `task.<id>`. What a task's branch learned (new MEMORY.md
entries) goes to the tier's knowledge base, and each task recalls what the knowledge base holds
for its request, so workers learn from each other before branches are merged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from memfun_git.errors import BackendUnavailable, MemfunError, RepoError

if TYPE_CHECKING:
    from memfun_git.backends.protocols import Backend, KnowledgeBase, Lease, StateStore
    from memfun_git.config import Config
    from memfun_git.gitops.repo import RepoPaths
    from memfun_git.memory.entries import Entry

__all__ = [
    "GitTasks",
    "JobRunner",
    "Submitted",
    "WorkerStats",
    "append_log",
    "read_log",
    "run_worker",
    "submit",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Submitted:
    task_id: str
    base: str


@dataclass
class WorkerStats:
    done: int = 0
    failed: int = 0
    duplicates: int = 0


async def submit(
    paths: RepoPaths, cfg: Config, request: str, *, base: str = "HEAD", task_id: str = ""
) -> Submitted:
    """Queue `request` from `base` (resolved to a commit here, so every worker starts from the
    same one; it must be on the remote for workers on other clones)."""
    from memfun_git.backends import open_backend
    from memfun_git.gitops.git import run_git
    from memfun_git.tasks import new_task_id

    if not request.strip():
        raise MemfunError("the request is empty", 'say what to do, e.g. "add a --verbose flag"')
    cwd = paths.workdir or paths.common_dir
    commit = run_git(["rev-parse", "--verify", f"{base}^{{commit}}"], cwd=cwd).stdout.strip()
    task_id = task_id or new_task_id(request)
    backend = await open_backend(cfg.backend, paths.common_dir)
    try:
        await backend.queue.enqueue({"request": request, "base": commit}, task_id=task_id)
        await _publish(backend, f"task.{task_id}", {"event": "queued", "base": commit})
    finally:
        await backend.close()
    return Submitted(task_id, commit)


class JobRunner(Protocol):
    """What a worker does with one kind of job, in two phases: `run` (the engine; may fail
    and be retried) and `deliver` (push, open a pull request; done once, after the task's
    result was claimed). Both run in a thread; `run` raises nothing but MemfunError."""

    def check_ready(self) -> None:
        """Refuse (UsageError, LLMNotConfigured) what would fail every job."""
        ...

    def info(self) -> dict[str, Any]:
        """How the worker describes itself in the registry."""
        ...

    def run(self, lease: Lease, shared: Sequence[Entry]) -> dict[str, Any]:
        """The task's engine run: {"ok": True, ...} or {"ok": False, "error": ...}."""
        ...

    def deliver(self, lease: Lease, result: dict[str, Any]) -> dict[str, Any]:
        """Publish the result (idempotent: a second worker may deliver a task whose first
        deliverer died); what to add to the result's record."""
        ...

    def gave_up(self, lease: Lease, error: str) -> None:
        """The task's last attempt failed (it goes to the dead letter): say so."""
        ...


async def run_worker(
    paths: RepoPaths | None,
    cfg: Config,
    *,
    environ: Mapping[str, str] | None = None,
    remote: str = "origin",
    lm: Any = None,
    max_tasks: int | None = None,
    idle_exit: float | None = None,
    worker_id: str = "",
    runner: JobRunner | None = None,
    state_dir: Path | None = None,
) -> WorkerStats:
    """Lease and run tasks until stopped (Ctrl-C, SIGTERM), `max_tasks` were handled, or the
    queue stayed empty for `idle_exit` seconds. `runner`: what to do with a job (default: a
    `memfun submit` request, run in the clone `paths` and pushed to `remote`). Without
    `paths`, the sqlite tier's file is under `state_dir` (default: `./.memfun`)."""
    from memfun_git.backends import open_backend

    env = dict(os.environ if environ is None else environ)
    if runner is None:
        if paths is None:
            raise RepoError("memfun worker runs in a clone of the project", "cd into one")
        runner = GitTasks(paths, cfg, env, remote, lm)
    runner.check_ready()
    worker = worker_id or f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    state = paths.common_dir if paths else state_dir or Path.cwd() / ".memfun"
    backend = await open_backend(cfg.backend, state)
    stats = WorkerStats()
    ttl = max(10.0, cfg.backend.visibility_timeout_seconds)
    info = {"host": socket.gethostname(), "pid": os.getpid(), **runner.info()}
    await backend.agents.register(worker, info, ttl=ttl)
    idle_since = time.monotonic()

    async def heartbeat() -> None:
        if not await backend.agents.heartbeat(worker):
            await backend.agents.register(worker, info, ttl=ttl)

    try:
        while max_tasks is None or stats.done + stats.failed + stats.duplicates < max_tasks:
            lease = await _retrying(lambda: backend.queue.lease(worker, wait=1.0), "lease")
            await _retrying(heartbeat, "heartbeat")
            if lease is None:
                if idle_exit is not None and time.monotonic() - idle_since >= idle_exit:
                    break
                continue
            await _handle(backend, cfg, runner, worker, lease, stats)
            idle_since = time.monotonic()
    finally:
        with contextlib.suppress(Exception):  # the server may be gone: it forgets us anyway
            await backend.agents.unregister(worker)
        with contextlib.suppress(Exception):
            await backend.close()
    return stats


class GitTasks:
    """`memfun submit` requests: run in this clone from the task's base commit (fetched from
    `remote`), the branch pushed to `remote` as `memfun/<task id>`."""

    def __init__(
        self, paths: RepoPaths, cfg: Config, env: dict[str, str], remote: str, lm: Any
    ) -> None:
        self.paths = paths
        self.cfg = cfg
        self.env = env
        self.remote = remote
        self.lm = lm

    def check_ready(self) -> None:
        """What would fail every task is said before the first lease: no remote, no model."""
        from memfun_git.errors import UsageError
        from memfun_git.gitops.git import run_git

        cwd = self.paths.workdir or self.paths.common_dir
        found = run_git(["remote", "get-url", self.remote], cwd=cwd, environ=self.env, check=False)
        if found.returncode != 0:
            raise UsageError(
                f"this clone has no remote named {self.remote!r} to fetch bases from and push to",
                "add it (git remote add NAME URL), or pass --remote NAME",
            )
        if self.lm is None:
            from memfun_git.llm.lm import build_lm

            build_lm(self.cfg.llm, self.env)  # LLMNotConfigured: no model, or no key for it

    def info(self) -> dict[str, Any]:
        return {"repo": str(self.paths.workdir), "jobs": "tasks"}

    def run(self, lease: Lease, shared: Sequence[Entry]) -> dict[str, Any]:
        return _run_task(self.paths, self.cfg, self.env, self.remote, self.lm, lease, shared)

    def deliver(self, lease: Lease, result: dict[str, Any]) -> dict[str, Any]:
        branch = f"memfun/{lease.task_id}"
        _push(self.paths, self.env, self.remote, str(result["local_branch"]), lease.task_id)
        return {"branch": branch}

    def gave_up(self, lease: Lease, error: str) -> None:
        """The dead letter holds the error; `memfun status` shows it."""


_OUTAGE = 300.0
"""Seconds a worker keeps retrying a server that does not answer before it stops."""
_NOT_TRANSIENT = (TypeError, AttributeError, NameError, AssertionError, MemfunError)


async def _retrying(call: Callable[[], Awaitable[T]], what: str) -> T:
    """`call()`, again after a pause (0.5 s, doubling to 5 s) while the server does not answer
    (a restart: the clients reconnect), for at most `_OUTAGE` seconds."""
    pause, gave_up = 0.5, time.monotonic() + _OUTAGE
    while True:
        try:
            return await call()
        except _NOT_TRANSIENT:
            raise
        except Exception as exc:
            if time.monotonic() >= gave_up:
                raise BackendUnavailable(
                    f"the backend did not answer for {_OUTAGE:.0f} s ({what}: {exc})",
                    "check the server, then start the worker again",
                ) from None
            log.warning("the backend did not answer (%s: %s); retrying", what, exc)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)


async def _handle(
    backend: Backend, cfg: Config, runner: JobRunner, worker: str, lease: Lease, stats: WorkerStats
) -> None:
    task_id = lease.task_id
    topic = f"task.{task_id}"
    key = f"result/{task_id}"
    if _delivered(await _retrying(lambda: backend.state.get(key), "read")):
        await _retrying(lambda: backend.queue.ack(lease), "ack")  # a delivery after the result
        stats.duplicates += 1
        return
    running = f"running/{task_id}"
    await _retrying(
        lambda: backend.state.put(running, worker.encode(), ttl=_lease_ttl(cfg)), "record"
    )
    await _publish(backend, topic, {"event": "started", "worker": worker, "attempt": lease.attempt})
    keeper = asyncio.create_task(_keep(backend, lease, worker, cfg))
    try:
        await _attempt(backend, cfg, runner, worker, lease, stats)
    finally:
        keeper.cancel()
        await _retrying(lambda: backend.state.delete(running), "record")


async def _attempt(
    backend: Backend, cfg: Config, runner: JobRunner, worker: str, lease: Lease, stats: WorkerStats
) -> None:
    task_id = lease.task_id
    topic = f"task.{task_id}"
    key = f"result/{task_id}"
    query = str(lease.payload.get("request") or lease.payload.get("instruction") or "")
    knowledge = backend.knowledge.scoped(str(lease.payload.get("repo") or ""))
    shared = await _shared_memory(knowledge, cfg, query)
    result = await _guarded(lambda: runner.run(lease, shared), task_id, "run")
    if not result["ok"]:
        await _fail(backend, cfg, runner, lease, str(result["error"]), stats)
        return
    # Claim the result before delivering it: one worker delivers. A claim left "delivering" is
    # taken over only once its worker is no longer live (it died delivering); a live one is
    # waited for (it may yet finish, or release its claim when it fails).
    record = {**result, "state": "delivering", "worker": worker, "at": time.time()}
    ours = json.dumps(record).encode()
    claimed = await _claim(backend, cfg, key, ours, worker)
    if not claimed:
        await _retrying(lambda: backend.queue.ack(lease), "ack")  # another worker delivered
        stats.duplicates += 1
        return
    delivered = await _guarded(lambda: runner.deliver(lease, result), task_id, "deliver")
    if delivered.get("ok") is False:
        if await _retrying(lambda: backend.state.get(key), "read") == ours:
            await _retrying(lambda: backend.state.delete(key), "record")  # ours to release
        why = f"delivery failed: {delivered['error']}"
        await _fail(backend, cfg, runner, lease, why, stats)
        return
    done = json.dumps({**record, **delivered, "state": "done", "at": time.time()}).encode()
    if not await _retrying(lambda: backend.state.cas(key, ours, done), "cas"):
        log.warning("the result of %s was claimed by another worker meanwhile", task_id)
    await _retrying(lambda: backend.queue.ack(lease), "ack")
    await _share_learned(knowledge, result.get("learned", []))
    await _publish(backend, topic, {"event": "done", **delivered})
    stats.done += 1


async def _guarded(call: Callable[[], dict[str, Any]], task_id: str, what: str) -> dict[str, Any]:
    """`call()` in a thread; a MemfunError, or any other exception (a bug must not kill the
    worker, nor every worker that leases the task after it), is {"ok": False, "error"}."""
    try:
        return await asyncio.to_thread(call)
    except MemfunError as exc:
        return {"ok": False, "error": exc.message}
    except Exception as exc:
        log.exception("%s of %s failed inside memfun", what, task_id)
        return {"ok": False, "error": f"internal error: {type(exc).__name__}: {exc}"}


async def _claim(backend: Backend, cfg: Config, key: str, ours: bytes, worker: str) -> bool:
    """Claim `key` for delivery; False when the task was delivered by another worker."""
    deadline = time.monotonic() + 2 * max(1.0, cfg.backend.visibility_timeout_seconds)
    while True:
        raw = await _retrying(lambda: backend.state.get(key), "read")
        if _delivered(raw):
            return False
        owner = _owner(raw)
        if owner and owner != worker and time.monotonic() < deadline:
            live = {a.agent_id for a in await _retrying(backend.agents.live, "read")}
            if owner in live:
                await asyncio.sleep(0.5)  # its deliverer is alive: let it finish or release
                continue
        if await _retrying(lambda seen=raw: backend.state.cas(key, seen, ours), "cas"):
            return True


def _owner(raw: bytes | None) -> str:
    if raw is None:
        return ""
    try:
        return str(json.loads(raw).get("worker") or "")
    except (ValueError, AttributeError):
        return ""


async def _fail(
    backend: Backend, cfg: Config, runner: JobRunner, lease: Lease, error: str, stats: WorkerStats
) -> None:
    delay = cfg.backend.retry_delay_seconds * 2 ** (lease.attempt - 1)
    retried = await _retrying(lambda: backend.queue.nack(lease, error, delay=delay), "nack")
    event = {"event": "retrying" if retried else "dead", "error": error}
    await _publish(backend, f"task.{lease.task_id}", event)
    if not retried:
        try:
            await asyncio.to_thread(runner.gave_up, lease, error)
        except MemfunError as exc:
            log.warning("the failure of %s was not reported: %s", lease.task_id, exc.message)
    stats.failed += 1


def _delivered(raw: bytes | None) -> bool:
    """A result record that is final (records of earlier versions have no state: final)."""
    if raw is None:
        return False
    try:
        return json.loads(raw).get("state", "done") == "done"
    except (ValueError, AttributeError):
        return True


async def _shared_memory(knowledge: KnowledgeBase, cfg: Config, request: str) -> list[Entry]:
    """What the tier's knowledge base holds for the request: entries other workers' tasks
    learned, before their branches are merged (best effort: a task never fails for memory)."""
    if not cfg.memory.enabled or not request:
        return []
    try:
        return await knowledge.search(request, cfg.memory.max_recall)
    except Exception as exc:
        log.warning("the knowledge base was not searched: %s", exc)
        return []


async def _share_learned(knowledge: KnowledgeBase, learned: object) -> None:
    """Put what the task's branch learned (MEMORY.md entries, as dicts) in the knowledge
    base."""
    from memfun_git.memory.entries import Entry

    if not isinstance(learned, list) or not learned:
        return
    try:
        await knowledge.add([Entry(**e) for e in cast("list[dict[str, str]]", learned)])
    except Exception as exc:
        log.warning("what the task learned was not shared: %s", exc)


async def _publish(backend: Backend, topic: str, event: dict[str, Any]) -> None:
    """Progress for displays, live on the event bus and kept in the task's log: best effort
    (a server restarting loses it, nothing else)."""
    try:
        await backend.events.publish(topic, event)
        await append_log(backend.state, topic.removeprefix("task."), event)
    except Exception as exc:
        log.warning("progress of %s was not published: %s", topic, exc)


_LOG_KEPT = 200
_LOG_SECONDS = 7 * 86_400


async def append_log(state: StateStore, task_id: str, event: dict[str, Any]) -> None:
    """Add `event` (stamped with the time) to the task's log, `log/<task id>`: the last 200
    events, for a week (the status page shows it; the event bus keeps no history)."""
    key = f"log/{task_id}"
    stamped = {"at": round(time.time(), 3), **event}
    for _ in range(8):  # another writer may come between the read and the write
        raw = await state.get(key)
        entries: list[Any] = json.loads(raw) if raw else []
        entries = [*entries, stamped][-_LOG_KEPT:]
        if await state.cas(key, raw, json.dumps(entries).encode(), ttl=_LOG_SECONDS):
            return
    log.warning("the log of %s is too busy: an event was left out", task_id)


async def read_log(state: StateStore, task_id: str) -> list[dict[str, Any]]:
    raw = await state.get(f"log/{task_id}")
    try:
        found = json.loads(raw) if raw else []
    except ValueError:
        return []
    return [e for e in found if isinstance(e, dict)] if isinstance(found, list) else []


def _lease_ttl(cfg: Config) -> float:
    return max(10.0, cfg.backend.visibility_timeout_seconds)


async def _keep(backend: Backend, lease: Lease, worker: str, cfg: Config) -> None:
    """Extend the lease and the registration while the task runs (through outages)."""
    every = max(0.2, cfg.backend.visibility_timeout_seconds / 3)
    while True:
        await asyncio.sleep(every)
        try:
            await backend.queue.extend(lease)
            await backend.agents.heartbeat(worker)
            running = f"running/{lease.task_id}"
            await backend.state.put(running, worker.encode(), ttl=_lease_ttl(cfg))
        except Exception as exc:  # the next round tries again
            log.warning("the lease was not extended: %s", exc)


def _run_task(
    paths: RepoPaths,
    cfg: Config,
    env: dict[str, str],
    remote: str,
    lm: Any,
    lease: Lease,
    shared: Sequence[Entry] = (),
) -> dict[str, Any]:
    from memfun_git.engine import Engine
    from memfun_git.gitops.git import run_git
    from memfun_git.memory.store import branch_entries
    from memfun_git.tasks import Task

    cwd = paths.workdir or paths.common_dir
    base = str(lease.payload.get("base") or "")
    request = str(lease.payload.get("request") or "")
    run_git(["fetch", "--quiet", "--no-tags", remote], cwd=cwd, environ=env, check=False)
    known = run_git(["cat-file", "-e", f"{base}^{{commit}}"], cwd=cwd, environ=env, check=False)
    if known.returncode != 0:
        return {"ok": False, "error": f"the base commit {base[:12]} is not on {remote}"}
    attempt_id = f"{lease.task_id}-a{lease.attempt}"
    task = Task(attempt_id, request, Path(cwd), base=base, origin="worker")
    result = Engine(cfg, lm=lm, environ=env, shared_memory=shared).run(task)
    if not result.ok:
        return {"ok": False, "error": result.error or result.status}
    learned = branch_entries(paths, base, result.branch) if cfg.memory.enabled else []
    return {
        "ok": True,
        "local_branch": result.branch,
        "commits": [c.oid for c in result.commits],
        "summary": result.summary,
        "learned": [asdict(e) for e in learned],
    }


def _push(paths: RepoPaths, env: dict[str, str], remote: str, local: str, task_id: str) -> None:
    from memfun_git.gitops.git import run_git

    cwd = paths.workdir or paths.common_dir
    done = run_git(
        # Forced: the branch is the task's, and a worker that died delivering may have left it.
        ["push", "--quiet", remote, f"+refs/heads/{local}:refs/heads/memfun/{task_id}"],
        cwd=cwd,
        environ=env,
        check=False,
    )
    if done.returncode != 0:
        raise RepoError(f"git push to {remote} failed: {done.stderr.strip()[-300:]}", "")
