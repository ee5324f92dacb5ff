"""Taking a task into the user's branch, and taking it back: `memfun merge` and `memfun undo`.

Both change the user's current branch, the one thing a task never does on its own, so both
move it only the way git itself would allow on the user's tree:

- the commit the branch should end at is made first, in memory and in the object store only
  (pygit2: a merge commit, or a revert commit), touching no ref, index or file;
- then `git merge --ff-only <that commit>` moves the branch, the index and the files in one
  step git guards: it refuses, changing nothing, when a file it must write has uncommitted
  changes or an untracked file is in the way; staged and unstaged work elsewhere is kept.

So a refusal always leaves the tree byte-identical (an unreferenced commit object at most,
which git's own gc drops). The rules on top:

- merge: nothing to do when the current branch already holds the task; a fast-forward when
  the task's branch is ahead; otherwise a merge commit, only when the user's tracked files
  are clean (untracked files are guarded by git) and the merge has no conflict.
  `.memfun/MEMORY.md` is merged in code as a union of lines (libgit2 does not read
  `merge=union` from a checkout that may lack `.gitattributes`).
- undo: when the task's commits are in the current branch, one revert commit (a bookkeeping
  commit, `Memfun-Gate: n/a (undo)`); refused when the user has uncommitted changes to the
  task's files or reverting would conflict with later commits. When the task went somewhere
  else (another branch, a remote), that place is named and nothing changes. An undelivered
  task's branch is deleted (after the caller's confirmation), its tip kept as an attempt.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from memfun_git.errors import RepoError, UsageError
from memfun_git.gitops.attempts import save_attempt
from memfun_git.gitops.branches import BRANCH_PREFIX, is_ours
from memfun_git.gitops.commit import Trailers, identity
from memfun_git.gitops.git import GitFailed, run_git
from memfun_git.gitops.repo import RepoPaths
from memfun_git.gitops.signals import no_interrupts

if TYPE_CHECKING:
    import pygit2

__all__ = [
    "MEMORY_PATH",
    "Merged",
    "Undone",
    "delivered_by",
    "foreign_tips",
    "keep_tip",
    "merge_task",
    "task_commits",
    "undo_task",
]

MEMORY_PATH = ".memfun/MEMORY.md"

logger = logging.getLogger(__name__)

MergeKind = Literal["up to date", "fast-forward", "merge commit"]
UndoKind = Literal["reverted", "branch deleted", "delivered elsewhere", "nothing"]


@dataclass(frozen=True, slots=True)
class Merged:
    kind: MergeKind
    into: str
    """The branch merged into (short name)."""
    commit: str
    """Where the branch is now."""


@dataclass(frozen=True, slots=True)
class Undone:
    kind: UndoKind
    detail: str
    """A sentence: the revert commit, the attempt keeping the tip, or where the task went."""
    commit: str = ""
    attempt: str = ""


def foreign_tips(user: pygit2.Repository) -> list[tuple[str, pygit2.Oid]]:
    """Every ref that is not memfun's own (branches, tags, remote branches), with its commit;
    notes annotate commits but deliver nothing. Sorted, so the same ref is named each time."""
    import pygit2

    found: list[tuple[str, pygit2.Oid]] = []
    for ref in sorted(user.references):
        if not ref.startswith("refs/") or is_ours(ref) or ref.startswith("refs/notes/"):
            continue
        try:
            found.append((ref, user.references[ref].peel(pygit2.Commit).id))
        except (pygit2.InvalidSpecError, ValueError, KeyError):
            continue
    return found


def delivered_by(
    user: pygit2.Repository,
    tip: pygit2.Oid,
    targets: list[tuple[str, pygit2.Oid]] | None = None,
) -> str | None:
    """The first ref not memfun's own from which `tip` is reachable (None: undelivered)."""
    for ref, oid in foreign_tips(user) if targets is None else targets:
        if oid == tip or user.descendant_of(oid, tip):
            return ref
    return None


def task_commits(user: pygit2.Repository, tip: pygit2.Oid, base: str) -> list[pygit2.Commit]:
    """The task's commits, oldest first: reachable from `tip`, not from `base`."""
    import pygit2
    from pygit2.enums import SortMode

    walker = user.walk(tip, SortMode.TOPOLOGICAL | SortMode.REVERSE)
    with contextlib.suppress(KeyError, ValueError, pygit2.GitError):
        walker.hide(user.revparse_single(base).peel(pygit2.Commit).id)
    return list(walker)


def keep_tip(user: pygit2.Repository, branch: str, slug: str, when: str, gate: str) -> str:
    """Keep a branch's tip as an attempt made now, before the branch goes: a bookkeeping
    commit on top of it (same tree), so the retention period counts from today. `when` ends
    the subject ("kept memfun/x when ..."), `gate` is its `Memfun-Gate: n/a (...)` reason.
    Returns the attempt's ref."""
    import pygit2

    tip = user.branches.local[branch].peel(pygit2.Commit)
    author, committer = identity(user)
    trailers = Trailers(slug, "memfun", f"n/a ({gate})")
    message = f"memfun: kept {branch} when {when}\n\n{trailers.render()}\n"
    kept = user.create_commit(None, author, committer, message, tip.tree_id, [tip.id])
    return save_attempt(user, slug, str(kept))


# -- merge ---------------------------------------------------------------------------------


def merge_task(
    paths: RepoPaths,
    task_id: str,
    subject: str,
    environ: Mapping[str, str] | None = None,
) -> Merged:
    """Bring `memfun/<task_id>` into the current branch; see the module's docstring.

    Raises `RepoError` (exit 1) with the reason and what to do when git would not allow it."""
    import pygit2

    user, head, into = _current_branch(paths, "merge")
    assert head is not None
    branch = BRANCH_PREFIX + task_id
    tip = _branch_tip(user, branch, task_id)
    if tip == head.id or user.descendant_of(head.id, tip):
        return Merged("up to date", into, str(head.id))
    if user.descendant_of(tip, head.id):
        _move_to(paths, str(tip), environ, f"merge {branch} into {into}", task_id)
        return Merged("fast-forward", into, str(tip))
    dirty = _tracked_changes(user)
    if dirty:
        raise RepoError(
            f"{into} and {branch} have diverged and you have uncommitted changes "
            f"({_names(dirty)}): a merge commit needs a clean tree",
            f"commit or stash them, then run `memfun merge {task_id}` again",
        )
    merged = user.merge_commits(head, tip)
    conflicts = _conflicts(merged)
    if conflicts == [MEMORY_PATH]:
        _union_memory(user, merged, head, user[tip].peel(pygit2.Commit))
        conflicts = []
    if conflicts:
        raise RepoError(
            f"merging {branch} into {into} would conflict in {_names(conflicts)}",
            f'continue the task on top of {into} (`memfun run --task {task_id} "..."` after '
            f"updating its base) or merge by hand: `git merge {branch}`",
        )
    author, committer = identity(user, environ)
    trailers = Trailers(task_id, "memfun", "n/a (a merge of gated commits)")
    message = f"Merge {branch}: {subject}\n\n{trailers.render()}\n"
    tree = merged.write_tree(user)
    commit = user.create_commit(None, author, committer, message, tree, [head.id, tip])
    _move_to(paths, str(commit), environ, f"merge {branch} into {into}", task_id)
    return Merged("merge commit", into, str(commit))


# -- undo ----------------------------------------------------------------------------------


def undo_task(
    paths: RepoPaths,
    task_id: str,
    base: str,
    *,
    subject: str,
    confirm: object = None,
    environ: Mapping[str, str] | None = None,
) -> Undone:
    """Take the task back; see the module's docstring. `confirm`: a callable asked before an
    undelivered branch is deleted (returns True to go on); None refuses."""
    import pygit2

    user = pygit2.Repository(str(paths.common_dir))
    branch = BRANCH_PREFIX + task_id
    if branch not in user.branches.local:
        raise RepoError(
            f"there is no branch {branch} to undo (already undone, or removed by gc)",
            "`memfun show " + task_id + "` lists the attempts kept",
        )
    tip = user.branches.local[branch].peel(pygit2.Commit).id
    commits = task_commits(user, tip, base)
    if not commits:
        return Undone("nothing", f"{branch} holds no commit of its own: nothing to undo")
    workdir_repo, head, into = _current_branch(paths, "undo", required=False)
    if head is not None and (head.id == tip or workdir_repo.descendant_of(head.id, tip)):
        return _revert(paths, workdir_repo, head, into, task_id, commits, subject, environ)
    elsewhere = delivered_by(user, tip)
    if elsewhere is not None:
        return Undone(
            "delivered elsewhere",
            f"{branch} was delivered to {elsewhere}, not to the current branch: undo it there "
            f"(`git revert {commits[0].short_id}^..{str(tip)[:7]}` on that branch); "
            "nothing changed",
        )
    if confirm is None or not callable(confirm) or not confirm():
        raise UsageError(
            f"{branch} is not delivered anywhere: undoing it deletes the branch",
            f"confirm, or pass --yes: `memfun undo {task_id} --yes` (its tip is kept as an "
            "attempt)",
        )
    checked_out = _checked_out(user, branch)
    if checked_out:
        raise RepoError(
            f"{branch} is checked out in {checked_out}",
            "switch that worktree to another branch first",
        )
    with no_interrupts():
        attempt = keep_tip(
            user,
            branch,
            task_id,
            "memfun undo deleted it",
            "the tip of a branch memfun undo deleted",
        )
        user.branches.local[branch].delete()
    logger.info("undo deleted %s, its tip kept under %s", branch, attempt)
    return Undone("branch deleted", f"deleted {branch}; its tip is kept under {attempt}",
                  attempt=attempt)  # fmt: skip


def _revert(
    paths: RepoPaths,
    user: pygit2.Repository,
    head: pygit2.Commit,
    into: str,
    task_id: str,
    commits: list[pygit2.Commit],
    subject: str,
    environ: Mapping[str, str] | None,
) -> Undone:
    import pygit2

    touched = _touched(user, commits)
    dirty = sorted(set(_uncommitted(user)) & touched)
    if dirty:
        raise RepoError(
            f"you have uncommitted changes to files the task changed ({_names(dirty)})",
            f"commit or stash them, then run `memfun undo {task_id}` again",
        )
    tree = head.tree
    for commit in reversed(commits):
        if len(commit.parents) != 1:
            continue  # a merge inside the task's branch: its sides are reverted one by one
        index = user.merge_trees(commit.tree, tree, commit.parents[0].tree)
        if index.conflicts is not None:
            conflicted = _conflicts(index)
            raise RepoError(
                f"later commits on {into} changed the task's lines in {_names(conflicted)}: "
                "reverting would conflict",
                f"revert by hand: `git revert {commits[0].short_id}^..{commits[-1].short_id}`",
            )
        tree = user[index.write_tree(user)].peel(pygit2.Tree)
    author, committer = identity(user, environ)
    listed = "\n".join(f"  {c.short_id} {c.message.splitlines()[0]}" for c in commits)
    trailers = Trailers(task_id, "memfun", "n/a (undo)")
    message = (
        f'Revert memfun task {task_id}: "{subject}"\n\n'
        f"This reverts the task's commits:\n{listed}\n\n{trailers.render()}\n"
    )
    commit = user.create_commit(None, author, committer, message, tree.id, [head.id])
    _move_to(paths, str(commit), environ, f"undo {task_id} on {into}", task_id)
    return Undone("reverted", f"reverted on {into} by {str(commit)[:7]}", commit=str(commit))


# -- helpers -------------------------------------------------------------------------------


def _current_branch(
    paths: RepoPaths, what: str, *, required: bool = True
) -> tuple[pygit2.Repository, pygit2.Commit | None, str]:
    """The user's checkout, its HEAD commit and branch; for `required=False` a detached or
    unborn HEAD gives (repo, None, "") instead of an error."""
    import pygit2

    if paths.workdir is None:
        raise RepoError(f"cannot {what} in a bare repository", "run memfun in a checkout")
    user = pygit2.Repository(str(paths.workdir))
    if user.head_is_unborn or user.head_is_detached:
        if not required:
            return user, None, ""
        state = "has no commits yet" if user.head_is_unborn else "is detached (no branch)"
        raise RepoError(f"HEAD {state}: nothing to {what} into", "check out a branch first")
    if user.state() != pygit2.enums.RepositoryState.NONE:
        raise RepoError(
            f"a {user.state().name.lower().replace('_', ' ')} is in progress in {paths.workdir}",
            "finish or abort it first",
        )
    head = user.head.peel(pygit2.Commit)
    return user, head, user.head.shorthand


def _branch_tip(user: pygit2.Repository, branch: str, task_id: str) -> pygit2.Oid:
    import pygit2

    found = user.branches.local.get(branch)
    if found is None:
        raise RepoError(
            f"there is no branch {branch}",
            f"`memfun list` shows the tasks; `memfun show {task_id}` what became of this one",
        )
    return found.peel(pygit2.Commit).id


def _move_to(
    paths: RepoPaths, commit: str, environ: Mapping[str, str] | None, what: str, task_id: str
) -> None:
    """Fast-forward the user's branch, index and files to `commit` as git allows, or raise
    with the reason (nothing changed). The paths git would write are checked first, so a
    refusal does not even leave git's ORIG_HEAD behind; git's own check stays the guard."""
    import pygit2

    user = pygit2.Repository(str(paths.workdir))
    target = user[commit].peel(pygit2.Commit)
    head = user.head.peel(pygit2.Commit)
    changing = {d.new_file.path for d in head.tree.diff_to_tree(target.tree).deltas} | {
        d.old_file.path for d in head.tree.diff_to_tree(target.tree).deltas
    }
    in_the_way = sorted(set(_uncommitted(user)) & changing)
    if in_the_way:
        raise RepoError(
            f"cannot {what}: you have uncommitted changes to {_names(in_the_way)}, "
            "which it changes",
            f"commit or stash them, then run the command for {task_id} again",
        )
    orig_head = paths.git_dir / "ORIG_HEAD"
    kept = orig_head.read_bytes() if orig_head.is_file() else None
    try:
        with no_interrupts():
            run_git(
                ["merge", "--ff-only", "--no-edit", "--quiet", commit],
                cwd=paths.workdir,
                environ=environ,
                hint="",
            )
    except GitFailed as exc:
        if kept is None:
            orig_head.unlink(missing_ok=True)
        else:
            orig_head.write_bytes(kept)
        reason = _git_reason(exc.stderr)
        raise RepoError(
            f"git refused to {what}: {reason}",
            f"commit or stash those changes, then run the command for {task_id} again",
        ) from None


def _git_reason(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    files = [line for line in lines if not line.endswith((":", ".")) and " " not in line]
    said = next((line for line in lines if line.startswith("error:")), lines[0] if lines else "")
    said = said.removeprefix("error:").strip().rstrip(":")
    return f"{said}: {', '.join(files)}" if files else said


def _tracked_changes(user: pygit2.Repository) -> list[str]:
    """Paths with staged or unstaged changes to tracked files (untracked ones not counted)."""
    import pygit2

    tracked = ~(pygit2.GIT_STATUS_WT_NEW | pygit2.GIT_STATUS_IGNORED)
    return sorted(p for p, flags in user.status().items() if flags & tracked)


def _uncommitted(user: pygit2.Repository) -> list[str]:
    import pygit2

    return [p for p, flags in user.status().items() if flags != pygit2.GIT_STATUS_IGNORED]


def _touched(user: pygit2.Repository, commits: list[pygit2.Commit]) -> set[str]:
    paths: set[str] = set()
    for commit in commits:
        for parent in commit.parents[:1]:
            for delta in parent.tree.diff_to_tree(commit.tree).deltas:
                paths.add(delta.old_file.path)
                paths.add(delta.new_file.path)
    return paths


def _conflicts(index: pygit2.Index) -> list[str]:
    if index.conflicts is None:
        return []
    found: set[str] = set()
    for ancestor, ours, theirs in index.conflicts:
        for side in (ancestor, ours, theirs):
            if side is not None:
                found.add(str(side.path))
    return sorted(found)


def _union_memory(
    user: pygit2.Repository, index: pygit2.Index, ours: pygit2.Commit, theirs: pygit2.Commit
) -> None:
    """Resolve a MEMORY.md conflict as memory merges it: every entry of both sides once (by
    id), lines memfun cannot read kept (`memory.entries.union`)."""
    import pygit2

    from memfun_git.memory.entries import union

    def text(commit: pygit2.Commit) -> str:
        try:
            blob = commit.tree[MEMORY_PATH].peel(pygit2.Blob)
        except KeyError:
            return ""
        return blob.data.decode("utf-8", errors="surrogateescape")

    merged = union(text(ours), text(theirs)).encode("utf-8", errors="surrogateescape")
    conflicts = index.conflicts
    assert conflicts is not None
    del conflicts[MEMORY_PATH]
    index.add(pygit2.IndexEntry(MEMORY_PATH, user.create_blob(merged), pygit2.enums.FileMode.BLOB))


def _checked_out(user: pygit2.Repository, branch: str) -> str:
    import pygit2

    for name in user.list_worktrees():
        try:
            worktree = user.lookup_worktree(name)
            repo = pygit2.Repository(worktree.path)
        except (pygit2.GitError, KeyError, ValueError):
            continue
        on_branch = not repo.head_is_detached and not repo.head_is_unborn
        if on_branch and repo.head.name == "refs/heads/" + branch:
            return worktree.path
    return ""


def _names(paths: list[str] | set[str]) -> str:
    shown = sorted(paths)[:5]
    more = f" and {len(paths) - 5} more" if len(paths) > 5 else ""
    return ", ".join(shown) + more
