"""The code around a change, for a review: the changed files' outlines, what uses them, and
what they use, from the code map, within a token budget.

The review reads a diff; a diff alone hides whether a renamed function still has callers or
whether a new call matches the definition it calls. `around(cmap, paths, budget)` gives the
reviewer the outlines (signatures, not bodies) of:

1. the changed files themselves (their definitions as they are now);
2. the files that use a name the changed files define (callers, subclasses, tests), most
   shared names first;
3. the files the graph ranks nearest from the changed files (what they use).

Names defined in many files (`run`, `get`) link nothing, as in the ranking. The gate, the
pre-commit hook and the GitHub Action pass the result to `review_change(context=...)`.
"""

from __future__ import annotations

from collections.abc import Sequence

from memfun_git.codemap.build import CodeMap, FileEntry
from memfun_git.codemap.rank import COMMON_NAME_FILES, rank
from memfun_git.codemap.render import render

__all__ = ["around"]


def around(cmap: CodeMap, paths: Sequence[str], budget: int, *, intent: str = "") -> str:
    """The outline of the code around the changed `paths` within `budget` tokens ("" when the
    map holds none of them)."""
    by_path = {f.path: f for f in cmap.files}
    changed = [by_path[p] for p in dict.fromkeys(paths) if p in by_path]
    if not changed:
        return ""
    changed_set = {f.path for f in changed}
    defined: dict[str, int] = {}
    for entry in cmap.files:
        for name in {s.name for s in entry.symbols}:
            defined[name] = defined.get(name, 0) + 1
    names = {
        s.name
        for f in changed
        for s in f.symbols
        if len(s.name) >= 3 and defined.get(s.name, 0) <= COMMON_NAME_FILES
    }
    users = sorted(
        (
            (len(f.identifiers & names), f)
            for f in cmap.files
            if f.path not in changed_set and f.identifiers & names
        ),
        key=lambda item: (-item[0], item[1].path),
    )
    ordered: dict[str, FileEntry] = {f.path: f for f in changed}
    for _, entry in users:
        ordered.setdefault(entry.path, entry)
    for ranked in rank(cmap, intent, boost=list(changed_set)):
        if ranked.score <= 0:
            break  # the rest is out of the changed files' reach
        ordered.setdefault(ranked.file.path, ranked.file)
    return render(list(ordered.values()), budget)
