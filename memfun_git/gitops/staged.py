"""What is staged for the next commit: the index's tree against HEAD's, as a unified diff;
and, for `memfun review`, the same shape of change for commits (`committed`: a commit against
its first parent, or a range) and for the working tree's uncommitted changes (`uncommitted`,
under a path or whole).

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

__all__ = ["Staged", "committed", "staged", "uncommitted"]

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


def committed(root: Path, spec: str) -> Staged:
    """The change a commit made (against its first parent; a root commit against the empty
    tree), or a range's: `A..B` (B against A), `A...B` (B against their merge base)."""
    import pygit2

    repo = _open(root)
    try:
        if "..." in spec:
            left, right = spec.split("...", 1)
            new = _commit(repo, right or "HEAD")
            found: pygit2.Oid | None = repo.merge_base(_commit(repo, left or "HEAD").id, new.id)
            if not found:
                raise RepoError(f"{spec}: the two sides share no history", "name a range")
            old = repo[found].peel(pygit2.Tree).id
        elif ".." in spec:
            left, right = spec.split("..", 1)
            new = _commit(repo, right or "HEAD")
            old = _commit(repo, left or "HEAD").peel(pygit2.Tree).id
        else:
            new = _commit(repo, spec)
            old = new.parents[0].peel(pygit2.Tree).id if new.parents else _empty_tree(repo)
        tree = new.peel(pygit2.Tree)
        diff = repo.diff(old, tree.id)
        diff.find_similar()
        return Staged(str(tree.id), str(new.id), diff.patch or "", _paths(diff))
    finally:
        repo.free()


def uncommitted(root: Path, path: str = "") -> Staged:
    """The working tree's changes against HEAD, staged or not (untracked files left out),
    under `path` (relative to the repository's top: a file or a folder) or whole. Nothing is
    written: the diff is libgit2's tree-to-workdir."""
    import pygit2

    repo = _open(root)
    try:
        head = "" if repo.head_is_unborn else str(repo.head.target)
        base = repo.head.peel(pygit2.Tree) if head else repo[_empty_tree(repo)].peel(pygit2.Tree)
        diff = base.diff_to_workdir()
        diff.find_similar()
        prefix = path.strip("/")
        kept = [
            patch
            for patch in diff
            if patch is not None
            and (not prefix or any(_under(p, prefix) for p in
                                   (patch.delta.old_file.path, patch.delta.new_file.path)))
        ]  # fmt: skip
        text = "".join(p.text or "" for p in kept)
        deleted = pygit2.enums.DeltaStatus.DELETED
        paths = tuple(p.delta.new_file.path for p in kept if p.delta.status != deleted)
        return Staged(str(base.id), head, text, paths)
    finally:
        repo.free()


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _open(root: Path) -> pygit2.Repository:
    import pygit2

    try:
        return pygit2.Repository(str(root))
    except pygit2.GitError as exc:
        raise RepoError(f"{root} is not in a git repository ({exc})", "run it inside one") from None


def _commit(repo: pygit2.Repository, name: str) -> pygit2.Commit:
    import pygit2

    try:
        return repo.revparse_single(name).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise RepoError(
            f"{name!r} is not a commit here", "name a commit, a branch or a range"
        ) from None


def _empty_tree(repo: pygit2.Repository) -> pygit2.Oid:
    return repo.TreeBuilder().write()


def _paths(diff: pygit2.Diff) -> tuple[str, ...]:
    import pygit2

    return tuple(
        delta.new_file.path
        for delta in diff.deltas
        if delta.status != pygit2.enums.DeltaStatus.DELETED
    )
