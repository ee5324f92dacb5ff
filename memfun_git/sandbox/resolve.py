"""Resolving a program's whole exec chain, so exactly that is bound into the sandbox.

Resolved, never guessed: the binary's real path; a script's shebang interpreter (through
`/usr/bin/env`); a venv's `pyvenv.cfg` home and its paths into the user's tree (editable
installs, which the sandbox maps onto the worktree so tests test the task's code); the
installation prefix of anything outside the system folders (for a file in a `node_modules`
folder: that folder, where its dependencies are). Symbolic links on the way (`~/.local/bin/x`
pointing into a tool's own folder) are recreated as links, not bound with their folder. A
prefix that would show the user's home, repository or worktrees (a program in the home
folder's or the repository's root) shrinks to the program's folder, then to the file alone.
Inside the user's repository, its git dir and the worktrees, only a venv or a node_modules
folder is bound whole, anything else by the file alone (a folder there holds ignored files,
`.env`); a tool's own folder directly in the home (`~/.cargo`, `~/.fly`) is bound by the
program's folder and its `lib` only (the rest holds the tool's settings and credentials).
Version-manager shims (pyenv, rustup, asdf, mise, volta) are resolved with the manager's own
`which`, run in the user's main tree so its version files apply. What cannot be resolved is
refused with a pointer to `[sandbox] extra_ro_paths`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from memfun_git.errors import ProgramNotExecutable, ProgramNotFound, SandboxUnavailable, UsageError

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
    links: tuple[tuple[str, str], ...] = ()
    """Symbolic links to recreate: (target, where)."""
    path_dirs: tuple[str, ...] = ()
    """Folders to put first on the sandbox's PATH."""
    editable: tuple[str, ...] = ()
    """Paths in the user's tree that the program's environment imports from."""
    venv: str | None = None


@dataclass
class _Chain:
    binds: list[str] = field(default_factory=list[str])
    links: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    path_dirs: list[str] = field(default_factory=list[str])
    editable: list[str] = field(default_factory=list[str])
    venv: str | None = None


class Resolver:
    """Resolves programs as the user's shell would find them, with a cache."""

    def __init__(
        self,
        user_tree: Path,
        worktree: Path,
        environ: Mapping[str, str],
        *,
        common_dir: Path | None = None,
        timeout: float = 20,
    ) -> None:
        self.user_tree = user_tree.resolve()
        self.common_dir = common_dir.resolve() if common_dir is not None else None
        self.worktree = worktree.resolve()
        self.environ = environ
        self.path = environ.get("PATH", os.defpath)
        self.home = Path(os.path.abspath(environ.get("HOME") or Path.home()))
        self.timeout = timeout
        self._cache: dict[tuple[str, str], Resolved] = {}

    def protected(self) -> tuple[Path, ...]:
        """Folders no bind may show whole, or by an ancestor: the user's repository and home,
        the folder of task worktrees, the root."""
        common = (self.common_dir,) if self.common_dir is not None else ()
        return (self.user_tree, self.worktree.parent, self.home, Path("/"), *common)

    def resolve(self, program: str, cwd: Path | None = None) -> Resolved:
        """The exec chain of `program` (a name looked up on PATH, or a path; a relative path
        is taken from `cwd`, default the worktree's root)."""
        base = (cwd or self.worktree).resolve()
        key = (program, str(base))
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        chain = _Chain()
        if "/" in program:
            start = Path(program)
            full = start if start.is_absolute() else base / start
            seen = self._as_bound(full)
            if not (seen.exists() or seen.is_symlink()):
                raise ProgramNotFound(f"{program} does not exist", "check the command's path")
            target = str(full) if start.is_absolute() else program
            real = os.path.realpath(seen)
            if Path(real).is_file() and not os.access(real, os.X_OK):
                raise ProgramNotExecutable(
                    f"{program} is not executable", "chmod +x it, or run it with its interpreter"
                )
            self._walk(seen, chain, depth=0)
        else:
            found = shutil.which(program, path=self.path)
            if found is None:
                raise ProgramNotFound(
                    f"{program} is not installed (not found on PATH)",
                    "install it, or run it by its full path",
                )
            target = self._walk(Path(found), chain, depth=0)
        result = Resolved(
            program=target,
            ro_binds=tuple(dict.fromkeys(chain.binds)),
            links=tuple(dict.fromkeys(chain.links)),
            path_dirs=tuple(dict.fromkeys(chain.path_dirs)),
            editable=tuple(dict.fromkeys(chain.editable)),
            venv=chain.venv,
        )
        self._cache[key] = result
        return result

    def _as_bound(self, path: Path) -> Path:
        """Where `path` is on this machine: `<worktree>/node_modules/...` is the user's
        node_modules (the sandbox binds it there), e.g. `node_modules/.bin/eslint`."""
        modules = self.worktree / "node_modules"
        user_modules = self.user_tree / "node_modules"
        if not _contains(modules, Path(os.path.abspath(path))) or modules.is_symlink():
            return path
        if not user_modules.is_dir():
            return path
        return user_modules / Path(os.path.abspath(path)).relative_to(modules)

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
            raise ProgramNotExecutable(f"{path} is not a program", "check the command")
        self._bind_program(path, chain)
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

    def _bind_program(self, path: Path, chain: _Chain) -> None:
        """Bind what `path` runs from: links on the way recreated, the real file's prefix."""
        if path.is_symlink():
            self._links(path, chain)
        else:
            self._bind_install(path, chain)
        self._bind_install(Path(os.path.realpath(path)), chain)

    def _links(self, path: Path, chain: _Chain) -> None:
        hop = path
        for _ in range(40):
            if not hop.is_symlink():
                return
            target = os.readlink(hop)
            # System folders and /etc (`/etc/alternatives`) are bound whole, before the links.
            if not (str(hop).startswith((*SYSTEM_PREFIXES, "/etc/")) or self._inside_worktree(hop)):
                chain.links.append((target, str(hop)))
            hop = Path(os.path.normpath(os.path.join(os.path.realpath(hop.parent), target)))

    def _bind_install(self, path: Path, chain: _Chain) -> None:
        text = str(path)
        if text.startswith(SYSTEM_PREFIXES) or self._inside_worktree(path):
            return
        folder = path.parent
        if "node_modules" in folder.parts:
            # Node resolves a package's dependencies in the node_modules folders above it.
            prefix = Path(*folder.parts[: folder.parts.index("node_modules") + 1])
        elif folder.name in ("bin", "sbin", "libexec"):
            prefix = folder.parent
        else:
            prefix = folder
        if prefix.name == ".local" and prefix.parent == self.home:
            # `pip install --user`: the script and the user site, not ~/.local/share or state.
            chain.binds.extend([text, str(prefix / "lib")])
            return
        if self._private(path) and not (
            prefix.name == "node_modules" or (prefix / "pyvenv.cfg").is_file()
        ):
            # In the user's repository (or a task's worktree) a folder holds the user's
            # ignored files (.env): an environment there is bound whole, anything else alone.
            chain.binds.append(text)
            return
        if prefix != folder and prefix.parent in (self.home, Path(os.path.realpath(self.home))):
            # A tool's own folder in the home (~/.cargo, ~/.fly, ~/.pulumi) keeps the user's
            # settings and credentials beside its programs: its programs and libraries only.
            chain.binds.append(str(folder))
            if (prefix / "lib").is_dir():
                chain.binds.append(str(prefix / "lib"))
            return
        for candidate in (prefix, folder, path):
            if not self.exposes(candidate):
                chain.binds.append(str(candidate))
                return

    def _private(self, path: Path) -> bool:
        """True when `path` lies in the user's repository, its git dir or the worktrees."""
        common = (self.common_dir,) if self.common_dir is not None else ()
        return any(_under(path, f) for f in (self.user_tree, self.worktree.parent, *common))

    def exposes(self, folder: Path) -> bool:
        """True when binding `folder` would show one of the protected folders whole."""
        return any(_under(guarded, folder) for guarded in self.protected())

    def _venv(self, path: Path, chain: _Chain) -> None:
        folder = path.parent.parent
        cfg = folder / "pyvenv.cfg"
        if not cfg.is_file():
            return
        chain.venv = str(folder)
        if self.exposes(folder):
            # A venv made in the repository's (or home's) root: its own parts, not the root.
            parts = ("pyvenv.cfg", "bin", "lib", "lib64", "include")
            chain.binds.extend(str(folder / p) for p in parts if (folder / p).exists())
        else:
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
                self._bind_program(Path(base), chain)
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
        """The real program behind a version manager's shim, or None if `path` is none.

        The manager runs here, outside the sandbox: so a program in the user's repository or
        a worktree (which a task may have written, a `cargo` linked to a `./rustup`) is never
        taken for a shim, and only a manager installed elsewhere is run."""
        if self._private(path):
            return None
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
        if not os.path.isabs(manager[0]) or self._private(Path(manager[0])):
            raise SandboxUnavailable(
                f"{path} looks like a version manager's shim, but {manager[0]} is no installed "
                "version manager",
                "call the tool by its full path, or add its folder to [sandbox] extra_ro_paths",
            )
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


def _contains(folder: Path, path: Path) -> bool:
    return path == folder or folder in path.parents
