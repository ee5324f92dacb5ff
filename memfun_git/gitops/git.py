"""Running the `git` program on the host: one helper, one environment rule.

memfun runs git itself only where pygit2 cannot do the job (LFS checkouts, signing, reading
the configuration as git does). Every such call goes through `run_git`:
- git is found on PATH's absolute folders only: git runs in a worktree whose files a task
  wrote, and a relative PATH entry (`.`, an empty one, `node_modules/.bin`) would run theirs;
  what git starts in turn (gpg, ssh-keygen, git-lfs) is looked up on the same PATH;
- git's repository-local variables are dropped (`git rev-parse --local-env-vars`): git sets
  `GIT_INDEX_FILE`, `GIT_DIR` and others for the hooks it runs, and memfun may run inside a
  pre-commit hook; with them kept, a `git worktree add` would work on the user's index;
- a failure is one `RepoError` naming the git subcommand (not `-c`), with git's last line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from memfun_git.errors import RepoError
from memfun_git.redact import redact

__all__ = ["LOCAL_ENV_VARS", "GitFailed", "git_environ", "git_program", "run_git", "subcommand"]

LOCAL_ENV_VARS = frozenset(
    (
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_CONFIG",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "GIT_OBJECT_DIRECTORY",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_IMPLICIT_WORK_TREE",
        "GIT_GRAFT_FILE",
        "GIT_INDEX_FILE",
        "GIT_NO_REPLACE_OBJECTS",
        "GIT_REPLACE_REF_BASE",
        "GIT_PREFIX",
        "GIT_INTERNAL_SUPER_PREFIX",
        "GIT_SHALLOW_FILE",
        "GIT_COMMON_DIR",
    )
)
"""What `git rev-parse --local-env-vars` prints (git 2.39), and the GIT_CONFIG_KEY_<n> and
GIT_CONFIG_VALUE_<n> pairs that GIT_CONFIG_COUNT announces."""

_CONFIG_PAIRS = ("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_")
_OPTIONS_WITH_VALUE = frozenset(("-c", "-C", "--git-dir", "--work-tree", "--namespace"))


class GitFailed(RepoError):
    """A git command exited with an error; `returncode` and `stderr` are git's."""

    def __init__(self, message: str, hint: str, *, returncode: int, stderr: str) -> None:
        super().__init__(message, hint)
        self.returncode = returncode
        self.stderr = stderr


def git_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """`environ` (default: ours) for a host-side git: only PATH's absolute folders, none of
    git's repository-local variables."""
    env = os.environ if environ is None else environ
    path = env.get("PATH", os.defpath)
    absolute = os.pathsep.join(p for p in path.split(os.pathsep) if os.path.isabs(p))
    kept = {
        name: value
        for name, value in env.items()
        if name not in LOCAL_ENV_VARS
        and not name.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))
    }
    kept["PATH"] = absolute
    return kept


def git_program(environ: Mapping[str, str] | None = None) -> str | None:
    """The `git` on PATH's absolute folders, or None."""
    return shutil.which("git", path=git_environ(environ)["PATH"])


def subcommand(args: Sequence[str]) -> str:
    """The git subcommand in `args` (`worktree` in `-c core.x=y worktree add ...`)."""
    skip = False
    for arg in args:
        if skip:
            skip = False
            continue
        if arg in _OPTIONS_WITH_VALUE:
            skip = True
            continue
        if not arg.startswith("-"):
            return arg
    return args[0] if args else "git"


def run_git(
    args: Sequence[str],
    *,
    cwd: str | Path | None,
    environ: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    timeout: float | None = None,
    hint: str = "run `memfun doctor` to check git",
) -> subprocess.CompletedProcess[str]:
    """Run `git --no-optional-locks <args>` in `cwd` with `environ` (default: ours) made safe.

    `check`: a non-zero exit raises `GitFailed` naming the subcommand and git's last line."""
    env = git_environ(environ)
    git = shutil.which("git", path=env["PATH"])
    name = subcommand(args)
    if git is None:
        raise RepoError(f"git {name} cannot run: git is not installed", "install git")
    try:
        proc = subprocess.run(
            [git, "--no-optional-locks", *args],
            cwd=cwd,
            env=env,
            input=input,
            capture_output=True,
            text=True,
            encoding="utf-8",
            errors="surrogateescape",
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise RepoError(f"git {name} did not finish within {timeout:g} s", hint) from None
    except OSError as exc:
        raise RepoError(f"git {name} cannot run: {exc.strerror}", hint) from None
    if check and proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        detail = lines[-1] if lines else f"exit code {proc.returncode}"
        raise GitFailed(
            f"git {name} failed: {redact(detail)}",
            hint,
            returncode=proc.returncode,
            stderr=proc.stderr,
        )
    return proc
