"""Git LFS files and submodules in a task's worktree: real contents or a clear refusal, never an
edited pointer; submodule paths and `.git` paths are read-only."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from memfun_git.edits.ops import EditFile, WriteFile
from memfun_git.errors import RepoError
from memfun_git.gitops.gc import plan
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from tests.conftest import git
from tests.helpers.messy import add_submodule
from tests.helpers.require import need_tool

GATE = "ruff=pass review=pass"
CONTENT = b"\x00\x01binary model weights\xff" * 64
POINTER_PREFIX = b"version https://git-lfs.github.com/spec/v1\n"


def _pointer(data: bytes) -> bytes:
    oid = hashlib.sha256(data).hexdigest()
    return POINTER_PREFIX + f"oid sha256:{oid}\nsize {len(data)}\n".encode()


@pytest.fixture(params=["smudged", "smudge-skipped", "no-lfs-filter"])
def lfs_repo(
    request: pytest.FixtureRequest, git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str]:
    """A repository with `data/model.bin` in Git LFS; the param says how checkouts see it."""
    repo = git_repo
    mode: str = request.param
    if mode == "no-lfs-filter":
        # git-lfs is not set up on this machine: the attribute is there, the filter is not,
        # so a checkout holds the pointer file.
        (repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
        (repo / "data").mkdir()
        (repo / "data" / "model.bin").write_bytes(_pointer(CONTENT))
    else:
        need_tool("git-lfs")
        git(repo, "lfs", "install", "--local")
        git(repo, "lfs", "track", "*.bin")
        (repo / "data").mkdir()
        (repo / "data" / "model.bin").write_bytes(CONTENT)
    git(repo, "add", ".gitattributes", "data/model.bin")
    git(repo, "commit", "-q", "-m", "model in LFS")
    blob = subprocess.run(
        ["git", "cat-file", "blob", "HEAD:data/model.bin"],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout
    assert blob == _pointer(CONTENT)  # what git stores is the pointer
    if mode == "smudge-skipped":
        monkeypatch.setenv("GIT_LFS_SKIP_SMUDGE", "1")
    return repo, mode


def test_lfs_file_shows_real_content_or_is_refused(lfs_repo: tuple[Path, str]) -> None:
    repo, mode = lfs_repo
    with Workspace(require_repo(repo), "lfs") as ws:
        on_disk = (ws.path / "data" / "model.bin").read_bytes()
        if mode == "smudged":
            assert on_disk == CONTENT
            assert not ws.lfs_pointer("data/model.bin")
        else:
            assert on_disk == _pointer(CONTENT)
            assert ws.lfs_pointer("data/model.bin")
        reason = ws.readonly_reason("data/model.bin")
        assert reason is not None
        assert "Git LFS" in reason
        # Any .bin file is LFS-tracked, a new one too.
        assert "Git LFS" in (ws.readonly_reason("other/new.bin") or "")
        assert ws.readonly_reason("src/app.py") is None

        (ws.path / "data" / "model.bin").write_bytes(b"edited")
        with pytest.raises(RepoError, match="Git LFS") as raised:
            ws.commit(["data/model.bin"], "edit the model", gate=GATE)
        assert "data/model.bin" in str(raised.value)
        assert ws.commits == []
        # Ordinary paths still commit, and only they.
        (ws.path / "src" / "app.py").write_text("X = 1\n")
        result = ws.commit(["src/app.py", "README.md"], "edit app", gate=GATE)
        assert result is not None
        assert result.paths == ("README.md", "src/app.py")
        (ws.path / "data" / "model.bin").write_bytes(on_disk)  # put back
    tree = git(repo, "ls-tree", "-r", "--name-only", "memfun/lfs").split()
    assert tree == [".gitattributes", "README.md", "data/model.bin", "src/app.py"]
    assert git(repo, "rev-parse", "memfun/lfs:data/model.bin") == git(
        repo, "rev-parse", "main:data/model.bin"
    )


def test_untouched_lfs_worktree_holds_no_work(lfs_repo: tuple[Path, str]) -> None:
    repo, _ = lfs_repo
    with Workspace(require_repo(repo), "untouched") as ws:
        model = ws.path / "data" / "model.bin"
        model.write_bytes(model.read_bytes())  # same content, new stat data
        assert ws.dirty_paths() == []
    assert ws.attempt is None
    assert not ws.path.exists()


def test_gc_sees_an_lfs_worktree_as_clean(
    lfs_repo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A task's worktree on an LFS base is made by git itself (smudged, or holding pointers):
    nothing uncommitted in it."""
    repo, _ = lfs_repo
    with Workspace(require_repo(repo), "lfs-task", root=tmp_path / "worktrees", keep=True) as ws:
        pass
    folder = ws.path
    model = folder / "data" / "model.bin"
    model.write_bytes(model.read_bytes())  # same content, new stat data: libgit2 must look
    assert [
        (i.kind, i.remove, i.reason) for i in plan(require_repo(repo), root=tmp_path / "worktrees")
    ] == [
        ("worktree", True, "all its work is committed"),
        ("branch", True, "delivered (reachable from refs/heads/main)"),
    ]
    model.write_bytes(b"edited")  # a real change is work all the same
    assert [
        (i.kind, i.remove, i.reason) for i in plan(require_repo(repo), root=tmp_path / "worktrees")
    ] == [
        ("worktree", False, "holds uncommitted work: data/model.bin"),
        ("branch", False, f"checked out in {folder}"),
    ]
    assert capsys.readouterr().out == ""


def test_submodule_and_dot_git_paths_are_read_only(git_repo: Path, tmp_path: Path) -> None:
    add_submodule(git_repo, tmp_path / "library")

    with Workspace(require_repo(git_repo), "sub") as ws:
        for rel in ("sub", "sub/x", "sub/deep/file.py"):
            assert "submodule" in (ws.readonly_reason(rel) or ""), rel
        assert ws.readonly_reason("subway.py") is None  # a prefix of the name is not inside
        for rel in (".git", ".git/config", "src/.git/hooks/pre-commit", ".git/HEAD"):
            assert ".git" in (ws.readonly_reason(rel) or ""), rel

        (ws.path / "sub" / "x").parent.mkdir(exist_ok=True)
        (ws.path / "sub" / "x").write_text("edited\n")
        for paths in (["sub"], ["sub/x"], ["src/app.py", "sub/x"], [".git/config"]):
            with pytest.raises(RepoError, match=r"cannot be committed: "):
                ws.commit(paths, "touch the submodule", gate=GATE)
        assert ws.commits == []
        assert ws.touched == set()
    # Nothing was committed: the branch, which gained no commit, is gone with the worktree.
    assert git(git_repo, "branch", "--list", "memfun/*") == ""
    tree = git(git_repo, "ls-tree", "-r", "HEAD").splitlines()
    assert any(line.startswith("160000 commit ") and line.endswith("\tsub") for line in tree)


def test_a_broken_gitmodules_keeps_submodules_read_only(git_repo: Path, tmp_path: Path) -> None:
    """One edit that broke `.gitmodules` made the submodule's path writable, and the next
    commit replaced the submodule with a tree: submodules come from the index's gitlinks."""
    gitlink = add_submodule(git_repo, tmp_path / "library")

    with Workspace(require_repo(git_repo), "broken") as ws:
        results = ws.apply([EditFile(".gitmodules", '[submodule "sub"]', '[submodule "sub"')])
        assert [r.ok for r in results] == [True]
        assert ws.touched == {".gitmodules"}
        refused = ws.apply([WriteFile("sub/x", "rewritten\n"), WriteFile("sub/new.py", "X = 1\n")])
        assert [r.ok for r in refused] == [False, False]
        reason = ws.readonly_reason("sub/x")
        assert reason == (
            "sub is a submodule (read-only to tasks); .gitmodules does not name it, "
            "the base commit does"
        )
        (ws.path / "sub" / "x").write_text("written by a command\n")
        with pytest.raises(RepoError, match=r"^sub/x cannot be committed: sub is a submodule"):
            ws.commit(["sub/x"], "replace the submodule", gate=GATE)
        assert ws.commit([".gitmodules"], "break it", gate=GATE) is not None
    assert git(git_repo, "ls-tree", "memfun/broken", "sub") == f"160000 commit {gitlink}\tsub\n"
    # What the command wrote there stays out of the attempt, on disk in the kept worktree.
    assert ws.attempt is not None
    assert ws.attempt.unsaved == ("sub",)
    assert git(git_repo, "ls-tree", ws.attempt.ref, "sub") == f"160000 commit {gitlink}\tsub\n"
    assert (ws.path / "sub" / "x").read_text() == "written by a command\n"


def test_lfs_paths_stay_read_only_when_the_task_drops_the_attribute(git_repo: Path) -> None:
    (git_repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    (git_repo / "model.bin").write_bytes(_pointer(CONTENT))
    git(git_repo, "add", ".gitattributes", "model.bin")
    git(git_repo, "commit", "-q", "-m", "lfs")
    with Workspace(require_repo(git_repo), "unlfs") as ws:
        assert ws.apply([EditFile(".gitattributes", "*.bin filter=lfs", "*.txt filter=lfs")])[0].ok
        assert ws.readonly_reason("model.bin") == "it is stored in Git LFS (read-only to tasks)"
        (ws.path / "model.bin").write_bytes(CONTENT)
        with pytest.raises(RepoError, match="Git LFS"):
            ws.commit([".gitattributes", "model.bin"], "un-LFS the model", gate=GATE)
        (ws.path / "model.bin").write_bytes(_pointer(CONTENT))
        (ws.path / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
