"""A user's machine for the sandbox tests, the escape attempts they make, and host-side checks.

`make_user` puts the user's project (a copy of the messy repository, with an ignored `.env`)
under their home folder, next to secrets a sandboxed command must never see (`~/.ssh`, a gh
token, `~/.local/share`), and a folder under /tmp the test watches. `ATTEMPTS` are escape
attempts written as POSIX shell run inside the sandbox, in the worktree, with the user's tree,
their home and the watched folder as `$1`, `$2` and `$3`; each prints LEAK when it could read
what it must not, and whatever it wrote is looked for on the host afterwards (`Host`).

Nothing here patches memfun: the sandbox under test is the real one, bwrap included. Values
captured at import (collection, before the autouse fixture isolates HOME): the real
environment, for the uv cache and the tools CI installs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from memfun_git.backends.protocols import SandboxAdapter
from memfun_git.config import SandboxConfig
from memfun_git.gitops.worktree import Workspace
from memfun_git.sandbox import make_sandbox
from tests.helpers.messy import make_messy_repo, run_git, snapshot
from tests.helpers.require import missing, need_tool

__all__ = [
    "ATTEMPTS",
    "REAL_ENV",
    "SECRETS",
    "Attempt",
    "Host",
    "User",
    "files_of",
    "make_user",
    "need_node_tools",
    "processes_with",
    "sandbox_for",
    "uv_cache_dir",
]

REAL_ENV: dict[str, str] = dict(os.environ)
"""The environment pytest was started with (HOME not yet isolated)."""

SECRETS = {
    "OPENAI_API_KEY": "sk-memfun-sandbox-test-openai-4f1c9e",
    "GITHUB_TOKEN": "ghp_memfunSandboxTestToken7d2a0b",
    "AWS_SECRET_ACCESS_KEY": "memfun-sandbox-test-aws-9e3b51",
}
"""Put into the environment before a sandbox is made; no value may reach the sandbox."""

DOTENV = b"DATABASE_URL=postgres://owner:memfun-dotenv-secret@db/prod\n"
SSH_KEY = b"-----BEGIN OPENSSH PRIVATE KEY-----\nmemfun-ssh-secret\n"
GH_HOSTS = b"github.com:\n    oauth_token: gho_memfunGhSecret\n"
KEYRING = b"memfun-keyring-secret\n"
SECRET_WORDS = ("memfun-dotenv-secret", "memfun-ssh-secret", "gho_memfunGhSecret",
                "memfun-keyring-secret", *SECRETS.values())  # fmt: skip


@dataclass
class User:
    home: Path
    tree: Path
    """The user's own working tree: $HOME/project, a messy repository with an ignored .env."""
    watched: Path
    """A folder under /tmp that no sandboxed write may reach."""

    @property
    def common_dir(self) -> Path:
        return self.tree / ".git"


_TEMPLATE: dict[str, Path] = {}


def make_user(home: Path, watched: Path, template_root: Path) -> User:
    """The user's project under `home` (a copy of one messy repository per session)."""
    template = _TEMPLATE.get("repo")
    if template is None or not template.is_dir():
        template = make_messy_repo(template_root / "messy")
        (template / ".git" / "info").mkdir(exist_ok=True)
        with (template / ".git" / "info" / "exclude").open("a") as exclude:
            exclude.write(".env\n.venv/\nnode_modules/\n")
        (template / ".env").write_bytes(DOTENV)
        (template / "show.sh").write_text('#!/bin/sh\ncat "$@"\n')
        (template / "show.sh").chmod(0o755)
        _TEMPLATE["repo"] = template
    tree = home / "project"
    shutil.copytree(template, tree, symlinks=True)
    for rel, data in ((".ssh/id_ed25519", SSH_KEY), (".config/gh/hosts.yml", GH_HOSTS),
                      (".local/share/keyrings/login.keyring", KEYRING)):  # fmt: skip
        path = home / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    (home / "show.sh").write_text('#!/bin/sh\ncat "$@"\n')
    (home / "show.sh").chmod(0o755)
    watched.mkdir(parents=True, exist_ok=True)
    return User(home=home, tree=tree, watched=watched)


def files_of(root: Path, *skip: Path) -> dict[str, bytes]:
    """Every file under `root` byte for byte (links as their targets, not followed), except
    what lies under the folders `skip`."""
    result: dict[str, bytes] = {}
    for folder, dirnames, filenames in os.walk(root):
        here = Path(folder)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in [*dirnames, *filenames]:
            full = here / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                result[rel] = b"symlink:" + os.fsencode(os.readlink(full))
            elif name in filenames:
                result[rel] = full.read_bytes()
    return result


class Host:
    """What the sandbox must leave alone, read on the host before and after: the user's
    repository (tree, index, HEAD, refs, config: `snapshot`), every file of the git common
    dir but memfun's own state folder, `git status`, every file of the home folder (but
    memfun's worktrees under ~/.cache/memfun), the watched folder, and the task worktree's
    `.git` file."""

    def __init__(self, user: User, worktree: Path | None = None) -> None:
        self.user = user
        self.worktree = worktree
        self.before = self.read()

    def read(self) -> dict[str, object]:
        tree = self.user.tree
        state: dict[str, object] = {
            "repository": snapshot(tree),
            # memfun's own state (<common>/memfun: task records, the sandbox's object packs) aside.
            "common dir": files_of(self.user.common_dir, self.user.common_dir / "memfun"),
            "status": run_git(tree, "status", "--porcelain=v2", "--branch", "--untracked=all"),
            "home": files_of(
                self.user.home,
                self.user.home / ".cache" / "memfun",
                self.user.common_dir / "memfun",
            ),
            "watched": files_of(self.user.watched),
        }
        if self.worktree is not None:
            state["worktree .git"] = (self.worktree / ".git").read_bytes()
        return state

    def assert_untouched(self) -> None:
        after = self.read()
        for key, value in self.before.items():
            assert after[key] == value, f"the sandbox changed the user's {key}"


@dataclass(frozen=True)
class Attempt:
    id: str
    script: str
    refused: bool = True
    """The script must fail (exit non-zero), not merely leave nothing behind."""


ATTEMPTS = [
    Attempt("write-user-tree", 'echo pwned > "$1/pwned"; echo more >> "$1/README.md"', False),
    Attempt("write-home", 'echo pwned > "$2/pwned"; echo pwned >> "$2/.bashrc"', False),
    Attempt("write-watched-tmp", 'echo pwned > "$3/pwned"', False),
    Attempt("write-ref", 'echo 0000 > "$1/.git/refs/heads/evil"'),
    Attempt("write-config", 'printf "[core]\\n\\tfsmonitor = evil\\n" >> "$1/.git/config"'),
    Attempt("write-hook", 'mkdir -p "$1/.git/hooks" && echo "exit 0" > "$1/.git/hooks/pre-commit"'),
    Attempt("git-config", "git config core.fsmonitor evil"),
    Attempt("git-branch", "git branch evil"),
    Attempt("git-reset-hard", 'git -C "$1" reset --hard'),
    Attempt("git-checkout-dot", 'git -C "$1" checkout -- .'),
    Attempt(
        "git-work-tree-of-user",
        'git --git-dir="$1/.git" --work-tree="$1" checkout -f HEAD -- .; git -C "$1" clean -fdx',
        False,
    ),
    Attempt("rewrite-dot-git", 'echo "gitdir: $1/.git" > .git'),
    Attempt("remove-dot-git", "rm -f .git || mv .git moved"),
    Attempt(
        "read-secrets-env",
        'env | grep -E "API_KEY|TOKEN|SECRET" && echo LEAK; '
        "for f in /proc/1/environ /proc/self/environ /proc/[0-9]*/environ; do "
        '  tr "\\0" "\\n" < "$f" | grep -E "API_KEY|TOKEN|SECRET" && echo LEAK; done; exit 0',
        False,
    ),
    Attempt(
        "read-dotenv",
        # By its path, and by paths built from what the sandbox sees: the repository named
        # in the worktree's .git file, the venv and interpreter folders' parents.
        'common=$(sed -n "s/^gitdir: //p" .git); '
        'for f in "$1/.env" "$common/../../.env" "$common/../../../.env" "$1/../project/.env" '
        '  "$2/.ssh/id_ed25519" "$2/.config/gh/hosts.yml" '
        '  "$2/.local/share/keyrings/login.keyring"; '
        'do cat "$f" 2>/dev/null && echo LEAK; done; '
        'for d in "$common/../.." "$1" "$2" "$2/.ssh" /tmp /run; do ls -a "$d" 2>/dev/null; done; '
        "find / -path /proc -prune -o -path /usr -prune -o -path /sys -prune -o "
        '  \\( -name .env -o -name id_ed25519 -o -name hosts.yml -o -name "*.keyring" \\) '
        "  -print 2>/dev/null | grep . && echo LEAK; exit 0",
        False,
    ),
    Attempt("read-shadow", "cat /etc/shadow"),
]
"""The escape attempts both doors (the Python API and `memfun sandbox run`) are tried with."""


def processes_with(marker: str) -> list[int]:
    """Pids on this machine whose command line contains `marker`."""
    found: list[int] = []
    needle = marker.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def uv_cache_dir() -> str:
    """The real uv cache (filled by `uv sync`), for offline installs into test venvs."""
    configured = REAL_ENV.get("UV_CACHE_DIR")
    if configured:
        return configured
    uv = need_tool("uv", path=REAL_ENV.get("PATH"))
    out = subprocess.run(
        [uv, "cache", "dir"], env=REAL_ENV, capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def need_node_tools() -> Path:
    """The folder whose node_modules has eslint and eslint-plugin-simple-import-sort (.ci/run
    installs it and exports CI_NODE_TOOLS); skip without it, or fail in CI."""
    need_tool("node")
    default = Path(REAL_ENV.get("HOME", "~")).expanduser() / ".cache/memfun-ci/node-tools"
    folder = Path(REAL_ENV.get("CI_NODE_TOOLS") or default)
    if not (folder / "node_modules/.bin/eslint").exists():
        missing(f"eslint is not installed in {folder}/node_modules")
    return folder


def base_python() -> str:
    """This project's interpreter itself (not its venv's link to it)."""
    return os.path.realpath(getattr(sys, "_base_executable", sys.executable))


def iter_lines(text: str) -> Iterator[str]:
    return (line for line in text.splitlines() if line.strip())


def sandbox_for(
    ws: Workspace, user: User, environ: dict[str, str] | None = None, **config: object
) -> SandboxAdapter:
    """The configured sandbox for the task worktree `ws` of `user`'s project."""
    settings: dict[str, object] = {"timeout_seconds": 30.0, **config}
    return make_sandbox(
        SandboxConfig(**settings),  # type: ignore[arg-type]
        ws.path,
        user_tree=user.tree,
        common_dir=user.common_dir,
        environ=environ,
        confirm=(lambda argv: True) if settings.get("backend") == "local" else None,
    )
