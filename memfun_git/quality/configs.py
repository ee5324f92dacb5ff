"""The base commit's configuration for the linters, and what the task did to it.

A task cannot pass the gate by weakening the rules. Linter configuration that the task added,
changed or deleted is found by comparing the base commit with the worktree, at any depth:
- ruff: `ruff.toml`, `.ruff.toml`, and a `pyproject.toml` whose `[tool.ruff]` table or
  `project.requires-python` (ruff's default target version) differ, compared parsed, so a
  change that only adds a dependency is none; and the files their `extend` names;
- eslint: `eslint.config.*`, `.eslintrc*`, `.eslintignore`, `package.json`'s `eslintConfig`,
  and every file those configs name by a relative path (`import`, `require`, `extends`),
  followed from file to file, in both the base's and the task's versions;
- cargo: `Cargo.toml`'s `[lints]` and `[workspace.lints]`, `clippy.toml`, `.cargo/config*`
  (its `rustflags` can allow any lint); go: `.golangci.*`;
- memfun: the root `memfun.toml`'s `[sandbox]`, `[gate]`, `[hook]` and `[workspace]` tables.
  memfun never reads the worktree's memfun.toml, so such a change is named and nothing more.

`base_configuration` puts the base's versions of the linters' changed files in place in the
worktree while the linters run (removing files the task added) and restores the task's
versions exactly afterwards, bytes and mode, in a `finally`. In place rather than in a scratch
copy: the sandbox shows the worktree and nothing else, the swap touches only the handful of
changed config files (a copy costs the whole tree), and the linters see the real paths.

`new_suppressions` lists the inline suppressions among the lines the task added.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tomllib
from collections.abc import Generator, Iterable
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal, cast

from memfun_git.quality.changes import Blob, Change, put
from memfun_git.quality.linters import ESLINT_CONFIGS
from memfun_git.redact import redact
from memfun_git.sandbox.precommit import CONFIG as PRE_COMMIT_CONFIG
from memfun_git.terminal import strip_controls

__all__ = [
    "CONFIG_NAMES",
    "ConfigChange",
    "Suppression",
    "base_configuration",
    "config_changes",
    "is_config_path",
    "new_suppressions",
    "suppression_added",
]

Owner = Literal["ruff", "eslint", "go", "cargo", "pre-commit", "memfun"]

_WHOLE: dict[str, Owner] = {
    "ruff.toml": "ruff",
    ".ruff.toml": "ruff",
    **dict.fromkeys((*ESLINT_CONFIGS, ".eslintignore"), "eslint"),
    "clippy.toml": "cargo",
    ".clippy.toml": "cargo",
    **{f".golangci.{ext}": "go" for ext in ("yml", "yaml", "toml", "json")},
    PRE_COMMIT_CONFIG: "pre-commit",
}
_TABLES = ("pyproject.toml", "package.json", "Cargo.toml", "memfun.toml")
CONFIG_NAMES = frozenset((*_WHOLE, *_TABLES, "config", "config.toml"))
"""File names that may hold linter configuration (`config*` only under `.cargo/`)."""
_MEMFUN_TABLES = ("sandbox", "gate", "hook", "workspace")
_RELATIVE = re.compile(r"""['"`](\.{1,2}/[^'"`\s*?{}]+)['"`]""")
_SUFFIXES = ("", ".js", ".mjs", ".cjs", ".ts", ".mts", ".cts", ".json", "/index.js")
_MAX_FOLLOWED = 64
_SUPPRESSIONS: dict[str, re.Pattern[str]] = {
    "ruff": re.compile(r"#\s*(?:noqa\b|type:\s*ignore|ruff\s*:\s*noqa|pyright:\s*ignore|"
                       r"pylint:\s*disable|mypy:\s*ignore)", re.I),
    "eslint": re.compile(r"eslint-disable|/\*\s*eslint[\s-]|/\*\s*globals?\s|@ts-ignore|"
                         r"@ts-expect-error|@ts-nocheck"),
    "go": re.compile(r"//\s*nolint|//\s*lint:ignore"),
    "cargo": re.compile(r"#!?\[\s*(?:allow|expect)\s*\(|"
                        r"#!?\[\s*cfg_attr\s*\(.*\b(?:allow|expect)\s*\("),
}  # fmt: skip
_FAMILIES: dict[str, tuple[str, ...]] = {
    "ruff": (".py", ".pyi"),
    "eslint": (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"),
    "go": (".go",),
    "cargo": (".rs",),
}


@dataclass(frozen=True, slots=True)
class ConfigChange:
    path: str
    owner: Owner
    """The linter whose configuration it is, or "memfun"."""
    kind: Literal["added", "changed", "deleted"]
    detail: str = ""
    """What in the file: "[tool.ruff]", "[gate], [sandbox]", "imported by eslint.config.js"."""

    def render(self, trusted: bool) -> str:
        """`ruff.toml (changed; not used: linted with the base commit's)`."""
        what = f"{self.detail} {self.kind}" if self.detail else self.kind
        if self.owner == "memfun":
            use = "not used: memfun reads the user's own memfun.toml"
        elif trusted:
            use = "trusted: used"
        else:
            use = "not used: linted with the base commit's"
        return f"{self.path} ({what}; {use})"


@dataclass(frozen=True, slots=True)
class Suppression:
    path: str
    line: int
    text: str
    family: str
    """The linter the file belongs to ("ruff" for Python...)."""

    def render(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


def is_config_path(rel: str) -> bool:
    """True for a path that may hold linter or memfun configuration (by its name)."""
    path = PurePosixPath(rel)
    if path.name in ("config", "config.toml"):
        return path.parent.name == ".cargo"
    return path.name in CONFIG_NAMES and (path.name != "memfun.toml" or rel == "memfun.toml")


def _toml(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return {}
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None


def _json(data: bytes | None) -> dict[str, Any] | None:
    if data is None:
        return {}
    try:
        loaded = json.loads(data)
    except ValueError:
        return None
    return cast(dict[str, Any], loaded) if isinstance(loaded, dict) else None


def _dig(table: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        nxt = table.get(key)
        if not isinstance(nxt, dict):
            return nxt if key == keys[-1] else None
        table = cast(dict[str, Any], nxt)
    return table


def _tables(rel: str) -> tuple[Owner, Any, tuple[tuple[str, ...], ...]] | None:
    """For a file whose configuration is some of its tables: its owner, its loader and the
    key paths of those tables."""
    name = PurePosixPath(rel).name
    if name == "pyproject.toml":
        return "ruff", _toml, (("tool", "ruff"), ("project", "requires-python"))
    if name == "package.json":
        return "eslint", _json, (("eslintConfig",), ("eslintIgnore",))
    if name == "Cargo.toml":
        return "cargo", _toml, (("lints",), ("workspace", "lints"))
    if rel == "memfun.toml":
        return "memfun", _toml, tuple((t,) for t in _MEMFUN_TABLES)
    return None


def _judge(rel: str, old: Blob | None, new: Blob | None) -> tuple[Owner, str] | None:
    """(owner, detail) when the task's `new` version changes configuration, else None."""
    if old == new:
        return None
    path = PurePosixPath(rel)
    if path.name in _WHOLE:
        return _WHOLE[path.name], ""
    if path.parent.name == ".cargo" and path.name in ("config", "config.toml"):
        return "cargo", ""
    tables = _tables(rel)
    if tables is None:
        return None
    owner, load, keys = tables
    before, after = load(old.data if old else None), load(new.data if new else None)
    if before is None or after is None:
        return owner, "unreadable"
    differing = [k for k in keys if _dig(before, *k) != _dig(after, *k)]
    if not differing:
        return None
    return owner, ", ".join("[" + ".".join(k) + "]" for k in differing)


def _kind(old: Blob | None, new: Blob | None) -> Literal["added", "changed", "deleted"]:
    return "added" if old is None else "deleted" if new is None else "changed"


def _named(change: Change, rel: str) -> list[str]:
    """Files that the config file `rel` names (both versions), existing on either side: by a
    relative path in a script or eslintrc (`import`, `require`, `extends`), by ruff's `extend`
    in TOML."""
    found: list[str] = []
    folder = PurePosixPath(rel).parent
    for blob in (change.base(rel), change.task(rel)):
        if blob is None:
            continue
        if rel.endswith(".toml"):
            table = _toml(blob.data) or {}
            extend = _dig(table, "extend") or _dig(table, "tool", "ruff", "extend")
            specs = [extend] if isinstance(extend, str) else []
        else:
            specs = _RELATIVE.findall(blob.data.decode("utf-8", "replace"))
        for spec in specs:
            for suffix in _SUFFIXES:
                target = os.path.normpath((folder / (spec + suffix)).as_posix())
                if target.startswith("..") or os.path.isabs(target):
                    break
                if change.exists(target):
                    found.append(PurePosixPath(target).as_posix())
                    break
    return found


def _follows(rel: str, named_by: str) -> bool:
    """Whether the files `rel` names are configuration too: a config file's, or a script
    that configuration imports."""
    name = PurePosixPath(rel).name
    if name in ESLINT_CONFIGS or name in ("ruff.toml", ".ruff.toml", "pyproject.toml"):
        return True
    return bool(named_by) and not name.endswith(".json")


def config_changes(change: Change, candidates: Iterable[str]) -> tuple[ConfigChange, ...]:
    """The configuration the task added, changed or deleted among `candidates` (paths of
    the base commit and the worktree that may hold some) and the files they name."""
    found: dict[str, ConfigChange] = {}
    todo = [(rel, "") for rel in dict.fromkeys(c for c in candidates if is_config_path(c))]
    seen: set[str] = set()
    followed = 0
    while todo:
        rel, named_by = todo.pop(0)
        if rel in seen:
            continue
        seen.add(rel)
        old, new = change.base(rel), change.task(rel)
        judged = _judge(rel, old, new)
        if named_by and judged is None and old != new:
            how = "extended" if named_by.endswith(".toml") else "imported"
            judged = ("ruff" if how == "extended" else "eslint"), f"{how} by {named_by}"
        if judged is not None:
            found[rel] = ConfigChange(rel, judged[0], _kind(old, new), judged[1])
        if _follows(rel, named_by) and followed < _MAX_FOLLOWED:
            targets = [t for t in _named(change, rel) if t not in seen]
            followed += len(targets)
            todo.extend((target, rel) for target in targets)
    return tuple(found[rel] for rel in sorted(found))


@contextmanager
def base_configuration(change: Change, changes: Iterable[ConfigChange]) -> Generator[None]:
    """The base's versions of the linters' `changes` in the worktree while the block runs;
    the task's versions exactly as they were afterwards (bytes, permission bits, links, a
    folder standing where the base has a file)."""
    saved: list[_Saved] = []
    try:
        for item in changes:
            if item.owner == "memfun":
                continue
            full = change.worktree / item.path
            task = change.task(item.path)
            mode = full.lstat().st_mode & 0o7777 if task is not None else None
            entry = _Saved(item.path, task, mode)
            saved.append(entry)
            if task is None and full.exists() and not full.is_symlink():
                entry.aside = f"{full}.memfun-aside-{secrets.token_hex(4)}"
                os.rename(full, entry.aside)
            entry.made = put(change, item.path, change.base(item.path))
        yield
    finally:
        for entry in reversed(saved):
            put(change, entry.path, entry.task, entry.mode)
            if entry.aside is not None:
                os.rename(entry.aside, change.worktree / entry.path)
            for folder in reversed(entry.made):
                _rmdir(change.worktree / folder)


@dataclass
class _Saved:
    path: str
    task: Blob | None
    mode: int | None
    """The task's file's exact permission bits."""
    aside: str | None = None
    made: list[str] = field(default_factory=list[str])


def _rmdir(folder: os.PathLike[str]) -> None:
    with suppress(OSError):
        os.rmdir(folder)


def _family(rel: str) -> str | None:
    return next((f for f, ext in _FAMILIES.items() if rel.endswith(ext)), None)


def new_suppressions(change: Change, paths: Iterable[str]) -> tuple[Suppression, ...]:
    """Inline suppressions (`# noqa`, `eslint-disable`, `//nolint`, `#[allow(`...) on the
    lines the task added to `paths`, by the family of each file."""
    found: list[Suppression] = []
    for rel in dict.fromkeys(paths):
        family = _family(rel)
        if family is None:
            continue
        for number, text in change.added_lines(rel):
            if _SUPPRESSIONS[family].search(text):
                shown = redact(strip_controls(text.strip()))
                shown = shown if len(shown) <= 160 else shown[:159] + "…"
                found.append(Suppression(rel, number, shown, family))
    return tuple(found)


def suppression_added(rel: str, search: str, replace: str) -> str | None:
    """The first line of `replace` holding an inline suppression that `search` lacks (an
    edit of `rel` that would silence a linter), or None."""
    family = _family(rel)
    if family is None:
        return None
    pattern = _SUPPRESSIONS[family]

    def marks(text: str) -> list[tuple[str, str]]:
        """(the suppression from its marker to the line's end, the line) of each line."""
        found = [(pattern.search(line), line) for line in text.splitlines()]
        return [(line[m.start() :].strip(), line.strip()) for m, line in found if m]

    kept = [mark for mark, _ in marks(search)]
    for mark, line in marks(replace):
        if mark in kept:
            kept.remove(mark)  # the same suppression, on a line the edit rewrote
        else:
            return line
    return None
