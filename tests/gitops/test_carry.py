"""`--with-changes`: the user's uncommitted work carried into a new worktree, as they have it,
whatever it is, within caps, with progress; the user's tree only read."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from memfun_git.gitops.limits import LeftOut, Limits, Progress
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.throwaway import Throwaway
from memfun_git.gitops.worktree import Workspace
from tests.conftest import git
from tests.helpers.messy import add_submodule, snapshot, without_memfun_refs


def _tree(repo: Path, ref: str) -> dict[str, str]:
    """path -> '<mode> <content or link target>' of every entry of `ref`."""
    out = git(repo, "ls-tree", "-r", "-z", ref)
    entries: dict[str, str] = {}
    for record in filter(None, out.split("\0")):
        meta, path = record.split("\t", 1)
        mode, _, oid = meta.split(" ")
        entries[path] = f"{mode} {git(repo, 'cat-file', '-p', oid)}"
    return entries


@pytest.fixture
def typed(git_repo: Path) -> Path:
    """A repository with a tracked link `docs -> README.md` and a tracked folder `lib/`."""
    os.symlink("README.md", git_repo / "docs")
    (git_repo / "lib").mkdir()
    (git_repo / "lib" / "a.py").write_text("A = 1\n")
    (git_repo / "lib" / "b.py").write_text("B = 2\n")
    git(git_repo, "add", "docs", "lib")
    git(git_repo, "commit", "-q", "-m", "a link and a folder")
    return git_repo


def _swap_types(repo: Path, outside: Path) -> None:
    """The user replaced the tracked link with a folder, and the folder with a link."""
    (repo / "docs").unlink()
    (repo / "docs").mkdir()
    (repo / "docs" / "guide.md").write_text("# Guide\n")
    for name in ("a.py", "b.py"):
        (repo / "lib" / name).unlink()
    (repo / "lib").rmdir()
    outside.mkdir()
    (outside / "a.py").write_text("OUTSIDE = 1\n")
    os.symlink(outside, repo / "lib")


def test_a_link_replaced_by_a_folder_and_a_folder_by_a_link_are_carried(
    typed: Path, tmp_path: Path
) -> None:
    """Both crashed `--with-changes` (internal error; branch, attempt and worktree kept)."""
    outside = tmp_path / "elsewhere"
    _swap_types(typed, outside)
    before = snapshot(typed)
    with Workspace(require_repo(typed), "types", with_changes=True) as ws:
        assert (ws.path / "docs" / "guide.md").read_text() == "# Guide\n"
        assert os.readlink(ws.path / "lib") == str(outside)
        assert ws.dirty_paths() == []
    carried = ws.commits[0].oid
    assert _tree(typed, carried) == {
        "README.md": "100644 # Demo\n\nA small demo project.\n",
        "docs/guide.md": "100644 # Guide\n",
        "lib": f"120000 {outside}",
        "src/app.py": "100644 def add(a, b):\n    return a + b\n",
    }
    assert (outside / "a.py").read_text() == "OUTSIDE = 1\n"  # never written through
    assert sorted(os.listdir(outside)) == ["a.py"]
    assert without_memfun_refs(snapshot(typed)) == without_memfun_refs(before)


def test_a_throwaway_carries_them_too_and_leaves_no_ref(typed: Path, tmp_path: Path) -> None:
    _swap_types(typed, tmp_path / "elsewhere")
    refs = git(typed, "for-each-ref")
    with Throwaway(require_repo(typed), with_changes=True) as tw:
        assert (tw.path / "docs" / "guide.md").read_text() == "# Guide\n"
        assert git(tw.path, "status", "--porcelain") == ""
        assert git(tw.path, "rev-parse", "--abbrev-ref", "HEAD") == "HEAD\n"
        assert (
            git(tw.path, "log", "-1", "--format=%s") == "memfun: carry over uncommitted changes\n"
        )
    assert not tw.path.exists()
    assert git(typed, "for-each-ref") == refs  # no branch, no note, no attempt
    assert git(typed, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_what_cannot_or_may_not_be_carried_is_left_out_and_named(
    git_repo: Path, tmp_path: Path
) -> None:
    add_submodule(git_repo, tmp_path / "library")
    (git_repo / "sub" / "x").write_text("changed in the submodule\n")
    subprocess.run(["git", "init", "-q", str(git_repo / "vendor")], check=True)
    (git_repo / "vendor" / "v.c").write_text("int v;\n")
    for i in range(3):
        (git_repo / f"note{i}.txt").write_text(f"note {i}\n")
    (git_repo / "huge.bin").write_bytes(b"z" * 2000)
    seen: list[Progress] = []
    limits = Limits(max_file_bytes=1000, max_files=2)
    ws = Workspace(
        require_repo(git_repo),
        "partial",
        with_changes=True,
        limits=limits,
        on_progress=seen.append,
        progress_after=0,
    )
    with ws:
        assert ws.carried is not None
        assert ws.carried.paths == ("note0.txt", "note1.txt")
        assert ws.carried.left_out == (
            LeftOut("huge.bin", "over the caps"),
            LeftOut("note2.txt", "over the caps"),
            LeftOut("sub", "a submodule"),
            LeftOut("vendor/", "a nested repository"),
        )
        assert not (ws.path / "note2.txt").exists()
    message = git(git_repo, "log", "-1", "--format=%B", ws.commits[0].oid)
    assert (
        "Left out: over the caps (2 files, 200 MiB in all, 1,000 bytes a file): "
        "huge.bin, note2.txt;" in (message)
    )
    assert "a submodule: sub; a nested repository: vendor/" in message
    assert seen[0] == Progress("carry-over", 0, 6, 0)  # then at most every 0.25 s
    assert seen[-1] == Progress("carry-over", 6, 6, 14, finished=True)


def test_deletions_below_a_link_are_never_followed(git_repo: Path, tmp_path: Path) -> None:
    """The user deleted src/app.py and made `src` a link to a folder holding an app.py:
    git sees src/app.py deleted, and so must the carry-over."""
    target = tmp_path / "other"
    target.mkdir()
    (target / "app.py").write_text("NOT THE USER'S\n")
    (git_repo / "src" / "app.py").unlink()
    (git_repo / "src").rmdir()
    os.symlink(target, git_repo / "src")
    with Workspace(require_repo(git_repo), "below", with_changes=True) as ws:
        assert os.readlink(ws.path / "src") == str(target)
    assert _tree(git_repo, ws.commits[0].oid) == {
        "README.md": "100644 # Demo\n\nA small demo project.\n",
        "src": f"120000 {target}",
    }
    assert (target / "app.py").read_text() == "NOT THE USER'S\n"
