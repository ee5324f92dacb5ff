"""File operations on a real workspace: what lands, what is refused, and what gets committed.

Refusals are checked as data too (`EditError.refusal`, `OpResult.refusal`): the reason and the
path an engine would show, not only the words the model reads."""

from __future__ import annotations

import codecs
import os
import stat
import subprocess
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from memfun_git.edits.ops import (
    MAX_BYTES,
    FileOps,
    OpResult,
    apply_ops,
    dropped_lines,
)
from memfun_git.edits.results import Candidate, EditMatch, MatchKind, Reason, Refusal
from memfun_git.errors import EditError
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from memfun_git.operations import (
    DeleteFile,
    EditFile,
    RenameFile,
    RunCommand,
    WriteFile,
    parse,
)
from tests.conftest import git
from tests.helpers.require import missing

# Lib/shutil.py, copyfileobj (CPython 3.11): the text of the encoded files below.
COPY = """\
def copyfileobj(fsrc, fdst, length=0):
    \"\"\"copy data from file-like object fsrc to file-like object fdst\"\"\"
    if not length:
        length = COPY_BUFSIZE
    # Localize variable access to minimize overhead.
    fsrc_read = fsrc.read
    fdst_write = fdst.write
    while True:
        buf = fsrc_read(length)
        if not buf:
            break
        fdst_write(buf)
"""
SEARCH = "    while True:\n        buf = fsrc_read(length)\n"
REPLACE = "    while True:\n        buf = fsrc_read(length)  # at most length bytes\n"
EDITED = COPY.replace(SEARCH, REPLACE)


@pytest.fixture
def ws(git_repo: Path) -> Iterator[Workspace]:
    with Workspace(require_repo(git_repo), "ops") as workspace:
        yield workspace


def ok(results: list[OpResult]) -> list[bool]:
    return [r.ok for r in results]


def test_write_creates_files_and_folders(ws: Workspace) -> None:
    ops = FileOps(ws)
    assert ops.write_file("src/io/copy.py", COPY) == "created src/io/copy.py"
    assert (ws.path / "src/io/copy.py").read_bytes() == COPY.encode()
    assert ws.touched == set()  # only Workspace.apply records what operations changed
    assert ops.edit_file("src/io/copy.py", SEARCH, REPLACE) == "edited src/io/copy.py"
    assert (ws.path / "src/io/copy.py").read_text() == EDITED
    # apply() says how each edit matched: here a search quoted without its indentation.
    [result] = ops.apply(
        [EditFile("src/io/copy.py", "if not buf:\n    break\n", "if not buf:\n    return\n")]
    )
    assert result == OpResult(
        result.op,
        True,
        "edited src/io/copy.py",
        match=EditMatch(MatchKind.WHITESPACE, 10, 11, 1.0),
        paths=("src/io/copy.py",),
    )
    assert (ws.path / "src/io/copy.py").read_text() == EDITED.replace("break", "return")
    assert not [p for p in (ws.path / "src/io").iterdir() if p.name.startswith(".")]


def test_thirty_percent_rule(ws: Workspace) -> None:
    old = "".join(f"RETRY_DELAY_{i} = {i * 250}\n\n" for i in range(20))  # 20 lines, 20 blanks
    (ws.path / "src/limits.py").write_text(old)
    lines = old.split("\n\n")
    ops = FileOps(ws)
    keep_14 = "\n".join(lines[6:]) + "NEW = 1\n"  # drops 6 of 20: exactly 30 %, allowed
    assert ops.write_file("src/limits.py", keep_14) == "wrote src/limits.py"
    assert (ws.path / "src/limits.py").read_text() == keep_14
    (ws.path / "src/limits.py").write_text(old)
    keep_13 = "\n".join(lines[7:])  # drops 7 of 20: 35 %, refused
    with pytest.raises(EditError) as info:
        ops.write_file("src/limits.py", keep_13)
    assert str(info.value) == (
        "write_file would drop 7 of the 20 lines of src/limits.py (35%; more than 30 % is "
        "refused) — change it with edit_file, or write the whole file with the parts you keep"
    )
    assert info.value.refusal == Refusal(Reason.DROPS_TOO_MUCH, path="src/limits.py")
    assert (ws.path / "src/limits.py").read_text() == old
    # Moving and re-indenting lines is not dropping them; blank lines do not count.
    assert dropped_lines(COPY, "\n".join(reversed(COPY.splitlines()))) == (0, 12)
    assert dropped_lines(COPY, "class Copier:\n" + COPY.replace("\n", "\n    ")) == (0, 12)
    assert dropped_lines(COPY, COPY.replace("\n\n", "\n")) == (0, 12)
    assert dropped_lines("", "anything\n") == (0, 0)


def test_edit_only_mode(ws: Workspace) -> None:
    (ws.path / "src/copy.py").write_text(COPY)
    results = ws.apply(
        [
            WriteFile("src/new.py", "print('new')\n"),
            WriteFile("src/copy.py", COPY + "# more\n"),
            DeleteFile("README.md"),
            RenameFile("src/app.py", "src/main.py"),
            EditFile("src/copy.py", SEARCH, REPLACE),
        ],
        edit_only=True,
    )
    assert ok(results) == [False, False, False, False, True]
    assert [r.refusal and r.refusal.reason for r in results] == [Reason.EDIT_ONLY] * 4 + [None]
    assert [r.paths for r in results] == [(), (), (), (), ("src/copy.py",)]
    assert results[0].message == (
        "write_file src/new.py is refused: this step may only change existing files with "
        "edit_file (no writing, creating, deleting or renaming)"
    )
    assert results[2].message.startswith("delete_file README.md is refused: this step may only")
    assert results[3].message.startswith("rename_file src/app.py is refused: this step may only")
    assert not (ws.path / "src/new.py").exists()
    assert (ws.path / "README.md").exists()
    assert (ws.path / "src/copy.py").read_text() == EDITED
    assert ws.touched == {"src/copy.py"}
    with pytest.raises(EditError, match=r"^src/missing\.py does not exist$"):
        FileOps(ws, edit_only=True).edit_file("src/missing.py", "a", "b")


def test_binary_files_are_refused(ws: Workspace) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))
    (ws.path / "logo.png").write_bytes(png)
    (ws.path / "bad.txt").write_bytes(codecs.BOM_UTF8 + b"ok\n\xff\xfe broken\n")
    ops = FileOps(ws)
    binary = "is a binary file: only text files can be read or changed"
    for rel in ("logo.png", "bad.txt"):
        for attempt in (
            partial(ops.read, rel),
            partial(ops.edit_file, rel, "IHDR", "IHDR2"),
            partial(ops.write_file, rel, "text now\n"),
        ):
            with pytest.raises(EditError, match=f"^{rel} {binary}$") as info:
                attempt()
            assert info.value.refusal == Refusal(Reason.BINARY, path=rel)
    [result] = ops.apply([EditFile("logo.png", "IHDR", "IHDR2")])
    assert (result.ok, result.refusal, result.match) == (
        False,
        Refusal(Reason.BINARY, path="logo.png"),
        None,
    )
    assert (ws.path / "logo.png").read_bytes() == png
    assert ws.touched == set()
    assert ops.delete_file("logo.png") == "deleted logo.png"  # removing it is not editing it


def test_files_over_one_megabyte_are_refused(ws: Workspace) -> None:
    big = ("x = 1\n" * (MAX_BYTES // 6 + 1)).encode()
    (ws.path / "big.py").write_bytes(big)
    ops = FileOps(ws)
    message = f"big.py would be {len(big):,} bytes, over the 1 MB limit for files memfun reads"
    for call in (
        lambda: ops.read("big.py"),
        lambda: ops.edit_file("big.py", "x = 1\n", "x = 2\n"),
        lambda: ops.write_file("big.py", "x = 1\n"),
    ):
        with pytest.raises(EditError, match=message) as info:
            call()
        assert info.value.refusal == Refusal(Reason.TOO_BIG, path="big.py")
        assert info.value.hint == "leave it to the user, or split it into smaller files"
    [result] = ops.apply([WriteFile("new_big.py", "y = 2\n" * (MAX_BYTES // 6 + 1))])
    assert result.refusal == Refusal(Reason.TOO_BIG, path="new_big.py")
    assert "over the 1 MB limit" in result.message
    assert not (ws.path / "new_big.py").exists()
    assert ops.disk_reads == 0


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("latin-1", b""),
        ("cp1252", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
    ],
    ids=["latin-1", "cp1252", "utf-8-bom", "utf-16-le-bom", "utf-16-be-bom"],
)
@pytest.mark.parametrize("newline", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_encoding_bom_and_line_endings_round_trip(
    ws: Workspace, encoding: str, bom: bytes, newline: str
) -> None:
    # Accented text every one of these encodings holds; cp1252 also has the euro sign.
    text = "# Müller & Søn: café résumé" + (" €" if encoding != "latin-1" else "") + "\n" + COPY
    text = text.replace("\n", newline)
    (ws.path / "legacy.py").write_bytes(bom + text.encode(encoding))
    ops = FileOps(ws)
    assert ops.read("legacy.py").text == text
    ops.edit_file("legacy.py", SEARCH, REPLACE.replace("length bytes", "length bytes, naïvely"))
    expected = text.replace(
        "buf = fsrc_read(length)" + newline,
        "buf = fsrc_read(length)  # at most length bytes, naïvely" + newline,
    )
    assert (ws.path / "legacy.py").read_bytes() == bom + expected.encode(encoding)
    # write_file onto the file keeps its encoding, BOM and line endings too.
    ops.write_file("legacy.py", "# Zoë\n" + COPY)
    assert (ws.path / "legacy.py").read_bytes() == bom + ("# Zoë\n" + COPY).replace(
        "\n", newline
    ).encode(encoding)


def test_crlf_edit_is_byte_for_byte(ws: Workspace) -> None:
    data = COPY.replace("\n", "\r\n").encode()
    (ws.path / "copy.py").write_bytes(data)
    FileOps(ws).edit_file("copy.py", "buf = fsrc_read(length)", "buf = fsrc_read(length or 1)")
    assert (ws.path / "copy.py").read_bytes() == data.replace(b"(length)\r\n", b"(length or 1)\r\n")


def test_characters_the_encoding_lacks_are_refused(ws: Workspace) -> None:
    (ws.path / "legacy.py").write_bytes(("# café\n" + COPY).encode("cp1252"))
    with pytest.raises(EditError) as info:
        FileOps(ws).edit_file("legacy.py", "# café\n", "# café → bar\n")
    assert str(info.value) == (
        "legacy.py is encoded in cp1252, which cannot hold '→' (line 1) — use characters the "
        "file's encoding has"
    )
    assert info.value.refusal == Refusal(Reason.ENCODING, path="legacy.py")
    assert (ws.path / "legacy.py").read_bytes() == ("# café\n" + COPY).encode("cp1252")


def test_read_cache(ws: Workspace) -> None:
    path = ws.path / "copy.py"
    path.write_text(COPY)
    past = time.time() - 60
    os.utime(path, (past, past))  # older than the racy window: its stat can be trusted
    ops = FileOps(ws)
    first = ops.read("copy.py")
    assert (first.text, first.unchanged, ops.disk_reads) == (COPY, False, 1)
    again = ops.read("./copy.py")
    assert (again.text, again.md5, again.unchanged, ops.disk_reads) == (COPY, first.md5, True, 1)
    # The same size and mtime, other content: the inode's ctime still tells.
    path.write_text(COPY.replace("fsrc", "fsrX"))
    os.utime(path, (past, past))
    changed = ops.read("copy.py")
    assert (changed.unchanged, ops.disk_reads) == (False, 2)
    assert changed.md5 != first.md5
    assert ops.read("copy.py").unchanged
    assert ops.disk_reads == 2
    # A file modified just now is racy: read again until its mtime is old enough to trust.
    path.write_text(COPY)
    assert ops.read("copy.py").md5 == first.md5
    assert ops.read("copy.py").unchanged
    assert ops.disk_reads == 4
    # Its own edit needs no read; the model has not seen the result, so it is not unchanged.
    ops.edit_file("copy.py", SEARCH, REPLACE)
    os.utime(path, (past, past))
    reads = ops.disk_reads
    assert not ops.read("copy.py").unchanged
    assert ops.disk_reads == reads + 1  # utime changed ctime: one read, then trusted
    assert ops.read("copy.py").unchanged
    assert ops.disk_reads == reads + 1


def test_delete_and_rename(ws: Workspace) -> None:
    (ws.path / "docs").mkdir()
    results = ws.apply(
        [
            RenameFile("README.md", "docs/guide/README.md"),
            RenameFile("src/app.py", "docs/guide/README.md"),
            DeleteFile("src/app.py"),
            DeleteFile("src"),
            DeleteFile("docs/nothing.md"),
            RenameFile("docs", "manual"),
            RenameFile("src/gone.py", "src/here.py"),
        ]
    )
    assert [(r.ok, r.message) for r in results] == [
        (True, "renamed README.md to docs/guide/README.md"),
        (
            False,
            "cannot rename src/app.py to docs/guide/README.md: docs/guide/README.md already exists",
        ),
        (True, "deleted src/app.py"),
        (False, "src is a folder — name the files in it one by one"),
        (False, "docs/nothing.md does not exist"),
        (False, "docs is a folder — name the files in it one by one"),
        (False, "src/gone.py does not exist"),
    ]
    assert [r.refusal for r in results] == [
        None,
        Refusal(Reason.EXISTS, path="docs/guide/README.md"),
        None,
        Refusal(Reason.NOT_A_FILE, path="src"),
        Refusal(Reason.MISSING, path="docs/nothing.md"),
        Refusal(Reason.NOT_A_FILE, path="docs"),
        Refusal(Reason.MISSING, path="src/gone.py"),
    ]
    assert [r.paths for r in results if r.ok] == [
        ("README.md", "docs/guide/README.md"),
        ("src/app.py",),
    ]
    assert (ws.path / "docs/guide/README.md").read_text() == "# Demo\n\nA small demo project.\n"
    assert not (ws.path / "README.md").exists()
    assert not (ws.path / "src/app.py").exists()
    assert ws.touched == {"README.md", "docs/guide/README.md", "src/app.py"}


def test_refusals_from_guard_and_matcher_name_the_path(ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside.py"
    outside.write_text("SECRET = 1\n")
    os.symlink(outside, ws.path / "link.py")
    results = apply_ops(
        ws,
        [
            WriteFile("../escape.py", "x = 1\n"),
            WriteFile(".git/hooks/pre-commit", "#!/bin/sh\n"),
            EditFile("link.py", "SECRET = 1", "SECRET = 2"),
            EditFile("src/app.py", "def sub(a, b):\n    return a - b\n", ""),
            EditFile("src/app.py", "return a + b", "return a + b + 0"),
            EditFile("src/missing.py", "a", "b"),
        ],
    )
    assert ok(results) == [False, False, False, False, True, False]
    assert results[0].message == (
        "path '../escape.py' is refused: '..' leads out of its folder — name the file from the root"
    )
    assert ".git" in results[1].message
    assert results[2].message.startswith("path 'link.py' is refused: it is a symbolic link")
    assert results[3].message.startswith("src/app.py: the search text was not found in the file")
    assert results[4].message == "edited src/app.py"
    assert results[5].message == "src/missing.py does not exist — create it with write_file"
    refusals = [r.refusal for r in results]
    assert refusals[:3] == [
        Refusal(Reason.PATH_REFUSED, path="../escape.py"),
        Refusal(Reason.PATH_REFUSED, path=".git/hooks/pre-commit"),
        Refusal(Reason.PATH_REFUSED, path="link.py"),
    ]
    assert refusals[4:] == [None, Refusal(Reason.MISSING, path="src/missing.py")]
    not_found = refusals[3]
    assert not_found is not None
    assert not_found.closest is not None
    assert not_found == Refusal(
        Reason.NOT_FOUND,
        path="src/app.py",
        closest=Candidate(1, 2, "def add(a, b):\n    return a + b", not_found.closest.score),
        stage=MatchKind.WINDOW,
    )
    assert [r.match for r in results] == [None] * 4 + [EditMatch(MatchKind.EXACT, 2, 2, 1.0), None]
    assert outside.read_text() == "SECRET = 1\n"
    assert not (ws.path.parent / "escape.py").exists()
    with pytest.raises(EditError) as info:
        FileOps(ws).edit_file("src/app.py", "def sub(a, b):\n    return a - b\n", "")
    closest = info.value.refusal.closest
    assert closest is not None
    assert (closest.start_line, closest.end_line) == (1, 2)
    assert closest.text == "def add(a, b):\n    return a + b + 0"
    assert info.value.hint.endswith("\n    1 | def add(a, b):\n    2 |     return a + b + 0")


def test_edits_never_write_through_a_hard_link_and_keep_the_mode(
    ws: Workspace, tmp_path: Path
) -> None:
    outside = tmp_path / "shared.py"
    outside.write_text(COPY)
    try:
        os.link(outside, ws.path / "shared.py")
    except OSError:
        missing("the worktree is on another file system")
    os.chmod(ws.path / "shared.py", 0o755)
    FileOps(ws).edit_file("shared.py", SEARCH, REPLACE)
    assert (ws.path / "shared.py").read_text() == EDITED
    assert outside.read_text() == COPY
    assert stat.S_IMODE(os.stat(ws.path / "shared.py").st_mode) == 0o755


def test_no_change_touches_nothing(ws: Workspace) -> None:
    ops = FileOps(ws)
    assert ops.edit_file("src/app.py", "return a + b", "return a + b").startswith(
        "src/app.py is unchanged"
    )
    assert ops.write_file("src/app.py", "def add(a, b):\n    return a + b\n") == (
        "src/app.py already has this content"
    )
    assert ws.touched == set()


def test_commit_takes_exactly_the_touched_paths(ws: Workspace) -> None:
    (ws.path / "build.log").write_text("stray output nobody asked for\n")
    results = ws.apply(
        [
            WriteFile("src/io/copy.py", COPY),
            EditFile("src/app.py", "return a + b", "return b + a"),
            RenameFile("README.md", "docs/README.md"),
            WriteFile("src/.git/config", "[core]\n"),
        ]
    )
    assert ok(results) == [True, True, True, False]
    assert ws.touched == {"src/io/copy.py", "src/app.py", "README.md", "docs/README.md"}
    commit = ws.commit(sorted(ws.touched), "Copy helper", gate="n/a (test)")
    assert commit is not None
    changed = git(ws.path, "diff-tree", "-r", "--no-commit-id", "--name-status", commit.oid)
    assert sorted(changed.splitlines()) == [
        "A\tdocs/README.md",
        "A\tsrc/io/copy.py",
        "D\tREADME.md",
        "M\tsrc/app.py",
    ]
    status = subprocess.run(
        ["git", "--no-optional-locks", "status", "--porcelain"],
        cwd=ws.path,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == "?? build.log\n"


def test_bytes_cp1252_lacks_are_read_as_latin_1(ws: Workspace) -> None:
    data = "# Grüße\n".encode("latin-1") + b"CONTROL = '\x81\x90'\n" + COPY.encode()
    (ws.path / "odd.py").write_bytes(data)
    ops = FileOps(ws)
    assert ops.read("odd.py").text == data.decode("latin-1")
    ops.edit_file("odd.py", SEARCH, REPLACE)
    assert (ws.path / "odd.py").read_bytes() == data.replace(SEARCH.encode(), REPLACE.encode())


def test_an_answer_in_the_operation_format_lands_byte_exact(ws: Workspace) -> None:
    # The solver's path: answer text → operations → files. Searches and replacements that end
    # in whitespace, in a newline, or without one, on an LF and a CRLF file.
    (ws.path / "src/copy.py").write_text(COPY)
    (ws.path / "src/crlf.txt").write_bytes(b"one\r\ntwo  \r\nthree")
    answer = (
        "Two edits and a new file.\n\n"
        "src/copy.py\n```python\n<<<<<<< SEARCH\n        if not buf:\n            break\n"
        "=======\n        if not buf:  \n            return   \n\n>>>>>>> REPLACE\n```\n\n"
        "src/crlf.txt\n<<<<<<< SEARCH\ntwo  \nthree\n\\ No newline at end of file\n=======\n"
        "2\t\n3\n\\ No newline at end of file\n>>>>>>> REPLACE\n\n"
        "src/new.txt\n<<<<<<< WRITE\n  indented\ttab \n\n>>>>>>> WRITE\n"
    )
    files = [op for op in parse(answer).operations if not isinstance(op, RunCommand)]
    results = FileOps(ws).apply(files)
    assert ok(results) == [True, True, True]
    assert (ws.path / "src/copy.py").read_text() == COPY.replace(
        "        if not buf:\n            break\n",
        "        if not buf:  \n            return   \n\n",
    )
    assert (ws.path / "src/crlf.txt").read_bytes() == b"one\r\n2\t\r\n3"
    assert (ws.path / "src/new.txt").read_bytes() == b"  indented\ttab \n\n"
