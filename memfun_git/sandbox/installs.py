"""What a sandbox may bind for a program, decided on real paths only.

Every path here is resolved first (`os.path.realpath`: no `..`, no links), and only then
compared: a `/tmp/../bin/x` or `~/bin/../.cargo/bin/x` is judged by where it really is
(comparing the path as given let `/tmp/..` bind the host's `/`).

The rules, for the real file of a program (or interpreter) outside the worktree:
- in the system folders: nothing (they are bound whole already);
- inside a recognised tool installation: that installation whole. Recognised: a Python
  virtual environment (a folder with `pyvenv.cfg`), a `node_modules` folder, and the per-version
  folders of version managers and tool installers in the home (`~/.pyenv/versions/<v>`,
  `~/.rustup/toolchains/<t>`, `~/.cargo/bin`, `~/.nvm/versions/node/<v>`, volta, asdf, mise,
  uv's Pythons, pipx's venvs): they hold programs and libraries, not the user's settings;
- anywhere else in the home or in a git repository (the user's, or another project's, whose
  folders hold `.env` files and credentials): the file alone;
- elsewhere (`/opt/tool/bin/x`, `/nix/store/...`): the installation prefix (the parent of its
  `bin`), shrunk to the folder, then to the file, when it would show a protected folder.

Protected, never bound whole nor by an ancestor: `/`, the home, the user's repository, its git
common dir and the folder of task worktrees; the worktree itself is the task's, bound on its
own, and nothing inside it is ever bound for a program.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SYSTEM_PREFIXES", "Places", "is_system", "real", "under"]

SYSTEM_PREFIXES = ("/usr/", "/bin/", "/sbin/", "/lib/", "/lib64/", "/lib32/", "/libx32/")
_HOME_INSTALLS = (
    ".pyenv/versions/*",
    ".rustup/toolchains/*",
    ".cargo/bin",
    ".nvm/versions/node/*",
    ".volta/tools/image/*/*",
    ".asdf/installs/*/*",
    ".local/share/mise/installs/*/*",
    ".local/share/uv/python/*",
    ".local/share/uv/tools/*",
    ".local/pipx/venvs/*",
    ".local/share/pipx/venvs/*",
    ".bun/bin",
    ".deno/bin",
    "go/bin",
    ".local/go",
    "sdk/go*",
)
"""Folders under the home that hold one installed tool (or toolchain) and nothing else."""


def real(path: str | Path) -> Path:
    return Path(os.path.realpath(path))


def under(path: Path, folder: Path) -> bool:
    """True when `path` is `folder` or inside it (both real paths)."""
    return path == folder or folder in path.parents


def is_system(path: Path) -> bool:
    text = str(path)
    return any(text == p.rstrip("/") or text.startswith(p) for p in SYSTEM_PREFIXES)


@dataclass(frozen=True, slots=True)
class Places:
    """The folders that decide what may be bound, all real paths."""

    home: Path
    user_tree: Path
    worktree: Path
    worktrees_root: Path
    common_dir: Path | None

    @classmethod
    def of(
        cls, home: str | Path, user_tree: Path, worktree: Path, common_dir: Path | None
    ) -> Places:
        tree = real(worktree)
        return cls(
            home=real(home),
            user_tree=real(user_tree),
            worktree=tree,
            worktrees_root=tree.parent,
            common_dir=real(common_dir) if common_dir is not None else None,
        )

    def protected(self) -> tuple[Path, ...]:
        common = (self.common_dir,) if self.common_dir is not None else ()
        return (Path("/"), self.home, self.user_tree, self.worktrees_root, *common)

    def exposes(self, folder: Path) -> bool:
        """True when binding the real path `folder` would show a protected folder whole (it
        is one, or an ancestor of one)."""
        return any(under(guarded, folder) for guarded in self.protected())

    def in_worktree(self, path: Path) -> bool:
        return under(path, self.worktree) or under(path, self.worktrees_root)

    def private(self, path: Path) -> bool:
        """True inside the home, the user's repository, its common dir, or any other git
        repository: folders there hold the user's settings, credentials and ignored files."""
        common = (self.common_dir,) if self.common_dir is not None else ()
        if any(under(path, f) for f in (self.home, self.user_tree, self.worktrees_root, *common)):
            return True
        return _in_repository(path)

    def installation(self, path: Path) -> Path | None:
        """The recognised tool installation holding the real file `path`, or None."""
        for folder in path.parents:
            if folder.name == "node_modules":
                # The outermost: node resolves a package's dependencies in the folders above.
                outer = [p for p in path.parents if p.name == "node_modules"]
                return outer[-1]
            if (folder / "pyvenv.cfg").is_file():
                return folder
            if folder == self.home or folder == Path("/"):
                break
        if under(path, self.home) and path != self.home:
            rel = path.relative_to(self.home).parts
            for pattern in _HOME_INSTALLS:
                depth = pattern.count("/") + 1
                if len(rel) > depth and fnmatch.fnmatch("/".join(rel[:depth]), pattern):
                    return self.home.joinpath(*rel[:depth])
        return None

    def bindable(self, folder: Path) -> bool:
        """True when the real path `folder` may be bound: no protected folder shown whole,
        nothing of the worktrees."""
        return not self.exposes(folder) and not self.in_worktree(folder)


def _in_repository(path: Path) -> bool:
    """True when a folder above `path` (or `path` itself) holds a `.git`."""
    for folder in (path, *path.parents):
        if folder == Path("/"):
            return False
        if os.path.lexists(folder / ".git"):
            return True
    return False
