"""`memfun agent list`: the nine specialists as the workflow tier defines them, as a table and
as JSON."""

from __future__ import annotations

import json

import pytest

from memfun_git.agents.specialists import SPECIALISTS
from memfun_git.cli.main import run


def test_the_agent_definitions_are_the_nine_specialists(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(["agent", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in listed] == list(SPECIALISTS)
    coder = listed[0]
    assert (coder["iterations"], coder["writes"]) == (15, True)
    assert "edit" in coder["tools"]
    assert not next(a for a in listed if a["name"] == "security")["writes"]
    assert run(["agent", "list"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["AGENT", "STEPS", "WRITES", "TOOLS", "ROLE"]
    assert len(table) == 10
    assert table[3].split()[:3] == ["debugger", "12", "yes"]
