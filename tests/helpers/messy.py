"""A user's repository as it really looks, and a byte-exact snapshot of everything in it.

`make_messy_repo` builds a real repository with several commits, a staged change, an unstaged
change, deletions (staged and not), untracked files, ignored files and an ignored folder, a stash
entry made before further changes, CRLF files (one stored as is, one normalised by
`.gitattributes`), a committed and an untracked symlink, and unicode file names. Variants leave
it mid-rebase, mid-merge or on a detached HEAD.

`make_leftovers` leaves in a worktree what a command can make there and host-side code must
survive: named pipes called `.gitignore` and `.gitattributes` (one inside a folder of mode 311),
a socket, a `chmod 0` folder, folders nested 150 deep, a name that is not UTF-8.

`Child` runs memfun in a real process (the `memfun` command, or Python code using the
package) that a test can stop as a user or the system would: SIGKILL when it is ready, to leave
what a crashed run leaves.

`snapshot` reads the working tree (untracked and ignored files too, symlinks as their targets)
and the git state a task must never touch (index, HEAD, refs, stash log, config, merge and
rebase state), byte for byte. Reading never goes through `git status`: it rewrites the index.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
from pathlib import Path

__all__ = [
    "MEMFUN_REF_PREFIXES",
    "PROJECT",
    "VARIANTS",
    "Child",
    "add_submodule",
    "make_leftovers",
    "make_messy_repo",
    "run_git",
    "snapshot",
    "without_memfun_refs",
]

VARIANTS = ("plain", "mid-rebase", "mid-merge", "detached")

PROJECT = Path(__file__).resolve().parents[2]
"""The checkout under test: children import memfun_git from here."""

OWNER_NAME = "Messy Owner"
OWNER_EMAIL = "owner@example.org"

MEMFUN_REF_PREFIXES = (
    "git/refs/heads/memfun/",
    "git/refs/heads/memfun-agents/",
    "git/refs/memfun/",
    "git/refs/notes/memfun",
)
"""Snapshot keys of refs that memfun itself owns (its branches, attempts and notes)."""

# Files of .git that hold the state of an operation the user is in the middle of.
_STATE_FILES = (
    "HEAD",
    "index",
    "config",
    "packed-refs",
    "logs/refs/stash",
    "MERGE_HEAD",
    "MERGE_MSG",
    "MERGE_MODE",
    "ORIG_HEAD",
    "REBASE_HEAD",
    "AUTO_MERGE",
    "CHERRY_PICK_HEAD",
)
_STATE_FOLDERS = ("refs", "rebase-merge", "rebase-apply")

# The messy repository's git runs with no system or global configuration, whatever the caller's.
_HERMETIC_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_AUTHOR_NAME": OWNER_NAME,
    "GIT_AUTHOR_EMAIL": OWNER_EMAIL,
    "GIT_COMMITTER_NAME": OWNER_NAME,
    "GIT_COMMITTER_EMAIL": OWNER_EMAIL,
    "GIT_EDITOR": "true",
    "GIT_TERMINAL_PROMPT": "0",
}


def run_git(repo: Path, *args: str, check: bool = True) -> str:
    """Run git in `repo` read-only-safe (`--no-optional-locks`); return its stdout."""
    proc = subprocess.run(
        ["git", "--no-optional-locks", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")
    return proc.stdout


def _setup_git(repo: Path, *args: str, check: bool = True) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_HERMETIC_ENV)
    proc = subprocess.run(
        ["git", *args], cwd=repo, capture_output=True, text=True, check=False, env=env
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}): {proc.stderr}")


def _write(repo: Path, rel: str, data: str | bytes) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    path.write_bytes(data)


def make_messy_repo(root: Path, variant: str = "plain") -> Path:
    """Build a messy repository at `root` (created) and return it.

    Variants: "plain" (on branch main), "mid-rebase" (a rebase of `topic` onto main stopped on a
    conflict in README.md), "mid-merge" (a merge of `topic` into main stopped on the same
    conflict), "detached" (HEAD detached at main~1). All carry the same uncommitted mess.
    """
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; pick one of {', '.join(VARIANTS)}")
    repo = root
    repo.mkdir(parents=True, exist_ok=True)
    _setup_git(repo, "init", "-q", "--template=", "-b", "main")
    _setup_git(repo, "config", "core.autocrlf", "false")
    _setup_git(repo, "config", "user.name", OWNER_NAME)
    _setup_git(repo, "config", "user.email", OWNER_EMAIL)

    # Commit 1: the project, line endings, links, unicode names.
    _write(repo, "README.md", "# Messy\n\nA project as it really looks.\n")
    _write(repo, "src/app.py", "def add(a, b):\n    return a + b\n")
    _write(repo, ".gitignore", "*.log\nbuild/\n")
    _write(repo, ".gitattributes", "*.bat text eol=crlf\n")
    _write(repo, "run.bat", b"@echo off\r\necho running\r\n")
    _write(repo, "dos.txt", b"stored with CRLF\r\nas the user wrote it\r\n")
    _write(repo, "données/été.txt", "il fait chaud\n")
    _write(repo, "日本.md", "# 日本\n")
    _write(repo, "obsolete.txt", "to be removed with git rm\n")
    _write(repo, "gone.txt", "to be deleted from the working tree\n")
    os.symlink("README.md", repo / "link-to-readme")
    _setup_git(repo, "add", "-A")
    _setup_git(repo, "commit", "-q", "-m", "initial project")
    _setup_git(repo, "tag", "-a", "v1", "-m", "first release")

    # Commit 2: more code.
    _write(
        repo,
        "src/app.py",
        "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    )
    _write(repo, "src/util.py", "def clamp(x, lo, hi):\n    return max(lo, min(x, hi))\n")
    _setup_git(repo, "add", "src/app.py", "src/util.py")
    _setup_git(repo, "commit", "-q", "-m", "add sub and clamp")

    # A topic branch from commit 2 that edits README.md one way...
    _setup_git(repo, "branch", "topic")
    _setup_git(repo, "checkout", "-q", "topic")
    _write(repo, "README.md", "# Messy (topic)\n\nThe topic branch's words.\n")
    _setup_git(repo, "commit", "-q", "-am", "topic: reword README")
    _setup_git(repo, "checkout", "-q", "main")

    # ...and commit 3 on main that edits it another way.
    _write(repo, "README.md", "# Messy\n\nMain's words, which conflict.\n")
    _write(repo, "notes.txt", "notes\n")
    _setup_git(repo, "add", "README.md", "notes.txt")
    _setup_git(repo, "commit", "-q", "-m", "reword README, add notes")

    if variant == "detached":
        _setup_git(repo, "checkout", "-q", "--detach", "HEAD~1")

    # A stash entry, made on a clean tree; more changes follow it.
    _write(repo, "日本.md", "# 日本\n\nstashed thoughts\n")
    _setup_git(repo, "stash", "push", "-q", "-m", "wip: japanese notes")

    if variant == "mid-rebase":
        _setup_git(repo, "checkout", "-q", "topic")
        _setup_git(repo, "rebase", "main", check=False)
        if not (repo / ".git" / "rebase-merge").is_dir():
            raise AssertionError("the rebase did not stop on a conflict")
    elif variant == "mid-merge":
        _setup_git(repo, "merge", "--no-ff", "topic", check=False)
        if not (repo / ".git" / "MERGE_HEAD").is_file():
            raise AssertionError("the merge did not stop on a conflict")

    # Uncommitted mess: staged, staged-then-changed-again, unstaged, deleted (staged and not),
    # untracked, ignored.
    _write(repo, "src/util.py", "def clamp(x, lo, hi):\n    return min(hi, max(x, lo))\n")
    _write(repo, "src/app.py", "def add(a, b):\n    return a + b  # staged\n")
    _setup_git(repo, "add", "src/util.py", "src/app.py")
    _write(repo, "src/app.py", "def add(a, b):\n    return a + b  # staged, then edited\n")
    _setup_git(repo, "rm", "-q", "obsolete.txt")
    (repo / "gone.txt").unlink()
    _write(repo, "données/été.txt", "il fait très chaud\n")
    _write(repo, "todo.txt", "untracked todo\n")
    _write(repo, "nouveau/ça.txt", "untracked, unicode\n")
    _write(repo, "windows.txt", b"untracked\r\nwith CRLF\r\n")
    os.symlink("src", repo / "untracked-link")
    _write(repo, "debug.log", "ignored log line\n")
    _write(repo, "build/out.bin", b"\x00\x01ignored build output\xff")
    _write(repo, "build/deep/cache.txt", "ignored folder, deeper\n")
    return repo


def snapshot(repo: Path) -> dict[str, bytes]:
    """Everything of `repo` a task must leave alone, byte for byte.

    Keys are `work/<path>` for the working tree (every file, untracked and ignored ones too;
    a symlink maps to `symlink:` + its target) and `git/<path>` for the git state: index, HEAD,
    config, every ref, packed-refs, the stash log, merge and rebase state.
    """
    result: dict[str, bytes] = {}
    for folder, dirnames, filenames in os.walk(repo):
        here = Path(folder)
        if here == repo:
            dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in [*dirnames, *filenames]:
            full = here / name
            rel = full.relative_to(repo).as_posix()
            if full.is_symlink():
                result["work/" + rel] = b"symlink:" + os.fsencode(os.readlink(full))
            elif name in filenames:
                result["work/" + rel] = full.read_bytes()
    git_dir = repo / ".git"
    for rel in _STATE_FILES:
        path = git_dir / rel
        if path.is_file():
            result["git/" + rel] = path.read_bytes()
    for top in _STATE_FOLDERS:
        base = git_dir / top
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file() or path.is_symlink():
                result["git/" + path.relative_to(git_dir).as_posix()] = path.read_bytes()
    return result


def without_memfun_refs(snap: dict[str, bytes]) -> dict[str, bytes]:
    """The snapshot less memfun's own refs (its branches, attempts and notes may come and go)."""
    return {k: v for k, v in snap.items() if not k.startswith(MEMFUN_REF_PREFIXES)}


class Child:
    """A real process running memfun (`memfun <args>` or `python -c <code> <args>`), with the
    test's environment and this checkout on PYTHONPATH; stdout and stderr are pipes."""

    def __init__(
        self, *args: str, code: str | None = None, cwd: Path | None = None, stdin: bool = False
    ) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT), env.get("PYTHONPATH")]))
        argv = (
            [sys.executable, "-c", code, *args]
            if code
            else [sys.executable, "-m", "memfun_git", *args]
        )
        self.proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        """Lines read before the awaited one."""
        self._pending = ""

    def wait_for(self, line: str, timeout: float = 60) -> None:
        """Read stdout until `line` (a whole line) arrives; fail with stderr if it does not.

        Reads the pipe itself (not the buffered file): select() cannot see lines a buffered
        readline already took in."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while True:
            if "\n" in self._pending:
                got, self._pending = self._pending.split("\n", 1)
                if got == line:
                    return
                self.lines.append(got + "\n")
                continue
            ready, _, _ = select.select([fd], [], [], timeout)
            chunk = os.read(fd, 65536) if ready else b""
            if not chunk:
                self.proc.kill()
                _, err = self.proc.communicate()
                raise AssertionError(f"the child never printed {line!r}: {self.lines} {err}")
            self._pending += chunk.decode(errors="replace")

    def kill(self, signum: int = signal.SIGKILL) -> int:
        """Send `signum` and wait for the child to end; its exit status."""
        self.proc.send_signal(signum)
        self.proc.communicate(timeout=60)
        return self.proc.returncode

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, "".join(self.lines) + self._pending + out, err


LEFTOVER_DEPTH = 150
NON_UTF8 = os.fsdecode(b"caf\xe9.txt")


def make_leftovers(root: Path) -> list[str]:
    """Leave the hard cases in `root`; return the paths git would call untracked work there
    (what an attempt should hold: the files, not the pipes or the socket)."""
    os.mkfifo(root / ".gitignore")
    closed = root / "closed"
    closed.mkdir()
    (closed / "inside.txt").write_text("in a folder without permissions\n")
    pipes = root / "pipes"
    pipes.mkdir()
    (pipes / "kept.txt").write_text("next to a pipe\n")
    os.mkfifo(pipes / ".gitattributes")
    deep = _deep(root, LEFTOVER_DEPTH)
    (root / NON_UTF8).write_text("a latin-1 name\n")
    with contextlib.chdir(root), socket.socket(socket.AF_UNIX) as sock:
        sock.bind("sock")  # relative: a socket's path may be at most 108 bytes
    pipes.chmod(0o311)
    closed.chmod(0)
    return sorted([NON_UTF8, "closed/inside.txt", deep, "pipes/kept.txt"])


def _deep(root: Path, depth: int) -> str:
    """`depth` nested folders with a file at the bottom, made through descriptors."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            inner = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        out = os.open("bottom.txt", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(out, b"at the bottom\n")
        os.close(out)
    finally:
        os.close(fd)
    return "d/" * depth + "bottom.txt"


def add_submodule(repo: Path, library: Path, path: str = "sub") -> str:
    """Make a one-file repository at `library`, commit it into `repo` as the submodule
    `path`; return the gitlink's commit id."""
    library.mkdir(parents=True, exist_ok=True)
    _setup_git(library, "init", "-q", "-b", "main")
    (library / "x").write_text("library file\n")
    _setup_git(library, "add", "x")
    _setup_git(library, "commit", "-q", "-m", "library")
    _setup_git(
        repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), path
    )
    _setup_git(repo, "commit", "-q", "-m", f"add submodule {path}")
    return run_git(repo, "rev-parse", f"HEAD:{path}").strip()
