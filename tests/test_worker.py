"""Workers as people run them: `memfun worker` processes in their own clones of one remote (a
local bare repository standing in for it), sharing the queue of a real Redis or NATS server
(or one SQLite file), the local stub server as the model. Ten tasks complete once each with
their branches on the remote; a worker killed with SIGKILL mid-task leaves the task to be
leased again and finished exactly once; a task that keeps failing ends in the dead letter."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.backends.protocols import Lease
from memfun_git.gitops.repo import require_repo
from memfun_git.worker import submit
from tests.backends.conftest import drop
from tests.helpers.require import need_service, need_tool
from tests.helpers.stub_llm import StubLLMServer, StubReply, StubRequest

CLEAN = "SUMMARY: adds the note as asked."
NOTE = re.compile(r"write note (\d+)")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


def _answer(request: StubRequest, slow: set[str], garbage: bool = False) -> StubReply | str:
    """A review: clean. A solve: the note its request asks for (or garbage)."""
    text = request.text
    if "Reply with the `review` text only" in text:
        return CLEAN
    found = NOTE.search(text)
    number = found.group(1) if found else "x"
    if garbage and number == "666":
        return "I will not answer in the format."
    write = f"notes/note-{number}.txt\n<<<<<<< WRITE\nnote {number}\n>>>>>>> WRITE\n"
    if number in slow:
        slow.discard(number)
        return StubReply(f"I write note {number}.\n\n{write}", delay=60)
    return f"I write note {number}.\n\n{write}"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    """A bare remote holding a small project, and a seed clone of it."""
    need_tool("bwrap")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = tmp_path / "seed"
    git(tmp_path, "clone", "-q", str(bare), str(seed))
    (seed / "README.md").write_text("# Notes\n")
    (seed / "notes").mkdir()
    (seed / "notes" / "index.txt").write_text("notes\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "initial")
    git(seed, "push", "-q", "origin", "main")
    return bare


def _env(stub: StubLLMServer, tier: str, namespace: str, **more: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMFUN_")}
    env |= {
        "MEMFUN_LLM_PROVIDER": "custom",
        "MEMFUN_LLM_MODEL": "stub-model",
        "MEMFUN_LLM_BASE_URL": stub.url,
        "MEMFUN_LLM_NUM_RETRIES": "0",
        "MEMFUN_GATE_FIX_ROUNDS": "0",
        "MEMFUN_BACKEND_TIER": tier,
        "MEMFUN_BACKEND_NAMESPACE": namespace,
        "MEMFUN_BACKEND_RETRY_DELAY_SECONDS": "0.2",
    }
    return env | more


def _submit(clone: Path, env: dict[str, str], requests: list[str]) -> list[str]:
    paths = require_repo(clone)
    cfg = config.load(paths.workdir, environ=env)

    async def all_of() -> list[str]:
        return [(await submit(paths, cfg, r)).task_id for r in requests]

    return asyncio.run(all_of())


def _worker(clone: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "memfun_git", "worker", *args],
        cwd=clone,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _status(clone: Path, env: dict[str, str]) -> dict[str, object]:
    import json

    done = subprocess.run(
        [sys.executable, "-m", "memfun_git", "status", "--json"],
        cwd=clone, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(done.stdout)


@pytest.fixture
def namespace() -> Iterator[str]:
    """A namespace of the test's own, dropped from both servers afterwards."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    yield name
    for tier in ("redis", "nats"):
        with contextlib.suppress(Exception):  # a server that is not running holds nothing
            asyncio.run(drop(tier, name))


def _clone(bare: Path, where: Path) -> Path:
    git(where.parent, "clone", "-q", str(bare), str(where))
    return where


@pytest.mark.parametrize("tier", ["redis", "nats"])
def test_two_workers_on_two_clones_finish_ten_tasks_once_each(
    tmp_path: Path, remote: Path, tier: str, namespace: str
) -> None:
    need_service(tier, "127.0.0.1", 6379 if tier == "redis" else 4222)
    first, second = _clone(remote, tmp_path / "a"), _clone(remote, tmp_path / "b")
    with StubLLMServer(responder=lambda r: _answer(r, set())) as stub:
        env = _env(stub, tier, namespace)
        ids = _submit(first, env, [f"write note {n}" for n in range(10)])
        workers = [_worker(clone, env, "--idle-exit", "3") for clone in (first, second)]
        outs = [w.communicate(timeout=240) for w in workers]
        assert [w.returncode for w in workers] == [0, 0], outs
        solves = [r for r in stub.posts if "Reply with the `review` text only" not in r.text]
    assert len(solves) == 10  # each task ran once
    heads = git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads/memfun/")
    assert sorted(heads.split()) == sorted(f"memfun/{i}" for i in ids)
    base = git(remote, "rev-parse", "main")
    for n, task_id in enumerate(ids):
        assert git(remote, "rev-parse", f"memfun/{task_id}^") == base
        assert git(remote, "show", f"memfun/{task_id}:notes/note-{n}.txt") == f"note {n}"
    status = _status(first, env)
    assert (status["depth"], status["done"], status["dead"], status["running"]) == (
        10 - 10,
        10,
        [],
        {},
    )
    done = [re.search(r"(\d+) done", err).group(1) for _, err in outs]  # type: ignore[union-attr]
    assert sum(map(int, done)) == 10


def test_a_worker_killed_mid_task_leaves_it_to_another_which_finishes_it_once(
    tmp_path: Path, remote: Path, namespace: str
) -> None:
    need_service("redis", "127.0.0.1", 6379)
    first, second = _clone(remote, tmp_path / "a"), _clone(remote, tmp_path / "b")
    slow = {"1"}
    with StubLLMServer(responder=lambda r: _answer(r, slow)) as stub:
        env = _env(stub, "redis", namespace, MEMFUN_BACKEND_VISIBILITY_TIMEOUT_SECONDS="3")
        (task_id,) = _submit(first, env, ["write note 1"])
        doomed = _worker(first, env)
        deadline = time.monotonic() + 60
        while not stub.posts and time.monotonic() < deadline:  # it is waiting for the model
            time.sleep(0.1)
        assert stub.posts
        doomed.send_signal(signal.SIGKILL)
        doomed.communicate(timeout=30)
        survivor = _worker(second, env, "--idle-exit", "6")
        _, err = survivor.communicate(timeout=120)
        assert survivor.returncode == 0, err
        assert "1 done" in err
    assert git(remote, "show", f"memfun/{task_id}:notes/note-1.txt") == "note 1"
    assert git(remote, "for-each-ref", "--format=%(refname:short)", "refs/heads/memfun/") == (
        f"memfun/{task_id}"
    )
    status = _status(second, env)
    assert (status["depth"], status["done"], status["dead"]) == (0, 1, [])


def test_a_task_that_keeps_failing_ends_in_the_dead_letter_with_its_error(
    tmp_path: Path, remote: Path, namespace: str
) -> None:
    clone = _clone(remote, tmp_path / "a")
    with StubLLMServer(responder=lambda r: _answer(r, set(), garbage=True)) as stub:
        env = _env(stub, "sqlite", namespace, MEMFUN_BACKEND_MAX_ATTEMPTS="2")
        (poison,) = _submit(clone, env, ["write note 666"])
        (fine,) = _submit(clone, env, ["write note 2"])
        worker = _worker(clone, env, "--idle-exit", "3")
        _, err = worker.communicate(timeout=180)
    assert worker.returncode == 0, err
    status = _status(clone, env)
    assert status["done"] == 1
    (dead,) = status["dead"]  # type: ignore[misc]
    assert (dead["id"], dead["attempts"]) == (poison, 2)
    assert dead["error"].startswith("the model changed nothing: I will not answer in the format.")
    assert git(remote, "rev-parse", "--verify", "-q", f"memfun/{fine}")


def test_what_one_workers_task_learned_is_recalled_by_the_next_task_elsewhere(
    tmp_path: Path, remote: Path, namespace: str
) -> None:
    """The knowledge base: task 1's branch adds a MEMORY.md entry (not merged anywhere);
    task 2, run by a worker on another clone, gets it in its prompt."""
    need_service("redis", "127.0.0.1", 6379)
    first, second = _clone(remote, tmp_path / "a"), _clone(remote, tmp_path / "b")
    lesson = "Notes are numbered from one, never from zero"

    def answer(request: StubRequest) -> StubReply | str:
        if "Reply with the `review` text only" in request.text or "memo" not in request.text:
            return _answer(request, set())
        memory = f"## Conventions\n- [k0numbering 2026-12-04] {lesson}\n"
        return (
            "I write the memo and remember the numbering.\n\n"
            f"notes/memo.txt\n<<<<<<< WRITE\nmemo\n>>>>>>> WRITE\n"
            f".memfun/MEMORY.md\n<<<<<<< WRITE\n{memory}>>>>>>> WRITE\n"
        )

    with StubLLMServer(responder=answer) as stub:
        env = _env(stub, "redis", namespace)
        _submit(first, env, ["write the memo"])
        worker = _worker(first, env, "--idle-exit", "2", "--max-tasks", "1")
        out = worker.communicate(timeout=120)
        assert worker.returncode == 0, out
        _submit(first, env, ["write note 7, numbered as notes are"])
        worker = _worker(second, env, "--idle-exit", "2", "--max-tasks", "1")
        out = worker.communicate(timeout=120)
        assert worker.returncode == 0, out
        solves = [r.text for r in stub.posts if "note 7" in r.text]
    assert solves, "task 2 never asked the model"
    assert lesson in solves[0]
    assert "numbered" not in git(second, "show", "main:README.md")  # learned on a branch only


async def test_a_tasks_log_keeps_every_event_appended_at_once_up_to_its_cap() -> None:
    from memfun_git.backends.inprocess import open_inprocess
    from memfun_git.worker import append_log, read_log

    backend = open_inprocess()
    await asyncio.gather(*(append_log(backend.state, "t1", {"event": f"e{i}"}) for i in range(20)))
    assert sorted(e["event"] for e in await read_log(backend.state, "t1")) == sorted(
        f"e{i}" for i in range(20)
    )
    for i in range(230):
        await append_log(backend.state, "t2", {"event": f"e{i}"})
    kept = await read_log(backend.state, "t2")
    assert [e["event"] for e in kept] == [f"e{i}" for i in range(30, 230)]
    assert all(isinstance(e["at"], float) for e in kept)
    assert await read_log(backend.state, "none") == []


class _Runner:
    """A job runner whose run and deliver do what the test says (the worker is under test)."""

    def __init__(self, run: object = None, deliver: object = None) -> None:
        self.runs: list[str] = []
        self.delivered: list[str] = []
        self.failures: list[str] = []
        self._run, self._deliver = run, deliver

    def check_ready(self) -> None:
        pass

    def info(self) -> dict[str, object]:
        return {"jobs": "test"}

    def run(self, lease: Lease, shared: object) -> dict[str, object]:
        self.runs.append(lease.task_id)
        if isinstance(self._run, BaseException):
            raise self._run
        return {"ok": True}

    def deliver(self, lease: Lease, result: dict[str, object]) -> dict[str, object]:
        self.delivered.append(lease.task_id)
        if isinstance(self._deliver, BaseException):
            raise self._deliver
        return {"branch": f"memfun/{lease.task_id}"}

    def gave_up(self, lease: Lease, error: str) -> None:
        self.failures.append(error)


def _cfg(**more: str) -> config.Config:
    env = {"MEMFUN_BACKEND_TIER": "in-process", "MEMFUN_BACKEND_MAX_ATTEMPTS": "2",
           "MEMFUN_BACKEND_RETRY_DELAY_SECONDS": "0", "HOME": "/nonexistent", **more}  # fmt: skip
    return config.load(None, environ=env)


async def test_a_bug_in_a_job_fails_that_job_not_the_worker() -> None:
    from memfun_git.backends.inprocess import open_inprocess
    from memfun_git.worker import WorkerStats
    from memfun_git.worker import _handle as handle  # pyright: ignore[reportPrivateUsage]

    backend = open_inprocess(max_attempts=1)
    runner = _Runner(run=KeyError("refs/heads/main"))
    await backend.queue.enqueue({"request": "x"}, task_id="t1")
    lease = await backend.queue.lease("w1")
    assert lease is not None
    stats = WorkerStats()
    await handle(backend, _cfg(), runner, "w1", lease, stats)  # type: ignore[arg-type]
    assert stats.failed == 1
    (dead,) = await backend.queue.dead()
    assert dead.error == "internal error: KeyError: 'refs/heads/main'"
    assert runner.failures == [dead.error]


async def test_a_delivering_claim_is_taken_over_only_from_a_worker_that_is_gone() -> None:
    from memfun_git.backends.inprocess import open_inprocess
    from memfun_git.worker import WorkerStats
    from memfun_git.worker import _handle as handle  # pyright: ignore[reportPrivateUsage]

    backend = open_inprocess()
    cfg = _cfg(MEMFUN_BACKEND_VISIBILITY_TIMEOUT_SECONDS="1")
    claim = json.dumps({"state": "delivering", "worker": "w-alive"}).encode()
    await backend.state.put("result/t1", claim)
    await backend.agents.register("w-alive", {}, ttl=60)
    await backend.queue.enqueue({"request": "x"}, task_id="t1")
    lease = await backend.queue.lease("w2")
    assert lease is not None
    runner = _Runner()

    async def alive_one_finishes() -> None:
        await asyncio.sleep(0.6)
        done = json.dumps({"state": "done", "worker": "w-alive"}).encode()
        await backend.state.put("result/t1", done)

    stats = WorkerStats()
    await asyncio.gather(
        handle(backend, cfg, runner, "w2", lease, stats),  # type: ignore[arg-type]
        alive_one_finishes(),
    )
    assert runner.delivered == []  # it waited for the live deliverer, which finished
    assert stats.duplicates == 1

    gone = json.dumps({"state": "delivering", "worker": "w-gone"}).encode()
    await backend.state.put("result/t2", gone)
    await backend.queue.enqueue({"request": "y"}, task_id="t2")
    lease = await backend.queue.lease("w2")
    assert lease is not None
    await handle(backend, cfg, runner, "w2", lease, stats)  # type: ignore[arg-type]
    assert runner.delivered == ["t2"]  # its claimant is not live: taken over
    record = json.loads(await backend.state.get("result/t2") or b"{}")
    assert (record["state"], record["worker"]) == ("done", "w2")
