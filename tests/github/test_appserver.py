"""The App's webhook server through its real doors: the ASGI app with its lifespan (httpx's
ASGITransport) and `memfun app serve` (uvicorn on a loopback port), each on a real SQLite
backend in tmp. Every stored payload is signed, posted and answered as routed; what is queued
is exactly the routed jobs, once per delivery."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import signal
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from memfun_git.backends import open_backend
from memfun_git.backends.protocols import Backend, Lease, StateStore
from memfun_git.config import BackendConfig
from memfun_git.errors import BackendUnavailable
from memfun_git.github.appserver import DELIVERY_PREFIX, MAX_BODY_BYTES, AppSettings, create_app
from memfun_git.github.webhook import route, task_id
from tests.helpers.processes import memfun_process, read_until
from tests.helpers.webhooks import CASES, SECRET, TRIGGERS, Case, load, sign

SETTINGS = AppSettings(webhook_secret=SECRET, triggers=TRIGGERS)
STATUS = {"start": 202, "skip": 202, "ignore": 200}


def _sqlite(path: Path) -> BackendConfig:
    return BackendConfig(tier="sqlite", sqlite_path=str(path))


def _headers(body: bytes, event: str, delivery: str, signature: str | None = "") -> dict[str, str]:
    headers = {
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/test",
    }
    if signature is not None:
        headers["X-Hub-Signature-256"] = signature or sign(body)
    return headers


async def _post(
    client: httpx.AsyncClient, case: Case, delivery: str, signature: str | None = ""
) -> httpx.Response:
    body = json.dumps(case.payload).encode()
    return await client.post(
        "/webhook", content=body, headers=_headers(body, case.event, delivery, signature)
    )


async def _drain(backend: Backend) -> list[Lease]:
    leases: list[Lease] = []
    while (lease := await backend.queue.lease("test")) is not None:
        leases.append(lease)
        await backend.queue.ack(lease)
    return leases


@asynccontextmanager
async def _served(
    factory: Callable[[], Awaitable[Backend]],
) -> AsyncGenerator[tuple[httpx.AsyncClient, list[Backend]]]:
    """The app with its lifespan running; the backends it opened."""
    opened: list[Backend] = []

    async def tracked() -> Backend:
        opened.append(await factory())
        return opened[-1]

    app = create_app(SETTINGS, tracked)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as client:
            yield client, opened


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Backend]]:
    async with _served(lambda: open_backend(_sqlite(tmp_path / "app.db"), tmp_path)) as (
        client,
        opened,
    ):
        yield client, opened[0]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_each_payload_is_answered_and_queued_as_routed(
    served: tuple[httpx.AsyncClient, Backend], case: Case
) -> None:
    client, backend = served
    response = await _post(client, case, "72d3162e-cc78-11e3-81ab-4c9367dc0958")
    assert response.status_code == STATUS[case.action], response.text
    answer = response.json()
    assert answer["action"] == case.action
    assert case.reason in answer["reason"]
    leases = await _drain(backend)
    if case.action == "ignore":
        assert leases == []
        assert await backend.state.keys(DELIVERY_PREFIX) == []
        return
    job = route(case.event, "72d3162e-cc78-11e3-81ab-4c9367dc0958", case.payload, TRIGGERS).job
    assert job is not None
    assert [(lease.task_id, lease.payload) for lease in leases] == [(task_id(job), job)]
    assert answer["task_id"] == task_id(job)
    assert ("skip_reason" in job) is (case.action == "skip")


async def test_the_same_delivery_twenty_times_is_one_task(
    served: tuple[httpx.AsyncClient, Backend],
) -> None:
    client, backend = served
    case = next(c for c in CASES if c.name == "comment-command")
    responses = await asyncio.gather(*(_post(client, case, "same-delivery") for _ in range(20)))
    assert sorted(r.status_code for r in responses) == [200] * 19 + [202]
    assert {r.json()["task_id"] for r in responses} == {responses[0].json()["task_id"]}
    assert sum(r.json().get("duplicate", False) for r in responses) == 19
    assert len(await _drain(backend)) == 1
    # Redelivered after the task was done: still nothing queued.
    again = await _post(client, case, "same-delivery")
    assert (again.status_code, again.json()["duplicate"]) == (200, True)
    assert await _drain(backend) == []
    # Another delivery of the same comment (a new event): a task of its own.
    other = await _post(client, case, "another-delivery")
    assert other.status_code == 202
    assert len(await _drain(backend)) == 1


async def test_a_redelivery_racing_the_first_is_answered_with_its_outcome(
    tmp_path: Path,
) -> None:
    """Two requests for one delivery both find no record; the second's compare-and-set loses,
    its enqueue was the same task id (kept once), and it answers with the first's outcome."""

    class Late:
        """A StateStore that has not seen the record yet on the first read."""

        def __init__(self, inner: StateStore) -> None:
            self.inner, self.blind = inner, True

        async def get(self, key: str) -> bytes | None:
            if self.blind:
                self.blind = False
                return None
            return await self.inner.get(key)

        async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
            await self.inner.put(key, value, ttl=ttl)

        async def cas(
            self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
        ) -> bool:
            return await self.inner.cas(key, expected, value, ttl=ttl)

        async def delete(self, key: str) -> bool:
            return await self.inner.delete(key)

        async def keys(self, prefix: str) -> list[str]:
            return await self.inner.keys(prefix)

    async def late_backend() -> Backend:
        backend = await open_backend(_sqlite(tmp_path / "app.db"), tmp_path)
        backend.state = Late(backend.state)
        return backend

    case = next(c for c in CASES if c.name == "closed-issue")
    async with _served(late_backend) as (client, opened):
        await opened[0].state.put(DELIVERY_PREFIX + "d1", b'{"action": "skip", "task_id": "t"}')
        response = await _post(client, case, "d1")
        assert response.status_code == 200
        assert response.json() == {"action": "skip", "task_id": "t", "duplicate": True}
        assert len(await _drain(opened[0])) == 1


@pytest.mark.parametrize(
    "signature",
    [None, "sha256=" + "0" * 64, sign(b"other body"), "sha1=abc"],
    ids=["missing", "zeros", "other-body", "sha1"],
)
async def test_a_bad_signature_is_401_and_starts_nothing(
    served: tuple[httpx.AsyncClient, Backend], signature: str | None
) -> None:
    client, backend = served
    case = next(c for c in CASES if c.name == "comment-command")
    response = await _post(client, case, "d-unsigned", signature)
    assert response.status_code == 401
    assert response.json() == {
        "error": "missing or wrong X-Hub-Signature-256 — sign the raw body with the App's"
        " webhook secret (sha256=<hex>)"
    }
    assert await _drain(backend) == []
    assert await backend.state.keys("") == []


@pytest.mark.parametrize(
    ("body", "event", "delivery", "error"),
    [
        (b'{"action": "labeled"', "issues", "d", "the body is not JSON"),
        (b"\xff\xfe", "issues", "d", "the body is not JSON"),
        (b"[1, 2]", "issues", "d", "the body is not a JSON object"),
        (b"{}", "", "d", "no X-GitHub-Event header"),
        (b"{}", "issues", "", "no usable X-GitHub-Delivery header"),
        (b"{}", "issues", "../../etc", "no usable X-GitHub-Delivery header"),
        (
            b'{"action": "labeled", "sender": {"login": "x"}}',
            "issues",
            "d",
            "the issues payload has no issue object",
        ),
    ],
    ids=["truncated", "not-utf8", "array", "no-event", "no-delivery", "odd-delivery", "no-issue"],
)
async def test_a_malformed_request_is_400_in_one_line(
    served: tuple[httpx.AsyncClient, Backend], body: bytes, event: str, delivery: str, error: str
) -> None:
    client, backend = served
    response = await client.post("/webhook", content=body, headers=_headers(body, event, delivery))
    assert response.status_code == 400
    message = response.json()["error"]
    assert message.startswith(error + " — ")
    assert "\n" not in message
    assert await _drain(backend) == []


async def test_a_body_over_githubs_cap_is_refused_before_it_is_read_whole(
    served: tuple[httpx.AsyncClient, Backend],
) -> None:
    client, _ = served

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(MAX_BODY_BYTES // (1 << 20) + 1):
            yield b" " * (1 << 20)

    response = await client.post("/webhook", content=chunks(), headers={"X-GitHub-Event": "x"})
    assert response.status_code == 413
    declared = await client.post(
        "/webhook", content=b"{}", headers={"Content-Length": str(MAX_BODY_BYTES + 1)}
    )
    assert declared.status_code == 413


async def test_healthz_names_the_tier(served: tuple[httpx.AsyncClient, Backend]) -> None:
    client, _ = served
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok", "tier": "sqlite"})
    assert (await client.get("/webhook")).status_code == 405


async def test_a_failing_backend_is_503_and_the_delivery_can_be_sent_again(
    tmp_path: Path,
) -> None:
    class Down:
        def __init__(self) -> None:
            self.down = True

        async def enqueue(self, payload: dict[str, Any], *, task_id: str | None = None) -> str:
            raise BackendUnavailable("redis://127.0.0.1:1 does not answer", "start it")

    async def broken() -> Backend:
        backend = await open_backend(_sqlite(tmp_path / "app.db"), tmp_path)
        backend.queue = Down()  # type: ignore[assignment]
        return backend

    case = next(c for c in CASES if c.name == "comment-command")
    async with _served(broken) as (client, opened):
        response = await _post(client, case, "d-down")
        assert response.status_code == 503
        assert response.json()["error"].startswith(
            "the backend failed: redis://127.0.0.1:1 does not answer — redeliver it"
        )
        assert await opened[0].state.keys(DELIVERY_PREFIX) == []


async def test_the_backend_is_opened_once_and_closed_at_shutdown(tmp_path: Path) -> None:
    closed: list[str] = []

    async def factory() -> Backend:
        backend = await open_backend(BackendConfig(tier="in-process"), None)

        async def note() -> None:
            closed.append(backend.tier)

        backend.closers.append(note)
        return backend

    case = next(c for c in CASES if c.name == "assigned-to-the-app")
    async with _served(factory) as (client, opened):
        for delivery in ("a", "b", "c"):
            assert (await _post(client, case, delivery)).status_code == 202
        assert len(opened) == 1
        assert await opened[0].queue.depth() == 3
        assert closed == []
    assert closed == ["in-process"]


async def test_the_secret_is_never_logged_nor_shown(
    served: tuple[httpx.AsyncClient, Backend], caplog: pytest.LogCaptureFixture
) -> None:
    client, _ = served
    caplog.set_level(logging.DEBUG)
    for case in CASES[:5] + [c for c in CASES if c.name == "comment-command"]:
        await _post(client, case, f"log-{case.name.replace('/', '-')}")
        await _post(client, case, "log-bad", "sha256=" + "1" * 64)
    assert "delivery log-comment-command (issue_comment): start gh-" in caplog.text
    assert SECRET.decode() not in caplog.text
    assert SECRET.decode() not in repr(SETTINGS)


def test_the_app_refuses_to_exist_without_a_secret() -> None:
    async def never() -> Backend:
        raise AssertionError("not opened")

    with pytest.raises(ValueError, match="needs a webhook secret"):
        create_app(AppSettings(webhook_secret=b""), never)


# -- the real server ------------------------------------------------------------------------


async def test_memfun_app_serve_answers_every_payload_on_loopback(tmp_path: Path) -> None:
    """`memfun app serve --port 0` (uvicorn, the configured SQLite tier): every case posted
    over TCP, one delivery twenty times at once; then SIGTERM, and the queue holds exactly the
    routed jobs."""
    database = tmp_path / "shared.db"
    env = {
        **os.environ,
        "MEMFUN_WEBHOOK_SECRET": SECRET.decode(),
        "MEMFUN_BACKEND_SQLITE_PATH": str(database),
        "MEMFUN_GITHUB_LABEL": "bug",
        "MEMFUN_GITHUB_APP_SLUG": "memfun-test",
    }
    with memfun_process(["app", "serve", "--port", "0"], cwd=tmp_path, env=env) as proc:
        assert proc.stderr is not None
        started = read_until(proc.stderr.fileno(), b"Ctrl-C stops it\n").decode()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/webhook on the sqlite tier", started)
        assert found is not None, started
        base = f"http://127.0.0.1:{found.group(1)}"
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok", "tier": "sqlite"}
            responses = await asyncio.gather(
                *(_post(client, case, f"d-{i}") for i, case in enumerate(CASES))
            )
            for case, response in zip(CASES, responses, strict=True):
                assert response.status_code == STATUS[case.action], (case.name, response.text)
                assert case.reason in response.json()["reason"], case.name
            same = next(c for c in CASES if c.name == "label-any-case")
            repeats = await asyncio.gather(*(_post(client, same, "twenty") for _ in range(20)))
            assert sorted(r.status_code for r in repeats) == [200] * 19 + [202]
            unsigned = await _post(client, same, "unsigned", None)
            assert unsigned.status_code == 401
            garbage = await client.post(
                "/webhook", content=b"{nope", headers=_headers(b"{nope", "issues", "g")
            )
            assert garbage.status_code == 400
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert "Traceback" not in err
    assert SECRET.decode() not in started + err

    expected = {
        task_id(job): job
        for i, case in enumerate(CASES)
        if (job := route(case.event, f"d-{i}", case.payload, TRIGGERS).job) is not None
    }
    twenty = route(same.event, "twenty", same.payload, TRIGGERS).job
    assert twenty is not None
    expected[task_id(twenty)] = twenty
    backend = await open_backend(_sqlite(database), tmp_path)
    try:
        queued = {lease.task_id: lease.payload for lease in await _drain(backend)}
    finally:
        await backend.close()
    assert queued == expected
    assert len(queued) == sum(case.action != "ignore" for case in CASES) + 1


async def test_a_labelled_issue_fixture_is_one_task_for_a_worker(tmp_path: Path) -> None:
    """What a worker leases: the job, whole, with the issue's text as the instruction."""
    payload = load("issues", "labeled.with-organization.payload.json")
    case = Case("labelled", "issues", payload, "start", "label on")
    async with _served(lambda: open_backend(_sqlite(tmp_path / "q.db"), tmp_path)) as (
        client,
        opened,
    ):
        assert (await _post(client, case, "worker-view")).status_code == 202
        (lease,) = await _drain(opened[0])
    assert lease.payload["instruction"].startswith(payload["issue"]["title"])
    assert lease.payload["requester"] == "Codertocat"
    assert lease.payload["trigger"] == "label"
