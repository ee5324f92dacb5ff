"""`memfun gc`: remove memfun's worktrees, branches and attempts that hold no work.

Looked at: every worktree of the repository whose branch is memfun's own (wherever it lives),
every `memfun/*` and `memfun-agents/*` branch, and every attempt ref. Nothing holding work is
removed without `force`:
- a worktree with uncommitted changes, or untracked files that are not ignored (caches are not
  work), is kept; a worktree whose branch is checked out elsewhere too is left alone;
- a branch with commits that are not delivered (reachable from no ref that is not memfun's
  own) is kept; forced, its tip is kept under `refs/memfun/attempts/` first;
- attempts older than `[workspace] keep_attempts_days` go.
Removal never follows a symlink out of a worktree.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from memfun_git.gitops.lfs import lfs_unchanged
from memfun_git.gitops.repo import RepoPaths
from memfun_git.gitops.worktree import (
    AGENT_BRANCH_PREFIX,
    BRANCH_PREFIX,
    attempt_refs,
    remove_empty_parents,
    remove_worktree_dir,
    save_attempt,
)

if TYPE_CHECKING:
    import pygit2

__all__ = ["GcItem", "apply", "plan"]

Kind = Literal["worktree", "branch", "attempt"]
_OURS = ("refs/heads/" + BRANCH_PREFIX, "refs/heads/" + AGENT_BRANCH_PREFIX, "refs/memfun/")


_THROWAWAY = "memfun/sandbox-"


@dataclass(frozen=True, slots=True)
class GcItem:
    kind: Kind
    name: str
    """Worktree: its branch; branch: its name; attempt: its ref."""
    remove: bool
    reason: str
    path: str = ""
    """A worktree's folder."""
    worktree: str = ""
    """A worktree's name in git's metadata."""


def _head_of(git_dir: Path) -> str | None:
    """The branch a checkout has checked out, read from its HEAD file (None when detached)."""
    try:
        text = (git_dir / "HEAD").read_text().strip()
    except OSError:
        return None
    return text[5:].strip() if text.startswith("ref:") else None


def _checkouts(
    user: pygit2.Repository, common: Path
) -> tuple[dict[str, list[str]], list[tuple[str, str, Path]]]:
    """Where each branch is checked out (the main tree and every linked worktree, whichever
    of them gc runs in), and memfun's own worktrees as (name, branch, folder)."""
    import pygit2

    checkouts: dict[str, list[str]] = {}
    main_workdir = pygit2.Repository(str(common)).workdir
    main_branch = _head_of(common)
    if main_workdir and main_branch:
        checkouts.setdefault(main_branch, []).append(str(Path(main_workdir)))
    ours: list[tuple[str, str, Path]] = []
    for name in user.list_worktrees():
        branch = _head_of(common / "worktrees" / name)
        if branch is None:
            continue
        folder = Path(user.lookup_worktree(name).path)
        checkouts.setdefault(branch, []).append(str(folder))
        if _is_ours(branch):
            ours.append((name, branch, folder))
    return checkouts, ours


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _is_ours(ref: str) -> bool:
    return ref.startswith(_OURS)


def _dirty(path: Path) -> list[str]:
    import pygit2
    from pygit2.enums import FileStatus

    repo = pygit2.Repository(str(path))
    try:
        return sorted(
            rel
            for rel, status in repo.status(untracked_files="all").items()
            if not status & FileStatus.IGNORED
            and status != FileStatus.CURRENT
            and not (status == FileStatus.WT_MODIFIED and lfs_unchanged(repo, rel))
        )
    finally:
        repo.free()


def plan(
    paths: RepoPaths, *, force: bool = False, keep_attempts_days: int = 30, now: float | None = None
) -> list[GcItem]:
    """What gc would remove and keep, and why; changes nothing."""
    import pygit2

    assert paths.workdir is not None
    user = pygit2.Repository(str(paths.workdir))
    items: list[GcItem] = []
    checkouts, ours = _checkouts(user, paths.common_dir)
    # branch ref -> the folders it stays checked out in, once gc is done
    checked_out: dict[str, list[str]] = {}
    ours_folders = {str(folder) for _, _, folder in ours}
    for branch, folders in checkouts.items():
        kept = [f for f in folders if f not in ours_folders]
        if kept:
            checked_out[branch] = kept
    for name, branch, folder in ours:
        short = branch.removeprefix("refs/heads/")
        elsewhere = sorted(f for f in checkouts[branch] if f != str(folder))
        if elsewhere:
            # Left alone, forced or not: removing it would pull the branch from under a checkout.
            items.append(
                GcItem(
                    "worktree",
                    short,
                    False,
                    f"its branch is checked out in {', '.join(elsewhere)}",
                    str(folder),
                    name,
                )
            )
            checked_out.setdefault(branch, []).append(str(folder))
            continue
        if not folder.exists():
            items.append(GcItem("worktree", short, True, "its folder is gone", str(folder), name))
            continue
        dirty = _dirty(folder)
        if dirty and short.startswith(_THROWAWAY):
            # `memfun sandbox run`'s own worktree, left by a killed run: never anyone's work.
            items.append(
                GcItem("worktree", short, True, "a throwaway sandbox worktree", str(folder), name)
            )
            continue
        if dirty and not force:
            shown = ", ".join(dirty[:3]) + (f" and {len(dirty) - 3} more" if len(dirty) > 3 else "")
            items.append(
                GcItem(
                    "worktree", short, False, f"holds uncommitted work: {shown}", str(folder), name
                )
            )
            checked_out.setdefault(branch, []).append(str(folder))
            continue
        reason = "forced: uncommitted work dropped" if dirty else "all its work is committed"
        items.append(GcItem("worktree", short, True, reason, str(folder), name))

    # Notes annotate commits but deliver nothing. Sorted: the same delivering ref is named
    # on every run.
    others = [
        r
        for r in sorted(user.references)
        if r.startswith("refs/") and not _is_ours(r) and not r.startswith("refs/notes/")
    ]
    targets: list[tuple[str, pygit2.Oid]] = []
    for ref in others:
        try:
            targets.append((ref, user.references[ref].peel(pygit2.Commit).id))
        except (pygit2.InvalidSpecError, ValueError, KeyError):
            continue
    for short in sorted(
        b for b in user.branches.local if b.startswith((BRANCH_PREFIX, AGENT_BRANCH_PREFIX))
    ):
        ref = "refs/heads/" + short
        if ref in checked_out:
            where = ", ".join(sorted(checked_out[ref]))
            items.append(GcItem("branch", short, False, f"checked out in {where}"))
            continue
        tip = user.branches.local[short].peel(pygit2.Commit).id
        delivered = next(
            (r for r, oid in targets if oid == tip or user.descendant_of(oid, tip)), None
        )
        if delivered is not None:
            items.append(GcItem("branch", short, True, f"delivered (reachable from {delivered})"))
            continue
        count = _undelivered(user, tip, [oid for _, oid in targets])
        if force:
            items.append(
                GcItem(
                    "branch",
                    short,
                    True,
                    f"forced: {_plural(count, 'undelivered commit')} kept as an attempt",
                )
            )
        else:
            items.append(
                GcItem(
                    "branch",
                    short,
                    False,
                    f"{_plural(count, 'commit')} not delivered anywhere (--force)",
                )
            )

    limit = (time.time() if now is None else now) - keep_attempts_days * 86400
    for ref in attempt_refs(user):
        commit = user.references[ref].peel(pygit2.Commit)
        if commit.commit_time < limit:
            items.append(GcItem("attempt", ref, True, f"older than {keep_attempts_days} days"))
        else:
            days = max(1, math.ceil((commit.commit_time - limit) / 86400))
            items.append(GcItem("attempt", ref, False, f"kept {_plural(days, 'more day')}"))
    return items


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


def apply(paths: RepoPaths, items: list[GcItem]) -> None:
    """Carry out the removals of a plan."""
    import pygit2

    assert paths.workdir is not None
    user = pygit2.Repository(str(paths.workdir))
    for item in items:
        if not item.remove:
            continue
        if item.kind == "worktree":
            remove_worktree_dir(Path(item.path))
            if item.worktree in user.list_worktrees():
                user.lookup_worktree(item.worktree).prune(True)
            remove_empty_parents(Path(item.path), Path(user.path))
        elif item.kind == "branch":
            branch = user.branches.local.get(item.name)
            if branch is None:
                continue
            if item.reason.startswith("forced"):
                _keep_as_attempt(user, item.name, str(branch.target))
            branch.delete()
        else:
            if item.name in user.references:
                user.references.delete(item.name)


def _keep_as_attempt(user: pygit2.Repository, branch: str, oid: str) -> None:
    """Keep a branch's tip as an attempt made now: a commit on top of it (same tree), so the
    retention period counts from today, not from the tip's own date."""
    import pygit2

    from memfun_git.gitops.commit import identity

    tip = user.revparse_single(oid).peel(pygit2.Commit)
    author, committer = identity(user)
    message = f"memfun: kept {branch} when gc --force removed it\n"
    kept = user.create_commit(None, author, committer, message, tip.tree_id, [tip.id])
    save_attempt(user, branch.split("/", 1)[1].replace("/", "-"), str(kept))
