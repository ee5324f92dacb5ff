"""Confinement on a real workspace: every way out of the worktree, or into git, is refused,
each refusal carrying `Reason.PATH_REFUSED` and the path as named."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git.edits.guard import clean, is_dot_git, resolve
from memfun_git.edits.results import Reason, Refusal
from memfun_git.errors import EditError
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from tests.conftest import git


@pytest.fixture
def ws(git_repo: Path) -> Iterator[Workspace]:
    with Workspace(require_repo(git_repo), "guard") as workspace:
        yield workspace


@pytest.mark.parametrize(
    ("rel", "expected"),
    [
        ("src/app.py", "src/app.py"),
        ("./src//app.py", "src/app.py"),
        ("src/./new/", "src/new"),
        ("README.md", "README.md"),
        (".github/workflows/ci.yml", ".github/workflows/ci.yml"),
        (".gitignore", ".gitignore"),
        ("docs/git/notes.md", "docs/git/notes.md"),
        ("src/.gitkeep", "src/.gitkeep"),
    ],
)
def test_clean_normalises(rel: str, expected: str) -> None:
    assert clean(rel) == expected


@pytest.mark.parametrize(
    ("rel", "why"),
    [
        ("", "the path is empty"),
        ("  ", "the path is empty"),
        (".", "names the worktree itself"),
        ("./", "names the worktree itself"),
        ("/etc/passwd", "it is absolute"),
        ("~/.ssh/id_rsa", "it is absolute"),
        ("~", "it is absolute"),
        ("C:/Windows/win.ini", "it is absolute"),
        ("../outside.py", r"'\.\.' leads out"),
        ("src/../../outside.py", r"'\.\.' leads out"),
        ("src/..", r"'\.\.' leads out"),
        ("..\\..\\outside.py", "backslash"),
        ("src\\app.py", "backslash"),
        ("src/app\0.py", "NUL byte"),
        ("src/app.py\n", "control character"),
        (" src/app.py", "whitespace"),
        (".git", "git's own folder"),
        (".git/config", "git's own folder"),
        (".git/hooks/pre-commit", "git's own folder"),
        ("sub/.git/config", "git's own folder"),
        (".GIT/config", "git's own folder"),
        (".Git/HEAD", "git's own folder"),
        (".git./config", "git's own folder"),
        (".git /config", "git's own folder"),
        (".git::$INDEX_ALLOCATION/config", "git's own folder"),
        ("GIT~1/config", "git's own folder"),
        ("\u200c.git/config", "git's own folder"),
        (".g\u200bit/config", "git's own folder"),
    ],
)
def test_clean_refuses(rel: str, why: str) -> None:
    with pytest.raises(EditError, match=why) as info:
        clean(rel)
    assert info.value.refusal == Refusal(Reason.PATH_REFUSED, path=rel)
    if rel.strip():
        assert str(info.value).startswith(f"path {rel!r} is refused: ")


def test_dot_git_names() -> None:
    assert all(map(is_dot_git, [".git", ".GIT", ".git.", ".git. .", "git~1", ".git:stream"]))
    assert not any(map(is_dot_git, [".github", ".gitignore", "git", ".gitmodules", "x.git"]))


def test_resolve_inside_the_worktree(ws: Workspace) -> None:
    assert resolve(ws, "src/app.py") == ws.path / "src" / "app.py"
    assert resolve(ws, "./src/new/deep/file.py") == ws.path / "src/new/deep/file.py"
    assert resolve(ws, "README.md") == ws.path / "README.md"


def test_links_are_refused(ws: Workspace, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not for the model\n")
    os.symlink(outside, ws.path / "escape")
    os.symlink("src", ws.path / "lib")  # a linked folder pointing inside
    os.symlink(outside / "secret.txt", ws.path / "secret.txt")
    os.symlink("README.md", ws.path / "README.link")  # a linked file pointing inside
    os.symlink(outside / "new.py", ws.path / "dangling.py")  # would create a file outside
    cases = {
        "escape/secret.txt": "escape is a linked folder",
        "escape/new.py": "escape is a linked folder",
        "escape": "it is a symbolic link",
        "lib/app.py": "lib is a linked folder",
        "lib/new/file.py": "lib is a linked folder",
        "secret.txt": "it is a symbolic link",
        "README.link": "it is a symbolic link",
        "dangling.py": "it is a symbolic link",
    }
    for rel, why in cases.items():
        for for_write in (True, False):
            with pytest.raises(EditError, match=why) as info:
                resolve(ws, f"./{rel}", for_write=for_write)
            assert info.value.refusal == Refusal(Reason.PATH_REFUSED, path=rel)
    assert (outside / "secret.txt").read_text() == "not for the model\n"
    assert not (outside / "new.py").exists()


def test_a_file_in_a_folders_place_is_refused(ws: Workspace) -> None:
    with pytest.raises(EditError, match=r"README\.md is a file, not a folder"):
        resolve(ws, "README.md/notes.txt")


def test_nested_repository_is_refused_for_writes(ws: Workspace) -> None:
    nested = ws.path / "vendor" / "lib"
    nested.mkdir(parents=True)
    git(nested, "init", "-q")
    with pytest.raises(EditError, match="vendor/lib is a nested git repository"):
        resolve(ws, "vendor/lib/module.py")
    assert resolve(ws, "vendor/README.md") == ws.path / "vendor/README.md"


def test_submodule_paths_are_read_only(git_repo: Path, tmp_path: Path) -> None:
    library = tmp_path / "library"
    library.mkdir()
    git(library, "init", "-q", "-b", "main")
    (library / "x.py").write_text("VALUE = 1\n")
    git(library, "add", "x.py")
    git(library, "commit", "-q", "-m", "library")
    git(git_repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(library), "sub")
    git(git_repo, "commit", "-q", "-m", "add submodule")
    with Workspace(require_repo(git_repo), "guard-sub") as ws:
        for rel in ("sub", "sub/x.py", "sub/new/file.py"):
            with pytest.raises(EditError, match="sub is a submodule"):
                resolve(ws, rel)
        assert resolve(ws, "sub/x.py", for_write=False) == ws.path / "sub/x.py"
        assert resolve(ws, "subway.py") == ws.path / "subway.py"


def test_lfs_paths_are_read_only(git_repo: Path) -> None:
    (git_repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    git(git_repo, "add", ".gitattributes")
    git(git_repo, "commit", "-q", "-m", "track binaries in LFS")
    with Workspace(require_repo(git_repo), "guard-lfs") as ws:
        with pytest.raises(EditError, match=r"'data/model\.bin' is refused: .*Git LFS") as info:
            resolve(ws, "data/model.bin")
        assert info.value.refusal == Refusal(Reason.PATH_REFUSED, path="data/model.bin")
        assert resolve(ws, "data/model.py") == ws.path / "data/model.py"
