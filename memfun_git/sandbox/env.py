"""The environment a sandboxed command gets: an allowlist, never the parent's environment.

Kept: locale, terminal and time-zone variables, the user's name, and the variables named in
`[sandbox] extra_env`. Never kept: anything else, keys and tokens included (a name in extra_env
that looks like a secret is refused, and so is one whose value the redactor would hide: a
configured key, a token's or a password-in-URL's shape). Added: settings that keep tool caches
out of the worktree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from memfun_git.errors import ConfigError
from memfun_git.redact import redact, secret_names

__all__ = ["CACHE_ROOT", "sandbox_environ"]

_PASS = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TERM", "TZ", "USER", "LOGNAME")
CACHE_ROOT = "/tmp/.memfun-cache"
"""Inside the sandbox: a tmpfs, gone when the command ends."""


def _no_caches(root: str) -> dict[str, str]:
    """Tools write caches next to the code unless told otherwise.

    Python gets PYTHONDONTWRITEBYTECODE only: a PYTHONPYCACHEPREFIX would make it ignore every
    installed `__pycache__` and compile the standard library and site-packages from source on
    each start (`import pytest`: 0.13 s becomes 0.64 s)."""
    return {
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTEST_ADDOPTS": "-p no:cacheprovider",
        "RUFF_CACHE_DIR": f"{root}/ruff",
        "MYPY_CACHE_DIR": f"{root}/mypy",
        "COVERAGE_FILE": f"{root}/coverage",
        "XDG_CACHE_HOME": f"{root}/xdg",
        "npm_config_cache": f"{root}/npm",
        "GOCACHE": f"{root}/go-build",
        "CARGO_TARGET_DIR": f"{root}/cargo-target",
        "PIP_NO_CACHE_DIR": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }


def sandbox_environ(
    environ: Mapping[str, str],
    *,
    home: str,
    path: Sequence[str],
    extra: Sequence[str] = (),
    additions: Mapping[str, str] | None = None,
    cache_root: str = CACHE_ROOT,
    tmpdir: str = "/tmp",
) -> dict[str, str]:
    """The allowlisted environment for a sandboxed command."""
    risky = set(secret_names({name: "" for name in extra}))
    if risky:
        raise ConfigError(
            f"[sandbox] extra_env names {', '.join(sorted(risky))}, which holds a credential",
            "sandboxed commands never get keys or tokens; remove it from extra_env",
        )
    carrying = sorted(n for n in extra if environ.get(n) and redact(environ[n]) != environ[n])
    if carrying:
        raise ConfigError(
            f"[sandbox] extra_env names {', '.join(carrying)}, whose value is a credential "
            "(a configured key, or a token's or a password's shape)",
            "sandboxed commands never get keys or tokens; remove it from extra_env",
        )
    env = {name: environ[name] for name in (*_PASS, *extra) if name in environ}
    env.setdefault("LANG", "C.UTF-8")
    env.update(_no_caches(cache_root))
    env["HOME"] = home
    env["PATH"] = ":".join(dict.fromkeys(path))
    env["TMPDIR"] = tmpdir
    if additions:
        env.update(additions)
    return env
