"""The shared tiers' synchronous state (backends/sync.py) when its server goes away: a call
is one clear error, and closing prints nothing (no traceback per reconnect attempt, no task
reported destroyed)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from memfun_git.backends.sync import LoopState
from memfun_git.config import BackendConfig
from memfun_git.errors import BackendUnavailable
from tests.helpers.require import need_tool


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_nats_server_gone_is_one_error_and_a_quiet_close(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    server = need_tool("nats-server", "/usr/sbin:/usr/bin:/usr/local/bin")
    port = _free_port()
    proc = subprocess.Popen([server, "-a", "127.0.0.1", "-p", str(port), "-js",
                             "-sd", str(tmp_path / "js")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "nats-server did not start"
                time.sleep(0.05)
        config = BackendConfig(tier="nats", nats_url=f"nats://127.0.0.1:{port}")
        state = LoopState.open(config, timeout=2)
        state.put("k", b"v")
        assert state.get("k") == b"v"
    finally:
        proc.kill()
        proc.wait(10)
    time.sleep(1.0)  # the client notices and tries to reconnect, again and again
    with pytest.raises(BackendUnavailable) as failed:
        state.get("k")
    assert failed.value.message.endswith("failed (TimeoutError)")
    state.close()
    time.sleep(0.2)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
