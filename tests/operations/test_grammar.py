"""`parse` on answers as models write them, and on the mistakes they make.

Each answer is a whole text as a model would send it; each assertion compares the whole list of
operations, so nothing is read that should not be. Errors are checked by their line number (as
data) and by the words the model reads.
"""

from __future__ import annotations

import pytest

from memfun_git.errors import ExitCode, MemfunError, OperationFormatError
from memfun_git.operations import (
    DeleteFile,
    EditFile,
    Parsed,
    RenameFile,
    RunCommand,
    WriteFile,
    parse,
)

ADD = EditFile(
    "src/app.py",
    "def add(a, b):\n    return a + b\n",
    "def add(a, b, c=0):\n    return a + b + c\n",
)
ADD_BLOCK = """\
<<<<<<< SEARCH
def add(a, b):
    return a + b
=======
def add(a, b, c=0):
    return a + b + c
>>>>>>> REPLACE
"""


def test_blocks_in_python_fences_with_prose_between() -> None:
    answer = f"""\
I'll add a third parameter, `c`, and a test.

src/app.py
```python
{ADD_BLOCK}```

Then the test, which is new:

tests/test_app.py
```python
<<<<<<< WRITE
import app


def test_add_three():
    assert app.add(1, 2, 3) == 6
>>>>>>> WRITE
```

Done.
"""
    assert parse(answer) == Parsed(
        (
            ADD,
            WriteFile(
                "tests/test_app.py",
                "import app\n\n\ndef test_add_three():\n    assert app.add(1, 2, 3) == 6\n",
            ),
        ),
        "I'll add a third parameter, `c`, and a test.\n\nThen the test, which is new:\n\nDone.",
    )


def test_a_path_inside_the_fence() -> None:
    assert parse(f"```python\nsrc/app.py\n{ADD_BLOCK}```\n").operations == (ADD,)


@pytest.mark.parametrize(
    "line",
    [
        "**src/app.py**:",
        "`src/app.py`",
        "`src/app.py`:",
        "src/app.py:",
        "  src/app.py  ",
        "**`src/app.py`**",
    ],
)
def test_paths_as_models_decorate_them(line: str) -> None:
    assert parse(f"{line}\n{ADD_BLOCK}").operations == (ADD,)


def test_a_path_with_spaces_in_backticks() -> None:
    answer = f"`docs/user guide.md`\n{ADD_BLOCK}"
    assert parse(answer).operations == (EditFile("docs/user guide.md", ADD.search, ADD.replace),)


def test_several_blocks_for_one_file_each_with_its_path() -> None:
    second = "src/app.py\n<<<<<<< SEARCH\nimport os\n=======\nimport sys\n>>>>>>> REPLACE\n"
    answer = f"src/app.py\n{ADD_BLOCK}\n{second}"
    assert parse(answer).operations == (
        ADD,
        EditFile("src/app.py", "import os\n", "import sys\n"),
    )


def test_an_answer_with_crlf_line_ends() -> None:
    # Markers and path lines end in "\r" too; content is verbatim, so each line keeps its "\r"
    # (the matcher and the writer handle CRLF text).
    answer = f"Fixed.\nsrc/app.py\n{ADD_BLOCK}DELETE old.py\nRUN pytest -q\n".replace("\n", "\r\n")
    parsed = parse(answer)
    assert parsed.operations == (
        EditFile(
            "src/app.py",
            ADD.search.replace("\n", "\r\n"),
            ADD.replace.replace("\n", "\r\n"),
        ),
        DeleteFile("old.py"),
        RunCommand(("pytest", "-q")),
    )
    assert parsed.prose == "Fixed."


def test_directives() -> None:
    answer = """\
Remove the old module, move the helper and run the tests.
DELETE src/old.py
RENAME src/a.py -> src/b.py
RENAME `my notes.md` -> `docs/my notes.md`
RUN pytest -q -k "greet and not slow" tests/test_app.py
RUN python -c 'print("a -> b")'
"""
    assert parse(answer) == Parsed(
        (
            DeleteFile("src/old.py"),
            RenameFile("src/a.py", "src/b.py"),
            RenameFile("my notes.md", "docs/my notes.md"),
            RunCommand(("pytest", "-q", "-k", "greet and not slow", "tests/test_app.py")),
            RunCommand(("python", "-c", 'print("a -> b")')),
        ),
        "Remove the old module, move the helper and run the tests.",
    )


def test_a_line_of_prose_starting_with_run_is_a_directive() -> None:
    # Documented: "RUN " at the start of a line is an operation wherever it is.
    assert parse("RUN the tests after this, please.\n").operations == (
        RunCommand(("the", "tests", "after", "this,", "please.")),
    )


def test_content_is_verbatim() -> None:
    # Indentation, trailing whitespace, tabs, blank lines at both ends, `...`, fences, lines
    # that look like directives, paths or git's conflict markers: all content.
    content = [
        "",
        "  \t",
        "def f():\t",
        "    ...",
        "```",
        "DELETE x",
        "RUN y",
        "RENAME a -> b",
        "src/app.py",
        "<<<<<<< HEAD",
        "=========",
        ">>>>>>> main",
        "",
    ]
    body = "\n".join(content) + "\n"
    answer = f"notes.txt\n<<<<<<< WRITE\n{body}>>>>>>> WRITE\n"
    assert parse(answer).operations == (WriteFile("notes.txt", body),)


def test_content_without_a_final_newline_and_empty_content() -> None:
    answer = """\
a.txt
<<<<<<< SEARCH
last line
\\ No newline at end of file
=======
\\ No newline at end of file
>>>>>>> REPLACE

empty.txt
<<<<<<< WRITE
>>>>>>> WRITE
"""
    assert parse(answer).operations == (
        EditFile("a.txt", "last line", ""),
        WriteFile("empty.txt", ""),
    )


def test_longer_markers_hold_our_own_markers_as_content() -> None:
    answer = """\
merge.txt
<<<<<<<<< SEARCH
<<<<<<< SEARCH
=======
>>>>>>> REPLACE
=========
done
>>>>>>>>> REPLACE
"""
    assert parse(answer).operations == (
        EditFile("merge.txt", "<<<<<<< SEARCH\n=======\n>>>>>>> REPLACE\n", "done\n"),
    )


def test_a_seven_marker_block_keeps_longer_runs_as_content() -> None:
    # An rst heading's underline is content in the plain form models write.
    answer = "README.rst\n<<<<<<< SEARCH\nUsage\n==========\n=======\nUse\n===\n>>>>>>> REPLACE\n"
    assert parse(answer).operations == (
        EditFile("README.rst", "Usage\n==========\n", "Use\n===\n"),
    )


def test_conflict_markers_and_prose_outside_blocks_are_prose() -> None:
    answer = "The file had\n<<<<<<< HEAD\nin it.\n=======\nI resolved it.\n"
    assert parse(answer) == Parsed((), answer.strip())


def test_an_empty_answer() -> None:
    assert parse("") == Parsed((), "")


# -- errors ------------------------------------------------------------------------------------


def error_of(answer: str) -> OperationFormatError:
    with pytest.raises(OperationFormatError) as caught:
        parse(answer)
    return caught.value


@pytest.mark.parametrize(
    ("answer", "line", "words"),
    [
        (
            "src/app.py\n<<<<<<< SEARCH\ndef greet():\n>>>>>>> REPLACE\n",
            4,
            "the SEARCH block of line 2 has no ======= line",
        ),
        ("src/app.py\n<<<<<<< SEARCH\ndef greet():\n", 2, "the SEARCH block has no ======= line"),
        ("src/app.py\n<<<<<<< SEARCH\na\n=======\nb\n", 2, "the SEARCH block is not closed"),
        ("src/app.py\n<<<<<<< WRITE\na\n", 2, "the WRITE block is not closed"),
        (
            "src/app.py\n<<<<<<< SEARCH\na\n========\nb\n>>>>>>> REPLACE\n",
            4,
            "======== has 8 '=' but the SEARCH block of line 2 opened with 7 '<'",
        ),
        (
            "src/app.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>>> REPLACE\n"
            "src/b.py\n<<<<<<< SEARCH\nc\n=======\nd\n>>>>>>> REPLACE\n",
            6,
            ">>>>>>>> REPLACE has 8 '>' but the SEARCH block of line 2 opened with 7 '<'",
        ),
        (
            "src/app.py\n<<<<<<< SEARCH\n=======\nb\n>>>>>>> REPLACE\n",
            2,
            "the SEARCH part is empty",
        ),
        ("<<<<<<< WRITE\na\n>>>>>>> WRITE\n", 1, "the WRITE block has no path"),
        (
            "Here is the fix:\n```python\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> REPLACE\n```\n",
            3,
            "the SEARCH block has no path: line 1 above it is not one",
        ),
        (
            f"src/app.py\n{ADD_BLOCK}\n{ADD_BLOCK}",
            10,
            "the SEARCH block has no path",
        ),
        ("DELETE old.py\n<<<<<<< WRITE\na\n>>>>>>> WRITE\n", 2, "line 1 above it is not one"),
        ("src/a.py\n<<<<<<< WRITE\na\n=======\n>>>>>>> WRITE\n", 4, "a WRITE block has no ="),
        ("a.py\n<<<<<<< SEARCH\na\n=======\nb\n>>>>>>> WRITE\n", 6, "closes with WRITE"),
        ("a.py\n<<<<<<< WRITE\na\n>>>>>>> REPLACE\n", 4, "closes with REPLACE"),
        ("a.py\n<<<<<<< SEARCH\na\n=======\nb\n=======\n", 6, "a second ======="),
        (
            "a.py\n<<<<<<< SEARCH\na\n=======\nb\nb.py\n<<<<<<< SEARCH\n",
            7,
            "a block opens inside the SEARCH block of line 2",
        ),
        ("Done.\n>>>>>>> REPLACE\n", 2, ">>>>>>> REPLACE closes a block that was not opened"),
        ("RENAME a.py b.py\n", 1, "a RENAME line is written RENAME <from> -> <to>"),
        ("RENAME a.py -> b.py -> c.py\n", 1, "RENAME <from> -> <to>"),
        ("RENAME  -> b.py\n", 1, "RENAME <from> -> <to>"),
        ("RUN echo 'unbalanced\n", 1, "the RUN command cannot be split into words"),
        ("RUN   \n", 1, "RUN needs a command"),
        ("DELETE  \n", 1, "DELETE needs a path"),
    ],
)
def test_malformed_answers_name_the_line(answer: str, line: int, words: str) -> None:
    error = error_of(answer)
    assert error.line == line
    assert error.message.startswith(f"line {line}: ")
    assert words in error.message


def test_the_error_is_short_enough_to_send_back() -> None:
    error = error_of("src/app.py\n<<<<<<< SEARCH\n" + "x = 1\n" * 1000)
    assert str(error) == (
        "line 2: the SEARCH block has no ======= line — divide SEARCH from REPLACE with ======="
    )
    assert isinstance(error, MemfunError)
    assert error.exit_code is ExitCode.FAILED
