"""The bubblewrap sandbox (default): no network, no secrets, nothing outside the worktree.

bwrap is started with an allowlisted environment (never ours: `/proc/1/environ` of the sandbox
shows what bwrap got) and `--unshare-all --die-with-parent --new-session --cap-drop ALL`;
a fresh /proc and /dev; tmpfs on /tmp, /run and $HOME (before any bind below them). Bound
read-only: the system folders, the parts of /etc programs need, each tool's resolved exec
chain, the git common dir (so `git status` and `git diff` work and `git add` fails with git's
own read-only error), the user's node_modules at <worktree>/node_modules, `[sandbox]
extra_ro_paths`. Bound writable: the worktree, except its `.git` file. Paths of the user's tree
that the tool's environment imports from (editable installs) show the worktree's files; a
symbolic link there stays a link (it is never followed out of the worktree on the host).
Nothing else of the user's home or repository is visible.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from memfun_git.backends.protocols import RunResult
from memfun_git.config import SandboxConfig
from memfun_git.errors import SandboxUnavailable, UsageError
from memfun_git.sandbox.env import CACHE_ROOT, sandbox_environ
from memfun_git.sandbox.process import BwrapPipes, Limits, run_limited
from memfun_git.sandbox.resolve import Resolved, Resolver

__all__ = ["BubblewrapSandbox", "find_bwrap"]

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
    'bubblewrap), or opt in to unisolated runs with [sandbox] backend = "local"'
)
_ETC = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl", "ca-certificates",
    "ca-certificates.conf", "pki", "crypto-policies", "passwd", "group", "nsswitch.conf",
    "localtime", "timezone", "os-release", "debian_version", "gitconfig", "mime.types",
    "protocols", "services", "locale.alias", "locale.conf", "inputrc", "magic",
)  # fmt: skip
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
_SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin")


def find_bwrap(environ: Mapping[str, str] | None = None) -> str | None:
    env = os.environ if environ is None else environ
    return shutil.which("bwrap", path=env.get("PATH", os.defpath))


class BubblewrapSandbox:
    name = "bubblewrap"

    def __init__(
        self,
        config: SandboxConfig,
        worktree: Path,
        *,
        user_tree: Path,
        common_dir: Path,
        environ: Mapping[str, str] | None = None,
        max_processes: int = 256,
    ) -> None:
        """`max_processes`: the pids cgroup limit where one can be made (0: no cgroup; the
        PID namespace still ends every process of the command)."""
        self.config = config
        self.worktree = worktree.resolve()
        self.user_tree = user_tree.resolve()
        self.common_dir = common_dir.resolve()
        self.environ = dict(os.environ if environ is None else environ)
        bwrap = find_bwrap(self.environ)
        if bwrap is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed", INSTALL_HINT)
        self.bwrap = bwrap
        self.resolver = Resolver(
            self.user_tree, self.worktree, self.environ, common_dir=self.common_dir
        )
        self.home = self.environ.get("HOME") or str(Path.home())
        self.max_processes = max_processes

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = ".",
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
    ) -> RunResult:
        if not argv:
            raise UsageError("no command given", "name the program to run")
        inside = _inside(self.worktree, cwd)
        resolved = self.resolver.resolve(argv[0], inside)
        created = self._mount_points()
        pipes: BwrapPipes | None = None
        try:
            arguments = self.arguments(resolved, inside)
            path = [*resolved.path_dirs, *_SYSTEM_PATH]
            environment = sandbox_environ(
                self.environ,
                home=self.home,
                path=path,
                extra=self.config.extra_env,
                additions={
                    **({"VIRTUAL_ENV": resolved.venv} if resolved.venv else {}),
                    **(env or {}),
                },
            )
            limits = Limits(
                timeout=timeout if timeout is not None else self.config.timeout_seconds,
                max_output_bytes=self.config.max_output_bytes,
                max_processes=self.max_processes,
            )
            pipes = BwrapPipes()
            command = [self.bwrap, *pipes.arguments, *arguments, "--", resolved.program]
            command += argv[1:]
            given, pipes = pipes, None  # run_limited closes them
            return run_limited(
                command,
                cwd=self.worktree,
                env=environment,
                limits=limits,
                stdin=stdin,
                report_argv=argv,
                bwrap=given,
            )
        finally:
            if pipes is not None:
                pipes.close()
            for folder in created:
                _remove_if_empty(folder)

    def arguments(self, resolved: Resolved, cwd: Path) -> list[str]:
        """bwrap's options for one command (mounts are applied in this order)."""
        args = [
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop", "ALL",
            "--hostname", "memfun-sandbox",
            "--proc", "/proc",
            "--dev", "/dev",
            "--tmpfs", "/tmp",
            "--tmpfs", "/run",
            "--tmpfs", self.home,
            "--dir", CACHE_ROOT,
        ]  # fmt: skip
        for folder in _SYSTEM:
            if os.path.islink(folder):
                args += ["--symlink", os.readlink(folder), folder]
            elif os.path.isdir(folder):
                args += ["--ro-bind", folder, folder]
        for name in _ETC:
            if os.path.lexists(f"/etc/{name}"):
                args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        # Links first: a folder bound below may hold the same link, and then hides this one.
        for target, where in resolved.links:
            args += ["--symlink", target, where]
        for extra in (*resolved.ro_binds, *self.config.extra_ro_paths):
            real = os.path.realpath(os.path.expanduser(extra))
            if not _is_system(real) and os.path.exists(real):
                args += ["--ro-bind", real, real]
                if real != extra and os.path.isabs(extra) and not _is_system(extra):
                    args += ["--ro-bind", real, extra]
        args += ["--ro-bind", str(self.common_dir), str(self.common_dir)]
        args += self._editable_binds(resolved)
        args += ["--bind", str(self.worktree), str(self.worktree)]
        git_file = self.worktree / ".git"
        if git_file.is_symlink():
            # bwrap would follow it and show its target (anything on this machine) read-only.
            raise SandboxUnavailable(
                f"{git_file} is a symbolic link, not the file git made",
                "remove the worktree (memfun gc) and start the task again",
            )
        if git_file.is_file():
            args += ["--ro-bind", str(git_file), str(git_file)]
        modules = self.user_tree / "node_modules"
        if modules.is_dir() and not (self.worktree / "node_modules").is_symlink():
            args += ["--ro-bind", str(modules.resolve()), str(self.worktree / "node_modules")]
        args += ["--chdir", str(cwd)]
        return args

    def _editable_binds(self, resolved: Resolved) -> list[str]:
        """Show the worktree's files at the user-tree paths an editable install imports.

        The worktree is the command's to write, so whatever is there may be a link made by an
        earlier command: a link is recreated as a link (resolved inside the sandbox, where
        only what is bound exists), and a source whose real path leaves the worktree is
        skipped. Paths bound for the tool itself (its venv, node_modules) are left alone."""
        bound = [Path(p) for p in resolved.ro_binds]
        sources: dict[Path, Path] = {}
        for path in resolved.editable:
            rel = Path(path).relative_to(self.user_tree)
            if str(rel) == ".":
                for entry in sorted(self.worktree.iterdir()):
                    if entry.name != ".git":
                        sources[self.user_tree / entry.name] = entry
            else:
                sources[self.user_tree / rel] = self.worktree / rel
        args: list[str] = []
        for dest, source in sources.items():
            if any(_contains(dest, b) or _contains(b, dest) for b in bound):
                continue
            if source.is_symlink():
                args += ["--symlink", os.readlink(source), str(dest)]
                continue
            real = Path(os.path.realpath(source))
            if real.exists() and _contains(self.worktree, real):
                args += ["--bind", str(real), str(dest)]
        return args

    def _mount_points(self) -> list[Path]:
        """Folders bwrap would create inside the worktree as mount points: made here, and
        removed afterwards when empty, so no stray folder is left in the user's task."""
        created: list[Path] = []
        modules = self.worktree / "node_modules"
        if (self.user_tree / "node_modules").is_dir() and not modules.exists():
            modules.mkdir()
            created.append(modules)
        return created


def _inside(worktree: Path, cwd: str) -> Path:
    target = (worktree / cwd).resolve()
    try:
        target.relative_to(worktree)
    except ValueError:
        raise UsageError(f"{cwd} is outside the worktree", "run commands inside it") from None
    return target


def _contains(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def _is_system(path: str) -> bool:
    return any(path == s or path.startswith(s + "/") for s in _SYSTEM)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()
