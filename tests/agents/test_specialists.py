"""The nine specialists of the seed's table, as data."""

from __future__ import annotations

import pytest

from memfun_git.agents.specialists import SPECIALISTS, WRITE_TOOLS, specialist


def test_the_seeds_nine_specialists_with_their_iteration_caps() -> None:
    assert {n: s.iterations for n, s in SPECIALISTS.items()} == {
        "coder": 15, "tester": 10, "debugger": 12, "reviewer": 8, "file": 8, "security": 8,
        "planner": 6, "web-search": 8, "web-fetch": 8,
    }  # fmt: skip


def test_only_coder_tester_and_debugger_may_write() -> None:
    writers = {n for n, s in SPECIALISTS.items() if s.may_write}
    assert writers == {"coder", "tester", "debugger"}
    for s in SPECIALISTS.values():
        assert s.allows("read")
        assert s.allows("search")
        assert s.may_write == any(s.allows(t) for t in WRITE_TOOLS)
    assert specialist("web-search").allows("web_search")
    assert not specialist("file").allows("run")


def test_an_unknown_specialist_is_named_with_the_known_ones() -> None:
    with pytest.raises(KeyError, match="no specialist 'wizard'; there are coder, tester"):
        specialist("wizard")
