"""Merging specialists' branches with pygit2 (the workflow tier's git side).

- `merge_into(repo, tip, ...)`: merge commit `tip` into the branch the worktree `repo` has
  checked out, always as a merge commit (never a fast-forward) whose message names the branch
  it joins, so the history shows each specialist's branch; the worktree and index follow.
  A tip already in the branch's history merges nothing. On a conflict, `resolve` (when given)
  is shown each conflicted file with its conflicting regions between `CONFLICT` marker lines
  (`Conflict`) and may return every one of them resolved: the merge is then made with those
  texts (`Merged.resolved` names them). Otherwise (no resolver, a side deleted the file, a
  binary file, an answer that leaves a marker or a file out) it changes nothing and names the
  conflicted paths.
- `merged_base(repo, tips, ...)`: one commit joining several tips (a specialist's starting
  point when it follows several others), made as merge commits that no branch points to yet.

The merge reads the repository's .gitattributes from the worktree's checkout (pygit2 ignores
`merge=union` when the checkout lacks it; the worktree has it). Merge commits carry the same
trailers as every memfun commit; they are not signed (git commit-tree is not asked for them).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from memfun_git.gitops.commit import Trailers, identity, message_with_trailers

if TYPE_CHECKING:
    import pygit2

__all__ = ["MARKS", "Conflict", "Merged", "Resolver", "merge_into", "merged_base"]

MARKS = (
    "%%%%%%% CONFLICT: the work merged so far",
    "%%%%%%% CONFLICT: the work being merged",
    "%%%%%%% CONFLICT END",
)
"""The lines around a conflicting region (not git's `<<<<<<<` markers, which the operation
format's SEARCH/REPLACE blocks use)."""


@dataclass(frozen=True, slots=True)
class Merged:
    oid: str
    """The merge commit ('' when nothing was merged: a conflict, or the tip already there)."""
    conflicts: tuple[str, ...] = ()
    already: bool = False
    resolved: tuple[str, ...] = ()
    """Paths whose conflicts the resolver settled (in the merge commit)."""


@dataclass(frozen=True, slots=True)
class Conflict:
    path: str
    text: str
    """The file as merged, each conflicting region between `MARKS` lines."""


_MARKER_LIKE = re.compile(rb"^(<{7} |={7}\r?$|>{7} |\|{7} |%{7} )", re.M)
"""Lines a side already holds that would pass for conflict markers (ours or git's)."""

Resolver = Callable[[Sequence[Conflict]], "Mapping[str, str] | None"]
"""Given the conflicted files, their resolved texts by path (None: not resolved)."""


def merge_into(
    repo: pygit2.Repository,
    tip: str,
    message: str,
    trailers: Trailers,
    *,
    environ: Mapping[str, str] | None = None,
    resolve: Resolver | None = None,
) -> Merged:
    import pygit2

    head = repo.head.peel(pygit2.Commit)
    theirs = repo[tip].peel(pygit2.Commit)
    if head.id == theirs.id or repo.descendant_of(head.id, theirs.id):
        return Merged("", already=True)
    index = repo.merge_commits(head, theirs)
    resolved: tuple[str, ...] = ()
    if index.conflicts is not None:
        paths = _conflicted(index)
        if resolve is None or not _settle(repo, index, resolve):
            return Merged("", conflicts=paths)
        resolved = paths
        message += "\n\nConflicts resolved by the reviewer: " + ", ".join(paths)
    tree = index.write_tree(repo)
    author, committer = identity(repo, environ)
    text = message_with_trailers(message, trailers)
    oid = repo.create_commit(None, author, committer, text, tree, [head.id, theirs.id])
    repo.checkout_tree(repo[tree], strategy=pygit2.enums.CheckoutStrategy.FORCE)
    repo.head.set_target(oid)
    return Merged(str(oid), resolved=resolved)


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


def _settle(repo: pygit2.Repository, index: pygit2.Index, resolve: Resolver) -> bool:
    """Put the resolver's texts into `index` in place of its conflicts; False when the
    conflicts cannot be shown as text or the resolver did not settle every one."""
    import pygit2

    conflicts = index.conflicts
    assert conflicts is not None
    shown: list[Conflict] = []
    modes: dict[str, pygit2.enums.FileMode] = {}
    for ancestor, ours, theirs in list(conflicts):
        if ours is None or theirs is None or ours.path != theirs.path:
            return False  # deleted or renamed on one side: no text to show
        sides = [repo[e.id].peel(pygit2.Blob).data for e in (ancestor, ours, theirs) if e]
        if any(_MARKER_LIKE.search(side) for side in sides):
            return False  # its own lines would pass for conflict markers
        merged = repo.merge_file_from_index(ancestor, ours, theirs)
        if isinstance(merged, str):
            return False
        text = _marked(merged.contents)
        if text is None:
            return False
        shown.append(Conflict(str(ours.path), text))
        modes[str(ours.path)] = ours.mode
    answer = resolve(shown)
    if answer is None or set(answer) != set(modes):
        return False
    if any(mark in text for text in answer.values() for mark in MARKS):
        return False
    for path, text in answer.items():
        blob = repo.create_blob(text.encode("utf-8"))
        del conflicts[path]
        index.add(pygit2.IndexEntry(path, blob, modes[path]))
    return True


def _marked(contents: str) -> str | None:
    """git's conflict markers in a merged file replaced by `MARKS` (None: no clean regions,
    e.g. a file already holding marker-like lines)."""
    out: list[str] = []
    state = 0  # 0 outside a region, 1 in ours, 2 in theirs
    for line in contents.splitlines(keepends=True):
        bare = line.rstrip("\r\n")
        end = line[len(bare) :] or "\n"
        if state == 0 and bare.startswith("<<<<<<< "):
            out.append(MARKS[0] + end)
            state = 1
        elif state == 1 and bare == "=======":
            out.append(MARKS[1] + end)
            state = 2
        elif state == 2 and bare.startswith(">>>>>>> "):
            out.append(MARKS[2] + end)
            state = 0
        elif state == 1 and bare.startswith("||||||| "):
            return None  # a diff3 base section: not the style asked for
        else:
            if bare.startswith(MARKS[2][:8]):
                return None
            out.append(line)
    return "".join(out) if state == 0 else None
