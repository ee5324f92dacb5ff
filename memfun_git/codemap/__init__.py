"""The code map: what each file of a project defines, cached by git blob id, ranked for a request.

`build(root)` maps a worktree (or `commit=` a tree); `rank(map, request)` orders its files;
`render(files, budget)` writes them for a prompt; `around(map, paths, budget)` outlines the code
around a change for a review. See docs/DESIGN.md, "Code map".
"""

from __future__ import annotations

from memfun_git.codemap.around import around
from memfun_git.codemap.build import CodeMap, FileEntry, Skipped, build
from memfun_git.codemap.rank import Ranked, overlap, rank
from memfun_git.codemap.render import render, to_json, tokens
from memfun_git.codemap.symbols import Symbol

__all__ = [
    "CodeMap",
    "FileEntry",
    "Ranked",
    "Skipped",
    "Symbol",
    "around",
    "build",
    "overlap",
    "rank",
    "render",
    "to_json",
    "tokens",
]
