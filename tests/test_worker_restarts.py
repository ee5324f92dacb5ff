"""A Redis or NATS server restarted in the middle of a run: the worker waits, reconnects and
finishes every task; none is lost. The test runs servers of its own (on free ports, data in
tmp: Redis with its append-only file, NATS JetStream with its store), so the shared ones are
left alone."""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer
from tests.test_worker import _answer, _clone, _env, _status, _submit, _worker, git


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_port(port: int, up: bool, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if up:
                    return
        except OSError:
            if not up:
                return
        time.sleep(0.1)
    raise AssertionError(f"port {port} did not come {'up' if up else 'down'}")


class Server:
    """A server process of the test's own, stopped and started again on the same port."""

    def __init__(self, argv: list[str], port: int) -> None:
        self.argv = argv
        self.port = port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        _wait_port(self.port, up=True)

    def stop(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)
        _wait_port(self.port, up=False)


@pytest.fixture
def server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Server]]:
    tier = request.param
    port = _free_port()
    data = tmp_path / f"{tier}-data"
    data.mkdir()
    if tier == "redis":
        program = need_tool("redis-server")
        argv = [program, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                "--appendonly", "yes", "--appendfsync", "always", "--save", ""]  # fmt: skip
        url = f"redis://127.0.0.1:{port}/0"
    else:
        program = need_tool("nats-server", path="/usr/sbin:/usr/bin:/usr/local/bin")
        argv = [program, "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(data)]
        url = f"nats://127.0.0.1:{port}"
    own = Server(argv, port)
    own.start()
    yield url, own
    if own.process is not None and own.process.poll() is None:
        own.process.kill()
        own.process.wait()


@pytest.mark.parametrize("server", ["redis", "nats"], indirect=True)
def test_a_server_restarted_mid_run_loses_no_task(
    tmp_path: Path, server: tuple[str, Server]
) -> None:
    need_tool("bwrap")
    url, own = server
    tier = "redis" if url.startswith("redis") else "nats"
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    seed = _clone(bare, tmp_path / "seed")
    (seed / "README.md").write_text("# Notes\n")
    git(seed, "add", "-A")
    git(seed, "commit", "-qm", "initial")
    git(seed, "push", "-q", "origin", "main")
    url_key = "MEMFUN_BACKEND_REDIS_URL" if tier == "redis" else "MEMFUN_BACKEND_NATS_URL"
    with StubLLMServer(responder=lambda r: _answer(r, set())) as stub:
        env = _env(stub, tier, "restart", **{url_key: url})
        ids = _submit(seed, env, [f"write note {n}" for n in range(6)])
        worker = _worker(seed, env, "--idle-exit", "8")
        deadline = time.monotonic() + 120
        while not _branches(bare) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _branches(bare), "no task finished before the restart"
        own.stop()
        time.sleep(1.5)
        own.start()
        _, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
    assert sorted(_branches(bare)) == sorted(f"memfun/{i}" for i in ids)
    status = _status(seed, env)
    assert (status["depth"], status["done"], status["dead"]) == (0, 6, [])


def _branches(bare: Path) -> list[str]:
    listed = git(bare, "for-each-ref", "--format=%(refname:short)", "refs/heads/memfun/")
    return listed.split()
