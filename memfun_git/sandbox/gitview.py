"""The git directory a sandboxed command sees: the task's branch and history, nothing else.

git in the sandbox needs the worktree's git dir (`<common>/worktrees/<name>`, named by the
worktree's `.git` file) and the common dir it points back to. The real common dir holds what
a command must never read: credentials in `config` (`http.<url>.extraheader`, tokens in remote
URLs), in submodules' `modules/<sub>/config` and `config.worktree` files; every other branch,
the stash, memfun's attempts and logs, and objects reachable from none of the task's history.

So a view of it is made under `<common>/memfun/sandbox-views/<owner>-<id>/` and bound at the
common dir's path, read-only:
- `config`: rebuilt by git's own parser from the real one, keeping only what git needs to read
  the repository (`core` less its program and path settings, `extensions.objectformat`, and
  display settings), never a credential;
- `HEAD` and one ref, the task's branch, at its tip; no other ref, no reflog, no stash;
- `objects/pack/`: hard links to the packs of `objects.ObjectCache` (the task's base tree and
  its own commits); `shallow` names the base;
- `info/exclude` (the user's ignore patterns, so `git status` agrees with the host);
- `worktrees/<name>/`: the real worktree git dir bound over it (its `index`, `HEAD`), with
  its `config.worktree` hidden.
`/etc/gitconfig` gets a cleaned copy the same way. Nothing else of the common dir is there.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from memfun_git.errors import RepoError, SandboxUnavailable
from memfun_git.gitops.git import run_git
from memfun_git.gitops.tidy import remove_tree
from memfun_git.sandbox.leftovers import owner_tag, remove_dead
from memfun_git.sandbox.objects import ObjectCache

__all__ = ["SYSTEM_GITCONFIG", "GitView", "clean_git_config"]

SYSTEM_GITCONFIG = Path("/etc/gitconfig")
_SECTIONS = frozenset(("core", "extensions", "index", "feature", "status", "diff", "color",
                       "advice", "i18n", "init", "safe"))  # fmt: skip
_CORE_DROPPED = frozenset(("worktree", "hookspath", "fsmonitor", "sshcommand", "askpass",
                           "excludesfile", "attributesfile", "gitproxy"))  # fmt: skip
"""`core` keys that name programs or paths outside the repository (or change which tree git
works on): none is needed to read the task's history."""
_EXTENSIONS_KEPT = frozenset(("objectformat",))
"""The view is a plain files-backend repository with complete packs: only the hash matters."""


class GitView:
    """The common-dir view for one task worktree, refreshed before each command."""

    def __init__(self, common_dir: Path, worktree: Path, environ: Mapping[str, str]) -> None:
        self.common_dir = common_dir
        self.worktree = worktree
        self.environ = environ
        self.path_env = ":".join(
            p for p in environ.get("PATH", os.defpath).split(":") if os.path.isabs(p)
        )
        self.objects = ObjectCache(common_dir, environ)
        self.views = common_dir / "memfun" / "sandbox-views"
        self.folder: Path | None = None
        self._linked: set[str] = set()
        self._stamps: dict[Path, tuple[int, ...]] = {}
        self._last: tuple[tuple[tuple[int, ...], ...], list[str]] | None = None

    def arguments(self) -> list[str]:
        """bwrap's options that show the view (call before each command)."""
        admin = self._admin_dir()
        stamp = self._stamp(admin)
        if self._last is not None and self._last[0] == stamp and self.folder is not None:
            return self._last[1]  # no ref, config or exclude file changed since the last one
        folder = self._folder()
        import pygit2

        repo = pygit2.Repository(str(self.worktree))
        try:
            head = (admin / "HEAD").read_text().strip()
            tip = str(repo.head.target)
            chain = self.objects.chain(repo, tip)
        except (pygit2.GitError, KeyError, ValueError, OSError) as exc:
            raise SandboxUnavailable(
                f"cannot read the worktree's branch ({exc})",
                "remove the worktree (memfun gc) and start the task again",
            ) from None
        finally:
            repo.free()
        self._refresh(folder, admin, head, tip, chain.base, chain.packs)
        inner = self.common_dir / "worktrees" / admin.name
        args = ["--ro-bind", str(folder), str(self.common_dir), "--ro-bind", str(admin), str(inner)]
        if (admin / "config.worktree").exists():
            args += ["--ro-bind", os.devnull, str(inner / "config.worktree")]
        if SYSTEM_GITCONFIG.exists():
            args += ["--ro-bind", str(folder / "etc-gitconfig"), str(SYSTEM_GITCONFIG)]
        self._last = (stamp, args)
        return args

    def _stamp(self, admin: Path) -> tuple[tuple[int, ...], ...]:
        """What the view is made from, by stat: the worktree's HEAD, its branch's ref (loose
        or packed), the config files and the exclude file."""
        paths = [admin / "HEAD", self.common_dir / "packed-refs", self.common_dir / "config",
                 SYSTEM_GITCONFIG, self.common_dir / "info" / "exclude"]  # fmt: skip
        with contextlib.suppress(OSError):
            head = (admin / "HEAD").read_text().strip()
            if head.startswith("ref: refs/"):
                paths.append(self.common_dir / head[len("ref: ") :])
        stamps: list[tuple[int, ...]] = []
        for path in paths:
            try:
                st = os.stat(path)
                stamps.append((st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino))
            except OSError:
                stamps.append(())
        return tuple(stamps)

    def close(self) -> None:
        self._last = None
        if self.folder is not None:
            with contextlib.suppress(OSError):
                remove_tree(self.folder)
            self.folder = None

    # -- building --------------------------------------------------------------------------

    def _admin_dir(self) -> Path:
        """The worktree's git dir, from its `.git` file: it must lie in `<common>/worktrees`."""
        try:
            text = (self.worktree / ".git").read_text().strip()
        except OSError:
            text = ""
        if not text.startswith("gitdir:"):
            raise SandboxUnavailable(
                f"{self.worktree / '.git'} is not the file git made",
                "remove the worktree (memfun gc) and start the task again",
            )
        admin = Path(os.path.realpath(self.worktree / text[len("gitdir:") :].strip()))
        if admin.parent != Path(os.path.realpath(self.common_dir / "worktrees")):
            raise SandboxUnavailable(
                f"{self.worktree} is not a worktree of {self.common_dir}",
                "run sandboxed commands in a task's worktree",
            )
        return admin

    def _folder(self) -> Path:
        if self.folder is None:
            self.views.mkdir(parents=True, exist_ok=True)
            remove_dead(self.views)
            folder = self.views / f"{owner_tag()}-{secrets.token_hex(4)}"
            for sub in ("refs/heads", "refs/tags", "objects/pack", "objects/info", "info"):
                (folder / sub).mkdir(parents=True)
            self.folder = folder
        return self.folder

    def _refresh(
        self,
        folder: Path,
        admin: Path,
        head: str,
        tip: str,
        base: str,
        packs: tuple[Path, ...],
    ) -> None:
        (folder / "worktrees" / admin.name).mkdir(parents=True, exist_ok=True)
        if head.startswith("ref: refs/heads/"):
            branch = head[len("ref: ") :]
            _write(folder / branch, tip + "\n")
            _write(folder / "HEAD", head + "\n")
        else:
            _write(folder / "HEAD", tip + "\n")
        _write(folder / "shallow", base + "\n")
        self._copy_config(self.common_dir / "config", folder / "config", repository=True)
        self._copy_config(SYSTEM_GITCONFIG, folder / "etc-gitconfig", repository=False)
        exclude = self.common_dir / "info" / "exclude"
        with contextlib.suppress(OSError):
            _write(folder / "info" / "exclude", exclude.read_text(errors="surrogateescape"))
        self._link_packs(folder / "objects" / "pack", packs)

    def _link_packs(self, target: Path, packs: tuple[Path, ...]) -> None:
        wanted: dict[str, Path] = {}
        for pack in packs:
            for file in pack.parent.glob(pack.stem + ".*"):
                if file.suffix != ".json":
                    wanted[file.name] = file
        for name in self._linked - set(wanted):
            with contextlib.suppress(OSError):
                (target / name).unlink()
        for name, source in wanted.items():
            if name in self._linked:
                continue
            try:
                os.link(source, target / name)
            except FileExistsError:
                pass
            except OSError as exc:
                raise SandboxUnavailable(
                    f"cannot show the task's git objects to the sandbox ({exc.strerror})",
                    f"check that {self.views} is writable",
                ) from None
        self._linked = set(wanted)

    def _copy_config(self, source: Path, target: Path, *, repository: bool) -> None:
        try:
            st = os.stat(source)
        except OSError:
            _write(target, "")
            return
        stamp = (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)
        if self._stamps.get(source) == stamp and target.exists():
            return
        _write(target, clean_git_config(source, self.path_env, repository=repository))
        self._stamps[source] = stamp


def clean_git_config(source: Path, path_env: str, *, repository: bool) -> str:
    """`source` rewritten with only what git needs to read a repository, by git's own parser
    (`--list`; includes not followed): never a credential, a remote or a program to run."""
    try:
        done = run_git(
            ["config", "--file", str(source), "--null", "--list"],
            cwd="/",
            environ={"PATH": path_env, "LC_ALL": "C", "GIT_CONFIG_NOSYSTEM": "1"},
            timeout=20,
        )
    except RepoError:
        return ""  # git then reads the defaults: a SHA-1 repository of format 0
    lines: list[str] = []
    header: tuple[str, str | None] | None = None
    for record in done.stdout.split("\0"):
        key, newline, value = record.partition("\n")
        section, _, rest = key.partition(".")
        sub, _, name = rest.rpartition(".")
        if not name or not _kept(section, sub, name, repository=repository):
            continue
        if header != (section, sub or None):
            header = (section, sub or None)
            quoted = sub.replace("\\", "\\\\").replace('"', '\\"')
            lines.append(f'[{section} "{quoted}"]' if sub else f"[{section}]")
        if not newline:
            lines.append(f"\t{name}")  # a key without a value: true
            continue
        escaped = (
            value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            .replace("\t", "\\t")
        )  # fmt: skip
        lines.append(f'\t{name} = "{escaped}"')
    return "".join(line + "\n" for line in lines)


def _kept(section: str, sub: str, name: str, *, repository: bool) -> bool:
    if section not in _SECTIONS or (section == "diff" and sub):
        return False  # `diff.<driver>.textconv/command` name programs
    if section == "core":
        return not sub and name not in _CORE_DROPPED and (repository or name != "bare")
    if section == "extensions":
        return repository and name in _EXTENSIONS_KEPT
    if section == "safe":
        return name == "directory"
    return True


def _write(path: Path, text: str) -> None:
    """Write `text` to `path` unless it holds it already (atomically when it changes)."""
    data = text.encode("utf-8", "surrogateescape")
    with contextlib.suppress(OSError):
        if path.read_bytes() == data:
            return
    path.parent.mkdir(parents=True, exist_ok=True)
    new = path.with_name(path.name + ".new")
    new.write_bytes(data)
    os.replace(new, path)
