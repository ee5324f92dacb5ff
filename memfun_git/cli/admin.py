"""`memfun config show` and `memfun doctor`: the configuration in force, and the health checks.

Both print results on stdout, every line through the redactor: a key's value never appears,
only whether its variable is set.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import tomlkit
from rich.console import Console
from rich.text import Text

from memfun_git import doctor
from memfun_git.config import SECTIONS, Config, LLMConfig, load
from memfun_git.errors import ExitCode, RepoError
from memfun_git.gitops.repo import discover
from memfun_git.redact import redact, register_environ

__all__ = ["key_status", "run_config_show", "run_doctor"]

_MARKS: dict[doctor.Status, tuple[str, str]] = {
    doctor.Status.OK: ("✓", "green"),
    doctor.Status.INFO: ("·", "dim"),
    doctor.Status.WARNING: ("!", "yellow"),
    doctor.Status.FAILURE: ("✗", "red"),
}


def run_config_show(
    start: Path, *, json_out: bool, environ: Mapping[str, str] | None = None
) -> int:
    """Print the configuration in force (TOML, or JSON with `json_out`) and where it came from."""
    env = os.environ if environ is None else environ
    cfg = load(_repo_root(start), environ=env)
    cfg.check()  # shown whole, so every fault is reported here
    register_environ(env, [cfg.llm.key_env] if cfg.llm.key_env else [])
    text = _as_json(cfg, env) if json_out else _as_toml(cfg, env)
    sys.stdout.write(redact(text))
    sys.stdout.flush()
    return int(ExitCode.OK)


def run_doctor(
    start: Path,
    *,
    online: bool,
    environ: Mapping[str, str] | None = None,
    console: Console | None = None,
) -> int:
    """Run every check, print one line each; exit 2 when the configuration is wrong (bad
    input, as for every command), else 1 when any other check failed."""
    env = os.environ if environ is None else environ
    register_environ(env)
    checks = doctor.run_checks(start, online=online, environ=env)
    out = console or Console(markup=False, highlight=False, soft_wrap=True, emoji=False)
    for check in checks:
        mark, style = _MARKS[check.status]
        line = f"{check.name}: {check.detail}" + (f" — {check.fix}" if check.fix else "")
        out.print(Text.assemble((mark, style), " ", redact(line)))
    failed = sum(c.status is doctor.Status.FAILURE for c in checks)
    warned = sum(c.status is doctor.Status.WARNING for c in checks)
    if failed:
        out.print(f"{failed} problem{'s' if failed > 1 else ''} to fix (✗ above).", markup=False)
        bad_config = any(c.name == "config" and c.status is doctor.Status.FAILURE for c in checks)
        return int(ExitCode.BAD_INPUT if bad_config else ExitCode.FAILED)
    note = f" {warned} warning{'s' if warned > 1 else ''} (! above)." if warned else ""
    out.print("Ready." + note, markup=False)
    return int(ExitCode.OK)


def key_status(llm: LLMConfig, environ: Mapping[str, str]) -> str:
    """Whether the key's variable is set: "set (…wxyz)", "not set" or why none is needed."""
    name = llm.key_env
    if not name:
        return "no provider configured" if llm.provider is None else "none needed"
    value = environ.get(name, "").strip()
    if not value:
        return f"${name} not set"
    # The last 4 characters tell two keys apart; below 16 characters they would tell too much.
    return f"${name} set (…{value[-4:]})" if len(value) >= 16 else f"${name} set"


def _repo_root(start: Path) -> Path | None:
    if not start.exists():
        raise RepoError(f"{start} does not exist", "pass an existing folder with -C")
    paths = discover(start)
    return paths.workdir if paths is not None and not paths.bare else None


def _sections(cfg: Config) -> dict[str, dict[str, Any]]:
    return {
        name: {
            k: list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(getattr(cfg, name)).items()
        }
        for name in SECTIONS
    }


def _sources(cfg: Config) -> list[str]:
    return ["built-in defaults", *cfg.sources]


def _as_toml(cfg: Config, environ: Mapping[str, str]) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment("memfun configuration in force"))
    doc.add(tomlkit.comment(f"repository: {cfg.repo_root or '(none)'}"))
    doc.add(tomlkit.comment("sources, later ones winning: " + ", ".join(_sources(cfg))))
    for name, values in _sections(cfg).items():
        table = tomlkit.table()
        for key, value in values.items():
            if value is None:
                table.add(tomlkit.comment(f"{key} = (not set)"))
            else:
                item = tomlkit.item(value)
                where = cfg.origin_of(name, key)
                if where != "default":
                    item.comment(f"from {where}")
                table.add(key, item)
        if name == "llm":
            table.add(tomlkit.comment(f"key: {key_status(cfg.llm, environ)}"))
        doc.add(name, table)
    return tomlkit.dumps(doc)


def _as_json(cfg: Config, environ: Mapping[str, str]) -> str:
    data = {
        "repo_root": str(cfg.repo_root) if cfg.repo_root else None,
        "sources": _sources(cfg),
        "origins": dict(cfg.origins),
        "llm_key": {"variable": cfg.llm.key_env or None, "status": key_status(cfg.llm, environ)},
        "config": _sections(cfg),
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
