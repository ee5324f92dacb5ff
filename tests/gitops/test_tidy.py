"""Tidying a worktree after a command, and removing any tree a command can build."""

from __future__ import annotations

import os
import socket
import stat
import time
from pathlib import Path

import pytest

from memfun_git.gitops.tidy import Tidier, remove_tree, tidy_tree


def _deep(root: Path, depth: int, name: str = "d") -> Path:
    """`depth` nested folders under `root`, made through descriptors (deeper than PATH_MAX)."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir(name, dir_fd=fd)
            nxt = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nxt
        os.mkfifo("pipe", dir_fd=fd)
    finally:
        os.close(fd)
    return root


def _tree(root: Path) -> Path:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "mod.py").write_text("x = 1\n")
    (root / "README.md").write_text("hi\n")
    return root


def test_special_files_and_links_to_them_go(tmp_path: Path) -> None:
    root = _tree(tmp_path / "wt")
    os.mkfifo(root / ".gitignore")
    os.mkfifo(root / "src" / "pipe")
    (root / "src" / ".gitattributes").symlink_to(root / "src" / "pipe")
    (root / "zero").symlink_to("/dev/zero")
    (root / "kept-link").symlink_to("README.md")
    (root / "dangling").symlink_to("nowhere")
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(root / "src" / "pkg" / "sock"))
    report = tidy_tree(root)
    assert sorted(report.removed) == [
        ".gitignore",
        "src/.gitattributes",
        "src/pipe",
        "src/pkg/sock",
        "zero",
    ]
    assert (root / "kept-link").is_symlink()
    assert (root / "dangling").is_symlink()
    assert (root / "src" / "pkg" / "mod.py").read_text() == "x = 1\n"


def test_closed_folders_are_opened_and_scanned(tmp_path: Path) -> None:
    root = _tree(tmp_path / "wt")
    hidden = root / "src" / "closed"
    hidden.mkdir()
    os.mkfifo(hidden / ".gitattributes")
    hidden.chmod(0o311)
    (root / "src" / "pkg").chmod(0)
    report = tidy_tree(root)
    assert "src/closed/.gitattributes" in report.removed
    assert sorted(report.repaired) == ["src/closed", "src/pkg"]
    assert stat.S_IMODE(hidden.stat().st_mode) == 0o711
    assert stat.S_IMODE((root / "src" / "pkg").stat().st_mode) == 0o700


def test_names_that_are_not_utf8(tmp_path: Path) -> None:
    root = _tree(tmp_path / "wt")
    os.mkfifo(os.path.join(os.fsencode(root), b"caf\xe9"))
    report = tidy_tree(root)
    assert len(report.removed) == 1
    assert not os.listdir(os.fsencode(root)).count(b"caf\xe9")


def test_deeper_than_a_path_may_be_long(tmp_path: Path) -> None:
    root = tmp_path / "wt"
    root.mkdir()
    _deep(root, 2500, "deep-folder")  # 2500 * 12 characters: far over PATH_MAX
    report = tidy_tree(root)
    assert len(report.removed) == 1
    assert report.removed[0].endswith("/pipe")
    remove_tree(root)
    assert not root.exists()


def test_remove_tree_never_follows_links(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine\n")
    root = _tree(tmp_path / "wt")
    (root / "src" / "link").symlink_to(outside)
    (root / "closed").mkdir()
    (root / "closed" / "f").write_text("x")
    (root / "closed").chmod(0)
    remove_tree(root)
    assert not root.exists()
    assert (outside / "keep.txt").read_text() == "mine\n"


def test_remove_tree_of_a_link_removes_only_the_link(tmp_path: Path) -> None:
    target = _tree(tmp_path / "target")
    link = tmp_path / "link"
    link.symlink_to(target)
    remove_tree(link)
    assert not link.is_symlink()
    assert (target / "README.md").exists()


def test_later_tidies_list_only_changed_folders(tmp_path: Path) -> None:
    root = tmp_path / "wt"
    for i in range(50):
        (root / f"d{i}" / "sub").mkdir(parents=True)
        (root / f"d{i}" / "sub" / "f.py").write_text("x\n")
    tidier = Tidier(root)
    first = tidier.tidy()
    assert first.listed == 101
    # Stamps made just before a walk are not trusted (the same clock tick may hold a later
    # change): the next walk lists those folders again, and trusts them from then on.
    time.sleep(0.06)
    assert tidier.tidy().listed <= 101  # how many were that recent depends on the machine
    assert tidier.tidy().listed == 0
    os.mkfifo(root / "d7" / "sub" / "new-pipe")
    (root / "d9" / "sub").chmod(0o100)
    report = tidier.tidy()
    assert report.removed == ["d7/sub/new-pipe"]
    assert report.repaired == ["d9/sub"]
    assert report.listed == 2


def test_a_missing_root_is_nothing_to_do(tmp_path: Path) -> None:
    assert tidy_tree(tmp_path / "gone").removed == []
    remove_tree(tmp_path / "gone")


@pytest.mark.parametrize("depth", [150, 1200])
def test_remove_tree_any_depth(tmp_path: Path, depth: int) -> None:
    root = tmp_path / "wt"
    root.mkdir()
    _deep(root, depth)
    remove_tree(root)
    assert not root.exists()
