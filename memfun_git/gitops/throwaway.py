"""Where `memfun sandbox run` runs: a throwaway worktree of HEAD, or a task's own worktree.

A throwaway is a detached worktree: no branch under `refs/heads` (a `git push --all` cannot
publish it), no note, no attempt. With the user's changes (`--with-changes`) they are carried
over as a commit on the detached HEAD, as a task's are, which nothing but that HEAD holds.
Leaving the context takes the worktree away whatever the command left there; the held part
(renaming the folder aside, pruning git's record) cannot be interrupted half-way, and the
deletion after it stores nothing anywhere if it is.

memfun records the worktree with its owner (pid and start time). A run killed before it could
clean up (SIGKILL, a crash) leaves its throwaway behind: the next memfun command that opens a
worktree in the repository, and gc, remove every throwaway whose owner is gone, without asking.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

from memfun_git.errors import RepoError, UsageError
from memfun_git.gitops.branches import is_ours
from memfun_git.gitops.carry import CarryOver, carry_over, refuse_conflicts
from memfun_git.gitops.commit import Trailers, commit_paths
from memfun_git.gitops.create import (
    add_worktree,
    open_checks,
    refuse_inside,
    repo_key,
    worktree_root,
)
from memfun_git.gitops.environment import copy_included, include_patterns, link_folders
from memfun_git.gitops.limits import Limits, ProgressCallback, Reporter
from memfun_git.gitops.records import Checkout, checkouts
from memfun_git.gitops.removal import (
    forget_worktree,
    remove_empty_parents,
    remove_worktree,
    sweep_trash,
    take_aside,
)
from memfun_git.gitops.repo import RepoPaths, discover
from memfun_git.gitops.signals import no_interrupts
from memfun_git.gitops.tidy import remove_tree

if TYPE_CHECKING:
    import pygit2

__all__ = ["Throwaway", "dead_throwaway", "prepare", "reap_throwaways", "task_worktree"]

logger = logging.getLogger(__name__)


def dead_throwaway(checkout: Checkout) -> bool:
    """A throwaway worktree memfun made for a run that has ended."""
    record = checkout.record
    return (
        checkout.ours
        and record is not None
        and record.kind == "throwaway"
        and not checkout.locked
        and not record.in_use
    )


def reap_throwaways(paths: RepoPaths) -> list[Checkout]:
    """Remove the throwaway worktrees of runs that have ended; return them."""
    import pygit2

    dead = [c for c in checkouts(paths.common_dir) if dead_throwaway(c)]
    if not dead:
        return []
    user = pygit2.Repository(str(paths.common_dir))
    for checkout in dead:
        remove_worktree(user, paths.common_dir, checkout.folder, checkout.name)
        logger.info("removed the throwaway worktree %s of a run that ended", checkout.folder)
    return dead


def prepare(paths: RepoPaths, folder: Path, *, with_changes: bool) -> pygit2.Repository:
    """What every new worktree starts with: the checks, and the housekeeping of ended runs
    (their throwaways, trash folders). Returns the user's repository, opened to be read."""
    import pygit2

    open_checks(paths)
    refuse_inside(folder, paths)
    assert paths.workdir is not None
    user = pygit2.Repository(str(paths.workdir))
    if with_changes:
        refuse_conflicts(user)
    reap_throwaways(paths)
    sweep_trash(folder.parent)
    return user


@dataclass
class Throwaway:
    """A throwaway worktree of HEAD (and the user's changes, on request). A context manager."""

    paths: RepoPaths
    root: Path | None = None
    with_changes: bool = False
    limits: Limits = field(default_factory=Limits)
    on_progress: ProgressCallback | None = None
    progress_after: float = 1.0
    include: tuple[str, ...] = ()
    """[workspace] include: the same ignored files a task's worktree gets."""
    link: tuple[str, ...] = ()
    """[workspace] link: the same folders a task's worktree gets linked in."""

    path: Path = field(init=False)
    carried: CarryOver | None = field(init=False, default=None)
    linked: tuple[str, ...] = field(init=False, default=())
    _name: str = field(init=False, default="")

    def __post_init__(self) -> None:
        root = self.root if self.root is not None else worktree_root()
        self.path = root / repo_key(self.paths) / f"sandbox-{secrets.token_hex(4)}"

    def __enter__(self) -> Throwaway:
        user = prepare(self.paths, self.path, with_changes=self.with_changes)
        try:
            with no_interrupts():
                self._name = add_worktree(
                    user,
                    self.path,
                    kind="throwaway",
                    name=self.path.name,
                    branch=None,
                    commit_oid=str(user.head.target),
                )
            if self.paths.workdir is not None:
                patterns = include_patterns(self.paths.workdir, self.include)
                copy_included(user, self.paths.workdir, self.path, patterns)
                self.linked, _ = link_folders(user, self.paths.workdir, self.path, self.link)
            if self.with_changes:
                self._carry_over(user)
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._remove()

    def _remove(self) -> None:
        """Held from the first line: an interrupt landing before it leaves the throwaway
        whole, for the next command to remove once this process has ended; one landing
        after it leaves at most a trash folder."""
        import pygit2

        with no_interrupts():
            user = pygit2.Repository(str(self.paths.common_dir))
            trash = take_aside(self.path)
            forget_worktree(user, self.paths.common_dir, self._name or self.path.name)
        if trash is not None:
            remove_tree(trash)
        remove_empty_parents(self.path, self.paths.common_dir)

    def _carry_over(self, user: pygit2.Repository) -> None:
        import pygit2

        repo = pygit2.Repository(str(self.path))
        try:
            reporter = Reporter(self.on_progress, "carry-over", after=self.progress_after)
            self.carried = carry_over(user, repo, self.limits, reporter)
            if self.carried.paths:
                commit_paths(
                    repo,
                    self.carried.paths,
                    "memfun: carry over uncommitted changes",
                    Trailers("sandbox", "memfun", "n/a (the user's uncommitted changes)"),
                    max_file_bytes=None,
                )
        finally:
            repo.free()


def task_worktree(paths: RepoPaths, folder: Path) -> Path:
    """The worktree at `folder`, checked to be one memfun made for a task (`--workspace`):
    never the user's own tree, nor a worktree the user made, nor another run's throwaway."""
    import pygit2

    tree = discover(folder)
    if tree is None or tree.workdir is None or tree.common_dir != paths.common_dir:
        raise RepoError(
            f"{folder} is not a worktree of {paths.workdir}",
            "pass the folder of one of this repository's task worktrees",
        )
    main = pygit2.Repository(str(paths.common_dir)).workdir
    main_tree = Path(main).resolve() if main else None
    if tree.workdir in (paths.workdir, main_tree) or tree.git_dir == tree.common_dir:
        raise UsageError(
            "--workspace names your own working tree",
            "pass a task's worktree, or leave --workspace out for a throwaway one",
        )
    found = next((c for c in checkouts(paths.common_dir) if c.admin == tree.git_dir), None)
    if found is None or not found.ours or (found.record and found.record.kind == "throwaway"):
        branch = ((found.branch if found else None) or "").removeprefix("refs/heads/")
        what = f"it has {branch or 'no branch'} checked out"
        if is_ours("refs/heads/" + branch):
            what = f"memfun did not make it, though it has {branch} checked out"
        raise UsageError(
            f"--workspace {folder} is not a memfun task's worktree ({what})",
            "pass a task's worktree, or leave --workspace out for a throwaway one",
        )
    return tree.workdir
