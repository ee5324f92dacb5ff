"""What a new worktree needs beyond tracked files: ignored files copied in, and the user's
setup command.

- `[workspace] include` (gitignore patterns) and a `.worktreeinclude` file at the repository
  root (the convention other agents read) name ignored files of the user's tree, such as
  `.env` or `config/local.toml`, that are copied into every worktree memfun makes. Only
  ignored files are taken (tracked ones are there already); links are never followed and never
  copied; a file over 1 MB and anything past 2,000 files or 50 MB is left out and said. The
  copies are read-only to the task (`Workspace.readonly_reason`), so they never enter a
  commit, and the values they assign (`KEY=value`, `key: value`, `key = "value"`) that could
  be secrets are registered with the redactor, so they never reach a prompt, a log or a trace.
- `[workspace] link`: ignored folders of the user's tree (`node_modules`, `.venv`) linked into
  the worktree, so tools run without a fresh install. The task cannot write through them: the
  edit guard refuses paths beyond a link, and the sandbox shows their targets read-only. They
  are removed before the worktree's work is judged, and a `dir/` ignore pattern does not match
  a link, so they are kept out of the worktree's dirty paths while the task runs.
- `[workspace] setup`: the user's own command (not the model's), run by `sh -c` in the new
  task worktree with the user's environment (network as the user has it) and a time limit,
  before any model call; a failure or a time-out fails the task with its output's last lines.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.errors import TaskFailed
from memfun_git.redact import redact, register_secret

if TYPE_CHECKING:
    import pygit2

__all__ = [
    "INCLUDE_FILE",
    "Included",
    "SetupRun",
    "copy_included",
    "include_patterns",
    "link_folders",
    "run_setup",
    "suggested",
    "toml_list",
    "unlink_folders",
]

INCLUDE_FILE = ".worktreeinclude"
_MAX_FILE = 1024 * 1024
_MAX_FILES = 2_000
_MAX_BYTES = 50 * 1024 * 1024
_ASSIGNMENT = re.compile(
    r"""^\s*(?:export\s+)?["']?(?P<key>[\w.-]+)["']?\s*[:=]\s*["']?(?P<value>[^"'#\n]*?)["']?\s*,?\s*$"""
)
_SHOWN_LINES = 20
_MIN_SECRET = 8
_SECRET_KEY = re.compile(r"key|token|secret|passw|pwd|auth|credential|dsn|cookie|session", re.I)


@dataclass(frozen=True, slots=True)
class Included:
    copied: tuple[str, ...] = ()
    left_out: tuple[tuple[str, str], ...] = ()
    """(path, why) of matching files not copied."""


@dataclass(frozen=True, slots=True)
class SetupRun:
    command: str
    exit_code: int
    seconds: float
    output: str
    """The last lines of its output, redacted."""


def include_patterns(user_tree: Path, configured: Sequence[str]) -> list[str]:
    """The configured patterns, then those of `.worktreeinclude` (comments and blanks out)."""
    patterns = [p for p in configured if p.strip()]
    try:
        text = (user_tree / INCLUDE_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    patterns += [line.rstrip() for line in text.splitlines() if line.strip() and not
                 line.lstrip().startswith("#")]  # fmt: skip
    return patterns


def copy_included(user: pygit2.Repository, user_tree: Path, worktree: Path,
                  patterns: Sequence[str]) -> Included:  # fmt: skip
    """Copy the ignored files of `user_tree` that `patterns` match into `worktree`."""
    if not patterns:
        return Included()
    import pathspec

    spec = pathspec.GitIgnoreSpec.from_lines(patterns)
    copied: list[str] = []
    left_out: list[tuple[str, str]] = []
    total = 0
    for rel in _ignored_files(user, user_tree):
        if not spec.match_file(rel):
            continue
        source = user_tree / rel
        try:
            info = os.lstat(source)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            left_out.append((rel, "not a regular file (links are never followed)"))
            continue
        if info.st_size > _MAX_FILE:
            left_out.append((rel, "over 1 MB"))
            continue
        if len(copied) >= _MAX_FILES or total + info.st_size > _MAX_BYTES:
            left_out.append((rel, "past 2,000 files or 50 MB"))
            continue
        target = worktree / rel
        if os.path.lexists(target) or _through_link(worktree, rel):
            left_out.append((rel, "the worktree has that path already"))
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target, follow_symlinks=False)
        os.chmod(target, stat.S_IMODE(info.st_mode) | stat.S_IRUSR)
        _register_values(target)
        copied.append(rel)
        total += info.st_size
    return Included(tuple(copied), tuple(left_out))


def link_folders(
    user: pygit2.Repository, user_tree: Path, worktree: Path, names: Sequence[str]
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Link each ignored folder `names` of the user's tree into `worktree` (absolute links);
    (linked paths, (path, why) of those not linked)."""
    linked: list[str] = []
    left_out: list[tuple[str, str]] = []
    for name in dict.fromkeys(n.strip().strip("/") for n in names if n.strip()):
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or ".git" in parts:
            left_out.append((name, "not a folder inside the repository"))
            continue
        source = user_tree / name
        if not source.is_dir():
            left_out.append((name, "no such folder in your tree"))
            continue
        if not user.path_is_ignored(name) and not user.path_is_ignored(name + "/"):
            left_out.append((name, "not ignored by git (a tracked or untracked folder)"))
            continue
        target = worktree / name
        if os.path.lexists(target) or _through_link(worktree, name) or not target.parent.is_dir():
            left_out.append((name, "the worktree has that path already"))
            continue
        os.symlink(source, target, target_is_directory=True)
        linked.append(name)
    return tuple(linked), tuple(left_out)


_SUGGESTED_LINKS = ("node_modules", ".venv", "venv")
_SUGGESTED_INCLUDES = (".env", ".env.local")


def suggested(user_tree: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(include, link) this project would likely want: ignored `.env` files, and ignored
    `node_modules` and virtualenv folders. Shown by `memfun doctor`, never applied unasked."""
    import pygit2

    try:
        repo = pygit2.Repository(str(user_tree))
    except pygit2.GitError:
        return (), ()
    try:
        include = tuple(
            name
            for name in _SUGGESTED_INCLUDES
            if (user_tree / name).is_file() and repo.path_is_ignored(name)
        )
        link = tuple(
            name
            for name in _SUGGESTED_LINKS
            if (user_tree / name).is_dir()
            and (repo.path_is_ignored(name) or repo.path_is_ignored(name + "/"))
        )
    finally:
        repo.free()
    return include, link


def toml_list(items: Sequence[str]) -> str:
    """`["a", "b"]`: a list as the lines `memfun init` and `doctor` suggest for memfun.toml."""
    return "[" + ", ".join(f'"{item}"' for item in items) + "]"


def unlink_folders(worktree: Path, linked: Sequence[str]) -> None:
    """Remove the links `link_folders` made (never what they point at)."""
    for name in linked:
        target = worktree / name
        if target.is_symlink():
            target.unlink()


def run_setup(command: str, worktree: Path, *, timeout: float,
              environ: Mapping[str, str] | None = None) -> SetupRun:  # fmt: skip
    """Run the user's setup command in `worktree`; raise `TaskFailed` when it fails."""
    env = dict(os.environ if environ is None else environ)
    started = time.monotonic()
    try:
        done = subprocess.run(
            ["sh", "-c", command],
            cwd=worktree,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired as exc:
        shown = _tail((exc.stdout or b"") + (exc.stderr or b""))
        raise TaskFailed(
            f"[workspace] setup `{command}` did not finish within {timeout:g} s"
            + (f": {shown.splitlines()[-1]}" if shown else ""),
            "raise [workspace] setup_timeout_seconds, or make the command faster",
        ) from None
    except OSError as exc:
        raise TaskFailed(f"[workspace] setup `{command}` cannot run: {exc.strerror}",
                         "check the command in [workspace] setup") from None  # fmt: skip
    seconds = time.monotonic() - started
    output = _tail(done.stdout + done.stderr)
    run = SetupRun(command, done.returncode, seconds, output)
    if done.returncode != 0:
        last = output.splitlines()[-1] if output else f"exit code {done.returncode}"
        raise TaskFailed(
            f"[workspace] setup `{command}` failed (exit {done.returncode}): {last}",
            "fix the command in [workspace] setup, or run it by hand to see all of its output",
        )
    return run


def _tail(data: bytes) -> str:
    text = data.decode("utf-8", errors="replace")
    return redact("\n".join(text.strip().splitlines()[-_SHOWN_LINES:]))


def _ignored_files(user: pygit2.Repository, user_tree: Path) -> Iterator[str]:
    """The ignored files of the user's tree (ignored folders walked, links not followed)."""
    import pygit2

    status = user.status(untracked_files="all", ignored=True)
    for path, flags in sorted(status.items()):
        if not flags & pygit2.GIT_STATUS_IGNORED:
            continue
        if path.endswith("/"):
            yield from _walk(user_tree, path.rstrip("/"))
        else:
            yield path


def _walk(root: Path, folder: str) -> Iterator[str]:
    for here, dirs, files in os.walk(root / folder, followlinks=False):
        dirs[:] = [d for d in dirs if d != ".git"]
        base = Path(here).relative_to(root).as_posix()
        for name in files:
            yield f"{base}/{name}"


def _through_link(worktree: Path, rel: str) -> bool:
    parent = worktree
    for part in rel.split("/")[:-1]:
        parent = parent / part
        if parent.is_symlink():
            return True
    return False


def _register_values(path: Path) -> None:
    """The file's values that could be secrets are secrets from now on: every value of a
    secret-named key, and any other value of 8 characters or more that mixes kinds of
    characters (a plain word such as `development` or `localhost` would blank out the code)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        found = _ASSIGNMENT.match(line)
        if found is None:
            continue
        value = found.group("value").strip()
        if len(value) < _MIN_SECRET:
            continue
        if _SECRET_KEY.search(found.group("key")) or _mixed(value):
            register_secret(value)


def _mixed(value: str) -> bool:
    kinds = (str.islower, str.isupper, str.isdigit, lambda c: not c.isalnum())
    return sum(any(test(c) for c in value) for test in kinds) >= 2
