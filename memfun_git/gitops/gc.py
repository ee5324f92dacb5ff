"""`memfun gc`: remove memfun's worktrees, branches and attempts that hold no work.

gc is the only code that deletes branches. Its rules, each decided by data:
- a worktree is memfun's only when it holds memfun's record naming its own folder
  (`gitops.records`); a worktree the user made is never removed, whatever branch it has;
- a worktree whose owner process still runs is in use; a throwaway (`memfun sandbox run`)
  whose run has ended goes without asking; a locked worktree stays;
- a worktree whose branch is also checked out elsewhere is left alone, forced or not;
- a worktree whose folder (or `.git` file) is gone is removable;
- before any status call the worktree is tidied (`tidy_tree`: permissions restored, pipes and
  sockets removed; libgit2 blocks on a pipe named `.gitignore`), even in a dry run;
- a worktree with uncommitted changes, or untracked files that are not ignored (caches are not
  work), is kept without `force`;
- a branch checked out anywhere stays; a delivered branch (its tip reachable from a ref that
  is not memfun's own) goes; an undelivered one stays without `force`, and forced, its tip is
  first kept as an attempt (`GcItem.keep_tip`) under a bookkeeping commit made now;
- attempts older than `[workspace] keep_attempts_days` go;
- trash folders that interrupted removals left under memfun's worktree folder go;
- what sandboxed runs left goes: views of the git dir and cgroups of runs that have ended, and
  packs of task objects (`sandbox/objects.py`) that no worktree needs and none used for a week.
Removal never follows a link out of a worktree. `apply` reports each item after acting on it.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from memfun_git.errors import MemfunError
from memfun_git.gitops.attempts import attempt_refs
from memfun_git.gitops.branches import (
    AGENT_BRANCH_PREFIX,
    BRANCH_PREFIX,
    is_ours,
    slug_of_branch,
)
from memfun_git.gitops.create import repo_key, worktree_root
from memfun_git.gitops.deliver import delivered_by, foreign_tips, keep_tip
from memfun_git.gitops.files import shown_list
from memfun_git.gitops.records import Checkout, checkouts
from memfun_git.gitops.removal import TRASH_PREFIX, remove_worktree
from memfun_git.gitops.repo import RepoPaths
from memfun_git.gitops.signals import no_interrupts
from memfun_git.gitops.status import dirty_paths
from memfun_git.gitops.throwaway import dead_throwaway
from memfun_git.gitops.tidy import remove_tree, tidy_tree

if TYPE_CHECKING:
    import pygit2

__all__ = ["GcItem", "GcOutcome", "apply", "plan"]

logger = logging.getLogger(__name__)

Kind = Literal["worktree", "branch", "attempt", "folder", "sandbox"]


@dataclass(frozen=True, slots=True)
class GcItem:
    kind: Kind
    name: str
    """Worktree: its branch (or its name when detached); branch: its name; attempt: its ref;
    folder: its path."""
    remove: bool
    reason: str
    path: str = ""
    """A worktree's folder."""
    worktree: str = ""
    """A worktree's name in git's metadata."""
    keep_tip: bool = False
    """A branch removed by force: its tip is kept as an attempt first."""


@dataclass(frozen=True, slots=True)
class GcOutcome:
    item: GcItem
    removed: bool
    error: str = ""
    """Why a removal failed ('' when it did not, or when the item was kept)."""


def plan(
    paths: RepoPaths,
    *,
    force: bool = False,
    keep_attempts_days: int = 30,
    now: float | None = None,
    root: Path | None = None,
) -> list[GcItem]:
    """What gc would remove and keep, and why. Changes nothing but tidying memfun's own
    worktrees before reading them."""
    import pygit2

    user = pygit2.Repository(str(paths.common_dir))
    common = paths.common_dir
    found = checkouts(common)
    main_branch = _main_branch(common)
    # branch ref -> the folders it stays checked out in, once gc is done
    staying: dict[str, list[str]] = {}
    if main_branch and user.workdir:
        staying[main_branch] = [str(Path(user.workdir))]
    items: list[GcItem] = []
    for checkout in found:
        item = _judge(checkout, found, main_branch, user, force)
        if item is not None:
            items.append(item)
        if checkout.branch and (item is None or not item.remove):
            staying.setdefault(checkout.branch, []).append(str(checkout.folder))
    items += _branches(user, staying, force)
    items += _attempts(user, keep_attempts_days, now)
    base = (root if root is not None else worktree_root()) / repo_key(paths)
    if base.is_dir():
        items += [
            GcItem("folder", str(trash), True, "left by an interrupted removal", str(trash))
            for trash in sorted(base.iterdir())
            if trash.name.startswith(TRASH_PREFIX) and not trash.is_symlink()
        ]
    items += _sandbox_leftovers(user, common, found)
    return items


def _sandbox_leftovers(
    user: pygit2.Repository, common: Path, found: list[Checkout]
) -> list[GcItem]:
    """What sandboxed runs left: views of the git dir and cgroups of runs that have ended,
    and packs of task objects no worktree needs and none used for a week."""
    from memfun_git.sandbox.leftovers import dead
    from memfun_git.sandbox.objects import ObjectCache

    views = common / "memfun" / "sandbox-views"
    items = [
        GcItem("sandbox", str(path), True, "left by a sandboxed run that has ended", str(path))
        for path in dead(views)
    ]
    tips: list[str] = []
    for checkout in found:
        with contextlib.suppress(Exception):
            tips.append(str(_head_commit(checkout.folder)))
    items += [
        GcItem("sandbox", str(path), True, "git objects of tasks no worktree needs", str(path))
        for path in ObjectCache(common).unused(user, tips)
    ]
    return items


def _head_commit(folder: Path) -> str:
    """The commit a worktree has checked out."""
    import pygit2

    repo = pygit2.Repository(str(folder))
    try:
        return str(repo.head.target)
    finally:
        repo.free()


def _main_branch(common: Path) -> str | None:
    try:
        text = (common / "HEAD").read_text().strip()
    except OSError:
        return None
    return text[4:].strip() if text.startswith("ref:") else None


def _judge(
    c: Checkout,
    everyone: list[Checkout],
    main_branch: str | None,
    user: pygit2.Repository,
    force: bool,
) -> GcItem | None:
    """The verdict on one linked worktree (None: the user's, on a branch not memfun's)."""
    short = (c.branch or "").removeprefix("refs/heads/") or c.name

    def verdict(remove: bool, reason: str) -> GcItem:
        return GcItem("worktree", short, remove, reason, str(c.folder), c.name)

    if not c.ours:
        return verdict(False, "made by you, not by memfun") if is_ours(c.branch or "") else None
    assert c.record is not None
    if dead_throwaway(c):
        return verdict(True, "a throwaway worktree of a memfun sandbox run that ended")
    if c.locked:
        return verdict(False, "locked (git worktree lock)")
    if c.record.owner is not None and c.record.in_use:
        return verdict(False, f"in use by a running memfun (process {c.record.owner.pid})")
    elsewhere = sorted(str(o.folder) for o in everyone if o.branch == c.branch and o.name != c.name)
    if c.branch and c.branch == main_branch and user.workdir:
        elsewhere = sorted([str(Path(user.workdir)), *elsewhere])
    if c.branch and elsewhere:
        # Removing it would pull the branch from under a checkout.
        return verdict(False, f"its branch is checked out in {', '.join(elsewhere)}")
    if not c.folder.exists():
        return verdict(True, "its folder is gone")
    if not (c.folder / ".git").is_file():
        return verdict(True, "its folder has lost its .git file")
    try:
        tidy_tree(c.folder)
        dirty = _dirty(c.folder)
    except (OSError, MemfunError) as exc:
        return verdict(False, f"cannot be read ({exc})")
    if dirty and not force:
        return verdict(False, f"holds uncommitted work: {shown_list(dirty)}")
    return verdict(
        True, "forced: uncommitted work dropped" if dirty else "all its work is committed"
    )


def _dirty(folder: Path) -> list[str]:
    import pygit2

    try:
        repo = pygit2.Repository(str(folder))
    except pygit2.GitError as exc:
        raise OSError(str(exc)) from None
    try:
        return dirty_paths(repo)
    except pygit2.GitError as exc:
        raise OSError(str(exc)) from None
    finally:
        repo.free()


def _branches(user: pygit2.Repository, staying: dict[str, list[str]], force: bool) -> list[GcItem]:
    import pygit2

    targets = foreign_tips(user)
    items: list[GcItem] = []
    for short in sorted(
        b for b in user.branches.local if b.startswith((BRANCH_PREFIX, AGENT_BRANCH_PREFIX))
    ):
        where = staying.get("refs/heads/" + short)
        if where:
            items.append(
                GcItem("branch", short, False, f"checked out in {', '.join(sorted(where))}")
            )
            continue
        tip = user.branches.local[short].peel(pygit2.Commit).id
        delivered = delivered_by(user, tip, targets)
        if delivered is not None:
            items.append(GcItem("branch", short, True, f"delivered (reachable from {delivered})"))
            continue
        count = _undelivered(user, tip, [oid for _, oid in targets])
        if force:
            reason = f"forced: {_plural(count, 'undelivered commit')} kept as an attempt"
            items.append(GcItem("branch", short, True, reason, keep_tip=True))
        else:
            reason = f"{_plural(count, 'commit')} not delivered anywhere (--force)"
            items.append(GcItem("branch", short, False, reason))
    return items


def _attempts(user: pygit2.Repository, days: int, now: float | None) -> list[GcItem]:
    import pygit2

    limit = (time.time() if now is None else now) - days * 86400
    items: list[GcItem] = []
    for ref in attempt_refs(user):
        commit = user.references[ref].peel(pygit2.Commit)
        if commit.commit_time < limit:
            items.append(GcItem("attempt", ref, True, f"older than {days} days"))
        else:
            left = max(1, math.ceil((commit.commit_time - limit) / 86400))
            items.append(GcItem("attempt", ref, False, f"kept {_plural(left, 'more day')}"))
    return items


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _undelivered(user: pygit2.Repository, tip: pygit2.Oid, hide: list[pygit2.Oid]) -> int:
    import pygit2
    from pygit2.enums import SortMode

    walker = user.walk(tip, SortMode.TOPOLOGICAL)
    for oid in hide:
        try:
            walker.hide(oid)
        except pygit2.GitError:
            continue
    return sum(1 for _ in walker)


def apply(
    paths: RepoPaths,
    items: list[GcItem],
    on_outcome: Callable[[GcOutcome], None] | None = None,
) -> list[GcOutcome]:
    """Carry out a plan's removals in order; report each item (`on_outcome`) once acted on.

    A removal that fails is reported as such and the next item is tried."""
    import pygit2

    user = pygit2.Repository(str(paths.common_dir))
    outcomes: list[GcOutcome] = []
    for item in items:
        outcome = GcOutcome(item, False)
        if item.remove:
            try:
                _remove(user, paths.common_dir, item)
            except (OSError, pygit2.GitError, MemfunError) as exc:
                outcome = GcOutcome(item, False, str(exc) or type(exc).__name__)
                logger.warning("gc could not remove %s %s: %s", item.kind, item.name, outcome.error)
            else:
                outcome = GcOutcome(item, True)
                logger.info("gc removed %s %s: %s", item.kind, item.name, item.reason)
        outcomes.append(outcome)
        if on_outcome is not None:
            on_outcome(outcome)
    return outcomes


def _remove(user: pygit2.Repository, common: Path, item: GcItem) -> None:
    if item.kind == "worktree":
        remove_worktree(user, common, Path(item.path), item.worktree)
    elif item.kind == "folder":
        remove_tree(Path(item.path))
    elif item.kind == "sandbox":
        from memfun_git.sandbox.leftovers import remove

        remove(Path(item.path))
    elif item.kind == "attempt":
        with no_interrupts():
            if item.name in user.references:
                user.references.delete(item.name)
    else:
        branch = user.branches.local.get(item.name)
        if branch is None:
            return
        with no_interrupts():
            if item.keep_tip:
                slug = slug_of_branch(item.name)
                gate = "the tip of a branch gc --force removed"
                keep_tip(user, item.name, slug, "gc --force removed it", gate)
            branch.delete()
