"""Skip on a laptop, fail in CI: tests that need a tool, a service or a machine feature.

Every test that cannot run here goes through `missing` (or `need_tool`, `need_service`): it
skips on a laptop, and fails under MEMFUN_REQUIRE_TOOLS=1 (MEMFUN_REQUIRE_SERVICES=1 for
services), which .ci/run sets, so a CI machine that lacks something shows red instead of
quietly testing less. No test calls `pytest.skip` or guards on `shutil.which` itself.
"""

from __future__ import annotations

import os
import shutil
import socket
from typing import NoReturn

import pytest

__all__ = ["missing", "need_service", "need_tool"]


def _required(var: str) -> bool:
    return os.environ.get(var, "") not in ("", "0", "false")


def missing(message: str) -> NoReturn:
    """Skip with `message` (a laptop without the tool or feature), or fail under
    MEMFUN_REQUIRE_TOOLS=1."""
    if _required("MEMFUN_REQUIRE_TOOLS"):
        pytest.fail(f"{message} (MEMFUN_REQUIRE_TOOLS=1: .ci/run should provide it)")
    pytest.skip(message)


def need_tool(name: str, path: str | None = None) -> str:
    """The path of `name` on PATH (or `path`); `missing` when it is not there."""
    found = shutil.which(name, path=path)
    if found:
        return found
    missing(f"{name} is not installed")


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
