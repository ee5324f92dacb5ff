"""`/memfun fix <instruction>` in a pull request comment.

The command counts only at the start of a line of the comment's own text: lines quoted from
another comment (`> `) and lines inside code fences (``` or ~~~) are not the commenter's
request. The instruction is the rest of that line and the lines after it up to a blank line,
another command or the end; an empty instruction is no command.
"""

from __future__ import annotations

import re

__all__ = ["fix_request"]

_COMMAND = re.compile(r"^/memfun\s+fix\b(?P<rest>.*)$", re.IGNORECASE)
_FENCE = re.compile(r"^\s{0,3}(`{3,}|~{3,})")


def fix_request(body: str) -> str | None:
    """The instruction of the first `/memfun fix` command in `body`, or None."""
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
        match = _COMMAND.match(line.strip()) if not line.lstrip().startswith(">") else None
        if match is None:
            continue
        parts = [match["rest"].strip()]
        for more in lines[index + 1 :]:
            if not more.strip() or more.lstrip().startswith(("/memfun", ">")) or _FENCE.match(more):
                break
            parts.append(more.strip())
        instruction = " ".join(p for p in parts if p)
        return instruction or None
    return None
