"""The nine specialists of the workflow tier, as data over one shared loop (the seed's table).

A specialist is a role (what it is told it is), the tools it may call, how many steps its loop
may take, and whether it may change files. A read-only specialist's write is refused by the
loop (never silently dropped): it reports, and the reviewer or a writing specialist acts.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["READ_TOOLS", "SPECIALISTS", "WRITE_TOOLS", "Specialist", "specialist"]

READ_TOOLS = ("read", "search", "recall")
"""Reading the worktree and memory: every specialist has them."""
WRITE_TOOLS = ("edit", "write")
"""Changing files (through the workspace's guarded, fuzzy-matched operations)."""


@dataclass(frozen=True, slots=True)
class Specialist:
    name: str
    role: str
    tools: tuple[str, ...]
    iterations: int
    """The most steps (model calls) its loop may take."""
    may_write: bool

    def allows(self, tool: str) -> bool:
        return tool in self.tools


def _make(name: str, role: str, iterations: int, *extra: str) -> Specialist:
    tools = READ_TOOLS + tuple(extra)
    return Specialist(name, role, tools, iterations, may_write=bool(set(extra) & set(WRITE_TOOLS)))


SPECIALISTS: dict[str, Specialist] = {
    s.name: s
    for s in (
        _make(
            "coder",
            "Write production code; prefer edits of existing files over rewriting them.",
            15,
            "edit",
            "write",
            "run",
        ),
        _make("tester", "Write tests for the change and run them.", 10, "edit", "write", "run"),
        _make(
            "debugger",
            "Diagnose the bug: reproduce it, trace its root cause, fix it.",
            12,
            "edit",
            "write",
            "run",
        ),
        _make(
            "reviewer",
            "Check code quality, consistency with the request and conflicts "
            "between the other specialists' work; report, do not write.",
            8,
            "run",
        ),
        _make("file", "Read and analyse files and report what they hold; never write.", 8),
        _make(
            "security",
            "Look for vulnerabilities (injection, SSRF, secrets, unsafe "
            "deserialisation) and report them; do not write.",
            8,
            "run",
        ),
        _make("planner", "Break a sub-problem into steps for the others; no code.", 6),
        _make(
            "web-search",
            "Search the web for what the task needs and report the findings.",
            8,
            "web_search",
        ),
        _make(
            "web-fetch", "Fetch the pages the task names and extract what it needs.", 8, "web_fetch"
        ),
    )
}
"""By name, in the seed's order."""


def specialist(name: str) -> Specialist:
    """The specialist called `name` (KeyError naming the known ones)."""
    found = SPECIALISTS.get(name)
    if found is None:
        raise KeyError(f"no specialist {name!r}; there are {', '.join(SPECIALISTS)}")
    return found
