"""The local sandbox: an explicit opt-in (`[sandbox] backend = "local"`) with no isolation.

Same environment allowlist, time limit and output cap as bubblewrap; tool caches go to a
temporary folder. A program not in `[sandbox] allow` is shown and confirmed first when a
person is at a terminal (the front end passes `confirm`), and refused otherwise; `allow` names
programs by their name, and never lets through a program in the worktree, named by its path or
found on PATH (a `./pytest` the task wrote is not the user's pytest).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from memfun_git.backends.protocols import RunResult
from memfun_git.config import SandboxConfig
from memfun_git.errors import ProgramNotExecutable, ProgramNotFound, SandboxUnavailable, UsageError
from memfun_git.gitops.tidy import Tidier
from memfun_git.sandbox.env import sandbox_environ
from memfun_git.sandbox.process import Limits, OutputSink, Started, run_limited, start_limited
from memfun_git.sandbox.resolve import user_tool_dirs

__all__ = ["LocalSandbox"]


class LocalSandbox:
    name = "local"

    def __init__(
        self,
        config: SandboxConfig,
        worktree: Path,
        *,
        user_tree: Path,
        environ: Mapping[str, str] | None = None,
        confirm: Callable[[list[str]], bool] | None = None,
    ) -> None:
        self.config = config
        self.worktree = worktree.resolve()
        self._tidier = Tidier(self.worktree)
        self.user_tree = user_tree.resolve()
        self.environ = dict(os.environ if environ is None else environ)
        self.confirm = confirm
        self._confirmed: set[tuple[str, ...]] = set()
        """Commands confirmed once, whole: a yes to `rm -r build` is no yes to `rm -r ~`."""

    def which(self, program: str, cwd: str = ".") -> str:
        target = self._cwd(cwd)
        return self._require(program, target, self._search())

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
        target = self._cwd(cwd)
        path = self._search().split(os.pathsep)
        search = (env or {}).get("PATH", self._search())
        self._require(argv[0], target, search)
        self._allow(list(argv), target, search)
        with tempfile.TemporaryDirectory(prefix="memfun-local-") as scratch:
            environment = sandbox_environ(
                self.environ,
                home=self.environ.get("HOME") or str(Path.home()),
                path=path,
                extra=self.config.extra_env,
                additions=env,
                cache_root=f"{scratch}/cache",
                tmpdir=scratch,
            )
            limits = Limits(
                timeout=timeout if timeout is not None else self.config.timeout_seconds,
                max_output_bytes=self.config.max_output_bytes,
                max_memory=self.config.max_memory_mb * 1024 * 1024,
            )
            try:
                return run_limited(
                    argv,
                    cwd=target,
                    env=environment,
                    limits=limits,
                    stdin=stdin,
                    on_output=on_output,
                )
            finally:
                self._tidier.tidy()

    def spawn(self, argv: Sequence[str], *, cwd: str = ".", read_only: bool = False) -> Started:
        """As bubblewrap's, with no isolation: `read_only` cannot be kept here (the process
        runs as the user), so only the allowlist, confirmation and limits apply."""
        if not argv:
            raise UsageError("no command given", "name the program to run")
        target = self._cwd(cwd)
        search = self._search()
        self._require(argv[0], target, search)
        self._allow(list(argv[:1]), target, search)
        scratch = tempfile.mkdtemp(prefix="memfun-local-")
        environment = sandbox_environ(
            self.environ,
            home=self.environ.get("HOME") or str(Path.home()),
            path=search.split(os.pathsep),
            extra=self.config.extra_env,
            cache_root=f"{scratch}/cache",
            tmpdir=scratch,
        )
        limits = Limits(
            timeout=self.config.timeout_seconds,
            max_output_bytes=self.config.max_output_bytes,
            max_memory=self.config.max_memory_mb * 1024 * 1024,
        )
        try:
            running = start_limited(
                argv, cwd=target, env=environment, limits=limits, stdin=True, stderr=False,
                text=True,
            )  # fmt: skip
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise

        def after() -> None:
            shutil.rmtree(scratch, ignore_errors=True)
            self._tidier.tidy()

        running.finally_(after)
        return running

    def _cwd(self, cwd: str) -> Path:
        target = (self.worktree / cwd).resolve()
        try:
            target.relative_to(self.worktree)
        except ValueError:
            raise UsageError(f"{cwd} is outside the worktree", "run commands inside it") from None
        return target

    def _search(self) -> str:
        """The user's venv and node_modules/.bin, the active virtualenv, then PATH (as the
        gate looks)."""
        path = self.environ.get("PATH", os.defpath).split(os.pathsep)
        first = user_tool_dirs(self.user_tree, self.environ)
        return os.pathsep.join(dict.fromkeys([*first, *path]))

    def _require(self, name: str, cwd: Path, search: str) -> str:
        """The program exists and can be executed, as the bubblewrap member checks it;
        returns its path."""
        if "/" in name:
            found: str | None = os.path.join(cwd, name)
            if not os.path.lexists(found):
                raise ProgramNotFound(f"{name} does not exist", "check the command's path")
        else:
            folders = [os.path.join(cwd, folder or ".") for folder in search.split(os.pathsep)]
            found = shutil.which(name, path=os.pathsep.join(folders))
            if found is None:
                raise ProgramNotFound(
                    f"{name} is not installed (not found on PATH)",
                    "install it, or run it by its full path",
                )
        if not os.path.isfile(found) or not os.access(found, os.X_OK):
            raise ProgramNotExecutable(
                f"{name} is not executable", "chmod +x it, or run it with its interpreter"
            )
        return found

    def _allow(self, argv: list[str], cwd: Path, search: str) -> None:
        program = os.path.basename(argv[0])
        if tuple(argv) in self._confirmed:
            return
        if program in self.config.allow and self._installed(argv[0], cwd, search):
            return
        if self.confirm is not None and self.confirm(argv):
            self._confirmed.add(tuple(argv))
            return
        if self.confirm is None:
            raise SandboxUnavailable(
                f"the local sandbox runs {program} only after confirmation, "
                "and no one is at a terminal to confirm",
                f'add "{program}" to [sandbox] allow, or install bubblewrap',
            )
        raise SandboxUnavailable(f"running {program} was declined", "nothing was run")

    def _installed(self, name: str, cwd: Path, search: str) -> bool:
        """True when `name` (a path, or a name looked up on PATH) is a program outside the
        worktree: `allow` trusts the user's `git`, not a `./git` (or a `git` in a PATH entry
        such as `.` or `node_modules/.bin`) that the task wrote."""
        if "/" in name:
            found = os.path.join(cwd, name)
        else:
            folders = [os.path.join(cwd, folder or ".") for folder in search.split(os.pathsep)]
            found = shutil.which(name, path=os.pathsep.join(folders))
        if found is None or not os.path.isfile(found):
            return False
        real = Path(os.path.realpath(found))
        return real != self.worktree and self.worktree not in real.parents
