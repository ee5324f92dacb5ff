"""`memfun mcp`: memfun's tools for other agents, as an MCP server (FastMCP).

Tools, for the repository the server was started in:
- `read_file(path, start_line, max_lines)`, `search_code(pattern, glob, limit)`: the working
  tree's files, read only; every path confined as the edit guard confines a task's (no `..`,
  no absolute path, no link, no `.git`), output redacted;
- `code_map(query, path, budget_tokens)`: the code map, ranked for a query, or under a path;
- `git_log(ref, limit, path)` and `git_diff(spec, path)`: history and changes, read with
  libgit2 (`spec`: a commit, `A..B`, `A...B`; empty: the uncommitted changes);
- `recall(query, limit)` and `remember(text, kind)`: memory, as `memory search`/`memory add`;
- `run_task(request, base, tier)`: the request through `Engine.run`: its change reaches the
  repository only as gated commits on a branch of its own (`memfun/<id>`), never in place;
  returns the status, branch, summary, commits and error.

Arguments are checked by their types (FastMCP's schema) and by the tools themselves; a refusal
is the tool's error, one line saying what to change. stdio by default (nothing but the
protocol on stdout: FastMCP's banner and its update check are off); `--http` serves
streamable HTTP on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git.redact import redact

if TYPE_CHECKING:
    from fastmcp import FastMCP

__all__ = ["QUIET", "build_server"]

QUIET = {"FASTMCP_SHOW_SERVER_BANNER": "false", "FASTMCP_CHECK_FOR_UPDATES": "off"}
"""FastMCP's settings that keep stdout for the protocol and the network out of start-up."""
_MAX_LINES = 5_000
_MAX_HITS = 500


@dataclass(frozen=True, slots=True)
class _Tree:
    """The user's working tree, as the edit guard sees a worktree (read only here)."""

    path: Path

    def readonly_reason(self, rel: str) -> str | None:
        return "the MCP server only reads"


def build_server(start: Path, environ: Mapping[str, str] | None = None) -> FastMCP:
    """The server for the repository holding `start` (see the module)."""
    for name, value in QUIET.items():
        os.environ.setdefault(name, value)
    from fastmcp import FastMCP
    from fastmcp.exceptions import ToolError

    from memfun_git.errors import MemfunError
    from memfun_git.gitops.repo import require_repo

    env = dict(os.environ if environ is None else environ)
    paths = require_repo(start)
    if paths.workdir is None:
        raise ToolError("the MCP server needs a working tree: start it in a checkout")
    workdir = paths.workdir
    tree = _Tree(workdir)
    server = FastMCP(
        "memfun-git",
        instructions="Read, search and map this git repository, read its history and memory, "
        "and run change requests as gated commits on a branch of their own (run_task).",
    )

    def confined(rel: str) -> Path:
        from memfun_git.edits.guard import resolve

        try:
            return resolve(tree, rel, for_write=False)
        except MemfunError as exc:
            raise ToolError(exc.message) from None

    def positive(value: int, name: str, most: int) -> int:
        if value < 1 or value > most:
            raise ToolError(f"{name} must be between 1 and {most}")
        return value

    @server.tool(annotations={"readOnlyHint": True})
    def read_file(path: str, start_line: int = 1, max_lines: int = 2_000) -> str:
        """A file of the repository's working tree (path relative to its top), from
        `start_line`, at most `max_lines` lines; secrets redacted."""
        positive(start_line, "start_line", 10_000_000)
        positive(max_lines, "max_lines", _MAX_LINES)
        target = confined(path)
        if not target.is_file():
            raise ToolError(f"no file {path!r} in the repository")
        if _ignored(workdir, target.relative_to(workdir).as_posix()):
            raise ToolError(f"{path} is ignored by git (.env, build output…): not served")
        lines = target.read_text(encoding="utf-8", errors="replace").splitlines()
        shown = lines[start_line - 1 : start_line - 1 + max_lines]
        rest = len(lines) - (start_line - 1 + len(shown))
        tail = f"\n… {rest} more line(s)" if rest > 0 else ""
        return redact("\n".join(shown) + tail)

    @server.tool(annotations={"readOnlyHint": True})
    def search_code(pattern: str, glob: str = "", limit: int = 100) -> list[str]:
        """Lines of the tracked files matching a regular expression, as `path:line: text`;
        `glob` limits the files (e.g. `src/**/*.py`)."""
        import fnmatch

        import pygit2

        positive(limit, "limit", _MAX_HITS)
        try:
            regex = re.compile(pattern)
        except re.error as exc:
            raise ToolError(f"not a regular expression: {exc}") from None
        repo = pygit2.Repository(str(workdir))
        try:
            tracked = sorted(e.path for e in repo.index)
        finally:
            repo.free()
        hits: list[str] = []
        for rel in tracked:
            if glob and not fnmatch.fnmatch(rel, glob):
                continue
            file = workdir / rel
            if file.is_symlink() or not file.is_file():
                continue
            try:
                text = file.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            for number, line in enumerate(text.splitlines(), 1):
                if regex.search(line):
                    hits.append(redact(f"{rel}:{number}: {line.strip()[:300]}"))
                    if len(hits) >= limit:
                        return hits
        return hits

    @server.tool(annotations={"readOnlyHint": True})
    def code_map(query: str = "", path: str = "", budget_tokens: int = 2_000) -> str:
        """The code map (each file's classes, functions and methods): ranked for `query`, or
        the files under `path`, within `budget_tokens`."""
        from memfun_git.codemap import build, rank, render

        positive(budget_tokens, "budget_tokens", 50_000)
        prefix = ""
        if path:
            confined(path)
            prefix = path.strip("/")
        cmap = build(workdir)
        files = [f for f in cmap.files if not prefix or f.path == prefix
                 or f.path.startswith(prefix + "/")]  # fmt: skip
        if query:
            order = {r.file.path: i for i, r in enumerate(rank(cmap, query))}
            files.sort(key=lambda f: order.get(f.path, len(order)))
        return redact(render(files, budget_tokens)) or "(no files)"

    @server.tool(annotations={"readOnlyHint": True})
    def git_log(ref: str = "HEAD", limit: int = 20, path: str = "") -> list[dict[str, Any]]:
        """Commits reachable from `ref`, newest first (touching `path` when given)."""
        import pygit2

        positive(limit, "limit", 1_000)
        if path:
            confined(path)
        repo = pygit2.Repository(str(workdir))
        try:
            try:
                tip = repo.revparse_single(ref).peel(pygit2.Commit)
            except (KeyError, ValueError, pygit2.GitError):
                raise ToolError(f"{ref!r} is not a commit here") from None
            found: list[dict[str, Any]] = []
            for commit in repo.walk(tip.id, pygit2.enums.SortMode.TIME):
                if path and not _touches(repo, commit, path.strip("/")):
                    continue
                found.append({
                    "oid": str(commit.id), "author": commit.author.name,
                    "time": commit.commit_time, "subject": commit.message.splitlines()[0]
                    if commit.message else "",
                })  # fmt: skip
                if len(found) >= limit:
                    break
            return [_redact_entry(e) for e in found]
        finally:
            repo.free()

    @server.tool(annotations={"readOnlyHint": True})
    def git_diff(spec: str = "", path: str = "") -> str:
        """A diff: `spec` a commit (against its parent), `A..B` or `A...B`; empty: the working
        tree's uncommitted changes (under `path` when given)."""
        from memfun_git.gitops.staged import committed, uncommitted

        if path:
            confined(path)
        try:
            change = committed(workdir, spec) if spec else uncommitted(workdir, path)
        except MemfunError as exc:
            raise ToolError(exc.message) from None
        return redact(change.diff) or "(no change)"

    @server.tool(annotations={"readOnlyHint": True})
    def recall(query: str, limit: int = 8) -> list[dict[str, str]]:
        """What the project remembers about `query` (MEMORY.md and the memory index)."""
        from memfun_git.memory.store import open_index

        positive(limit, "limit", 100)
        with open_index(paths, environ=env) as index:
            entries = index.search(query, limit)
        return [{"id": e.id, "text": redact(e.text), "section": e.section} for e in entries]

    @server.tool
    def remember(text: str, kind: str = "fact") -> dict[str, str]:
        """Remember a preference, fact, convention or decision: a line in the working tree's
        .memfun/MEMORY.md (for the developer to commit) and the memory index."""
        from memfun_git.memory.store import add_entry

        try:
            entry = add_entry(paths, text, kind, environ=env)
        except MemfunError as exc:
            raise ToolError(exc.message) from None
        return {"id": entry.id, "text": entry.text, "section": entry.section}

    @server.tool
    def run_task(request: str, base: str = "HEAD", tier: str = "auto") -> dict[str, Any]:
        """Run a change request as memfun run does: reviewed, lint-clean commits on a branch
        of its own (memfun/<id>); the repository's files, index and branches are not changed.
        Returns the status, the branch, the summary, the commits and the error."""
        from memfun_git import config
        from memfun_git.engine import Engine
        from memfun_git.tasks import Task

        if not request.strip():
            raise ToolError("the request is empty: say what to change")
        if tier not in ("auto", "context-first", "workflow", "explore"):
            raise ToolError(f"tier {tier!r} is not one of auto, context-first, workflow, explore")
        try:
            cfg = config.load(workdir, environ=env)
            task = Task.create(request, workdir, base=base or "HEAD", tier=tier)
            result = Engine(cfg, environ=env).run(task)
        except MemfunError as exc:
            raise ToolError(exc.message) from None
        return {
            "id": task.id,
            "status": result.status,
            "branch": result.branch,
            "summary": redact(result.summary),
            "commits": [c.as_dict() for c in result.commits],
            "error": redact(result.error),
        }

    return server


def _redact_entry(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: redact(v) if isinstance(v, str) else v for k, v in entry.items()}


def _ignored(workdir: Path, rel: str) -> bool:
    import pygit2

    repo = pygit2.Repository(str(workdir))
    try:
        return bool(repo.path_is_ignored(rel))
    finally:
        repo.free()


def _touches(repo: Any, commit: Any, path: str) -> bool:
    parent = commit.parents[0].tree if commit.parents else None
    diff = (
        repo.diff(parent, commit.tree)
        if parent is not None
        else commit.tree.diff_to_tree(swap=True)
    )
    return any(
        d.new_file.path == path or d.new_file.path.startswith(path + "/")
        or d.old_file.path == path or d.old_file.path.startswith(path + "/")
        for d in diff.deltas
    )  # fmt: skip
