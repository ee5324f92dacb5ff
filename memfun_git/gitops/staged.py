"""What is staged for the next commit: the index's tree against HEAD's, as a unified diff.

Read with libgit2, never with a git command that could rewrite the index file: the user's
index, working tree and branches stay byte for byte as they were. The index's tree is written
to the object store (as `git write-tree` does, and as the commit about to be made does the
moment after); nothing else is written. On a first commit (no HEAD yet) the diff is against
the empty tree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.errors import RepoError

if TYPE_CHECKING:
    import pygit2

__all__ = ["Staged", "staged"]

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass(frozen=True, slots=True)
class Staged:
    tree: str
    """The id of the tree the index would commit."""
    head: str
    """HEAD's commit id; "" before the first commit."""
    diff: str
    """The staged change as a unified diff with git's headers (renames found)."""
    paths: tuple[str, ...]
    """The paths it adds or changes (new names of renamed files), in the diff's order."""

    @property
    def empty(self) -> bool:
        return not self.diff.strip()


def staged(root: Path) -> Staged:
    """The change staged in the repository at `root` (any folder inside it).

    RepoError when the index holds unmerged paths (git would refuse the commit too)."""
    import pygit2

    try:
        repo = pygit2.Repository(str(root))
    except pygit2.GitError as exc:
        raise RepoError(f"{root} is not in a git repository ({exc})", "run it inside one") from None
    try:
        index = repo.index
        if index.conflicts is not None:
            unmerged = sorted({str(c.path) for entries in index.conflicts for c in entries if c})
            raise RepoError(
                f"unmerged paths in the index: {', '.join(unmerged[:5])}",
                "resolve the conflicts and stage the results first",
            )
        tree = index.write_tree()
        head = "" if repo.head_is_unborn else str(repo.head.target)
        base = repo.head.peel(pygit2.Tree).id if head else _empty_tree(repo)
        diff = repo.diff(base, tree)
        diff.find_similar()
        return Staged(str(tree), head, diff.patch or "", _paths(diff))
    finally:
        repo.free()


def _empty_tree(repo: pygit2.Repository) -> pygit2.Oid:
    return repo.TreeBuilder().write()


def _paths(diff: pygit2.Diff) -> tuple[str, ...]:
    import pygit2

    return tuple(
        delta.new_file.path
        for delta in diff.deltas
        if delta.status != pygit2.enums.DeltaStatus.DELETED
    )
