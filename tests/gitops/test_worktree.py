"""`Workspace` against real, messy repositories: the user's tree is only ever read.

Every test takes a snapshot of the user's repository (working tree, index, HEAD, refs, stash,
config, merge and rebase state) before the workspace opens and asserts it byte-identical, and
the index file's mtime unchanged, after the workspace ends, whatever happened inside it.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import memfun_git
from memfun_git.edits.ops import RenameFile
from memfun_git.errors import RepoError
from memfun_git.gitops.commit import NOTES_REF
from memfun_git.gitops.repo import discover, require_repo
from memfun_git.gitops.worktree import ATTEMPTS_PREFIX, Workspace
from tests.helpers.messy import (
    OWNER_EMAIL,
    OWNER_NAME,
    VARIANTS,
    make_messy_repo,
    run_git,
    snapshot,
    without_memfun_refs,
)
from tests.helpers.require import missing

GATE = "ruff=pass review=pass"


@dataclass
class UserRepo:
    """A messy repository and what it looked like before the workspace touched anything."""

    path: Path
    variant: str
    before: dict[str, bytes]
    index_mtime_ns: int

    @property
    def index(self) -> Path:
        return self.path / ".git" / "index"

    def assert_untouched(self) -> None:
        """Working tree, index, HEAD, the user's refs, stash, config, merge/rebase state."""
        after = snapshot(self.path)
        assert without_memfun_refs(after) == without_memfun_refs(self.before)
        assert os.stat(self.index).st_mtime_ns == self.index_mtime_ns
        assert not (self.path / ".git" / "index.lock").exists()


def _user_repo(root: Path, variant: str) -> UserRepo:
    repo = make_messy_repo(root, variant)
    index = repo / ".git" / "index"
    return UserRepo(repo, variant, snapshot(repo), os.stat(index).st_mtime_ns)


@pytest.fixture(params=VARIANTS)
def messy(request: pytest.FixtureRequest, tmp_path: Path) -> UserRepo:
    return _user_repo(tmp_path / "messy", request.param)


@pytest.fixture
def plain(tmp_path: Path) -> UserRepo:
    return _user_repo(tmp_path / "messy", "plain")


def rev(repo: Path, spec: str) -> str:
    return run_git(repo, "rev-parse", "--verify", "--quiet", spec).strip()


def ref_exists(repo: Path, ref: str) -> bool:
    proc = subprocess.run(
        ["git", "--no-optional-locks", "rev-parse", "--verify", "--quiet", ref],
        cwd=repo,
        capture_output=True,
        check=False,
    )
    return proc.returncode == 0


def changed_paths(repo: Path, commit: str) -> set[str]:
    """Paths the commit changes against its first parent (-z: unicode names unquoted)."""
    out = run_git(
        repo, "diff-tree", "-r", "-z", "--no-commit-id", "--name-only", commit + "^", commit
    )
    return {p for p in out.split("\0") if p}


def show_bytes(repo: Path, spec: str) -> bytes:
    return subprocess.run(
        ["git", "--no-optional-locks", "cat-file", "blob", spec],
        cwd=repo,
        capture_output=True,
        check=True,
    ).stdout


def worktree_listed(repo: Path, path: Path) -> bool:
    out = run_git(repo, "worktree", "list", "--porcelain")
    listed = {line[len("worktree ") :] for line in out.splitlines() if line.startswith("worktree ")}
    return str(path) in listed or str(path.resolve()) in listed


def cache_root() -> Path:
    return Path(os.environ["XDG_CACHE_HOME"]) / "memfun" / "worktrees"


def enter(ws: Workspace) -> None:
    """Open and close `ws` (for pytest.raises around a workspace that must refuse to open)."""
    with ws:
        pass


def fail_in(ws: Workspace, untracked: str, message: str) -> None:
    with ws:
        (ws.path / untracked).write_text(f"written by {ws.task_id}\n")
        raise ValueError(message)


# -- committing ------------------------------------------------------------------------------


@pytest.mark.parametrize("messy", VARIANTS, indirect=True, ids=VARIANTS)
def test_commit_on_task_branch_leaves_user_repo_untouched(messy: UserRepo) -> None:
    repo = messy.path
    user_head = rev(repo, "HEAD")
    paths = require_repo(repo)
    with Workspace(paths, "t-commit") as ws:
        wt = ws.path
        # Outside the user's tree, at $XDG_CACHE_HOME/memfun/worktrees/<name>-<hash>/<id>.
        assert wt.parent.parent == cache_root()
        assert re.fullmatch(r"messy-[0-9a-f]{8}", wt.parent.name)
        assert wt.name == "t-commit"
        assert not wt.resolve().is_relative_to(repo.resolve())
        assert worktree_listed(repo, wt)
        # Opened from the user's HEAD, whatever state the user is in.
        assert ws.base_oid == user_head
        assert ws.dirty_paths() == []
        assert not (wt / "todo.txt").exists()
        assert not (wt / "debug.log").exists()
        (wt / "données" / "nouveau fichier.txt").write_text("créé par la tâche\n")
        (wt / "src" / "app.py").write_text("def add(a, b):\n    return b + a\n")
        result = ws.commit(
            ["données/nouveau fichier.txt", "src/app.py"],
            "Swap the operands",
            gate=GATE,
            note="summary: swapped the operands",
        )
        assert result is not None
        assert result.paths == ("données/nouveau fichier.txt", "src/app.py")
        assert not result.signed
        assert ws.dirty_paths() == []

    branch = "refs/heads/memfun/t-commit"
    assert rev(repo, branch) == result.oid
    assert rev(repo, branch + "^") == user_head
    assert changed_paths(repo, result.oid) == {"données/nouveau fichier.txt", "src/app.py"}
    assert show_bytes(repo, result.oid + ":src/app.py") == b"def add(a, b):\n    return b + a\n"
    message = run_git(repo, "log", "-1", "--format=%B", result.oid).rstrip("\n")
    lines = message.splitlines()
    assert lines[0] == "Swap the operands"
    assert lines[-3:] == [
        "Memfun-Task: t-commit",
        "Memfun-Agent: memfun",
        f"Memfun-Gate: {GATE}",
    ]
    note = run_git(repo, "notes", f"--ref={NOTES_REF}", "show", result.oid)
    assert note.rstrip("\n") == "summary: swapped the operands"
    who = run_git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", result.oid).strip()
    assert who == f"{OWNER_NAME} <{OWNER_EMAIL}>|{OWNER_NAME} <{OWNER_EMAIL}>"
    # Cleanup: the folder and git's record of it are gone; nothing needed keeping.
    assert not wt.exists()
    assert not worktree_listed(repo, wt)
    assert not (repo / ".git" / "worktrees" / "memfun-t-commit").exists()
    assert ws.attempt is None
    assert run_git(repo, "for-each-ref", ATTEMPTS_PREFIX) == ""
    # The user's state (rebase-merge/, MERGE_HEAD, detached HEAD, stash) is what it was.
    state = {"mid-rebase": "git/rebase-merge/onto", "mid-merge": "git/MERGE_HEAD"}
    if messy.variant in state:
        assert state[messy.variant] in messy.before
    assert "git/logs/refs/stash" in messy.before
    messy.assert_untouched()


def test_commit_stages_only_touched_paths(plain: UserRepo, tmp_path: Path) -> None:
    repo = plain.path
    deps = tmp_path / "shared-deps"
    (deps / "left-pad").mkdir(parents=True)
    (deps / "left-pad" / "index.js").write_text("module.exports = 1\n")
    with Workspace(require_repo(repo), "t-touched") as ws:
        os.symlink(deps, ws.path / "node_modules")
        (ws.path / "stray.txt").write_text("build output nobody asked for\n")
        # git refuses a path beyond a symbolic link ("beyond a symbolic link"); so do we.
        with pytest.raises(RepoError, match="symbolic link") as info:
            ws.commit(["node_modules/left-pad/index.js"], "Vendor a dependency", gate=GATE)
        _assert_one_line(info.value)
        assert ws.readonly_reason("node_modules/left-pad/index.js") is not None
        assert ws.readonly_reason("node_modules") is None
        assert ws.commits == []
        (ws.path / "src" / "util.py").write_text("CLAMP = True\n")
        result = ws.commit(["src/util.py"], "Touch util only", gate=GATE)
        assert result is not None
        assert sorted(ws.dirty_paths()) == ["node_modules", "stray.txt"]
    assert result.paths == ("src/util.py",)
    assert changed_paths(repo, result.oid) == {"src/util.py"}
    # The leftovers are work: kept as an attempt (the link as a link), never in the branch.
    assert ws.attempt is not None
    assert ws.attempt.ref == f"{ATTEMPTS_PREFIX}t-touched/1"
    assert "uncommitted work" in ws.attempt.reason
    entry = run_git(repo, "ls-tree", ws.attempt.ref, "node_modules")
    assert entry.startswith("120000 blob ")
    assert show_bytes(repo, ws.attempt.ref + ":node_modules") == os.fsencode(deps)
    assert rev(repo, ws.attempt.ref + "^") == result.oid
    # Removal did not follow the link out of the worktree.
    assert (deps / "left-pad" / "index.js").read_text() == "module.exports = 1\n"
    assert not ws.path.exists()
    plain.assert_untouched()


# -- failures and interruptions ----------------------------------------------------------------


@pytest.mark.parametrize("messy", VARIANTS, indirect=True, ids=VARIANTS)
def test_failed_attempts_are_kept_and_never_overwritten(messy: UserRepo) -> None:
    repo = messy.path
    paths = require_repo(repo)
    first_ws = Workspace(paths, "t-fail")
    with pytest.raises(ValueError, match="first failure"):
        fail_in(first_ws, "scratch.txt", "first failure\nwith a second line")
    first = f"{ATTEMPTS_PREFIX}t-fail/1"
    assert first_ws.attempt is not None
    assert first_ws.attempt.ref == first
    first_oid = rev(repo, first)
    assert first_oid == first_ws.attempt.oid
    assert show_bytes(repo, first + ":scratch.txt") == b"written by t-fail\n"
    assert rev(repo, first + "^") == rev(repo, "HEAD")
    subject = run_git(repo, "log", "-1", "--format=%B", first)
    assert "failed: first failure" in subject
    assert "second line" not in subject
    assert "Memfun-Task: t-fail" in subject
    assert "Memfun-Gate: n/a (" in subject
    # No commits on the branch: it is gone, and so is the worktree.
    assert not ref_exists(repo, "refs/heads/memfun/t-fail")
    assert not first_ws.path.exists()
    assert not worktree_listed(repo, first_ws.path)

    second_ws = Workspace(paths, "t-fail")
    with pytest.raises(ValueError, match="second failure"):
        fail_in(second_ws, "other.txt", "second failure")
    assert second_ws.attempt is not None
    assert second_ws.attempt.ref == f"{ATTEMPTS_PREFIX}t-fail/2"
    assert rev(repo, first) == first_oid
    assert show_bytes(repo, second_ws.attempt.ref + ":other.txt") == b"written by t-fail\n"
    assert not ref_exists(repo, second_ws.attempt.ref + ":scratch.txt")
    refs = run_git(repo, "for-each-ref", "--format=%(refname)", ATTEMPTS_PREFIX).split()
    assert refs == [first, f"{ATTEMPTS_PREFIX}t-fail/2"]
    messy.assert_untouched()


def test_attempt_with_a_nested_repository_keeps_the_worktree(plain: UserRepo) -> None:
    """libgit2 cannot record a nested repository: record the rest, keep the folder on disk."""
    repo = plain.path
    ws = Workspace(require_repo(repo), "t-nested")

    def clone_then_fail() -> None:
        with ws:
            nested = ws.path / "vendor" / "lib"
            subprocess.run(["git", "init", "-q", str(nested)], check=True)
            (nested / "lib.c").write_text("int lib;\n")
            (ws.path / "src" / "app.py").write_text("import vendor\n")
            raise ValueError("clone went wrong")

    with pytest.raises(ValueError, match="clone went wrong"):
        clone_then_fail()
    assert ws.attempt is not None
    assert ws.attempt.unsaved == ("vendor/lib/",)
    assert ws.attempt.ref == f"{ATTEMPTS_PREFIX}t-nested/1"
    assert "vendor/lib/" in ws.attempt.reason
    assert show_bytes(repo, ws.attempt.ref + ":src/app.py") == b"import vendor\n"
    message = run_git(repo, "log", "-1", "--format=%B", ws.attempt.ref)
    assert "failed: clone went wrong" in message
    # What could not be recorded is still on disk, with its branch: cleanup never loses work.
    assert (ws.path / "vendor" / "lib" / "lib.c").read_text() == "int lib;\n"
    assert worktree_listed(repo, ws.path)
    assert ref_exists(repo, "refs/heads/memfun/t-nested")
    plain.assert_untouched()


_CHILD = textwrap.dedent(
    """
    import signal, sys, time
    from pathlib import Path

    from memfun_git.gitops.repo import require_repo
    from memfun_git.gitops.worktree import Workspace

    signal.signal(signal.SIGINT, signal.default_int_handler)  # even if started with it ignored
    with Workspace(require_repo(Path(sys.argv[1])), sys.argv[2]) as ws:
        (ws.path / "half-done.txt").write_text("written before Ctrl-C\\n")
        print("ready", flush=True)
        time.sleep(60)
    """
)


@pytest.mark.parametrize("messy", ["plain", "mid-merge"], indirect=True, ids=["plain", "mid-merge"])
def test_sigint_in_a_child_process_keeps_the_attempt(messy: UserRepo, tmp_path: Path) -> None:
    repo = messy.path
    script = tmp_path / "child.py"
    script.write_text(_CHILD)
    project = Path(memfun_git.__file__).resolve().parents[1]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(project), env.get("PYTHONPATH")]))
    worktree = Workspace(require_repo(repo), "t-sigint").path  # where the child's will be
    with subprocess.Popen(
        [sys.executable, str(script), str(repo), "t-sigint"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        ready, _, _ = select.select([proc.stdout], [], [], 30)
        line = proc.stdout.readline() if ready else ""
        if line.strip() != "ready":
            proc.kill()
            pytest.fail(f"child never got ready: {line!r} {proc.stderr.read()}")
        assert worktree.is_dir()
        assert (worktree / "half-done.txt").is_file()
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
        err = proc.stderr.read()
    assert proc.returncode != 0
    assert "KeyboardInterrupt" in err
    attempt = f"{ATTEMPTS_PREFIX}t-sigint/1"
    assert show_bytes(repo, attempt + ":half-done.txt") == b"written before Ctrl-C\n"
    assert "interrupted" in run_git(repo, "log", "-1", "--format=%s", attempt)
    assert not worktree.exists()
    assert not worktree_listed(repo, worktree)
    assert not ref_exists(repo, "refs/heads/memfun/t-sigint")
    messy.assert_untouched()


# -- carrying the user's changes over --------------------------------------------------------


def _uncommitted(repo: Path) -> set[str]:
    """What git itself calls changed or untracked (not ignored), by path."""
    out = run_git(repo, "status", "--porcelain=v1", "-z", "--untracked-files=all")
    return {entry[3:] for entry in out.split("\0") if entry}


@pytest.mark.parametrize("messy", ["plain", "detached"], indirect=True, ids=["plain", "detached"])
def test_with_changes_carries_uncommitted_work_as_first_commit(messy: UserRepo) -> None:
    repo = messy.path
    expected = _uncommitted(repo)
    assert {
        "src/app.py",
        "src/util.py",
        "données/été.txt",
        "todo.txt",
        "untracked-link",
        "obsolete.txt",
        "gone.txt",
    } <= expected
    with Workspace(require_repo(repo), "t-carry", with_changes=True) as ws:
        assert len(ws.commits) == 1
        carried = ws.commits[0]
        for rel in expected:
            src, dst = repo / rel, ws.path / rel
            if src.is_symlink():
                assert os.readlink(dst) == os.readlink(src)
            elif src.exists():
                assert dst.read_bytes() == src.read_bytes(), rel
            else:
                assert not dst.exists(), rel
        assert not (ws.path / "debug.log").exists()
        assert not (ws.path / "build").exists()
        assert ws.dirty_paths() == []
    assert changed_paths(repo, carried.oid) == expected
    assert rev(repo, carried.oid + "^") == rev(repo, "HEAD")
    message = run_git(repo, "log", "-1", "--format=%B", carried.oid)
    assert message.splitlines()[0] == "memfun: carry over uncommitted changes"
    assert re.search(r"^Memfun-Gate: n/a \(.+\)$", message, re.MULTILINE)
    assert show_bytes(repo, carried.oid + ":untracked-link") == b"src"
    tree = run_git(repo, "ls-tree", "-r", "--name-only", carried.oid).splitlines()
    assert "obsolete.txt" not in tree
    assert "gone.txt" not in tree
    assert show_bytes(repo, carried.oid + ":windows.txt") == b"untracked\r\nwith CRLF\r\n"
    # The carry-over is a commit on the branch: the branch stays, the user's tree is as it was.
    assert rev(repo, "refs/heads/memfun/t-carry") == carried.oid
    messy.assert_untouched()


@pytest.mark.parametrize(
    "messy", ["mid-rebase", "mid-merge"], indirect=True, ids=["mid-rebase", "mid-merge"]
)
def test_with_changes_refuses_unresolved_conflicts(messy: UserRepo) -> None:
    """Like `git commit`, never carry conflict markers over as if they were the user's work."""
    repo = messy.path
    ws = Workspace(require_repo(repo), "t-conflict", with_changes=True)
    with pytest.raises(RepoError, match=r"^README\.md has unresolved conflicts") as info:
        enter(ws)
    _assert_one_line(info.value)
    assert not ref_exists(repo, "refs/heads/memfun/t-conflict")
    assert run_git(repo, "for-each-ref", ATTEMPTS_PREFIX) == ""
    assert not ws.path.exists()
    assert run_git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    messy.assert_untouched()


@pytest.mark.parametrize("messy", VARIANTS, indirect=True, ids=VARIANTS)
def test_without_changes_the_worktree_is_the_base_commit(messy: UserRepo) -> None:
    repo = messy.path
    with Workspace(require_repo(repo), "t-clean") as ws:
        tracked = set(run_git(repo, "ls-tree", "-r", "-z", "--name-only", "HEAD").split("\0"))
        tracked.discard("")
        on_disk = {
            p.relative_to(ws.path).as_posix()
            for p in ws.path.rglob("*")
            if p.is_file() or p.is_symlink()
        }
        assert on_disk - {".git"} == tracked
        assert os.readlink(ws.path / "link-to-readme") == "README.md"
        assert (ws.path / "run.bat").read_bytes() == b"@echo off\r\necho running\r\n"
        assert (ws.path / "dos.txt").read_bytes() == b"stored with CRLF\r\nas the user wrote it\r\n"
        head_app = show_bytes(repo, "HEAD:src/app.py")
        assert (ws.path / "src" / "app.py").read_bytes() == head_app
        assert ws.dirty_paths() == []
        assert ws.commits == []
    # No commits: the branch is deleted, nothing is kept, nothing is left on disk.
    assert not ref_exists(repo, "refs/heads/memfun/t-clean")
    assert run_git(repo, "for-each-ref", ATTEMPTS_PREFIX) == ""
    assert not ws.path.exists()
    messy.assert_untouched()


def test_index_file_is_never_rewritten(plain: UserRepo) -> None:
    """Make every index entry racily clean (index older than the files), then do it all."""
    repo = plain.path
    old = 1_000_000_000 * 1_000_000_000  # 2001-09-09, older than every file
    os.utime(plain.index, ns=(old, old))
    plain.index_mtime_ns = old
    plain.before = snapshot(repo)
    index_bytes = plain.index.read_bytes()
    with Workspace(require_repo(repo), "t-index", with_changes=True) as ws:
        (ws.path / "todo.txt").write_text("done\n")
        ws.commit(["todo.txt"], "Finish the todo", gate=GATE)
    with pytest.raises(ValueError, match="late"):
        fail_in(Workspace(require_repo(repo), "t-index-2", with_changes=True), "x.txt", "late")
    assert plain.index.read_bytes() == index_bytes
    assert os.stat(plain.index).st_mtime_ns == old
    plain.assert_untouched()


# -- choosing the base -------------------------------------------------------------------------


def test_base_ref_tag_resume_and_bad_bases(plain: UserRepo) -> None:
    repo = plain.path
    paths = require_repo(repo)
    with Workspace(paths, "t-older", base="HEAD~1") as ws:
        assert ws.base_oid == rev(repo, "HEAD~1")
        assert not (ws.path / "notes.txt").exists()
    short = rev(repo, "HEAD~2")[:10]
    with Workspace(paths, "t-sha", base=short) as ws:
        assert ws.base_oid == rev(repo, "HEAD~2")
    with Workspace(paths, "t-tag", base="v1") as ws:
        assert ws.base_oid == rev(repo, "v1^{commit}")
        assert not (ws.path / "src" / "util.py").exists()
        (ws.path / "CHANGES.md").write_text("first follow-up\n")
        one = ws.commit(["CHANGES.md"], "Start a changelog", gate=GATE)
    assert one is not None
    assert rev(repo, "refs/heads/memfun/t-tag^") == rev(repo, "v1^{commit}")

    # resume continues the existing branch from its tip.
    with Workspace(paths, "t-tag", resume=True) as ws:
        assert ws.base_oid == one.oid
        assert (ws.path / "CHANGES.md").read_text() == "first follow-up\n"
        (ws.path / "CHANGES.md").write_text("first follow-up\nsecond follow-up\n")
        two = ws.commit(["CHANGES.md"], "Extend the changelog", gate=GATE)
    assert two is not None
    assert rev(repo, "refs/heads/memfun/t-tag") == two.oid
    assert rev(repo, "refs/heads/memfun/t-tag^") == one.oid

    # A resumed branch that gains nothing is still kept.
    enter(Workspace(paths, "t-tag", resume=True))
    assert rev(repo, "refs/heads/memfun/t-tag") == two.oid

    refusals = [
        (Workspace(paths, "t-bad", base="no-such-ref"), "'no-such-ref' is not a commit"),
        (Workspace(paths, "t-bad", base="HEAD:README.md"), "is not a commit"),
        (Workspace(paths, "t-tag"), "branch memfun/t-tag already exists"),
        (Workspace(paths, "t-none", resume=True), "there is no branch memfun/t-none"),
    ]
    for ws, message in refusals:
        with pytest.raises(RepoError, match=re.escape(message)) as info:
            enter(ws)
        text = str(info.value)
        assert "\n" not in text
        assert " — " in text
        assert not ws.path.exists()
    assert not ref_exists(repo, "refs/heads/memfun/t-bad")
    assert not ref_exists(repo, "refs/heads/memfun/t-none")
    assert rev(repo, "refs/heads/memfun/t-tag") == two.oid
    assert run_git(repo, "for-each-ref", ATTEMPTS_PREFIX) == ""
    assert run_git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    plain.assert_untouched()


# -- refusals ----------------------------------------------------------------------------------


def _assert_one_line(exc: RepoError) -> None:
    text = str(exc)
    assert "\n" not in text
    assert " — " in text
    assert exc.hint


def test_refuses_bare_unborn_and_outside_any_repository(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    with pytest.raises(RepoError, match="is a bare repository") as info:
        require_repo(bare)
    _assert_one_line(info.value)
    found = discover(bare)
    assert found is not None
    assert found.bare
    with pytest.raises(RepoError, match="is a bare repository") as info:
        enter(Workspace(found, "t-bare"))
    _assert_one_line(info.value)
    assert run_git(bare, "for-each-ref") == ""

    empty = tmp_path / "empty"
    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    paths = require_repo(empty)
    assert paths.unborn
    with pytest.raises(RepoError, match="has no commits yet") as info:
        enter(Workspace(paths, "t-empty"))
    _assert_one_line(info.value)
    assert run_git(empty, "for-each-ref") == ""

    nowhere = tmp_path / "nowhere"
    nowhere.mkdir()
    with pytest.raises(RepoError, match="is not inside a git repository") as info:
        require_repo(nowhere)
    _assert_one_line(info.value)
    with pytest.raises(RepoError, match="does not exist") as info:
        require_repo(tmp_path / "missing")
    _assert_one_line(info.value)
    assert not cache_root().exists()


# -- where worktrees live ----------------------------------------------------------------------


@pytest.fixture
def shm_root() -> Iterator[Path]:
    if not Path("/dev/shm").is_dir():
        missing("/dev/shm is missing")
    root = Path(tempfile.mkdtemp(prefix="memfun-test-", dir="/dev/shm"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_root_on_another_filesystem(plain: UserRepo, shm_root: Path) -> None:
    repo = plain.path
    with Workspace(require_repo(repo), "t-shm", root=shm_root) as ws:
        assert ws.path.parent.parent == shm_root
        assert os.stat(ws.path).st_dev == os.stat(shm_root).st_dev
        (ws.path / "src" / "app.py").write_text("print('hi')\n")
        result = ws.commit(["src/app.py"], "Say hi", gate=GATE, note="hi")
        assert result is not None
    assert rev(repo, "refs/heads/memfun/t-shm") == result.oid
    assert changed_paths(repo, result.oid) == {"src/app.py"}
    assert not ws.path.exists()
    assert not worktree_listed(repo, ws.path)
    with pytest.raises(ValueError, match="on tmpfs"):
        fail_in(Workspace(require_repo(repo), "t-shm-fail", root=shm_root), "f.txt", "on tmpfs")
    assert show_bytes(repo, f"{ATTEMPTS_PREFIX}t-shm-fail/1:f.txt") == b"written by t-shm-fail\n"
    assert not cache_root().exists()
    plain.assert_untouched()


def test_root_inside_the_users_tree_is_refused(plain: UserRepo, tmp_path: Path) -> None:
    repo = plain.path
    paths = require_repo(repo)
    link = tmp_path / "innocent-looking"
    link.symlink_to(repo / "src")
    for root in (repo / "worktrees", repo / ".git" / "memfun-worktrees", link):
        with pytest.raises(RepoError, match="inside the repository's working tree") as info:
            enter(Workspace(paths, "t-inside", root=root))
        _assert_one_line(info.value)
    assert not (repo / "worktrees").exists()
    assert not (repo / ".git" / "memfun-worktrees").exists()
    assert not ref_exists(repo, "refs/heads/memfun/t-inside")
    plain.assert_untouched()


def test_no_empty_folder_is_left_behind(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    with Workspace(paths, "tidy") as ws:
        pass
    assert not ws.path.parent.exists()
    assert not (git_repo / ".git" / "worktrees").exists()


# -- kinds of work ---------------------------------------------------------------------------


def test_a_specialist_works_on_its_own_branch_next_to_the_task(plain: UserRepo) -> None:
    """The branch comes from the kind of work: `memfun/<id>` for the task, and
    `memfun-agents/<id>/<agent>` for each specialist working for it, at the same time."""
    repo = plain.path
    paths = require_repo(repo)
    with (
        Workspace(paths, "t-team") as task,
        Workspace(paths, "t-team", kind="specialist", agent="coder") as coder,
    ):
        assert (task.branch, coder.branch) == ("memfun/t-team", "memfun-agents/t-team/coder")
        assert coder.path == task.path.with_name("t-team+coder")
        (coder.path / "feature.py").write_text("FEATURE = 1\n")
        result = coder.commit(["feature.py"], "Add the feature", gate=GATE)
        assert result is not None
        (task.path / "notes.txt").write_text("the task's own\n")
        results = task.apply([RenameFile("README.md", "docs/README.md")])
        assert results[0].paths == ("README.md", "docs/README.md")
        assert task.touched == {"README.md", "docs/README.md"}
        assert task.commit(sorted(task.touched), "Move the README", gate=GATE) is not None
    assert rev(repo, "refs/heads/memfun-agents/t-team/coder") == result.oid
    trailers = run_git(repo, "log", "-1", "--format=%B", result.oid).rstrip("\n").splitlines()[-3:]
    assert trailers == ["Memfun-Task: t-team", "Memfun-Agent: coder", f"Memfun-Gate: {GATE}"]
    assert task.attempt is not None
    assert task.attempt.ref == f"{ATTEMPTS_PREFIX}t-team/1"
    assert coder.attempt is None
    with pytest.raises(RepoError, match="is not a valid specialist name") as info:
        Workspace(paths, "t-team", kind="specialist", agent="../x")
    _assert_one_line(info.value)
    plain.assert_untouched()
