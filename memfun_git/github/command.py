"""`/memfun <instruction>` in an issue or pull request comment, and its Action form
`/memfun fix <instruction>`.

The command counts only at the start of a line of the comment's own text (leading spaces
allowed): lines quoted from another comment (`> `) and lines inside code fences (``` or ~~~)
are not the commenter's request. The instruction is the rest of that line and the lines after
it up to a blank line, another command, a quote, a fence or the end.
"""

from __future__ import annotations

import re

__all__ = ["fix_request", "memfun_request"]

_FIX = re.compile(r"^/memfun\s+fix\b(?P<rest>.*)$", re.IGNORECASE)
_ANY = re.compile(r"^/memfun(?:\s+(?P<rest>.*))?$", re.IGNORECASE)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def fix_request(body: str) -> str | None:
    """The instruction of the first `/memfun fix` command in `body`, or None (also when that
    command has no instruction)."""
    return _first_command(body, _FIX) or None


def memfun_request(body: str) -> str | None:
    """The instruction of the first `/memfun` command in `body`: "" for a bare `/memfun`,
    None when the commenter's own lines hold no command."""
    return _first_command(body, _ANY)


def _first_command(body: str, command: re.Pattern[str]) -> str | None:
    fence: str | None = None
    lines = body.replace("\r\n", "\n").split("\n")
    for index, line in enumerate(lines):
        opened = _FENCE.match(line)
        if fence is not None:
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        match = command.match(line.strip()) if not line.lstrip().startswith(">") else None
        if match is None:
            continue
        parts = [(match["rest"] or "").strip()]
        for more in lines[index + 1 :]:
            if not more.strip() or more.lstrip().startswith(("/memfun", ">")) or _FENCE.match(more):
                break
            parts.append(more.strip())
        return " ".join(p for p in parts if p)
    return None
