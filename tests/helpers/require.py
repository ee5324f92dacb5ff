"""Skip on a laptop, fail in CI: tests that need a tool or a service the machine may lack."""

from __future__ import annotations

import os
import shutil
import socket

import pytest


def _required(var: str) -> bool:
    return os.environ.get(var, "") not in ("", "0", "false")


def need_tool(name: str) -> str:
    """The path of `name` on PATH; skip when missing, or fail under MEMFUN_REQUIRE_TOOLS=1."""
    path = shutil.which(name)
    if path:
        return path
    message = f"{name} is not installed"
    if _required("MEMFUN_REQUIRE_TOOLS"):
        pytest.fail(f"{message} (MEMFUN_REQUIRE_TOOLS=1: .ci/run should install it)")
    pytest.skip(message)


def need_service(name: str, host: str, port: int) -> None:
    """Skip when nothing listens at host:port, or fail under MEMFUN_REQUIRE_SERVICES=1."""
    try:
        with socket.create_connection((host, port), timeout=1):
            return
    except OSError:
        pass
    message = f"{name} is not running on {host}:{port}"
    if _required("MEMFUN_REQUIRE_SERVICES"):
        pytest.fail(f"{message} (MEMFUN_REQUIRE_SERVICES=1: .ci/run should start it)")
    pytest.skip(message)
