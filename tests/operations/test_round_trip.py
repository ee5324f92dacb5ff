"""`parse(render(ops)).operations == ops` on awkward content, hand-written and generated.

The hand-written cases are the content a repository really holds that a line format could
misread; the generated ones (hypothesis, derandomised, no example database) draw lines from the
same awkward material and from text rich in marker characters, so collisions are likely.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memfun_git.errors import OperationFormatError
from memfun_git.operations import (
    DeleteFile,
    EditFile,
    Operation,
    Parsed,
    RenameFile,
    RunCommand,
    WriteFile,
    parse,
    render,
)

AWKWARD_LINES = [
    "",
    " ",
    "\t",
    "   trailing   ",
    "\tindented\twith tabs\t",
    "```",
    "```python",
    "~~~",
    "...",
    "    ...",
    "<<<<<<< SEARCH",
    "=======",
    ">>>>>>> REPLACE",
    "<<<<<<< WRITE",
    ">>>>>>> WRITE",
    "<<<<<<<< SEARCH",
    "<<<<<<< HEAD",
    ">>>>>>> feature/x",
    "==========",
    "|||||||",
    "\\ No newline at end of file",
    "\\ No newline at end of file\r",
    "DELETE src/app.py",
    "RENAME a.py -> b.py",
    "RUN rm -rf /",
    "src/app.py",
    "**src/app.py**:",
    "`src/app.py`",
    "crlf line\r",
    "\r",
    "naïve café ß — “quotes”",
    "emoji 😀 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 beyond the BMP",
    "\u2028 line separator and \x0c form feed and \x85 next line",
    "x" * 20_000,
]

AWKWARD_CONTENT = {
    "empty": "",
    "one newline": "\n",
    "no final newline": "def f():\n    return 1",
    "only a no-newline marker line": "\\ No newline at end of file\n",
    "ends with the no-newline marker line, no newline": "a\n\\ No newline at end of file",
    "crlf file": "line one\r\nline two\r\n",
    "crlf without final newline": "line one\r\nline two",
    "a lone carriage return": "\r",
    "fenced code": "```python\nprint('hi')\n```\n",
    "our markers": "<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n",
    "git conflict": "<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> branch\n",
    "long marker runs": "<" * 30 + " SEARCH\n" + "=" * 40 + "\n",
    "directives": "DELETE x\nRENAME a -> b\nRUN y\n",
    "elision": "def f():\n    ...\n",
    "trailing whitespace and tabs": "x = 1   \n\ty = 2\t\n\n  \n",
    "blank lines around": "\n\n\nbody\n\n\n",
    "unicode": "s = 'naïve 😀 𝔘'\n",
    "a very long line": "y = '" + "z" * 200_000 + "'\n",
    "every awkward line": "\n".join(AWKWARD_LINES) + "\n",
}


def round_trip(ops: list[Operation]) -> tuple[Operation, ...]:
    parsed = parse(render(ops))
    assert parsed.prose == ""
    return parsed.operations


@pytest.mark.parametrize("content", AWKWARD_CONTENT.values(), ids=AWKWARD_CONTENT.keys())
def test_awkward_content_round_trips(content: str) -> None:
    ops: list[Operation] = [
        WriteFile("src/new.py", content),
        EditFile("src/app.py", content or "x", content),
        EditFile("src/app.py", "x = 1\n", content),
    ]
    assert round_trip(ops) == tuple(ops)


def test_markers_grow_past_the_content_s_runs() -> None:
    text = render([WriteFile("merge.txt", "<<<<<<<< ours\n========\n")])
    assert text == "merge.txt\n<<<<<<<<< WRITE\n<<<<<<<< ours\n========\n>>>>>>>>> WRITE\n"


def test_the_no_newline_marker_is_written_as_diff_writes_it() -> None:
    text = render([EditFile("a.txt", "last", "last line")])
    assert text == (
        "a.txt\n<<<<<<< SEARCH\nlast\n\\ No newline at end of file\n=======\n"
        "last line\n\\ No newline at end of file\n>>>>>>> REPLACE\n"
    )


@pytest.mark.parametrize(
    "path",
    [
        "src/app.py",
        "docs/user guide.md",
        " leading space",
        "trailing colon:",
        "`backticked`",
        "**bold**",
        "```",
        "DELETE me.py",
        "RUN.py",
        "a -> b.py",
        "<<<<<<< SEARCH",
        "📁/ünïcode.py",
        "tab\there",
        "cr\r",
    ],
)
def test_awkward_paths_round_trip(path: str) -> None:
    ops: list[Operation] = [
        WriteFile(path, "x\n"),
        EditFile(path, "x\n", "y\n"),
        DeleteFile(path),
        RenameFile(path, "plain.py"),
        RenameFile("plain.py", path),
        RenameFile(path, path + ".bak"),
    ]
    assert round_trip(ops) == tuple(ops)


def test_commands_round_trip_word_for_word() -> None:
    argv = ("python", "-c", "print('a -> b')", "", " spaced ", '"', "'", "$HOME", "a\\b", "#x")
    assert round_trip([RunCommand(argv)]) == (RunCommand(argv),)


@pytest.mark.parametrize(
    ("op", "words"),
    [
        (EditFile("a.py", "", "x\n"), "empty search"),
        (WriteFile("two\nlines.py", "x\n"), "cannot be written"),
        (DeleteFile(""), "cannot be written"),
        (RunCommand(()), "cannot be written"),
        (RunCommand(("echo", "two\nlines")), "line break"),
    ],
)
def test_what_the_format_cannot_hold_is_refused_by_render(op: Operation, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        render([op])


# -- generated ---------------------------------------------------------------------------------

GENERATED = settings(max_examples=400, deadline=None, derandomize=True, database=None)

# Characters that build markers, fences, paths, directives and line ends.
_TRICKY = st.text(alphabet="<=>`*:\\ \t\r-SEARCHWRITEPLACDUNMxa😀", max_size=12)
_LINE = st.one_of(st.sampled_from(AWKWARD_LINES[:-1]), _TRICKY, st.text(max_size=30)).map(
    lambda line: line.replace("\n", "")
)
_CONTENT = st.builds(
    lambda lines, final: "\n".join(lines) + ("\n" if final and lines else ""),
    st.lists(_LINE, max_size=8),
    st.booleans(),
)
_PATH = st.one_of(
    st.sampled_from(["src/app.py", "a b.py", "x:", "`q`", "**b**", "DELETE y"]),
    st.text(alphabet="ab/ ._-`*:>", min_size=1, max_size=12),
).filter(lambda p: p.strip() != "")
_WORD = st.text(max_size=10).filter(lambda w: "\n" not in w)
_OPERATION: st.SearchStrategy[Operation] = st.one_of(
    st.builds(WriteFile, _PATH, _CONTENT),
    st.builds(EditFile, _PATH, _CONTENT.filter(bool), _CONTENT),
    st.builds(DeleteFile, _PATH),
    st.builds(RenameFile, _PATH, _PATH),
    st.builds(RunCommand, st.lists(_WORD, min_size=1, max_size=5).map(tuple)),
)


@GENERATED
@given(st.lists(_OPERATION, max_size=6))
def test_generated_operations_round_trip(ops: list[Operation]) -> None:
    assert round_trip(ops) == tuple(ops)


@GENERATED
@given(st.lists(_LINE, max_size=12).map("\n".join))
def test_any_text_parses_or_names_a_line_and_what_parses_round_trips(text: str) -> None:
    outcome = parse_or_error(text)
    if isinstance(outcome, OperationFormatError):
        assert 1 <= outcome.line <= text.count("\n") + 1
        assert outcome.message.startswith(f"line {outcome.line}: ")
    else:
        assert round_trip(list(outcome.operations)) == outcome.operations


def parse_or_error(text: str) -> Parsed | OperationFormatError:
    try:
        return parse(text)
    except OperationFormatError as exc:
        return exc
