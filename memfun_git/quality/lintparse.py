"""Reading what each linter prints into `Finding`s: one small parser per output format.

The gate asks each linter for its machine-readable form where it has one (ruff and eslint
JSON, cargo's JSON messages) and reads go vet's `file:line:col: message` lines. Paths come back
relative to the repository's root, '/'-separated, whatever the linter printed (absolute, or
relative to the folder it ran in). Messages are stripped of control sequences and redacted
here, since they are shown to the user and to the model.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast

from memfun_git.config import Severity
from memfun_git.quality.verdicts import Finding
from memfun_git.redact import redact
from memfun_git.terminal import strip_controls

__all__ = [
    "clean_text",
    "parse_cargo",
    "parse_eslint",
    "parse_go_vet",
    "parse_pre_commit",
    "parse_ruff",
    "pre_commit_fixers",
    "pre_commit_unavailable",
    "relative",
]

_IGNORED = re.compile(r"File ignored\b")
_HOOK_HEAD = re.compile(r"^(?P<name>.+?)\.+(?:\([^()]*\))?(?P<status>Passed|Failed|Skipped)$")
_HOOK_LINE = re.compile(r"^(?P<path>[^\s:][^:]*):(?P<line>\d+)(?::\d+)?:?\s?(?P<msg>.*)$")
_HOOK_WORD = re.compile(r"^(?P<path>[^:]+)(?::(?P<line>\d+))?(?::\d+)?:?$")
_HOOK_INIT = re.compile(
    r"^\[INFO\] (?:Initializing|Installing) environment for (?P<repo>.+?)\.?$", re.M
)
_GO_LINE = re.compile(r"^(?:vet: )?(?P<path>[^\s:][^:]*\.go):(?P<line>\d+)(?::\d+)?: (?P<msg>.+)$")


def clean_text(text: str) -> str:
    """What a linter printed, safe to show and to send: no control sequences, no secrets."""
    return redact(strip_controls(text))


def relative(path: str, worktree: Path, cwd: str = ".") -> str:
    """`path` as the linter printed it (absolute, or relative to `cwd` in the worktree) made
    relative to the worktree's root; an absolute path outside it is kept as printed."""
    joined = Path(path) if os.path.isabs(path) else worktree / cwd / path
    normal = Path(os.path.normpath(joined))
    try:
        return PurePosixPath(normal.relative_to(worktree)).as_posix()
    except ValueError:
        return path


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


def _objects(value: Any) -> list[dict[str, Any]]:
    """The JSON objects in the list `value` (nothing when it is no list)."""
    if not isinstance(value, list):
        return []
    return [cast(dict[str, Any], v) for v in cast(list[Any], value) if isinstance(v, dict)]


def _finding(
    path: str, line: Any, end: Any, severity: Severity, message: str, source: str
) -> Finding:
    """A linter's finding: `end` kept only past `line`, the message cleaned."""
    first = int(line or 0)
    last = int(end or first)
    return Finding(
        path=path,
        line=first,
        end_line=last if last > first else None,
        severity=severity,
        message=clean_text(message),
        source=source,
    )


def parse_ruff(stdout: str, worktree: Path, cwd: str = ".") -> tuple[Finding, ...]:
    """`ruff check --output-format=json`: a list of violations, each with its code (None or
    "invalid-syntax" for a file that does not parse) and 1-based row."""
    found: list[Finding] = []
    for entry in _objects(_loads(stdout)):
        code = entry.get("code") or "syntax"
        found.append(
            _finding(
                relative(str(entry.get("filename", "")), worktree, cwd),
                cast(dict[str, Any], entry.get("location") or {}).get("row"),
                cast(dict[str, Any], entry.get("end_location") or {}).get("row"),
                "error",
                f"{code} {entry.get('message', '')}".strip(),
                f"ruff:{code}",
            )
        )
    return tuple(found)


def parse_eslint(stdout: str, worktree: Path, cwd: str = ".") -> tuple[Finding, ...]:
    """`eslint -f json`: one result per file, each message with severity 1 (warning) or 2
    (error); a message without a rule is a parse error."""
    found: list[Finding] = []
    for result in _objects(_loads(stdout)):
        path = relative(str(result.get("filePath", "")), worktree, cwd)
        for message in _objects(result.get("messages")):
            rule = message.get("ruleId") or "syntax"
            if not message.get("ruleId") and _IGNORED.match(str(message.get("message", ""))):
                continue  # a changed file the project's ignore patterns leave out
            found.append(
                _finding(
                    path,
                    message.get("line"),
                    message.get("endLine"),
                    "error" if message.get("severity") == 2 else "warning",
                    f"{message.get('message', '')} ({rule})",
                    f"eslint:{rule}",
                )
            )
    return tuple(found)


def parse_go_vet(stderr: str, worktree: Path, cwd: str = ".") -> tuple[Finding, ...]:
    """`go vet` prints `# package` headers and `file:line:col: message` lines (compile
    errors as `vet: file:line:col: ...`), paths relative to the module's folder."""
    found: list[Finding] = []
    for line in stderr.splitlines():
        match = _GO_LINE.match(line.strip())
        if match is not None:
            path = relative(match["path"], worktree, cwd)
            found.append(_finding(path, match["line"], None, "error", match["msg"], "go:vet"))
    return tuple(found)


def parse_cargo(stdout: str, worktree: Path, cwd: str = ".") -> tuple[Finding, ...]:
    """`cargo check --message-format=json`: one JSON object a line; compiler messages carry
    a level and spans, the primary one saying where (paths relative to the package)."""
    found: list[Finding] = []
    for entry in _objects([_loads(line) for line in stdout.splitlines()]):
        if entry.get("reason") != "compiler-message":
            continue
        message = cast(dict[str, Any], entry.get("message") or {})
        level = message.get("level")
        primary = next((s for s in _objects(message.get("spans")) if s.get("is_primary")), None)
        if level not in ("error", "warning") or primary is None:
            continue  # notes, and "aborting due to N previous errors" (no place)
        code = cast(dict[str, Any], message.get("code") or {}).get("code") or level
        found.append(
            _finding(
                relative(str(primary.get("file_name", "")), worktree, cwd),
                primary.get("line_start"),
                primary.get("line_end"),
                "error" if level == "error" else "warning",
                f"{message.get('message', '')} ({code})",
                f"cargo:{code}",
            )
        )
    return tuple(found)


@dataclass(frozen=True, slots=True)
class _Hook:
    name: str
    id: str
    status: str
    modified: bool
    body: tuple[str, ...]


def _hooks(stdout: str) -> list[_Hook]:
    """The hooks `pre-commit run --color=never` reported: a `name....Status` line each, then
    for a failure `- hook id: x`, `- exit code: n`, `- files were modified by this hook`, a
    blank line and what the hook printed."""
    hooks: list[_Hook] = []
    head: re.Match[str] | None = None
    lines: list[str] = []

    def close() -> None:
        if head is None:
            return
        details = [ln for ln in lines if ln.startswith("- ")]
        ids = [d.removeprefix("- hook id: ") for d in details if d.startswith("- hook id: ")]
        hook_id = ids[0] if ids else head["name"]
        body = tuple(ln for ln in lines if not ln.startswith("- ") and ln.strip())
        modified = "- files were modified by this hook" in details
        hooks.append(_Hook(head["name"], hook_id, head["status"], modified, body))

    for line in strip_controls(stdout).splitlines():
        match = _HOOK_HEAD.match(line)
        if match is not None:
            close()
            head, lines = match, []
        else:
            lines.append(line)
    close()
    return hooks


def parse_pre_commit(stdout: str, worktree: Path, cwd: str = ".") -> tuple[Finding, ...]:
    """`pre-commit run --files ...`: each failed hook's `path:line[:col]: message` lines as
    findings (pygrep, flake8 and most checkers print them); a failed hook that printed none
    is one finding on the first file it names (or the configuration), saying what it printed."""
    found: list[Finding] = []
    for hook in _hooks(stdout):
        if hook.status != "Failed":
            continue
        source = f"pre-commit:{hook.id}"
        placed = [m for m in map(_HOOK_LINE.match, hook.body) if m is not None]
        placed = [m for m in placed if _task_file(m["path"], worktree, cwd)]
        for match in placed:
            path = relative(match["path"], worktree, cwd)
            message = f"{hook.id}: {match['msg'].strip()}"
            found.append(_finding(path, match["line"], None, "error", message, source))
        if placed:
            continue
        # None in the `path:line: message` form: the first file it names (`--> a.py:1:2`,
        # `Fixing a.py`), else the configuration, with what it printed.
        words = (_HOOK_WORD.match(w) for ln in hook.body for w in ln.split())
        named = [m for m in words if m is not None and _task_file(m["path"], worktree, cwd)]
        where = relative(named[0]["path"], worktree, cwd) if named else ".pre-commit-config.yaml"
        line = named[0]["line"] if named else 0
        said = " ".join(" ".join(hook.body).split())[:300]
        what = "changed the files" if hook.modified else "failed"
        message = f"hook {hook.id} ({hook.name}) {what}" + (f": {said}" if said else "")
        found.append(_finding(where, line, None, "error", message, source))
    return tuple(found)


def _task_file(path: str, worktree: Path, cwd: str) -> bool:
    """True when a hook's `path` names a file in the worktree."""
    rel = relative(path, worktree, cwd)
    return not rel.startswith(("/", "../")) and (worktree / rel).is_file()


def pre_commit_fixers(stdout: str) -> tuple[str, ...]:
    """The hooks that changed files (formatters, fixers): a second run judges what they left."""
    return tuple(h.id for h in _hooks(stdout) if h.status == "Failed" and h.modified)


def pre_commit_unavailable(stdout: str, stderr: str) -> str | None:
    """Why pre-commit could not run the hooks, when it is that some are not installed in the
    user's pre-commit cache (the sandbox is offline and shows the cache read-only); else
    None."""
    text = strip_controls(f"{stdout}\n{stderr}")
    if "An unexpected error has occurred" not in text:
        return None
    wanted = _HOOK_INIT.search(text)
    if wanted is None and "Read-only file system" not in text:
        return None
    which = f"the hooks of {wanted['repo']} are" if wanted else "some hooks are"
    return clean_text(
        f"{which} not installed in your pre-commit cache (sandboxed runs are offline and use "
        "it read-only): run `pre-commit install-hooks` in your repository, then run the task "
        "again"
    )
