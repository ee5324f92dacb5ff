"""The exception tree drawn in errors.py's docstring is the tree in the code."""

from __future__ import annotations

import inspect
import re

from memfun_git import errors
from memfun_git.errors import ExitCode, MemfunError, ProgramNotExecutable, ProgramNotFound

_ROW = re.compile(r"^(?P<indent>[ │]*)[├└]── (?P<name>\w+)\s+(?P<what>.*)$")


def _drawing() -> dict[str, tuple[str, int]]:
    """{class name: (parent name, exit code)} as drawn in the module docstring."""
    doc = errors.__doc__ or ""
    lines = doc[doc.index("    MemfunError ") :].splitlines()
    parents = ["MemfunError"]
    drawn: dict[str, tuple[str, int]] = {}
    for line in lines[1:]:
        match = _ROW.match(line.strip("\n")[4:])
        if match is None:
            break
        depth = len(match["indent"]) // 5
        del parents[depth + 1 :]
        code = re.search(r"\(exit (\d+)\)", match["what"])
        drawn[match["name"]] = (parents[depth], int(code.group(1)) if code else 2)
        parents.append(match["name"])
    return drawn


def test_the_drawing_matches_the_classes() -> None:
    drawn = _drawing()
    classes = {
        name: cls
        for name, cls in vars(errors).items()
        if inspect.isclass(cls) and issubclass(cls, MemfunError) and cls is not MemfunError
    }
    assert set(drawn) == set(classes)
    for name, (parent, code) in drawn.items():
        cls = classes[name]
        assert cls.__bases__[0].__name__ == parent, name
        assert cls.exit_code == code, name


def test_programs_that_cannot_run_exit_as_a_shell_says() -> None:
    assert (ExitCode.PROGRAM_NOT_EXECUTABLE, ExitCode.PROGRAM_NOT_FOUND) == (126, 127)
    assert ProgramNotFound("x").exit_code is ExitCode.PROGRAM_NOT_FOUND
    assert ProgramNotExecutable("x").exit_code is ExitCode.PROGRAM_NOT_EXECUTABLE


def test_truncated_and_unparseable_answers_keep_their_text() -> None:
    cut = errors.LLMTruncated("cut", "raise it", raw="[[ ## answer ## ]]\npo", step="plan")
    bad = errors.LLMUnparseable("bad", raw="  no markers\n", step="solve")
    assert (cut.partial, cut.step, str(cut)) == ("[[ ## answer ## ]]\npo", "plan", "cut — raise it")
    assert (bad.raw, bad.step) == ("  no markers\n", "solve")
    assert isinstance(cut, errors.LLMBadResponse)
    assert isinstance(bad, errors.LLMBadResponse)
