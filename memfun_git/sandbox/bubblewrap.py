"""The bubblewrap sandbox (default): no network, no secrets, nothing outside the worktree.

bwrap is started with an allowlisted environment (never ours: `/proc/1/environ` of the sandbox
shows what bwrap got) and `--unshare-all --die-with-parent --new-session --cap-drop ALL`,
with a seccomp filter that keeps the kernel keyrings (memfun's session keyring) out of reach;
a fresh /proc (its /proc/sys read-only: root in the sandbox is root to sysctls) and /dev;
tmpfs on /tmp, /run, /dev/shm and $HOME (before any bind below them), sized so that together
they take at most half of the memory (where bwrap knows `--size`); everything else of the
sandbox's own root and /dev read-only. Bound read-only: the system folders, the parts of /etc
programs need (never /etc/ssl/private), each tool's resolved exec chain, a view of the git
common dir holding only the task's branch and history, with cleaned git config files
(`gitview.py`: `git status`, `git diff` and `git log` work, `git add` fails with git's own
read-only error, and no credential, other branch, stash or unreachable object is there),
the user's node_modules at
<worktree>/node_modules, `[sandbox] extra_ro_paths` (never one that shows the home or the
repository whole), the user's pre-commit cache when the project has a `.pre-commit-config.yaml`
(`precommit.py`). Bound writable: the worktree, except its `.git` file. Paths of the user's
tree that the tool's environment imports from (editable installs) show the worktree's files; a
symbolic link there stays a link (it is never followed out of the worktree on the host).
Nothing else of the user's home or repository is visible.

After each command, named pipes and sockets it left in the worktree (and links to named pipes)
are removed, and folder permissions restored: see `gitops.tidy`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import weakref
from collections.abc import Mapping, Sequence
from pathlib import Path

from memfun_git.backends.protocols import RunResult
from memfun_git.config import SandboxConfig
from memfun_git.errors import ConfigError, SandboxUnavailable, UsageError
from memfun_git.gitops.tidy import Tidier
from memfun_git.sandbox.env import CACHE_ROOT, sandbox_environ
from memfun_git.sandbox.gitview import GitView
from memfun_git.sandbox.installs import is_system
from memfun_git.sandbox.precommit import CONFIG as PRE_COMMIT_CONFIG
from memfun_git.sandbox.precommit import pre_commit_cache
from memfun_git.sandbox.process import (
    BwrapPipes,
    Limits,
    OutputSink,
    Started,
    run_limited,
    start_limited,
)
from memfun_git.sandbox.resolve import Resolved, Resolver
from memfun_git.sandbox.seccomp import keyring_filter

__all__ = ["BubblewrapSandbox", "find_bwrap"]

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: apt-get install bubblewrap; Fedora: dnf install "
    'bubblewrap), or opt in to unisolated runs with [sandbox] backend = "local"'
)
_ETC = (
    "ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "ssl", "ca-certificates",
    "ca-certificates.conf", "pki", "crypto-policies", "passwd", "group", "nsswitch.conf",
    "localtime", "timezone", "os-release", "debian_version", "mime.types",
    "protocols", "services", "locale.alias", "locale.conf", "inputrc", "magic",
)  # fmt: skip
_SYSTEM = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
_SYSTEM_PATH = ("/usr/local/bin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/sbin", "/sbin")
_PRIVATE_KEYS = ("/etc/ssl/private", "/etc/pki/tls/private")
"""Hidden under /etc folders that are bound (readable to root, and root may run memfun)."""
_SIZE_SUPPORT: dict[str, bool] = {}


def find_bwrap(environ: Mapping[str, str] | None = None) -> str | None:
    """bwrap on PATH's absolute folders: a relative entry (`.`, an empty one) would find a
    `bwrap` in the folder memfun runs bwrap in, the worktree."""
    env = os.environ if environ is None else environ
    return shutil.which("bwrap", path=_absolute_path(env.get("PATH", os.defpath)))


def _absolute_path(path: str) -> str:
    return os.pathsep.join(p for p in path.split(os.pathsep) if os.path.isabs(p))


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
        max_tmpfs_bytes: int | None = None,
    ) -> None:
        """`max_processes`: the pids cgroup limit where one can be made (0: no cgroup; the
        PID namespace still ends every process of the command). `max_tmpfs_bytes`: what the
        sandbox's tmpfs mounts may hold together (default: half of the memory); /tmp gets
        half of it, $HOME a quarter, /run and /dev/shm an eighth each."""
        self.config = config
        self.worktree = worktree.resolve()
        self._tidier = Tidier(self.worktree)
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
        self.max_tmpfs_bytes = max_tmpfs_bytes or _half_the_memory()
        self._git_view = GitView(self.common_dir, self.worktree, self.environ)
        weakref.finalize(self, self._git_view.close)

    def close(self) -> None:
        """Remove what the sandbox keeps between commands (its view of the git dir)."""
        self._git_view.close()

    def which(self, program: str, cwd: str = ".") -> str:
        return self.resolver.resolve(program, _inside(self.worktree, cwd)).shown

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = ".",
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        on_output: OutputSink | None = None,
    ) -> RunResult:
        if not argv:
            raise UsageError("no command given", "name the program to run")
        created = self._mount_points()
        try:
            command, environment, limits, pipes = self._prepare(
                argv, cwd, timeout=timeout, env=env, read_only=False
            )
            return run_limited(  # it closes the pipes
                command,
                cwd=self.worktree,
                env=environment,
                limits=limits,
                stdin=stdin,
                report_argv=argv,
                bwrap=pipes,
                on_output=on_output,
            )
        finally:
            self._after(created)

    def spawn(self, argv: Sequence[str], *, cwd: str = ".", read_only: bool = False) -> Started:
        if not argv:
            raise UsageError("no command given", "name the program to run")
        created = self._mount_points()
        try:
            command, environment, limits, pipes = self._prepare(
                argv, cwd, timeout=None, env=None, read_only=read_only
            )
            running = start_limited(  # it closes the pipes
                command,
                cwd=self.worktree,
                env=environment,
                limits=limits,
                stdin=True,
                stderr=False,
                text=True,
                bwrap=pipes,
            )
        except BaseException:
            self._after(created)
            raise
        running.finally_(lambda: self._after(created))
        return running

    def _prepare(
        self,
        argv: Sequence[str],
        cwd: str,
        *,
        timeout: float | None,
        env: Mapping[str, str] | None,
        read_only: bool,
    ) -> tuple[list[str], dict[str, str], Limits, BwrapPipes]:
        """bwrap's command line for `argv`, its environment, limits and pipes."""
        inside = _inside(self.worktree, cwd)
        resolved = self.resolver.resolve(argv[0], inside)
        arguments = self.arguments(resolved, inside, read_only=read_only)
        path = [*resolved.path_dirs, *_SYSTEM_PATH]
        environment = sandbox_environ(
            self.environ,
            home=self.home,
            path=path,
            extra=self.config.extra_env,
            additions={
                **({"VIRTUAL_ENV": resolved.venv} if resolved.venv else {}),
                **self._pre_commit_env(),
                **(env or {}),
            },
        )
        limits = Limits(
            timeout=timeout if timeout is not None else self.config.timeout_seconds,
            max_output_bytes=self.config.max_output_bytes,
            max_memory=self.config.max_memory_mb * 1024 * 1024,
            max_processes=self.max_processes,
        )
        pipes = BwrapPipes(seccomp=keyring_filter())
        command = [self.bwrap, *pipes.arguments, *arguments, "--", resolved.program, *argv[1:]]
        return command, environment, limits, pipes

    def _after(self, created: list[Path]) -> None:
        for folder in created:
            _remove_if_empty(folder)
        self._tidier.tidy()

    def arguments(self, resolved: Resolved, cwd: Path, *, read_only: bool = False) -> list[str]:
        """bwrap's options for one command (mounts are applied in this order); `read_only`:
        the worktree too is read-only."""
        budget = self.max_tmpfs_bytes
        args = [
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--cap-drop", "ALL",
            "--hostname", "memfun-sandbox",
            "--proc", "/proc",
            "--ro-bind", "/proc/sys", "/proc/sys",
            "--dev", "/dev",
            *self._size(budget // 8), "--tmpfs", "/dev/shm",
            *self._size(budget // 2), "--tmpfs", "/tmp",
            *self._size(budget // 8), "--tmpfs", "/run",
            *self._size(budget // 4), "--tmpfs", self.home,
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
        for folder in _PRIVATE_KEYS:
            if os.path.isdir(folder) and not os.path.islink(folder):
                args += ["--tmpfs", folder, "--remount-ro", folder]
        # Links first: a folder bound below may hold the same link, and then hides this one.
        for target, where in resolved.links:
            args += ["--symlink", target, where]
        places = self.resolver.places
        for extra in self.config.extra_ro_paths:
            real = Path(os.path.realpath(os.path.expanduser(extra)))
            if not places.bindable(real):
                raise ConfigError(
                    f"[sandbox] extra_ro_paths names {extra}, which would show your home "
                    "folder, repository or task worktrees whole to sandboxed commands",
                    "name the folder the tool needs",
                )
            if not is_system(real) and real.exists():
                args += ["--ro-bind", str(real), str(real)]
                shown = os.path.abspath(os.path.expanduser(extra))
                if shown != str(real) and not is_system(Path(shown)):
                    args += ["--ro-bind", str(real), shown]  # also where the user named it
        hooks = self._pre_commit_cache()
        if hooks is not None:
            args += ["--ro-bind", str(hooks), str(hooks)]
        for bind in resolved.ro_binds:
            real = Path(os.path.realpath(bind))
            if is_system(real) or not real.exists():
                continue
            if not places.bindable(real):
                # The resolver binds real paths that pass this check; anything else is a bug
                # that would show the user's files: refuse rather than run.
                raise SandboxUnavailable(
                    f"refusing to show {real} to a sandboxed command",
                    "report this; add the tool's own folder to [sandbox] extra_ro_paths",
                )
            args += ["--ro-bind", str(real), str(real)]
        args += self._git_view.arguments()
        bind = "--ro-bind" if read_only else "--bind"
        args += self._editable_binds(resolved, bind)
        args += [bind, str(self.worktree), str(self.worktree)]
        git_file = self.worktree / ".git"
        if git_file.is_symlink() or not git_file.is_file():
            # A link: bwrap would follow it and show its target (anything on this machine).
            # Missing: the command could make a `.git` folder whose config (`gpg.program`)
            # memfun's own git on the host would then follow.
            raise SandboxUnavailable(
                f"{git_file} is not the file git made",
                "remove the worktree (memfun gc) and start the task again",
            )
        args += ["--ro-bind", str(git_file), str(git_file)]
        modules = self.user_tree / "node_modules"
        if modules.is_dir() and not (self.worktree / "node_modules").is_symlink():
            args += ["--ro-bind", str(modules.resolve()), str(self.worktree / "node_modules")]
        # Last: the sandbox's own root and /dev (tmpfs bwrap makes, of no set size) read-only.
        args += ["--remount-ro", "/dev", "--remount-ro", "/"]
        args += ["--chdir", str(cwd)]
        return args

    def _pre_commit_cache(self) -> Path | None:
        """The real path of the user's pre-commit cache, shown read-only when the user's
        project has a pre-commit configuration (`precommit.py`); None: nothing to show."""
        # The user's tree decides, never the worktree: nothing a task writes chooses a mount.
        if not (self.user_tree / PRE_COMMIT_CONFIG).is_file():
            return None
        cache = Path(os.path.realpath(pre_commit_cache(self.environ, self.home)))
        if not cache.is_dir() or is_system(cache) or not self.resolver.places.bindable(cache):
            return None
        return cache

    def _pre_commit_env(self) -> dict[str, str]:
        hooks = self._pre_commit_cache()
        return {"PRE_COMMIT_HOME": str(hooks)} if hooks is not None else {}

    def _size(self, size: int) -> list[str]:
        """`--size` for the next tmpfs, where this bwrap knows it (0.7 and later)."""
        supported = _SIZE_SUPPORT.get(self.bwrap)
        if supported is None:
            try:
                done = subprocess.run(
                    [self.bwrap, "--help"], capture_output=True, text=True, timeout=10, check=False
                )
                supported = "--size" in done.stdout
            except (OSError, subprocess.TimeoutExpired):
                supported = False
            _SIZE_SUPPORT[self.bwrap] = supported
        return ["--size", str(max(size, 1 << 20))] if supported else []

    def _editable_binds(self, resolved: Resolved, bind: str) -> list[str]:
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
                args += [bind, str(real), str(dest)]
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


def _half_the_memory() -> int:
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (OSError, ValueError):
        return 4 << 30


def _inside(worktree: Path, cwd: str) -> Path:
    target = (worktree / cwd).resolve()
    try:
        target.relative_to(worktree)
    except ValueError:
        raise UsageError(f"{cwd} is outside the worktree", "run commands inside it") from None
    return target


def _contains(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        folder.rmdir()
