"""Resolving a program's exec chain, so exactly that is bound into the sandbox.

Two kinds of program, never mixed:
- **Programs in the worktree** (`./run.sh`, `scripts/test`, anything whose path leads into it):
  the task may have written them, so nothing about them decides a mount. They are visible in
  the sandbox as they are; their `#!` interpreter is found there, on the sandbox's PATH (the
  user's environment and the system). A link out of the worktree is refused (run the target
  by its own path instead). The file must be a program the kernel starts itself (an ELF file,
  or a `#!` line it can read): otherwise the exec would fall back to `/bin/sh <file>`.
- **Programs outside the worktree** (found on PATH, or named by an absolute path): resolved on
  the host, on real paths only. Every hop (each link, the real file, its `#!` interpreter,
  what `/usr/bin/env` finds, a venv's base interpreter) must be an executable file outside the
  worktrees; what is bound for each follows `installs.py`.

The search path, as the quality gate will use it: the user's main tree's virtual environment
(`.venv` or `venv`) and `node_modules/.bin` first, then the absolute folders of PATH (a relative
entry would be looked up in the worktree). Version-manager shims (pyenv, rustup, asdf, mise,
volta) are resolved with the manager's own `which`, run in the user's main tree so its version
files apply; a "shim" in the worktree or the user's repository never runs anything on the host.
A venv's paths into the user's tree (editable installs) are recorded, so the sandbox shows the
worktree's files there. What cannot be resolved is refused with a pointer to
`[sandbox] extra_ro_paths`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from memfun_git.errors import ProgramNotExecutable, ProgramNotFound, SandboxUnavailable, UsageError
from memfun_git.sandbox.installs import SYSTEM_PREFIXES, Places, is_system, real, under

__all__ = ["SYSTEM_PREFIXES", "Resolved", "Resolver", "exec_format_problem", "user_tool_dirs"]

_MAX_DEPTH = 12
_SHEBANG = re.compile(rb"^#!\s*(\S+)(?:[ \t]+(.*))?$")
_PATHLIKE = re.compile(r"(/[^\s'\"=:;,\]\)]+)")
_BINPRM_BUF = 256
"""The kernel reads this much of a file to start it: a longer `#!` line is refused (ENOEXEC)."""
_ELF = b"\x7fELF"
_VENVS = (".venv", "venv")


@dataclass(frozen=True, slots=True)
class Resolved:
    program: str
    """What to execute inside the sandbox (an absolute path)."""
    ro_binds: tuple[str, ...] = ()
    """Real folders or files to bind read-only at their own path."""
    links: tuple[tuple[str, str], ...] = ()
    """Symbolic links to recreate: (target, where)."""
    path_dirs: tuple[str, ...] = ()
    """Folders to put first on the sandbox's PATH."""
    editable: tuple[str, ...] = ()
    """Paths in the user's tree that the program's environment imports from."""
    venv: str | None = None
    shown: str = ""
    """The program as the user would recognise it (the path that was found)."""


@dataclass
class _Chain:
    binds: list[str] = field(default_factory=list[str])
    links: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    path_dirs: list[str] = field(default_factory=list[str])
    editable: list[str] = field(default_factory=list[str])
    venv: str | None = None

    def add(self, other: _Chain) -> None:
        self.binds += other.binds
        self.links += other.links
        self.path_dirs += other.path_dirs
        self.editable += other.editable
        self.venv = self.venv or other.venv


class Resolver:
    """Resolves programs as the task's commands will find them, with a cache."""

    def __init__(
        self,
        user_tree: Path,
        worktree: Path,
        environ: Mapping[str, str],
        *,
        common_dir: Path | None = None,
        timeout: float = 20,
    ) -> None:
        home = os.path.abspath(environ.get("HOME") or Path.home())
        self.places = Places.of(home, user_tree, worktree, common_dir)
        self.user_tree = self.places.user_tree
        self.worktree = self.places.worktree
        self.environ = environ
        self.timeout = timeout
        self.user_env = self._user_environment()
        self.search = os.pathsep.join([*self._user_bins(), *self._path_entries()])
        self._cache: dict[tuple[str, str], Resolved] = {}

    # -- public ------------------------------------------------------------------------------

    def exposes(self, folder: Path) -> bool:
        """True when binding `folder` (resolved first) would show a protected folder whole."""
        return self.places.exposes(real(folder))

    def resolve(self, program: str, cwd: Path | None = None) -> Resolved:
        """The exec chain of `program` (a name looked up on the search path, or a path; a
        relative path is taken from `cwd`, default the worktree's root)."""
        base = (cwd or self.worktree).resolve()
        key = (program, str(base))
        cached = self._cache.get(key)
        if cached is None:
            cached = self._resolve(program, base)
            self._cache[key] = cached
        return cached

    # -- the two kinds -----------------------------------------------------------------------

    def _resolve(self, program: str, base: Path) -> Resolved:
        chain = _Chain()
        chain.add(self.user_env)
        if "/" not in program:
            found = shutil.which(program, path=self.search)
            if found is None:
                places = [
                    _where(Path(b))
                    if under(Path(b), self.user_tree)
                    else f"in the active virtualenv {Path(b).parent}"
                    for b in self._user_bins()
                ]
                raise ProgramNotFound(
                    f"{program} is not installed (not found {', '.join([*places, 'on PATH'])})",
                    "install it, or run it by its full path",
                )
            return self._finish(self._outside(Path(found), chain, depth=0), chain, found)
        given = Path(program) if os.path.isabs(program) else base / program
        mapped = self._user_environment_path(given)
        if mapped is not None:
            target, shown = mapped
            return self._finish(self._outside(target, chain, depth=0, shown=shown), chain, shown)
        if self._leads_into_worktree(given):
            return self._finish(self._in_worktree(given, program), chain, str(given))
        return self._finish(self._outside(given, chain, depth=0), chain, str(given))

    def _finish(self, program: str, chain: _Chain, shown: str) -> Resolved:
        return Resolved(
            program=program,
            ro_binds=tuple(dict.fromkeys(chain.binds)),
            links=tuple(dict.fromkeys(chain.links)),
            path_dirs=tuple(dict.fromkeys(chain.path_dirs)),
            editable=tuple(dict.fromkeys(chain.editable)),
            venv=chain.venv,
            shown=shown,
        )

    def _leads_into_worktree(self, given: Path) -> bool:
        lexical = Path(os.path.abspath(given))
        return self.places.in_worktree(lexical) or self.places.in_worktree(real(given))

    def _in_worktree(self, given: Path, program: str) -> str:
        """A program the task may have written: checked, never followed out, mounts nothing."""
        target = real(given)
        if not self.places.in_worktree(target):
            raise UsageError(
                f"{program} is a link out of the worktree (to {target})",
                f"run {target} by its own path",
            )
        if not under(target, self.worktree):
            raise UsageError(f"{program} is in another worktree", "run programs of this one")
        _check_program(target, program)
        problem = exec_format_problem(target)
        if problem is not None:
            raise ProgramNotExecutable(f"{program} {problem}", "run it with its interpreter")
        # The path as given, made absolute: links inside the worktree resolve the same way in
        # the sandbox, where the worktree is bound at its own path.
        return os.path.abspath(given)

    def _outside(self, path: Path, chain: _Chain, *, depth: int, shown: str = "") -> str:
        """Bind what the program at `path` (outside the worktree) needs; return what to exec."""
        if depth > _MAX_DEPTH:
            raise SandboxUnavailable(
                f"could not resolve how {path} runs (too many indirections)",
                "add its installation folder to [sandbox] extra_ro_paths",
            )
        where = _real_parent(path)
        if self.places.in_worktree(where) or self.places.in_worktree(real(where)):
            raise UsageError(
                f"{shown or path} leads into a task's worktree",
                "run programs of the worktree by their path in it",
            )
        shim = self._shim(where)
        if shim is not None:
            return self._outside(Path(shim), chain, depth=depth + 1)
        target = self._follow_links(where, chain)
        _check_program(target, shown or str(path))
        self._bind_file(target, chain)
        self._venv(where, chain)
        interpreter = _shebang(target)
        if interpreter is not None:
            self._interpreter(where, interpreter, chain, depth)
        if not is_system(where.parent):
            chain.path_dirs.append(str(where.parent))
        return str(where)

    def _interpreter(
        self, where: Path, interpreter: tuple[str, str], chain: _Chain, depth: int
    ) -> None:
        name, arg = interpreter
        if name.endswith("/env") and arg:
            words = [w for w in arg.split() if not w.startswith("-") and "=" not in w]
            program = words[0] if words else arg
            venv_bin = [str(Path(chain.venv) / "bin")] if chain.venv else []
            search = os.pathsep.join([*venv_bin, self.search])
            found = shutil.which(program, path=search)
            if found is None:
                raise UsageError(
                    f"{where} needs {program}, which is not installed", f"install {program}"
                )
            self._outside(Path(found), chain, depth=depth + 1)
            chain.path_dirs.append(str(_real_parent(Path(found)).parent))
        elif os.path.isabs(name):
            self._outside(Path(name), chain, depth=depth + 1)
        else:
            raise UsageError(f"{where} names a relative interpreter ({name})", "fix its #! line")

    # -- binds -------------------------------------------------------------------------------

    def _follow_links(self, where: Path, chain: _Chain) -> Path:
        """Recreate the links from `where` to the real file; return the real file."""
        hop = where
        for _ in range(40):
            if not hop.is_symlink():
                return hop
            target = os.readlink(hop)
            nxt = _real_parent(Path(os.path.join(hop.parent, target)))
            if self.places.in_worktree(nxt):
                raise UsageError(
                    f"{where} is a link into a task's worktree", "run the program by its path"
                )
            # System folders and /etc (`/etc/alternatives`) are bound whole, links included.
            if not (is_system(hop) or str(hop).startswith("/etc/")):
                chain.links.append((target, str(hop)))
            hop = nxt
        raise SandboxUnavailable(f"{where} is a loop of links", "run the program by its real path")

    def _bind_file(self, path: Path, chain: _Chain) -> None:
        """Bind what the real file `path` runs from (installs.py's rules)."""
        places = self.places
        if is_system(path):
            return
        install = places.installation(path)
        if install is not None:
            if places.bindable(install):
                chain.binds.append(str(install))
                return
            if (install / "pyvenv.cfg").is_file():
                # A venv made in the home's or repository's root: its own parts, not the root.
                parts = ("pyvenv.cfg", "bin", "lib", "lib64", "include")
                chain.binds.extend(str(install / p) for p in parts if (install / p).exists())
                return
        if places.private(path):
            chain.binds.append(str(path))
            return
        folder = path.parent
        prefix = folder.parent if folder.name in ("bin", "sbin", "libexec") else folder
        for candidate in (prefix, folder, path):
            if places.bindable(candidate):
                chain.binds.append(str(candidate))
                return
        raise SandboxUnavailable(f"{path} cannot be shown to the sandbox", "install it elsewhere")

    def _venv(self, where: Path, chain: _Chain) -> None:
        folder = where.parent.parent
        cfg = folder / "pyvenv.cfg"
        if not cfg.is_file() or where.parent.name != "bin":
            return
        chain.venv = str(folder)
        self._bind_file(real(cfg), chain)
        chain.path_dirs.append(str(folder / "bin"))
        home = None
        for line in cfg.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                home = value.strip()
        if home and os.path.isabs(home):
            base = shutil.which("python3", path=home) or shutil.which("python", path=home)
            if base is not None and not self.places.in_worktree(real(base)):
                target = self._follow_links(_real_parent(Path(base)), chain)
                if target.is_file() and os.access(target, os.X_OK):
                    self._bind_file(target, chain)
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
                candidate = Path(os.path.abspath(match.rstrip("/")))
                if under(candidate, self.user_tree):
                    found.append(str(candidate))
        return found

    # -- the user's environment ----------------------------------------------------------------

    def _user_environment(self) -> _Chain:
        """The user's main tree's venv and node_modules/.bin: first on the search path, and on
        the sandbox's PATH for every command (what `#!/usr/bin/env python3` finds there)."""
        chain = _Chain()
        for name in _VENVS:
            venv = self.user_tree / name
            python = venv / "bin" / "python"
            if (venv / "pyvenv.cfg").is_file() and python.exists():
                try:
                    self._venv(python, chain)
                except (UsageError, SandboxUnavailable):
                    continue
                break
        if (self.user_tree / "node_modules" / ".bin").is_dir():
            # The sandbox binds the user's node_modules at <worktree>/node_modules.
            chain.path_dirs.append(str(self.worktree / "node_modules" / ".bin"))
        return chain

    def _user_bins(self) -> list[str]:
        # An active virtualenv inside a worktree holds what a task may have written.
        return [
            b
            for b in user_tool_dirs(self.user_tree, self.environ)
            if not self.places.in_worktree(real(b))
        ]

    def _user_environment_path(self, given: Path) -> tuple[Path, str] | None:
        """`node_modules/...` or `.venv/...` in a worktree that has none: the user's own
        (ignored, so never in the worktree). Returns (the real place, what to exec)."""
        lexical = Path(os.path.abspath(given))
        if not under(lexical, self.worktree):
            return None
        rel = lexical.relative_to(self.worktree)
        if not rel.parts or rel.parts[0] not in ("node_modules", *_VENVS):
            return None
        if os.path.lexists(self.worktree / rel.parts[0]) and rel.parts[0] != "node_modules":
            return None
        user = self.user_tree / rel
        if rel.parts[0] == "node_modules":
            if not (self.user_tree / "node_modules").is_dir():
                return None
            if (self.worktree / "node_modules").is_symlink():
                return None
            # Executed at the worktree path, where the sandbox binds the user's node_modules.
            return user, str(lexical)
        return user, str(user)

    def _path_entries(self) -> list[str]:
        """PATH's absolute folders outside the worktrees (a relative entry, or one into a
        worktree, would find programs the task wrote)."""
        kept: list[str] = []
        for entry in self.environ.get("PATH", os.defpath).split(os.pathsep):
            if not os.path.isabs(entry):
                continue
            if self.places.in_worktree(real(entry)) or self.places.in_worktree(Path(entry)):
                continue
            kept.append(entry)
        return kept

    # -- version managers ------------------------------------------------------------------

    def _shim(self, where: Path) -> str | None:
        """The real program behind a version manager's shim, or None if `where` is none.

        The manager runs here, outside the sandbox: a program in the user's repository or a
        worktree (which a task may have written) is never taken for a shim, and only a
        manager installed elsewhere is run."""
        if self.places.in_worktree(real(where)) or under(real(where), self.user_tree):
            return None
        text = str(where)
        target = os.path.realpath(where)
        manager: list[str] | None = None
        if "/shims/" in text and ("/.pyenv/" in text or _mentions(where, b"pyenv")):
            manager = [_pyenv(where, self.environ), "which", where.name]
        elif os.path.basename(target) in ("rustup", "rustup-init") and where.name != "rustup":
            manager = [target, "which", where.name]
        elif "/.asdf/shims/" in text:
            manager = [shutil.which("asdf", path=self.search) or "asdf", "which", where.name]
        elif "/mise/shims/" in text:
            manager = [shutil.which("mise", path=self.search) or "mise", "which", where.name]
        elif "/.volta/bin/" in text and where.name != "volta":
            manager = [shutil.which("volta", path=self.search) or "volta", "which", where.name]
        if manager is None:
            return None
        program = real(manager[0]) if os.path.isabs(manager[0]) else None
        if program is None or self.places.in_worktree(program) or under(program, self.user_tree):
            raise SandboxUnavailable(
                f"{where} looks like a version manager's shim, but {manager[0]} is no installed "
                "version manager",
                "call the tool by its full path, or add its folder to [sandbox] extra_ro_paths",
            )
        answer = _run_manager(manager, self.user_tree, self.environ, self.timeout)
        if answer is None or not Path(answer).is_file():
            raise SandboxUnavailable(
                f"{where} is a version manager's shim that could not be resolved "
                f"(`{' '.join(manager[1:])}` failed)",
                "check the tool runs in your repository, or add its folder to "
                "[sandbox] extra_ro_paths and call it by its full path",
            )
        return answer


def user_tool_dirs(user_tree: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """Where programs are looked for first, as the quality gate does: the user's main tree's
    venv (`.venv`, else `venv`) and `node_modules/.bin`, then the active virtualenv
    (`$VIRTUAL_ENV` in `environ`), where they exist."""
    bins = [str(user_tree / name / "bin") for name in _VENVS]
    bins = [b for b in bins if (Path(b).parent / "pyvenv.cfg").is_file()][:1]
    modules = user_tree / "node_modules" / ".bin"
    active = (environ or {}).get("VIRTUAL_ENV", "")
    venv = [str(Path(active) / "bin")] if os.path.isabs(active) else []
    venv = [b for b in venv if (Path(b).parent / "pyvenv.cfg").is_file()]
    return list(dict.fromkeys([*bins, *([str(modules)] if modules.is_dir() else []), *venv]))


def _check_program(target: Path, named: str) -> None:
    """`target` (a real path) is an executable file, or the one-line error saying why not."""
    if not target.exists():
        raise ProgramNotFound(f"{named} does not exist", "check the command's path")
    if not target.is_file():
        raise ProgramNotExecutable(f"{named} is not a program", "check the command")
    if not os.access(target, os.X_OK):
        raise ProgramNotExecutable(
            f"{named} is not executable", "chmod +x it, or run it with its interpreter"
        )


def exec_format_problem(path: Path) -> str | None:
    """Why the kernel would not start the file `path` itself (so that the exec would fall back
    to `/bin/sh <file>`), or None: an ELF file, or a `#!` line within what the kernel reads."""
    try:
        with path.open("rb") as handle:
            head = handle.read(_BINPRM_BUF)
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    if head.startswith(_ELF):
        return None
    if not head.startswith(b"#!"):
        return "is not a program the kernel can start (no #! line, not an ELF file)"
    if b"\n" not in head:
        return f"has a #! line longer than the {_BINPRM_BUF - 1} bytes the kernel reads"
    return None


def _where(folder: Path) -> str:
    """'in your .venv' for `<tree>/.venv/bin`, 'in your node_modules/.bin' for that."""
    return f"in your {folder.parent.name if folder.name == 'bin' else 'node_modules/.bin'}"


def _run_manager(
    manager: Sequence[str], cwd: Path, environ: Mapping[str, str], timeout: float
) -> str | None:
    try:
        proc = subprocess.run(
            list(manager),
            cwd=cwd,
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = proc.stdout.strip().splitlines() if proc.returncode == 0 else []
    return lines[-1] if lines else None


def _real_parent(path: Path) -> Path:
    """`path` with its folder resolved (no `..`, no links) and its last name kept: a link
    stays a link (multi-call programs read their name), a `..` is gone."""
    absolute = os.path.abspath(path) if not os.path.isabs(path) else str(path)
    head, name = os.path.split(absolute)
    if name in ("", ".", ".."):
        return real(absolute)
    return Path(os.path.realpath(head)) / name


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
            first = handle.readline(_BINPRM_BUF)
    except OSError:
        return None
    match = _SHEBANG.match(first.rstrip(b"\r\n"))
    if match is None:
        return None
    name = match.group(1).decode(errors="replace")
    arg = (match.group(2) or b"").decode(errors="replace").strip()
    return name, arg
