"""Files changed recently: a small signal for the ranking (work tends to continue where it was)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["recent_paths"]


def recent_paths(root: Path, commit: str = "HEAD", commits: int = 30) -> list[str]:
    """Paths changed by the last `commits` first-parent commits up to `commit`, newest first;
    [] for a repository without commits."""
    import pygit2

    repo = pygit2.Repository(str(root))
    try:
        try:
            here = repo.revparse_single(commit).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            return []
        seen: dict[str, None] = {}
        for _ in range(commits):
            parents = here.parents
            if parents:
                diff = parents[0].tree.diff_to_tree(here.tree)
            else:
                diff = here.tree.diff_to_tree(swap=True)
            for delta in diff.deltas:
                seen.setdefault(delta.new_file.path)
            if not parents:
                break
            here = parents[0]
        return list(seen)
    finally:
        repo.free()
