"""Merging specialists' branches with pygit2 (the workflow tier's git side).

- `merge_into(repo, tip, ...)`: merge commit `tip` into the branch the worktree `repo` has
  checked out, always as a merge commit (never a fast-forward) whose message names the branch
  it joins, so the history shows each specialist's branch; the worktree and index follow.
  A tip already in the branch's history merges nothing; a conflict changes nothing and names
  the conflicted paths.
- `merged_base(repo, tips, ...)`: one commit joining several tips (a specialist's starting
  point when it follows several others), made as merge commits that no branch points to yet.

The merge reads the repository's .gitattributes from the worktree's checkout (pygit2 ignores
`merge=union` when the checkout lacks it; the worktree has it). Merge commits carry the same
trailers as every memfun commit; they are not signed (git commit-tree is not asked for them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memfun_git.gitops.commit import Trailers, identity, message_with_trailers

if TYPE_CHECKING:
    import pygit2

__all__ = ["Merged", "merge_into", "merged_base"]


@dataclass(frozen=True, slots=True)
class Merged:
    oid: str
    """The merge commit ('' when nothing was merged: a conflict, or the tip already there)."""
    conflicts: tuple[str, ...] = ()
    already: bool = False


def merge_into(
    repo: pygit2.Repository,
    tip: str,
    message: str,
    trailers: Trailers,
    *,
    environ: Mapping[str, str] | None = None,
) -> Merged:
    import pygit2

    head = repo.head.peel(pygit2.Commit)
    theirs = repo[tip].peel(pygit2.Commit)
    if head.id == theirs.id or repo.descendant_of(head.id, theirs.id):
        return Merged("", already=True)
    index = repo.merge_commits(head, theirs)
    if index.conflicts is not None:
        return Merged("", conflicts=_conflicted(index))
    tree = index.write_tree(repo)
    author, committer = identity(repo, environ)
    text = message_with_trailers(message, trailers)
    oid = repo.create_commit(None, author, committer, text, tree, [head.id, theirs.id])
    repo.checkout_tree(repo[tree], strategy=pygit2.enums.CheckoutStrategy.FORCE)
    repo.head.set_target(oid)
    return Merged(str(oid))


def merged_base(
    repo: pygit2.Repository,
    tips: Sequence[str],
    trailers: Trailers,
    names: Sequence[str],
    *,
    environ: Mapping[str, str] | None = None,
) -> Merged:
    """A commit holding every one of `tips` (named `names` in the messages): the first tip
    itself when the others are in its history; else merge commits on no branch."""
    import pygit2

    current = repo[tips[0]].peel(pygit2.Commit)
    author, committer = identity(repo, environ)
    for tip, name in zip(tips[1:], names[1:], strict=True):
        theirs = repo[tip].peel(pygit2.Commit)
        if current.id == theirs.id or repo.descendant_of(current.id, theirs.id):
            continue
        if repo.descendant_of(theirs.id, current.id):
            current = theirs
            continue
        index = repo.merge_commits(current, theirs)
        if index.conflicts is not None:
            return Merged("", conflicts=_conflicted(index))
        tree = index.write_tree(repo)
        text = message_with_trailers(f"memfun: join {names[0]} and {name}", trailers)
        oid = repo.create_commit(None, author, committer, text, tree, [current.id, theirs.id])
        current = repo[oid].peel(pygit2.Commit)
    return Merged(str(current.id))


def _conflicted(index: pygit2.Index) -> tuple[str, ...]:
    conflicts = index.conflicts
    if conflicts is None:
        return ()
    return tuple(sorted({str(e.path) for entry in conflicts for e in entry if e is not None}))
