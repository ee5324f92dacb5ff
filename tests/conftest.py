"""Guards that make the suite behave the same on a laptop and in CI.

- no network but loopback and Unix sockets (a test that reaches out fails loudly);
- HOME, XDG folders and git's global config in a temporary folder, credentials and the
  active virtualenv removed;
- DSPy's response cache off; LITELLM_LOCAL_MODEL_COST_MAP set (no start-up fetches);
- `filterwarnings = error` (pyproject.toml).
"""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest

_KEEP_MEMFUN = {"MEMFUN_REQUIRE_SERVICES", "MEMFUN_REQUIRE_TOOLS"}


class NetworkAccessInTests(RuntimeError):
    """A test tried to reach a host that is not this machine; use a local stub server."""


def _is_local(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if not isinstance(host, str):
        return True
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex


def _guarded_connect(self: socket.socket, address: Any) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise NetworkAccessInTests(f"test tried to connect to {address!r}")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> int:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_local(address):
        raise NetworkAccessInTests(f"test tried to connect to {address!r}")
    return _real_connect_ex(self, address)


def pytest_configure(config: pytest.Config) -> None:
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh HOME, XDG folders and git global config; no credentials, no MEMFUN_* config."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        upper = name.upper()
        credential = any(word in upper for word in ("API_KEY", "TOKEN", "SECRET", "PASSWORD"))
        ours = name.startswith("MEMFUN_") and name not in _KEEP_MEMFUN
        gits = name.startswith("GIT_") or name in ("SSH_AUTH_SOCK", "GNUPGHOME")
        # `uv run` activates this project's venv; memfun searches an active one for tools.
        active = name == "VIRTUAL_ENV"
        if credential or ours or gits or active:
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(home))
    for var, sub in (
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_STATE_HOME", ".local/state"),
        ("XDG_DATA_HOME", ".local/share"),
    ):
        (home / sub).mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(home / sub))
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Test User\n\temail = test@example.com\n"
        "[init]\n\tdefaultBranch = main\n\ttemplateDir =\n[commit]\n\tgpgsign = false\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("DSPY_CACHEDIR", str(home / ".dspy_cache"))
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("TERM", "dumb")
    return home


@pytest.fixture(scope="session", autouse=True)
def _dspy_cache_off() -> None:
    """DSPy's cache is global: keep it off for the whole session, on disk and in memory."""
    import dspy

    dspy.configure_cache(enable_disk_cache=False, enable_memory_cache=False)


def git(cwd: Path, *args: str) -> str:
    """Run git in `cwd` (reads never refresh the index: --no-optional-locks)."""
    out = subprocess.run(
        ["git", "--no-optional-locks", *args], cwd=cwd, check=True, capture_output=True, text=True
    )
    return out.stdout


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A real repository with one commit: README.md and src/app.py."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("# Demo\n\nA small demo project.\n")
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    git(repo, "add", "README.md", "src/app.py")
    git(repo, "commit", "-q", "-m", "initial")
    return repo
