"""memfun's own git work on the host, after sandboxed commands have had the worktree.

What a command can leave there (links where folders were, sparse files of any size, a
`.gitattributes` naming a filter) must never make memfun write outside the worktree, read
for hours, fill the user's object store, or run a program the command chose.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from memfun_git.errors import RepoError
from memfun_git.gitops.lfs import lfs_unchanged
from memfun_git.gitops.removal import discard_changes
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from tests.conftest import git
from tests.helpers.messy import PROJECT
from tests.helpers.require import need_tool

GATE = "ruff=pass review=pass"
HUGE = 8 << 30  # sparse: no disk used, but reading it takes seconds


def _sparse(path: Path, size: int = HUGE) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    with path.open("wb") as handle:
        handle.truncate(size)


def test_discarding_a_worktree_never_writes_through_a_planted_link(
    git_repo: Path, tmp_path: Path
) -> None:
    """`memfun sandbox run` throws its worktree away with `reset --hard`; libgit2 wrote the
    files of a tracked folder through a link the command left in the folder's place."""
    outside = tmp_path / "outside"
    outside.mkdir()
    with Workspace(require_repo(git_repo), "discard") as ws:
        shutil.rmtree(ws.path / "src")
        os.symlink(outside, ws.path / "src")
        (ws.path / "README.md").unlink()
        os.symlink(outside / "README.md", ws.path / "README.md")
        (ws.path / "build" / "deep").mkdir(parents=True)
        (ws.path / "build" / "deep" / "out.o").write_text("object\n")
        discard_changes(ws.path)
        assert list(outside.iterdir()) == []
        assert not (ws.path / "src").is_symlink()
        assert (ws.path / "src" / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
        assert (ws.path / "README.md").read_text().startswith("# Demo")
        assert ws.dirty_paths() == []
    assert ws.attempt is None


def test_a_huge_file_stays_out_of_an_attempt(git_repo: Path) -> None:
    """At the end of a task everything dirty is kept as an attempt: a sparse file made in an
    instant was read and compressed whole into the user's object store. (How long it takes is
    measured by bench/limits.py.)"""
    with Workspace(require_repo(git_repo), "huge", keep=True) as ws:
        _sparse(ws.path / "core.dump")
        (ws.path / "notes.txt").write_text("real work\n")
    assert ws.attempt is not None
    assert ws.attempt.unsaved == ("core.dump",)
    assert git(git_repo, "ls-tree", "--name-only", ws.attempt.ref).split() == [
        "README.md",
        "notes.txt",
        "src",
    ]
    assert (ws.path / "core.dump").stat().st_size == HUGE  # kept in the worktree


def test_a_touched_file_grown_huge_is_refused_by_commit(git_repo: Path) -> None:
    with Workspace(require_repo(git_repo), "grown") as ws:
        _sparse(ws.path / "src" / "app.py")
        with pytest.raises(RepoError, match=r"src/app\.py is 8,589,934,592 bytes"):
            ws.commit(["src/app.py"], "grown", gate=GATE)
        assert ws.commits == []
        (ws.path / "src" / "app.py").write_text("X = 1\n")  # no attempt of a huge file


def test_a_huge_file_at_an_lfs_path_is_not_read(git_repo: Path) -> None:
    """libgit2 runs no LFS filter, so memfun hashes a modified LFS file to tell whether it is
    the pointer's content: a file of another size cannot be, and is not read."""
    (git_repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{'0' * 64}\nsize 12\n"
    (git_repo / "model.bin").write_text(pointer)
    git(git_repo, "add", ".gitattributes", "model.bin")
    git(git_repo, "commit", "-q", "-m", "lfs")
    with Workspace(require_repo(git_repo), "lfs-huge") as ws:
        _sparse(ws.path / "model.bin")
        assert not lfs_unchanged(ws.repo, "model.bin")
        assert ws.dirty_paths() == ["model.bin"]
        (ws.path / "model.bin").write_text(pointer)


def test_a_filter_named_by_worktree_attributes_never_runs(
    git_repo: Path, isolated_env: Path, tmp_path: Path
) -> None:
    """A task can write `.gitattributes`, not git's configuration: a filter, diff or merge
    driver it names runs only if the user configured one. memfun's own status, staging,
    commits and attempts (libgit2, and `git config` on the host) run none, even one the user
    configured."""
    marker = tmp_path / "ran"
    program = f"sh -c 'echo $0 >> {marker}; cat'"
    with (isolated_env / ".gitconfig").open("a") as config:
        config.write(
            f'[filter "pwn"]\n\tclean = {program} clean\n\tsmudge = {program} smudge\n'
            f"\trequired = true\n"
            f'[diff "pwn"]\n\ttextconv = {program} textconv\n'
            f"[core]\n\tfsmonitor = {program}\n"
        )
    with Workspace(require_repo(git_repo), "filters", keep=True) as ws:
        (ws.path / ".gitattributes").write_text("* filter=pwn diff=pwn merge=pwn\n")
        (ws.path / "src" / "app.py").write_text("X = 1\n")
        assert ws.dirty_paths() == [".gitattributes", "src/app.py"]
        assert ws.commit([".gitattributes", "src/app.py"], "attributes", gate=GATE) is not None
        (ws.path / "src" / "new.py").write_text("Y = 2\n")
    assert ws.attempt is not None  # src/new.py, staged by libgit2 for the attempt
    assert not marker.exists()


@pytest.mark.parametrize("path_entry", ["", ".", "bin"])
def test_git_on_the_host_never_runs_a_program_from_the_worktree(
    git_repo: Path,
    isolated_env: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    path_entry: str,
) -> None:
    """memfun runs git in the worktree (`git config` for the identity, `git commit-tree -S`
    to sign, which runs gpg): with a relative folder on PATH (an empty entry, `.`,
    `node_modules/.bin`) the `git` or `gpg` a command left in the worktree ran instead."""
    marker = tmp_path / "ran"
    with (isolated_env / ".gitconfig").open("a") as config:
        config.write("[commit]\n\tgpgsign = true\n")
    monkeypatch.setenv("PATH", f"{path_entry}:{os.environ['PATH']}")
    with Workspace(require_repo(git_repo), "path") as ws:
        for folder in (ws.path, ws.path / "bin"):
            for name in ("git", "gpg"):
                folder.mkdir(exist_ok=True)
                (folder / name).write_text(f"#!/bin/sh\necho {name} >> {marker}\nexit 1\n")
                (folder / name).chmod(0o755)
        (ws.path / "src" / "app.py").write_text("X = 1\n")
        result = ws.commit(["src/app.py"], "change", gate=GATE)
        assert result is not None
        assert not marker.exists(), marker.read_text()
        for folder in (ws.path, ws.path / "bin"):
            for name in ("git", "gpg"):
                (folder / name).unlink()


_IN_HOOK = textwrap.dedent(
    """
    import json, os, sys
    from pathlib import Path

    from memfun_git.gitops.repo import require_repo
    from memfun_git.gitops.worktree import Workspace

    repo = Path.cwd()
    index = Path(os.environ["GIT_INDEX_FILE"])

    def state():
        files = {
            str(p.relative_to(repo)): p.read_bytes()
            for p in sorted(repo.rglob("*"))
            if p.is_file() and ".git" not in p.relative_to(repo).parts
        }
        return {"index": index.read_bytes().hex(), "files": repr(files),
                "head": (repo / ".git" / "HEAD").read_text()}

    before = state()
    with Workspace(require_repo(repo), "hooked") as ws:
        model = (ws.path / "data" / "model.bin").read_bytes()
        (ws.path / "src" / "app.py").write_text("X = 2\\n")
        ws.commit(["src/app.py"], "from inside a hook", gate="n/a (test)")
    report = {
        "same": before == state(),
        "model": model.hex(),
        "seen": {k: os.environ.get(k) for k in ("GIT_INDEX_FILE", "GIT_DIR", "GIT_WORK_TREE")},
    }
    Path(sys.argv[1]).write_text(json.dumps(report))
    sys.exit(1)  # refuse the user's commit: nothing else of theirs changes
    """
)


def test_a_workspace_inside_a_pre_commit_hook_leaves_the_users_index_alone(
    git_repo: Path, tmp_path: Path
) -> None:
    """git sets GIT_INDEX_FILE (and GIT_DIR, GIT_WORK_TREE when given) for its hooks; with
    them, `git worktree add` on an LFS base ran `reset --hard` on the user's index."""
    need_tool("git-lfs")
    content = b"\x00real model weights\xff" * 32
    git(git_repo, "lfs", "install", "--local")
    git(git_repo, "lfs", "track", "*.bin")
    (git_repo / "data").mkdir()
    (git_repo / "data" / "model.bin").write_bytes(content)
    git(git_repo, "add", ".gitattributes", "data/model.bin")
    git(git_repo, "commit", "-q", "-m", "model in LFS")
    (git_repo / "staged.py").write_text("STAGED = 1\n")
    git(git_repo, "add", "staged.py")
    (git_repo / "src" / "app.py").write_text("unstaged change\n")
    script = tmp_path / "in_hook.py"
    script.write_text(_IN_HOOK)
    report = tmp_path / "report.json"
    hook = git_repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f"#!/bin/sh\nPYTHONPATH={PROJECT} exec {sys.executable} {script} {report}\n")
    hook.chmod(0o755)
    commit = subprocess.run(
        ["git", "--git-dir=.git", "--work-tree=.", "commit", "-q", "-m", "mine"],
        cwd=git_repo,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert commit.returncode == 1, commit.stderr
    result = json.loads(report.read_text())
    assert result["seen"]["GIT_INDEX_FILE"]  # the hook environment this is about
    assert result["seen"]["GIT_DIR"] == ".git"
    assert result["same"], "the workspace changed the user's index, tree or HEAD"
    assert bytes.fromhex(result["model"]) == content  # checked out by git, smudged by git-lfs
    assert git(git_repo, "diff", "--cached", "--name-only") == "staged.py\n"
    assert git(git_repo, "show", "memfun/hooked:src/app.py") == "X = 2\n"
