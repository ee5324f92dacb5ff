"""`memfun analyze [PATH]`: the code map as a tree, as JSON, or ranked for a request.

Reads the working tree as it is (changed and untracked files included, ignored ones not);
never writes to it. The cache lives under `<git-common-dir>/memfun/`; `--no-cache` builds
cold without touching it.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

from memfun_git.errors import UsageError
from memfun_git.gitops.repo import require_repo

__all__ = ["DEFAULT_BUDGET", "run_analyze"]

DEFAULT_BUDGET = 4096


def run_analyze(
    start: Path,
    path: str | None,
    *,
    json_out: bool = False,
    no_cache: bool = False,
    budget: int | None = None,
    query: str | None = None,
    stdout: TextIO | None = None,
) -> int:
    from memfun_git.codemap import build, rank, render, to_json
    from memfun_git.codemap.history import recent_paths

    out = stdout or sys.stdout
    if budget is not None and budget <= 0:
        raise UsageError(f"--budget {budget} is not a number of tokens", "pass --budget 4096")
    if query is not None and not query.strip():
        raise UsageError("--query is empty", 'say what the map is for: --query "add a flag"')
    paths = require_repo(start)
    assert paths.workdir is not None
    root = paths.workdir
    prefix = _prefix(root, start, path)
    cmap = build(root, cache=not no_cache)
    if prefix:
        cmap.files = [f for f in cmap.files if _under(f.path, prefix)]
        cmap.skipped = [s for s in cmap.skipped if _under(s.path, prefix)]
    if query is not None or budget is not None:
        if query is not None:
            files = [r.file for r in rank(cmap, query, recent=recent_paths(root))]
        else:
            files = cmap.files
        text = render(files, budget or DEFAULT_BUDGET)
        if json_out:
            payload = to_json(cmap, files)
            payload["rendered"] = text
            out.write(json.dumps(payload, ensure_ascii=False, indent=2) + "\n")
        else:
            out.write(text + "\n")
        return 0
    if json_out:
        out.write(json.dumps(to_json(cmap), ensure_ascii=False, indent=2) + "\n")
        return 0
    _tree(cmap, root, out)
    return 0


def _prefix(root: Path, start: Path, path: str | None) -> str:
    if not path:
        return ""
    target = (start / path) if not os.path.isabs(path) else Path(path)
    if not target.exists():
        raise UsageError(f"{path} does not exist", "pass a file or folder of the repository")
    try:
        rel = target.resolve().relative_to(root.resolve())
    except ValueError:
        raise UsageError(
            f"{path} is outside the repository at {root}", "pass a path inside it"
        ) from None
    return "" if str(rel) == "." else rel.as_posix()


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _tree(cmap: object, root: Path, out: TextIO) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.tree import Tree

    from memfun_git.codemap import CodeMap
    from memfun_git.codemap.render import size_text

    assert isinstance(cmap, CodeMap)
    console = Console(file=out, highlight=False, soft_wrap=True)
    top = Tree(f"[bold]{escape(root.name)}[/] ({len(cmap.files):,} files, "
               f"{size_text(cmap.bytes)})")  # fmt: skip
    for entry in cmap.files:
        label = f"[bold]{escape(entry.path)}[/] [dim]({size_text(entry.size)})[/]"
        if entry.partial:
            label += " [yellow]partial: syntax errors[/]"
        node = top.add(label)
        stack: list[tuple[int, Tree]] = [(-1, node)]
        for symbol in entry.symbols:
            while stack[-1][0] >= symbol.depth:
                stack.pop()
            shown = "".join(f"{escape(d)} " for d in symbol.decorators)
            child = stack[-1][1].add(f"[dim]{shown}[/]{escape(symbol.signature)}")
            stack.append((symbol.depth, child))
    console.print(top)
    if cmap.skipped:
        reasons = Counter(s.reason for s in cmap.skipped)
        said = ", ".join(f"{reason} {count}" for reason, count in sorted(reasons.items()))
        console.print(f"[dim]skipped {len(cmap.skipped):,} files: {said} (--json lists them)[/]")
    if cmap.cache_problem:
        console.print(f"[yellow]{escape(cmap.cache_problem)}[/]")
