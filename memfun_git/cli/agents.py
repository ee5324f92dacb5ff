"""`memfun agent list`: the agent definitions, the nine specialists of the workflow tier as
data (agents/specialists.py): name, role, tools, iteration cap, whether it writes files."""

from __future__ import annotations

import sys
from typing import TextIO

from memfun_git.cli.tasks import print_columns, print_json

__all__ = ["run_agent_list"]


def run_agent_list(*, json_out: bool = False, stdout: TextIO | None = None) -> int:
    from memfun_git.agents.specialists import SPECIALISTS

    out = sys.stdout if stdout is None else stdout
    agents = list(SPECIALISTS.values())
    if json_out:
        print_json([
            {"name": a.name, "role": a.role, "tools": list(a.tools), "iterations": a.iterations,
             "writes": a.may_write}
            for a in agents
        ], out)  # fmt: skip
        return 0
    header = ("AGENT", "STEPS", "WRITES", "TOOLS", "ROLE")
    print_columns(header, [
        (a.name, str(a.iterations), "yes" if a.may_write else "no", ",".join(a.tools), a.role)
        for a in agents
    ], out)  # fmt: skip
    return 0
