"""The map as text for a prompt, within a token budget, and as plain data for `--json`.

Files come in the order given (ranked, or by path); each is `path (size)` followed by its
definitions, indented by nesting. When the budget runs short, the rest are listed by path
alone, and what still does not fit is counted on the last line, never silently dropped.
Tokens are estimated offline from the text's length (see `tokens`); nothing is downloaded.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from memfun_git.codemap.build import CodeMap, FileEntry

__all__ = ["SYMBOLS_PER_FILE", "file_block", "render", "size_text", "to_json", "tokens"]

SYMBOLS_PER_FILE = 60
_CHARS_PER_TOKEN = 3.0
"""Code-map text averages 3.46 characters a token under cl100k and 3.05 under the Anthropic
tokenizer that litellm ships (measured on this repository's map, 139k characters); 3.0 keeps
the estimate on the safe side of both without loading either."""
_DECORATOR_MAX = 40
"""Short decorators (`@property`, `#[test]`) say what a definition is; long ones are noise."""
_FULL_SHARE = 0.75
"""Of the budget, how much may go to files shown with their definitions."""


def tokens(text: str) -> int:
    return int(len(text) / _CHARS_PER_TOKEN) + 1


def size_text(size: int) -> str:
    return f"{size} B" if size < 1024 else f"{size / 1024:.1f} KB"


def file_block(entry: FileEntry) -> str:
    lines = [f"{entry.path} ({size_text(entry.size)})" + (" [partial]" * entry.partial)]
    for symbol in entry.symbols[:SYMBOLS_PER_FILE]:
        decorators = "".join(d + " " for d in symbol.decorators if len(d) <= _DECORATOR_MAX)
        lines.append("  " * (symbol.depth + 1) + decorators + symbol.signature)
    if len(entry.symbols) > SYMBOLS_PER_FILE:
        lines.append(f"  … +{len(entry.symbols) - SYMBOLS_PER_FILE} more definitions")
    return "\n".join(lines)


def render(files: Sequence[FileEntry], budget: int) -> str:
    """`files` (most wanted first) within `budget` tokens."""
    parts: list[str] = []
    used = 0
    shown = 0
    room = budget - (tokens(f"… and {len(files):,} more files") + 1)
    full_room = min(room, int(budget * _FULL_SHARE))
    for entry in files:
        block = file_block(entry)
        cost = tokens(block) + 1
        if used + cost <= full_room or (shown == 0 and cost <= room):
            parts.append(block)
            used += cost
            shown += 1
            continue
        line = f"{entry.path} ({size_text(entry.size)})"
        cost = tokens(line) + 1
        if used + cost > room:
            break
        parts.append(line)
        used += cost
        shown += 1
    if shown < len(files):
        parts.append(f"… and {len(files) - shown:,} more files")
    return "\n".join(parts)


def to_json(cmap: CodeMap, files: Sequence[FileEntry] | None = None) -> dict[str, Any]:
    return {
        "root": str(cmap.root),
        "files": [
            {
                "path": f.path,
                "size": f.size,
                "language": f.language,
                "partial": f.partial,
                "symbols": [
                    {
                        "kind": s.kind,
                        "name": s.name,
                        "signature": s.signature,
                        "line": s.line,
                        "end_line": s.end_line,
                        "parent": s.parent,
                        "decorators": list(s.decorators),
                    }
                    for s in f.symbols
                ],
            }
            for f in (cmap.files if files is None else files)
        ],
        "skipped": [{"path": s.path, "reason": s.reason} for s in cmap.skipped],
        "parsed": cmap.parsed,
    }
