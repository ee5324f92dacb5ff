"""`Workspace`: a branch and a worktree outside the user's tree, for one piece of work.

The branch comes from the kind of work (`gitops.branches.Work`): `memfun/<task-id>` for a task,
`memfun-agents/<task-id>/<agent>` for a specialist. Everything a task does to git goes through
a Workspace; the user's working tree, index, HEAD, branches, stash and config are only read.
The jobs live in their own modules: creation (`create`), carrying the user's changes over
(`carry`), commits (`commit`), attempts (`attempts`), removal (`removal`). On leaving:
- the worktree is tidied first (folder permissions restored, pipes and sockets removed), so
  no status call can block or fail on what a command left;
- work left uncommitted, and every failed or interrupted attempt, is kept as a commit under
  `refs/memfun/attempts/<slug>/<n>`; what an attempt cannot hold keeps the worktree on disk;
- the worktree is then removed (all its work is in commits), unless `keep=True`;
- a branch that gained no commits is deleted (it holds nothing).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from memfun_git.errors import RepoError
from memfun_git.gitops.attempts import ATTEMPTS_PREFIX, Attempt, record_attempt
from memfun_git.gitops.branches import AGENT_BRANCH_PREFIX, BRANCH_PREFIX, Work, WorkKind
from memfun_git.gitops.carry import CarryOver, carry_over
from memfun_git.gitops.commit import CommitResult, Trailers, commit_paths
from memfun_git.gitops.create import (
    add_worktree,
    base_commit,
    new_branch,
    repo_key,
    worktree_root,
)
from memfun_git.gitops.environment import (
    Included,
    copy_included,
    include_patterns,
    link_folders,
    unlink_folders,
)
from memfun_git.gitops.files import shown_list
from memfun_git.gitops.limits import (
    MAX_FILE_BYTES,
    Limits,
    ProgressCallback,
    Reporter,
    describe_left_out,
)
from memfun_git.gitops.readonly import readonly_reason
from memfun_git.gitops.records import release_record
from memfun_git.gitops.removal import forget_worktree, remove_empty_parents, take_aside
from memfun_git.gitops.repo import RepoPaths
from memfun_git.gitops.signals import no_interrupts
from memfun_git.gitops.status import dirty_paths
from memfun_git.gitops.throwaway import prepare
from memfun_git.gitops.tidy import remove_tree, tidy_tree
from memfun_git.redact import redact

if TYPE_CHECKING:
    import pygit2

    from memfun_git.edits.ops import FileOps, Op, OpResult

__all__ = [
    "AGENT_BRANCH_PREFIX",
    "ATTEMPTS_PREFIX",
    "BRANCH_PREFIX",
    "Attempt",
    "Workspace",
]

logger = logging.getLogger(__name__)


@dataclass
class Workspace:
    """A piece of work's branch and worktree. Use as a context manager."""

    paths: RepoPaths
    task_id: str
    base: str = "HEAD"
    root: Path | None = None
    with_changes: bool = False
    agent: str = "memfun"
    """Who commits (`Memfun-Agent`); a specialist's name also names its branch."""
    resume: bool = False
    """Check out the existing branch (a follow-up) instead of creating it."""
    keep: bool = False
    """Leave the worktree on disk when the context ends (its work is still recorded)."""
    environ: Mapping[str, str] | None = None
    kind: WorkKind = "task"
    limits: Limits = field(default_factory=Limits)
    """What an attempt or a carry-over may hold."""
    on_progress: ProgressCallback | None = None
    """Called with progress of a long carry-over or attempt (past `progress_after` seconds)."""
    progress_after: float = 1.0
    include: tuple[str, ...] = ()
    """[workspace] include: ignored files of the user's tree copied in (gitops.environment)."""
    link: tuple[str, ...] = ()
    """[workspace] link: ignored folders of the user's tree linked in (gitops.environment)."""

    work: Work = field(init=False)
    branch: str = field(init=False)
    path: Path = field(init=False)
    base_oid: str = field(init=False, default="")
    commits: list[CommitResult] = field(init=False, default_factory=list[CommitResult])
    attempt: Attempt | None = field(init=False, default=None)
    carried: CarryOver | None = field(init=False, default=None)
    linked: tuple[str, ...] = field(init=False, default=())
    """The folders `link` linked in (absolute links into the user's tree, read-only)."""
    included: Included = field(init=False, default_factory=Included)
    """The files `include` copied in: read-only to the task, never committed."""
    touched: set[str] = field(init=False, default_factory=set[str])
    """Every path the workspace's operations (`apply`) changed, and every path committed."""
    _repo: pygit2.Repository | None = field(init=False, default=None, repr=False)
    _name: str = field(init=False, default="")
    _file_ops: dict[bool, FileOps] = field(init=False, default_factory=dict[bool, "FileOps"])

    def __post_init__(self) -> None:
        self.work = Work(self.task_id, self.kind, self.agent if self.kind == "specialist" else "")
        self.branch = self.work.branch
        root = self.root if self.root is not None else worktree_root(environ=self.environ)
        self.path = root / repo_key(self.paths) / self.work.slug

    # -- opening -------------------------------------------------------------------------

    def __enter__(self) -> Workspace:
        user = prepare(self.paths, self.path, with_changes=self.with_changes)
        if os.path.lexists(self.path):
            raise RepoError(
                f"the worktree folder {self.path} already exists",
                "remove it, or run `memfun gc` to clean up old worktrees",
            )
        created_branch = False
        try:
            with no_interrupts():
                branch = self._branch(user)
                created_branch = not self.resume
                self._name = add_worktree(
                    user,
                    self.path,
                    kind=self.kind,
                    name="memfun-" + self.work.slug,
                    branch=branch,
                    commit_oid=self.base_oid,
                    environ=self.environ,
                )
            self._repo = self._open_repo()
            assert self.paths.workdir is not None
            patterns = include_patterns(self.paths.workdir, self.include)
            self.included = copy_included(user, self.paths.workdir, self.path, patterns)
            self.linked, _ = link_folders(user, self.paths.workdir, self.path, self.link)
            if self.with_changes:
                self._carry_over(user)
        except BaseException:
            # Nothing of the task's yet (the carried-over files are the user's, still in
            # their tree): no attempt, the worktree and a new branch go.
            self._free()
            self._remove(user, drop_branch=created_branch, with_commits=True)
            raise
        return self

    def _user(self) -> pygit2.Repository:
        import pygit2

        assert self.paths.workdir is not None
        return pygit2.Repository(str(self.paths.workdir))

    def _open_repo(self) -> pygit2.Repository:
        import pygit2

        return pygit2.Repository(str(self.path))

    def _branch(self, user: pygit2.Repository) -> pygit2.Reference:
        if self.resume:
            existing = user.branches.local.get(self.branch)
            if existing is None:
                raise RepoError(f"there is no branch {self.branch} to continue", "start a new task")
            self.base_oid = str(existing.target)
            return existing
        commit = base_commit(user, self.base)
        self.base_oid = str(commit.id)
        return new_branch(user, self.branch, commit)

    def _carry_over(self, user: pygit2.Repository) -> None:
        """Copy the user's uncommitted changes in as a first bookkeeping commit."""
        reporter = Reporter(self.on_progress, "carry-over", after=self.progress_after)
        carried = carry_over(user, self.repo, self.limits, reporter)
        self.carried = carried
        if not carried.paths:
            return
        body = ""
        if carried.left_out:
            body = "\n\nLeft out: " + describe_left_out(carried.left_out, self.limits)
        result = commit_paths(
            self.repo,
            carried.paths,
            "memfun: carry over uncommitted changes" + body,
            Trailers(self.task_id, self.agent, "n/a (the user's uncommitted changes)"),
            note=f"{self.work.slug}: {len(carried.paths)} uncommitted paths copied in",
            environ=self.environ,
            max_file_bytes=None,
        )
        if result is not None:
            self.commits.append(result)

    # -- working ---------------------------------------------------------------------------

    @property
    def repo(self) -> pygit2.Repository:
        if self._repo is None:
            raise RuntimeError("the workspace is not open")
        return self._repo

    def readonly_reason(self, rel: str) -> str | None:
        """Why a task may not write `rel`, or None: `.git` paths, paths beyond a link,
        submodules, Git LFS files (see `gitops.readonly`)."""
        if rel in self.included.copied:
            return "it is copied from your tree by [workspace] include, and never committed"
        return readonly_reason(self.repo, self.path, self.base_oid, rel)

    def lfs_pointer(self, rel: str) -> bool:
        """True when `rel` in the worktree is an LFS pointer, not the file's content."""
        pointer = b"version https://git-lfs.github.com/spec/v1"
        try:
            with (self.path / rel).open("rb") as handle:
                return handle.read(len(pointer)) == pointer
        except OSError:
            return False

    def apply(self, operations: Iterable[Op], *, edit_only: bool = False) -> list[OpResult]:
        """Apply the model's file operations in order (`edits.ops.FileOps`); record the paths
        each one changed in `touched`, so a commit of `sorted(touched)` takes exactly them."""
        from memfun_git.edits.ops import FileOps

        ops = self._file_ops.get(edit_only)
        if ops is None:
            ops = self._file_ops[edit_only] = FileOps(self, edit_only=edit_only)
        results = ops.apply(operations)
        for result in results:
            self.touched.update(result.paths)
        return results

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
        """Commit exactly `paths` on the branch; None when they hold no change.

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

    def keep_attempt(self, why: str) -> Attempt | None:
        """Record what the worktree holds uncommitted as an attempt now (a tier that failed,
        before the next one starts over); None when nothing is uncommitted."""
        dirty = self.dirty_paths()
        if not dirty:
            return None
        user = self._user()
        try:
            return record_attempt(
                self.repo, user, dirty=dirty, slug=self.work.slug,
                trailers=Trailers(self.task_id, self.agent, ""), why=why, limits=self.limits,
                reporter=Reporter(self.on_progress, "attempt", after=self.progress_after),
                environ=self.environ,
            )  # fmt: skip
        finally:
            user.free()

    def set_aside(self, since: str, commits: int) -> str | None:
        """Undo a failed tier's commits: keep the branch's tip as an attempt ref, move the
        branch (and the worktree) back to `since`, and forget the commits made after the
        first `commits`; the ref, or None when the tier committed nothing."""
        import pygit2

        tip = str(self.repo.head.target)
        if tip == since:
            return None
        user = self._user()
        try:
            from memfun_git.gitops.attempts import save_attempt

            ref = save_attempt(user, self.work.slug, tip)
        finally:
            user.free()
        self.repo.reset(pygit2.Oid(hex=since), pygit2.enums.ResetMode.HARD)
        del self.commits[commits:]
        return ref

    def dirty_paths(self) -> list[str]:
        """Paths of the worktree that hold uncommitted work (ignored files are not work, nor
        the folders `link` linked in)."""
        return [p for p in dirty_paths(self.repo) if p.rstrip("/") not in self.linked]

    # -- closing ---------------------------------------------------------------------------

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._repo is None:
            return
        user = self._user()
        unlink_folders(self.path, self.linked)
        tidy_tree(self.path)
        try:
            self.attempt = self._keep_attempt(user, exc)
        except BaseException as error:
            # Interrupted while hashing files, or git refused: the worktree and the branch
            # stay, so nothing is lost; gc shows them.
            logger.warning(
                "no attempt of %s could be recorded (%s); its worktree %s is kept",
                self.work.slug,
                type(error).__name__,
                self.path,
            )
            self._free()
            release_record(self.paths.common_dir / "worktrees" / self._name)
            raise
        self._free()
        if self.keep or (self.attempt is not None and self.attempt.unsaved):
            release_record(self.paths.common_dir / "worktrees" / self._name)
        else:
            self._remove(user, drop_branch=not self.resume)

    def _keep_attempt(self, user: pygit2.Repository, exc: BaseException | None) -> Attempt | None:
        dirty = self.dirty_paths()
        if exc is not None:
            reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            detail = redact(str(exc)).strip().splitlines()
            why = f"{reason}: {detail[0]}" if detail else reason
        elif dirty:
            why = "uncommitted work at the end of the task"
        else:
            return None
        attempt = record_attempt(
            self.repo,
            user,
            dirty=dirty,
            slug=self.work.slug,
            trailers=Trailers(self.task_id, self.agent, ""),
            why=why,
            limits=self.limits,
            reporter=Reporter(self.on_progress, "attempt", after=self.progress_after),
            environ=self.environ,
        )
        if attempt.unsaved:
            logger.info("%s kept at %s: %s", self.work.slug, self.path, shown_list(attempt.unsaved))
        return attempt

    def _free(self) -> None:
        if self._repo is not None:
            self._repo.free()
            self._repo = None

    def _remove(
        self, user: pygit2.Repository, *, drop_branch: bool, with_commits: bool = False
    ) -> None:
        """Take the worktree away and, with `drop_branch`, a branch that gained nothing (or,
        `with_commits`, one holding only the carried-over copy of the user's changes)."""
        common = self.paths.common_dir
        with no_interrupts():
            trash = take_aside(self.path)
            if self._name:
                forget_worktree(user, common, self._name)
            tip = user.branches.local.get(self.branch)
            empty = tip is not None and str(tip.target) == self.base_oid
            if drop_branch and tip is not None and (with_commits or empty):
                tip.delete()
        if trash is not None:
            try:
                remove_tree(trash)
            except OSError as exc:
                logger.warning("%s is left for gc to remove (%s)", trash, exc.strerror)
        remove_empty_parents(self.path, common)
