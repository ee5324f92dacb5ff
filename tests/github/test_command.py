"""`/memfun fix` is read only from the commenter's own lines: not from quotes, not from code."""

from __future__ import annotations

import pytest

from memfun_git.github.command import fix_request


@pytest.mark.parametrize(
    ("body", "instruction"),
    [
        ("/memfun fix handle the empty list", "handle the empty list"),
        (
            "Thanks!\n\n/memfun fix rename x to count\nand add a test\n\nbye",
            "rename x to count and add a test",
        ),
        ("/MEMFUN FIX  use pathlib ", "use pathlib"),
        ("> /memfun fix from a quote\n\nnot a command", None),
        ("```\n/memfun fix inside code\n```", None),
        ("~~~~\n```\n/memfun fix nested\n~~~~\n/memfun fix after the fence", "after the fence"),
        ("please /memfun fix mid-line", None),
        ("/memfun fix", None),
        ("/memfun fixes things", None),
        ("", None),
    ],
)
def test_the_command_is_the_commenters_own_line(body: str, instruction: str | None) -> None:
    assert fix_request(body) == instruction
