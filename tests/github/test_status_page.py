"""The App's status page (`GET /`): what an operator sees in a real headless Chromium (through
selenium and chromedriver) against the App served by uvicorn on loopback, on a SQLite tier
holding a done, a failed, a running and a queued task and two live workers; who may see it."""

from __future__ import annotations

import asyncio
import json
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from memfun_git.backends import open_backend
from memfun_git.backends.protocols import Backend
from memfun_git.config import BackendConfig
from memfun_git.github.appserver import AppSettings, create_app
from memfun_git.worker import append_log
from tests.helpers.require import need_tool
from tests.helpers.webhooks import SECRET, TRIGGERS

XSS = '<script>alert("x")</script>'


def _config(tmp_path: Path) -> BackendConfig:
    return BackendConfig(tier="sqlite", sqlite_path=str(tmp_path / "app.db"), max_attempts=1)


async def _seed(backend: Backend) -> None:
    """Four tasks as workers leave them, and two live workers."""
    for task_id, number in (("gh-done", 1), ("gh-failed", 2), ("gh-running", 3), ("gh-new", 4)):
        await append_log(backend.state, task_id, {
            "event": "queued", "repo": "octo/app", "number": number, "trigger": "label",
            "requester": "mona",
        })  # fmt: skip
        await backend.queue.enqueue({"kind": "github-issue"}, task_id=task_id)
    for task_id in ("gh-done", "gh-failed", "gh-running"):
        lease = await backend.queue.lease("w1")
        assert lease is not None
        assert lease.task_id == task_id
        await append_log(backend.state, task_id, {"event": "started", "worker": "w1"})
        if task_id == "gh-done":
            result = {"state": "done", "pull_request": "https://github.test/octo/app/pull/9",
                      "tokens": 12345}  # fmt: skip
            await backend.state.put("result/gh-done", json.dumps(result).encode())
            await backend.queue.ack(lease)
            await append_log(backend.state, task_id, {"event": "done", "pull_number": 9})
        elif task_id == "gh-failed":
            await backend.queue.nack(lease, f"the model changed nothing {XSS}")
            await append_log(backend.state, task_id, {"event": "dead", "error": "nothing"})
        else:
            await backend.state.put("running/gh-running", b"w1", ttl=60)
    await backend.agents.register("w1", {"host": "box-1"}, ttl=60)
    await backend.agents.register("w2", {"host": "box-2"}, ttl=60)


@pytest.fixture
def app_url(tmp_path: Path) -> Iterator[str]:
    import uvicorn

    config = _config(tmp_path)

    async def seed() -> None:
        backend = await open_backend(config, tmp_path)
        await _seed(backend)
        await backend.close()

    asyncio.run(seed())
    app = create_app(AppSettings(SECRET, TRIGGERS), lambda: open_backend(config, tmp_path))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_the_operator_sees_queue_workers_tasks_and_logs_in_a_browser(
    app_url: str, tmp_path: Path
) -> None:
    need_tool("chromium")
    driver_path = need_tool("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By

    options = webdriver.ChromeOptions()
    options.binary_location = need_tool("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000",
                 "--disable-dev-shm-usage"):  # fmt: skip
        options.add_argument(flag)
    browser = webdriver.Chrome(options=options, service=Service(driver_path))
    try:
        browser.get(app_url + "/")
        assert browser.title == "memfun App status"
        depth = browser.find_element(By.ID, "depth").text
        assert depth == "Queue depth: 2"  # the running one and the new one
        workers = browser.find_element(By.ID, "workers").text
        assert "box-1" in workers
        assert "box-2" in workers
        rows = {
            r.find_elements(By.TAG_NAME, "td")[0].text: [
                c.text for c in r.find_elements(By.TAG_NAME, "td")
            ]
            for r in browser.find_elements(By.CSS_SELECTOR, "#tasks tr")[1:]
        }
        assert rows["gh-done"][1:6] == [
            "done", "octo/app#1", "mona", "https://github.test/octo/app/pull/9", "12,345",
        ]  # fmt: skip
        assert rows["gh-failed"][1] == "failed"
        assert rows["gh-failed"][6] == f"the model changed nothing {XSS}"  # shown, not run
        assert rows["gh-running"][1] == "running"
        assert rows["gh-new"][1] == "queued"
        link = browser.find_element(By.LINK_TEXT, "https://github.test/octo/app/pull/9")
        assert link.get_attribute("href") == "https://github.test/octo/app/pull/9"
        log = browser.find_element(By.ID, "log-gh-done").text
        assert "event=queued" in log
        assert "event=started worker=w1" in log
        assert "event=done pull_number=9" in log
        assert browser.find_elements(By.TAG_NAME, "script") == []
        shot = tmp_path / "status.png"
        assert browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (1280, 1000) or width >= 1000
    assert len(png) > 20_000  # a rendered page, not a blank one


async def test_only_loopback_or_the_token_holder_sees_it(tmp_path: Path) -> None:
    config = _config(tmp_path)

    async def pages(settings: AppSettings, client: tuple[str, int]) -> list[int]:
        app = create_app(settings, lambda: open_backend(config, tmp_path))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, client=client)
            async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as c:
                return [
                    (await c.get("/")).status_code,
                    (
                        await c.get("/", headers={"Authorization": "Bearer s3cret-token"})
                    ).status_code,
                    (await c.get("/?token=s3cret-token")).status_code,
                    (await c.get("/", headers={"Authorization": "Bearer wrong"})).status_code,
                ]

    plain = AppSettings(SECRET, TRIGGERS)
    assert await pages(plain, ("127.0.0.1", 5000)) == [200, 200, 200, 200]
    app = create_app(plain, lambda: open_backend(config, tmp_path))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://app.test") as c:
            relayed = await c.get("/", headers={"X-Forwarded-For": "203.0.113.9"})
    assert relayed.status_code == 403  # a proxy on loopback relays the internet
    assert await pages(plain, ("10.1.2.3", 5000)) == [403, 403, 403, 403]
    guarded = AppSettings(SECRET, TRIGGERS, status_token="s3cret-token")
    assert await pages(guarded, ("10.1.2.3", 5000)) == [401, 200, 200, 401]
    assert await pages(guarded, ("127.0.0.1", 5000)) == [401, 200, 200, 401]
