"""What the solver reads: the planner's choice of files, and the names of those not shown.

A project over `context.SMALL_PROJECT` asks the planner (one raw-text call, step "plan") which
files the change needs, from the code map ranked for the request (`codemap.rank`): the most
relevant files first with their definitions' signatures, then the rest by path and size,
within `LISTING_CAP` tokens. The
answer is one path a line, read leniently (`pick_paths`); a cut-off answer is used up to its
last whole line, so no call is spent again. Everything sent is redacted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from memfun_git.errors import LLMTruncated
from memfun_git.redact import redact
from memfun_git.solvers.context import Context, FileInfo, estimate_tokens, listing

if TYPE_CHECKING:
    from memfun_git.codemap import CodeMap
    from memfun_git.llm.session import LMSession

__all__ = [
    "LISTING_CAP",
    "OTHERS_CAP",
    "lines_within",
    "listing_within",
    "others",
    "pick_paths",
    "plan_files",
    "ranked_listing",
]

LISTING_CAP = 40_000
"""Tokens of listing the planner reads; past it, names go, then the last paths."""
OTHERS_CAP = 4_000
"""Tokens of the solver's list of files not shown."""


def plan_files(
    session: LMSession,
    request: str,
    files: list[FileInfo],
    budget: int,
    *,
    cmap: CodeMap | None = None,
    boost: Sequence[str] = (),
    conventions: str = "",
) -> list[str]:
    """The files the change needs, in the planner's order (one call); `budget`: the tokens of
    contents the solver's prompt holds, told to the planner so it can choose. With `cmap`
    the planner reads the map ranked for the request (`boost`: paths or names memory
    remembers for it); without, the plain listing."""
    from memfun_git.llm.signatures import PlanFiles

    room = f"about {budget:,} tokens ({budget * 4 // 1024:,} KB); files are read in your order"
    try:
        answer = session.text(
            "plan",
            PlanFiles,
            request=redact(request),
            conventions=redact(conventions).strip() or "(none)",
            listing=(
                ranked_listing(cmap, request, files, boost)
                if cmap is not None
                else listing_within(files, LISTING_CAP)
            ),
            budget=room,
        )
    except LLMTruncated as exc:
        # A cut-off list is still a list: its whole lines are used, no call is spent again.
        answer = exc.partial.rsplit("\n", 1)[0] if "\n" in exc.partial else ""
    return pick_paths(answer, [info.path for info in files])


def pick_paths(answer: str, known: Sequence[str]) -> list[str]:
    """The known paths an answer names, one a line, in its order. Lines as models write them
    are read: bullets, numbers, backticks, `./`, and the listing's own `path (size): names`."""
    known_set = set(known)
    picked: list[str] = []
    for raw in answer.splitlines():
        line = raw.strip().lstrip("-*•").strip()
        head, dot, rest = line.partition(". ")
        if dot and head.isdigit():
            line = rest.strip()
        line = line.split(" (", 1)[0].strip().strip("`*").removesuffix(":").strip("`")
        line = line.removeprefix("./")
        if line in known_set and line not in picked:
            picked.append(line)
    return picked


def ranked_listing(
    cmap: CodeMap, request: str, files: list[FileInfo], boost: Sequence[str] = ()
) -> str:
    """The map of `files`, most relevant to `request` first, within `LISTING_CAP`, redacted."""
    from memfun_git.codemap import rank, render
    from memfun_git.codemap.history import recent_paths

    readable = {info.path for info in files}
    ranked = [
        r.file
        for r in rank(cmap, request, recent=recent_paths(cmap.root), boost=boost)
        if r.file.path in readable
    ]
    return redact(render(ranked, LISTING_CAP))


def listing_within(files: list[FileInfo], cap: int) -> str:
    """The planner's listing within `cap` tokens: with names, else paths and sizes, else the
    first paths and a count of the rest (said, never hidden)."""
    text = listing(files)
    if estimate_tokens(text) <= cap:
        return text
    lines = listing([FileInfo(info.path, info.size) for info in files]).splitlines()
    return lines_within(lines, cap, "files not listed")


def lines_within(lines: list[str], cap: int, what: str) -> str:
    kept: list[str] = []
    used = 0
    for line in lines:
        used += estimate_tokens(line) + 1
        if used > cap:
            kept.append(f"… and {len(lines) - len(kept):,} more {what}")
            break
        kept.append(line)
    return "\n".join(kept)


def others(files: list[FileInfo], context: Context) -> str:
    shown = set(context.paths)
    others = [info.path for info in files if info.path not in shown]
    if not others:
        return "(none: every file of the project is shown)"
    note = f"(over the size limit, not shown: {', '.join(context.left_out)})\n" * bool(
        context.left_out
    )
    return redact(note + lines_within(others, OTHERS_CAP, "files"))
