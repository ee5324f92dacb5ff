"""`Workspace`: a branch `memfun/<task-id>` and a worktree outside the user's tree, per task.

Everything a task does to git goes through a Workspace. The user's working tree, index, HEAD,
branches, stash and config are only ever read. On leaving the context:
- work left uncommitted, and every failed or interrupted attempt, is kept as a commit under
  `refs/memfun/attempts/<id>/<n>` (never overwriting an earlier attempt);
- the worktree is then removed (all its work is in commits), unless `keep=True`;
- a branch that gained no commits is deleted (it holds nothing).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import threading
from collections.abc import Generator, Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import TracebackType
from typing import TYPE_CHECKING

from memfun_git.errors import RepoError
from memfun_git.gitops.commit import (
    MAX_FILE_BYTES,
    CommitResult,
    Trailers,
    commit_paths,
    identity,
)
from memfun_git.gitops.git import run_git
from memfun_git.gitops.lfs import is_lfs, lfs_unchanged
from memfun_git.gitops.repo import RepoPaths
from memfun_git.redact import redact

if TYPE_CHECKING:
    import pygit2

__all__ = [
    "ATTEMPTS_PREFIX",
    "BRANCH_PREFIX",
    "Attempt",
    "Workspace",
    "attempt_refs",
    "discard_changes",
    "remove_empty_parents",
    "remove_worktree_dir",
    "repo_key",
    "save_attempt",
    "worktree_root",
]

BRANCH_PREFIX = "memfun/"
AGENT_BRANCH_PREFIX = "memfun-agents/"
ATTEMPTS_PREFIX = "refs/memfun/attempts/"
_LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"


@dataclass(frozen=True, slots=True)
class Attempt:
    ref: str
    oid: str
    reason: str
    unsaved: tuple[str, ...] = ()
    """Paths git cannot record in a commit (nested repositories): the worktree is kept."""


def worktree_root(root: str = "", environ: Mapping[str, str] | None = None) -> Path:
    """Where worktrees live: `[workspace] root`, else `$XDG_CACHE_HOME/memfun/worktrees`."""
    env = os.environ if environ is None else environ
    if root:
        return Path(os.path.expanduser(root)).resolve()
    cache = env.get("XDG_CACHE_HOME") or os.path.join(env.get("HOME", "~"), ".cache")
    return (Path(os.path.expanduser(cache)) / "memfun" / "worktrees").resolve()


def repo_key(paths: RepoPaths) -> str:
    """`<repo-name>-<short-hash>`: one folder per clone under the worktree root."""
    name = (paths.workdir or paths.common_dir).name or "repo"
    digest = hashlib.sha256(str(paths.common_dir).encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def attempt_refs(repo: pygit2.Repository, task_id: str | None = None) -> list[str]:
    prefix = ATTEMPTS_PREFIX + (f"{task_id}/" if task_id else "")
    return sorted(r for r in repo.references if r.startswith(prefix))


@dataclass
class Workspace:
    """A task's branch and worktree. Use as a context manager."""

    paths: RepoPaths
    task_id: str
    base: str = "HEAD"
    root: Path | None = None
    with_changes: bool = False
    agent: str = "memfun"
    resume: bool = False
    """Check out the task's existing branch (a follow-up) instead of creating it."""
    keep: bool = False
    """Leave the worktree on disk when the context ends (its work is still recorded)."""
    environ: Mapping[str, str] | None = None

    branch: str = field(init=False)
    path: Path = field(init=False)
    base_oid: str = field(init=False, default="")
    commits: list[CommitResult] = field(init=False, default_factory=list[CommitResult])
    attempt: Attempt | None = field(init=False, default=None)
    touched: set[str] = field(init=False, default_factory=set[str])
    _repo: pygit2.Repository | None = field(init=False, default=None, repr=False)
    _worktree_name: str = field(init=False, default="")
    _owns_path: bool = field(init=False, default=False)

    def __post_init__(self) -> None:
        if not _valid_task_id(self.task_id):
            raise RepoError(
                f"{self.task_id!r} is not a valid task id",
                "use letters, digits, '-', '_' and '.' only",
            )
        self.branch = BRANCH_PREFIX + self.task_id
        root = self.root if self.root is not None else worktree_root(environ=self.environ)
        self.path = root / repo_key(self.paths) / self.task_id
        self._worktree_name = "memfun-" + self.task_id

    # -- opening -------------------------------------------------------------------------

    def __enter__(self) -> Workspace:
        import pygit2

        paths = self.paths
        if paths.bare or paths.workdir is None:
            raise RepoError(
                f"{paths.git_dir} is a bare repository", "run memfun in a clone with a working tree"
            )
        if paths.unborn:
            raise RepoError(
                f"{paths.workdir} has no commits yet",
                "make a first commit, then run memfun again",
            )
        if _inside(self.path, paths.workdir):
            raise RepoError(
                f"the worktree folder {self.path} is inside the repository's working tree",
                "set [workspace] root to a folder outside the repository",
            )
        user = pygit2.Repository(str(paths.workdir))
        if self.with_changes:
            _refuse_conflicts(user)
        created_branch = False
        try:
            with _no_interrupts():
                branch_ref = self._branch(user)
                created_branch = not self.resume
                self._add_worktree(user, branch_ref)
            self._repo = pygit2.Repository(str(self.path))
            if self.with_changes:
                self._carry_over(user)
        except BaseException as exc:
            if self._repo is not None:
                self.__exit__(type(exc), exc, exc.__traceback__)
            else:
                with _no_interrupts():
                    if self._owns_path:
                        self._remove_worktree(user)
                    if created_branch:
                        _delete_branch(user, self.branch)
            raise
        return self

    def _branch(self, user: pygit2.Repository) -> pygit2.Reference:
        import pygit2

        existing = user.branches.local.get(self.branch)
        if self.resume:
            if existing is None:
                raise RepoError(f"there is no branch {self.branch} to continue", "start a new task")
            self.base_oid = str(existing.target)
            return existing
        if existing is not None:
            raise RepoError(
                f"branch {self.branch} already exists",
                "continue it, or remove it with `memfun gc --force`",
            )
        try:
            commit = user.revparse_single(self.base).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            raise RepoError(
                f"{self.base!r} is not a commit in this repository",
                "pass a branch, tag or commit that exists",
            ) from None
        self.base_oid = str(commit.id)
        return user.branches.local.create(self.branch, commit)

    def _add_worktree(self, user: pygit2.Repository, branch_ref: pygit2.Reference) -> None:
        if self.path.exists():
            raise RepoError(
                f"the worktree folder {self.path} already exists",
                "remove it, or run `memfun gc` to clean up old worktrees",
            )
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RepoError(
                f"cannot make the worktree folder {self.path.parent} ({exc.strerror})",
                "set [workspace] root to a folder you can write",
            ) from None
        self._owns_path = True
        if _uses_lfs(user, self.base_oid):
            # libgit2 runs no smudge filters: let git (and git-lfs, when installed) check out.
            # No hooks: the checkout holds the task's content, not the user's.
            _git(
                user.workdir,
                "-c",
                "core.hooksPath=/dev/null",
                "worktree",
                "add",
                "--quiet",
                str(self.path),
                self.branch,
                environ={**os.environ, **(self.environ or {})},
            )
            if self._worktree_name not in user.list_worktrees():
                self._worktree_name = self.path.name
        else:
            user.add_worktree(self._worktree_name, str(self.path), branch_ref)

    def _carry_over(self, user: pygit2.Repository) -> None:
        """Copy the user's uncommitted changes in as a first bookkeeping commit."""
        from pygit2.enums import FileStatus

        assert self.paths.workdir is not None
        changed: list[str] = []
        for rel, status in user.status(untracked_files="all").items():
            if status & FileStatus.IGNORED or status == FileStatus.CURRENT:
                continue
            src = self.paths.workdir / rel
            dst = self.path / rel
            if src.is_symlink() or src.is_file():
                dst.parent.mkdir(parents=True, exist_ok=True)
                if dst.is_symlink() or dst.exists():
                    dst.unlink()
                if src.is_symlink():
                    os.symlink(os.readlink(src), dst)
                else:
                    shutil.copy2(src, dst)
            elif dst.is_symlink() or dst.is_file():
                dst.unlink()
            changed.append(rel)
        if changed:
            self.commit(
                changed,
                "memfun: carry over uncommitted changes",
                gate="n/a (the user's uncommitted changes)",
                note=f"task {self.task_id}: {len(changed)} uncommitted paths copied in",
                max_file_bytes=None,
            )

    # -- working ---------------------------------------------------------------------------

    @property
    def repo(self) -> pygit2.Repository:
        if self._repo is None:
            raise RuntimeError("the workspace is not open")
        return self._repo

    def readonly_reason(self, rel: str) -> str | None:
        """Why a task may not write `rel`, or None: `.git` paths, submodules, Git LFS files."""
        parts = PurePosixPath(rel).parts
        if any(part == ".git" for part in parts):
            return "paths named .git belong to git"
        for depth in range(1, len(parts)):
            if self.path.joinpath(*parts[:depth]).is_symlink():
                link = "/".join(parts[:depth])
                return f"it is beyond the symbolic link {link} (outside the worktree)"
        for sub in self._submodule_paths():
            if rel == sub or rel.startswith(sub + "/"):
                return f"{sub} is a submodule (read-only to tasks)"
        if self.repo.get_attr(rel, "filter") == "lfs":
            return "it is stored in Git LFS (read-only to tasks)"
        return None

    def lfs_pointer(self, rel: str) -> bool:
        """True when `rel` in the worktree is an LFS pointer, not the file's content."""
        full = self.path / rel
        try:
            with full.open("rb") as handle:
                return handle.read(len(_LFS_POINTER)) == _LFS_POINTER
        except OSError:
            return False

    def _submodule_paths(self) -> list[str]:
        try:
            return list(self.repo.listall_submodules())
        except Exception:
            return []

    def commit(
        self,
        paths: Iterable[str],
        message: str,
        *,
        gate: str,
        agent: str | None = None,
        note: str | None = None,
        max_file_bytes: int | None = MAX_FILE_BYTES,
    ) -> CommitResult | None:
        """Commit exactly `paths` on the task's branch; None when they hold no change.

        A file over `max_file_bytes` is refused (None: any size, for the user's own files)."""
        wanted = list(paths)
        for rel in wanted:
            reason = self.readonly_reason(rel)
            if reason is not None:
                raise RepoError(f"{rel} cannot be committed: {reason}", "leave it unchanged")
        self.touched.update(wanted)
        result = commit_paths(
            self.repo,
            wanted,
            message,
            Trailers(task=self.task_id, agent=agent or self.agent, gate=gate),
            note=note,
            environ=self.environ,
            max_file_bytes=max_file_bytes,
        )
        if result is not None:
            self.commits.append(result)
        return result

    def dirty_paths(self) -> list[str]:
        """Paths of the worktree that hold uncommitted work (ignored files are not work)."""
        from pygit2.enums import FileStatus

        repo = self.repo
        return sorted(
            rel
            for rel, status in repo.status(untracked_files="all").items()
            if not status & FileStatus.IGNORED
            and status != FileStatus.CURRENT
            # A smudged LFS file looks modified to libgit2, which runs no clean filter.
            and not (status == FileStatus.WT_MODIFIED and lfs_unchanged(repo, rel))
        )

    # -- closing ---------------------------------------------------------------------------

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        import pygit2

        if self._repo is None:
            return
        assert self.paths.workdir is not None
        user = pygit2.Repository(str(self.paths.workdir))
        with _no_interrupts():
            if exc is not None:
                reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
                detail = redact(str(exc)).strip().splitlines()
                why = f"{reason}: {detail[0]}" if detail else reason
                self.attempt = self._record_attempt(user, why)
            elif self.dirty_paths():
                self.attempt = self._record_attempt(user, "uncommitted work at the end of the task")
            self._repo.free()
            self._repo = None
            if not self.keep and not (self.attempt is not None and self.attempt.unsaved):
                self._remove_worktree(user)
                tip = user.branches.local.get(self.branch)
                if tip is not None and str(tip.target) == self.base_oid and not self.resume:
                    _delete_branch(user, self.branch)

    def _record_attempt(self, user: pygit2.Repository, why: str) -> Attempt:
        """Snapshot everything in the worktree into a commit under refs/memfun/attempts/."""

        repo = self.repo
        index = repo.index
        index.read(False)
        # Path by path, not add_all: add_all stops at the first path libgit2 cannot record (a
        # nested repository) and would store LFS files' content where pointers belong. What
        # cannot be recorded stays in the worktree, which is then kept.
        unsaved = self._add_one_by_one(index)
        index.write()
        tree = index.write_tree()
        head = repo.head.target
        if unsaved:
            shown = ", ".join(unsaved[:3]) + (
                f" and {len(unsaved) - 3} more" if len(unsaved) > 3 else ""
            )
            why = f"{why}; not recorded, kept in {self.path}: {shown}"
        author, committer = identity(repo, self.environ)
        trailers = Trailers(task=self.task_id, agent=self.agent, gate=f"n/a (attempt {why})")
        message = f"memfun: attempt of task {self.task_id} ({why})\n\n{trailers.render()}\n"
        oid = repo.create_commit(None, author, committer, redact(message), tree, [head])
        ref = save_attempt(user, self.task_id, str(oid))
        return Attempt(ref=ref, oid=str(oid), reason=why, unsaved=tuple(unsaved))

    def _add_one_by_one(self, index: pygit2.Index) -> list[str]:
        """Stage every dirty path that git can record; return those it cannot."""
        import pygit2

        unsaved: list[str] = []
        for rel in self.dirty_paths():
            full = self.path / rel
            try:
                if rel.endswith("/") or is_lfs(self.repo, rel):
                    unsaved.append(rel)  # a folder status does not descend into: a repository
                elif full.is_symlink():
                    index.add(rel)
                elif full.is_file():
                    if full.stat().st_size > MAX_FILE_BYTES:
                        unsaved.append(rel)  # kept in the worktree, not in the object store
                    else:
                        index.add(rel)
                elif not full.exists():
                    index.remove(rel)
                else:
                    unsaved.append(rel)
            except (pygit2.GitError, OSError):
                unsaved.append(rel)
        return unsaved

    def _remove_worktree(self, user: pygit2.Repository) -> None:
        remove_worktree_dir(self.path)
        for name in (self._worktree_name, self.path.name):
            if name in user.list_worktrees():
                user.lookup_worktree(name).prune(True)
        remove_empty_parents(self.path, Path(user.path))


def remove_empty_parents(worktree: Path, git_dir: Path) -> None:
    """Leave no empty folder behind: the repository's folder under the worktree root, and
    `<git-dir>/worktrees` once no worktree is left (git makes both again when needed)."""
    for folder in (worktree.parent, git_dir / "worktrees"):
        with contextlib.suppress(OSError):
            folder.rmdir()


def save_attempt(user: pygit2.Repository, task_id: str, oid: str) -> str:
    """Keep `oid` under the next free `refs/memfun/attempts/<task_id>/<n>`; return the ref."""
    import pygit2

    taken = [r.rsplit("/", 1)[1] for r in attempt_refs(user, task_id)]
    number = 1 + max((int(n) for n in taken if n.isdigit()), default=0)
    while True:
        ref = f"{ATTEMPTS_PREFIX}{task_id}/{number}"
        try:
            user.references.create(ref, oid)
        except (ValueError, pygit2.AlreadyExistsError):
            number += 1  # another process took it: never overwrite an attempt
            continue
        return ref


def remove_worktree_dir(path: Path) -> None:
    """Delete a worktree folder without following any link out of it."""
    if path.is_symlink():
        path.unlink()
        return
    if path.exists():
        shutil.rmtree(path)


def discard_changes(path: Path) -> None:
    """Put the worktree at `path` back to its HEAD, whatever commands left in it.

    libgit2's checkout (`reset --hard`) writes through a symbolic link standing where a
    tracked folder was (`src -> ~/.config/autostart`): a file of HEAD would land outside the
    worktree. So everything but `.git` is removed first (links unlinked, never followed, a
    folder by `rmtree`, which follows none), and HEAD is then checked out into the empty
    worktree."""
    import pygit2

    for entry in path.iterdir():
        if entry.name == ".git":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    repo = pygit2.Repository(str(path))
    try:
        repo.reset(repo.head.target, pygit2.enums.ResetMode.HARD)
    finally:
        repo.free()


def _delete_branch(user: pygit2.Repository, branch: str) -> None:
    ref = user.branches.local.get(branch)
    if ref is not None:
        ref.delete()


def _refuse_conflicts(user: pygit2.Repository) -> None:
    """Carrying over conflict markers would pass them off as the user's work: git refuses too."""
    from pygit2.enums import FileStatus

    conflicted = sorted(
        rel
        for rel, status in user.status(untracked_files="no").items()
        if status & FileStatus.CONFLICTED
    )
    if conflicted:
        which = (
            f"{conflicted[0]} and {len(conflicted) - 1} more paths have"
            if len(conflicted) > 1
            else f"{conflicted[0]} has"
        )
        raise RepoError(
            f"{which} unresolved conflicts, which cannot be carried over",
            "resolve them first, or start the task without --with-changes",
        )


def _valid_task_id(task_id: str) -> bool:
    allowed = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")
    return (
        0 < len(task_id) <= 100
        and set(task_id) <= allowed
        and not task_id.startswith((".", "-"))
        and not task_id.endswith((".", ".lock"))
        and ".." not in task_id
    )


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except ValueError:
        return False
    return True


def _uses_lfs(user: pygit2.Repository, commit_oid: str) -> bool:
    """True when the commit's top-level .gitattributes routes files through Git LFS."""
    import pygit2

    tree = user.revparse_single(commit_oid).peel(pygit2.Commit).tree
    if ".gitattributes" not in tree:
        return False
    blob = tree[".gitattributes"]
    return isinstance(blob, pygit2.Blob) and b"filter=lfs" in blob.data


def _git(cwd: str | Path | None, *args: str, environ: Mapping[str, str] | None = None) -> str:
    return run_git(args, cwd=cwd, environ=environ).stdout


@contextmanager
def _no_interrupts() -> Generator[None]:
    """Hold SIGINT while git state changes, so Ctrl-C cannot leave it half-done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
