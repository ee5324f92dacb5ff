"""Resolving a program's whole exec chain, so exactly that is bound into the sandbox.

Resolved, never guessed: the binary's real path; a script's shebang interpreter (through
`/usr/bin/env`); a venv's `pyvenv.cfg` home and its paths into the user's tree (editable
installs, which the sandbox maps onto the worktree so tests test the task's code); the
installation prefix of anything outside the system folders. Version-manager shims (pyenv,
rustup, asdf, mise, volta) are resolved with the manager's own `which`, run in the user's main
tree so its version files apply. What cannot be resolved is refused with a pointer to
`[sandbox] extra_ro_paths`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from memfun_git.errors import SandboxUnavailable, UsageError

__all__ = ["SYSTEM_PREFIXES", "Resolved", "Resolver"]

SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/")
_MAX_DEPTH = 12
_SHEBANG = re.compile(rb"^#!\s*(\S+)(?:[ \t]+(.*))?$")
_PATHLIKE = re.compile(r"(/[^\s'\"=:;,\]\)]+)")


@dataclass(frozen=True, slots=True)
class Resolved:
    program: str
    """What to execute inside the sandbox (an absolute path)."""
    ro_binds: tuple[str, ...] = ()
    """Folders or files to bind read-only at their own path."""
    path_dirs: tuple[str, ...] = ()
    """Folders to put first on the sandbox's PATH."""
    editable: tuple[str, ...] = ()
    """Paths in the user's tree that the program's environment imports from."""
    venv: str | None = None


@dataclass
class _Chain:
    binds: list[str] = field(default_factory=list[str])
    path_dirs: list[str] = field(default_factory=list[str])
    editable: list[str] = field(default_factory=list[str])
    venv: str | None = None


class Resolver:
    """Resolves programs as the user's shell would find them, with a cache."""

    def __init__(
        self, user_tree: Path, worktree: Path, environ: Mapping[str, str], *, timeout: float = 20
    ) -> None:
        self.user_tree = user_tree.resolve()
        self.worktree = worktree.resolve()
        self.environ = environ
        self.path = environ.get("PATH", os.defpath)
        self.timeout = timeout
        self._cache: dict[str, Resolved] = {}

    def resolve(self, program: str) -> Resolved:
        """The exec chain of `program` (a name looked up on PATH, or a path)."""
        cached = self._cache.get(program)
        if cached is not None:
            return cached
        chain = _Chain()
        if "/" in program:
            start = Path(program)
            full = start if start.is_absolute() else self.worktree / start
            if not (full.exists() or full.is_symlink()):
                raise UsageError(f"{program} does not exist", "check the command's path")
            target = str(full) if start.is_absolute() else program
            self._walk(full, chain, depth=0)
        else:
            found = shutil.which(program, path=self.path)
            if found is None:
                raise UsageError(
                    f"{program} is not installed (not found on PATH)",
                    "install it, or run it by its full path",
                )
            target = self._walk(Path(found), chain, depth=0)
        result = Resolved(
            program=target,
            ro_binds=tuple(dict.fromkeys(chain.binds)),
            path_dirs=tuple(dict.fromkeys(chain.path_dirs)),
            editable=tuple(dict.fromkeys(chain.editable)),
            venv=chain.venv,
        )
        self._cache[program] = result
        return result

    def _walk(self, path: Path, chain: _Chain, *, depth: int) -> str:
        """Bind what `path` needs to run; return the path to execute."""
        if depth > _MAX_DEPTH:
            raise SandboxUnavailable(
                f"could not resolve how {path} runs (too many indirections)",
                "add its installation folder to [sandbox] extra_ro_paths",
            )
        shim = self._shim(path)
        if shim is not None:
            return self._walk(Path(shim), chain, depth=depth + 1)
        real = Path(os.path.realpath(path))
        if not real.is_file():
            raise UsageError(f"{path} is not a program", "check the command")
        for candidate in (path, real):
            self._bind_install(candidate, chain)
        self._venv(path, chain)
        interpreter = _shebang(real)
        if interpreter is not None:
            name, arg = interpreter
            if name.endswith("/env") and arg:
                words = [w for w in arg.split() if not w.startswith("-") and "=" not in w]
                program = words[0] if words else arg
                venv_bin = [str(Path(chain.venv) / "bin")] if chain.venv else []
                search = os.pathsep.join([*venv_bin, str(path.parent), self.path])
                found = shutil.which(program, path=search)
                if found is None:
                    raise UsageError(
                        f"{path} needs {program}, which is not installed",
                        f"install {program}",
                    )
                self._walk(Path(found), chain, depth=depth + 1)
                chain.path_dirs.append(str(Path(found).parent))
            else:
                self._walk(Path(name), chain, depth=depth + 1)
        if not self._inside_worktree(path):
            chain.path_dirs.append(str(path.parent))
        return str(path)

    def _inside_worktree(self, path: Path) -> bool:
        return _under(path, self.worktree)

    def _bind_install(self, path: Path, chain: _Chain) -> None:
        text = str(path)
        if text.startswith(SYSTEM_PREFIXES) or self._inside_worktree(path):
            return
        folder = path.parent
        prefix = folder.parent if folder.name in ("bin", "sbin", "libexec") else folder
        if str(prefix) in ("/", str(Path.home())) or prefix == self.user_tree:
            prefix = folder
        chain.binds.append(str(prefix))

    def _venv(self, path: Path, chain: _Chain) -> None:
        folder = path.parent.parent
        cfg = folder / "pyvenv.cfg"
        if not cfg.is_file():
            return
        chain.venv = str(folder)
        chain.binds.append(str(folder))
        chain.path_dirs.append(str(folder / "bin"))
        home = None
        for line in cfg.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                home = value.strip()
        if home:
            base = shutil.which("python3", path=home) or shutil.which("python", path=home)
            if base is not None:
                real = Path(os.path.realpath(base))
                self._bind_install(real, chain)
                self._bind_install(Path(base), chain)
        for site in folder.glob("lib/python*/site-packages"):
            chain.editable.extend(self._editable_paths(site))

    def _editable_paths(self, site: Path) -> list[str]:
        """Paths into the user's tree named by .pth files and PEP 660 editable finders."""
        found: list[str] = []
        files = [*site.glob("*.pth"), *site.glob("__editable__*.py")]
        files += list(site.glob("*.dist-info/direct_url.json"))
        for file in files:
            try:
                text = file.read_text(errors="replace")
            except OSError:
                continue
            text = text.replace("file://", "")
            for match in _PATHLIKE.findall(text):
                candidate = Path(match.rstrip("/"))
                if _under(candidate, self.user_tree):
                    found.append(str(candidate))
        return found

    def _shim(self, path: Path) -> str | None:
        """The real program behind a version manager's shim, or None if `path` is none."""
        text = str(path)
        real = os.path.realpath(path)
        manager: list[str] | None = None
        if "/shims/" in text and ("/.pyenv/" in text or _mentions(path, b"pyenv")):
            manager = [_pyenv(path, self.environ), "which", path.name]
        elif os.path.basename(real) in ("rustup", "rustup-init") and path.name != "rustup":
            manager = [real, "which", path.name]
        elif "/.asdf/shims/" in text:
            manager = [shutil.which("asdf", path=self.path) or "asdf", "which", path.name]
        elif "/mise/shims/" in text:
            manager = [shutil.which("mise", path=self.path) or "mise", "which", path.name]
        elif "/.volta/bin/" in text and path.name != "volta":
            manager = [shutil.which("volta", path=self.path) or "volta", "which", path.name]
        if manager is None:
            return None
        try:
            proc = subprocess.run(
                manager,
                cwd=self.user_tree,
                env=dict(self.environ),
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            proc = None
        answer = proc.stdout.strip().splitlines() if proc and proc.returncode == 0 else []
        if not answer or not Path(answer[-1]).is_file():
            raise SandboxUnavailable(
                f"{path} is a version manager's shim that could not be resolved "
                f"(`{' '.join(manager[1:])}` failed)",
                "check the tool runs in your repository, or add its folder to "
                "[sandbox] extra_ro_paths and call it by its full path",
            )
        return answer[-1]


def _pyenv(shim: Path, environ: Mapping[str, str]) -> str:
    root = environ.get("PYENV_ROOT") or str(shim.parent.parent)
    candidate = Path(root) / "libexec" / "pyenv"
    return str(candidate) if candidate.is_file() else (shutil.which("pyenv") or "pyenv")


def _mentions(path: Path, word: bytes) -> bool:
    try:
        with path.open("rb") as handle:
            return word in handle.read(4096)
    except OSError:
        return False


def _shebang(path: Path) -> tuple[str, str] | None:
    try:
        with path.open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        return None
    match = _SHEBANG.match(first.rstrip(b"\r\n"))
    if match is None:
        return None
    name = match.group(1).decode(errors="replace")
    arg = (match.group(2) or b"").decode(errors="replace").strip()
    return name, arg


def _under(path: Path, folder: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(folder)
    except ValueError:
        try:
            Path(os.path.realpath(path)).relative_to(folder)
        except ValueError:
            return False
    return True
