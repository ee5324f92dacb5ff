"""`memfun gc` on one messy repository: exactly the right things go, the rest stays, and why.

The repository holds, at once: a crashed task's worktree (untracked files, an ignored cache, a
symlink to a folder outside), a finished worktree left on disk, an undelivered branch with
commits, a branch merged into main and one pushed (a remote-tracking ref), an expired attempt,
a fresh one, and a worktree whose branch is checked out elsewhere too (in the main tree, or in a
second worktree).
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from memfun_git.gitops.gc import GcItem, apply, plan
from memfun_git.gitops.repo import RepoPaths, require_repo
from memfun_git.gitops.worktree import Workspace
from tests.conftest import git

DAY = 86400
GATE = "ruff=pass review=pass"

Key = tuple[str, str, str]
"""(kind, name, path) of a gc item."""
Verdict = tuple[bool, str]
"""(removed, reason)."""


@dataclass
class Scene:
    repo: Path
    paths: RepoPaths
    home: Path
    outside: Path
    crashed: Path
    finished: Path
    elsewhere: Path
    elsewhere_seen_from: dict[str, str]
    """Worktree folder -> the folder its branch is (also) checked out in."""
    users_worktree: Path
    """The user's own linked worktree, on a branch of theirs."""
    tips: dict[str, str]
    fresh_attempt: str


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _task(paths: RepoPaths, task_id: str, files: list[str], *, keep: bool = False) -> Workspace:
    """A task that commits one file per entry of `files`, then closes."""
    with Workspace(paths, task_id, keep=keep) as ws:
        for name in files:
            _write(ws.path / name, f"# {task_id}: {name}\n")
            assert ws.commit([name], f"add {name}", gate=GATE, note=f"{task_id}: {name}")
    return ws


def _attempt(repo: Path, ref: str, age_days: float) -> str:
    """An attempt commit whose committer time is `age_days` in the past, under `ref`."""
    when = f"{int(time.time() - age_days * DAY)} +0000"
    env = {**os.environ, "GIT_COMMITTER_DATE": when, "GIT_AUTHOR_DATE": when}
    oid = subprocess.run(
        ["git", "commit-tree", "main^{tree}", "-p", "main", "-m", f"attempt {ref}"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    git(repo, "update-ref", ref, oid)
    return oid


def _refs(repo: Path) -> dict[str, str]:
    out = git(repo, "for-each-ref", "--format=%(refname) %(objectname)")
    return dict(line.split(" ", 1) for line in out.splitlines())


def _tree(*roots: Path) -> dict[str, str]:
    """Every path under `roots`, never following a link: file contents and link targets."""
    seen: dict[str, str] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                full = Path(folder) / name
                if full.is_symlink():
                    seen[str(full)] = "-> " + os.readlink(full)
                elif full.is_file():
                    seen[str(full)] = full.read_bytes().hex()
                else:
                    seen[str(full)] = "/"
    return seen


def _worktrees(repo: Path) -> list[tuple[str, str]]:
    """(folder, branch) of every linked worktree, from `git worktree list`."""
    found: list[tuple[str, str]] = []
    folder = ""
    for line in git(repo, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            folder = line.split(" ", 1)[1]
        elif line.startswith("branch "):
            found.append((folder, line.split(" ", 1)[1].removeprefix("refs/heads/")))
    return found[1:]  # the first is the main tree


@pytest.fixture(params=["main-tree", "second-worktree"])
def scene(request: pytest.FixtureRequest, git_repo: Path, isolated_env: Path) -> Scene:
    repo = git_repo
    _write(repo / ".git" / "info" / "exclude", "__pycache__/\n")
    paths = require_repo(repo)
    # The user's own linked worktree, on a branch of theirs made before any task.
    users_worktree = repo.parent / "users-worktree"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(users_worktree))
    outside = repo.parent / "outside"
    _write(outside / "precious.txt", "not memfun's to delete\n")

    # A crashed task: the context is entered and never left (the process died).
    crashed_ws = Workspace(paths, "crashed")
    crashed_ws.__enter__()
    crashed = crashed_ws.path
    _write(crashed / "notes.txt", "half-done work\n")
    _write(crashed / "__pycache__" / "app.cpython-311.pyc", "cache\n")
    (crashed / "link-out").symlink_to(outside, target_is_directory=True)
    crashed_ws.repo.free()

    # Finished and kept on disk: all work committed, only an ignored cache left.
    finished = _task(paths, "finished", ["done.py"], keep=True).path
    _write(finished / "__pycache__" / "done.cpython-311.pyc", "cache\n")

    _task(paths, "undelivered", ["feature.py", "feature_test.py"])
    _task(paths, "merged", ["merged.py"])
    git(repo, "merge", "-q", "--no-ff", "-m", "merge memfun/merged", "memfun/merged")
    _task(paths, "pushed", ["pushed.py"])
    git(repo, "update-ref", "refs/remotes/origin/memfun/pushed", "memfun/pushed")

    _attempt(repo, "refs/memfun/attempts/old/1", age_days=45)
    fresh = "refs/memfun/attempts/fresh/1"
    _attempt(repo, fresh, age_days=0)

    elsewhere = _task(paths, "elsewhere", ["elsewhere.py"], keep=True).path
    seen_from: dict[str, str]
    if request.param == "main-tree":
        git(repo, "checkout", "-q", "--ignore-other-worktrees", "memfun/elsewhere")
        seen_from = {str(elsewhere): str(repo)}
    else:
        second = repo.parent / "second"
        git(repo, "worktree", "add", "-q", "--force", str(second), "memfun/elsewhere")
        seen_from = {str(elsewhere): str(second), str(second): str(elsewhere)}

    tips = {name.removeprefix("refs/heads/"): oid for name, oid in _refs(repo).items()}
    return Scene(
        repo=repo,
        paths=paths,
        home=isolated_env,
        outside=outside,
        crashed=crashed,
        finished=finished,
        elsewhere=elsewhere,
        elsewhere_seen_from=seen_from,
        users_worktree=users_worktree,
        tips=tips,
        fresh_attempt=fresh,
    )


def _expected(s: Scene, *, force: bool) -> dict[Key, Verdict]:
    """What a gc of the untouched scene removes and keeps, and why."""
    want: dict[Key, Verdict] = {}
    for folder, other in s.elsewhere_seen_from.items():
        want["worktree", "memfun/elsewhere", folder] = (
            False,
            f"its branch is checked out in {other}",
        )
    if force:
        want["worktree", "memfun/crashed", str(s.crashed)] = (
            True,
            "forced: uncommitted work dropped",
        )
        # Its branch gained no commits: its tip is the user's base (the first delivering ref
        # in sorted order is named).
        want["branch", "memfun/crashed", ""] = (
            True,
            "delivered (reachable from refs/heads/feature)",
        )
        want["branch", "memfun/finished", ""] = (
            True,
            "forced: 1 undelivered commit kept as an attempt",
        )
        want["branch", "memfun/undelivered", ""] = (
            True,
            "forced: 2 undelivered commits kept as an attempt",
        )
    else:
        want["worktree", "memfun/crashed", str(s.crashed)] = (
            False,
            "holds uncommitted work: link-out, notes.txt",
        )
        want["branch", "memfun/crashed", ""] = (False, f"checked out in {s.crashed}")
        want["branch", "memfun/finished", ""] = (
            False,
            "1 commit not delivered anywhere (--force)",
        )
        want["branch", "memfun/undelivered", ""] = (
            False,
            "2 commits not delivered anywhere (--force)",
        )
    want["worktree", "memfun/finished", str(s.finished)] = (True, "all its work is committed")
    want["branch", "memfun/elsewhere", ""] = (
        False,
        f"checked out in {', '.join(sorted({str(s.elsewhere), *s.elsewhere_seen_from.values()}))}",
    )
    want["branch", "memfun/merged", ""] = (True, "delivered (reachable from refs/heads/main)")
    want["branch", "memfun/pushed", ""] = (
        True,
        "delivered (reachable from refs/remotes/origin/memfun/pushed)",
    )
    want["attempt", "refs/memfun/attempts/old/1", ""] = (True, "older than 30 days")
    want["attempt", s.fresh_attempt, ""] = (False, "kept 30 more days")
    return want


def _as_dict(items: list[GcItem]) -> dict[Key, Verdict]:
    out = {(i.kind, i.name, i.path): (i.remove, i.reason) for i in items}
    assert len(out) == len(items), "one item per thing"
    return out


def _lines(want: dict[Key, Verdict], *, dry_run: bool) -> list[str]:
    verb = "would remove" if dry_run else "removed"
    return sorted(
        f"{verb if remove else 'kept':<12} {kind:<8} {name}{f' ({path})' if path else ''}"
        f" — {reason}"
        for (kind, name, path), (remove, reason) in want.items()
    )


def _gc(repo: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> list[str]:
    assert run(["-C", str(repo), "gc", *flags]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return sorted(out.splitlines())


def test_gc_removes_exactly_what_holds_no_work(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    s = scene
    repo = s.repo
    refs = _refs(repo)
    folders = _tree(repo.parent, s.home)
    worktrees = _worktrees(repo)
    user_state = (repo / ".git" / "HEAD").read_bytes(), (repo / ".git" / "index").read_bytes()
    assert len(worktrees) == 3 + len(s.elsewhere_seen_from)  # crashed, finished, the user's

    # plan() and both dry runs agree, and change nothing at all; started in the user's own
    # linked worktree, gc sees the same (the main tree's checkout included).
    assert _as_dict(plan(s.paths)) == _expected(s, force=False)
    assert _as_dict(plan(require_repo(s.users_worktree))) == _expected(s, force=False)
    assert _as_dict(plan(s.paths, force=True)) == _expected(s, force=True)
    assert _gc(repo, capsys, "--dry-run") == _lines(_expected(s, force=False), dry_run=True)
    assert _gc(repo, capsys, "-n", "--force") == _lines(_expected(s, force=True), dry_run=True)
    assert _refs(repo) == refs
    assert _tree(repo.parent, s.home) == folders
    assert _worktrees(repo) == worktrees

    # gc: what holds no work goes; the crashed worktree, the undelivered branches, the
    # worktree whose branch is checked out elsewhere, and the fresh attempt stay.
    assert _gc(repo, capsys) == _lines(_expected(s, force=False), dry_run=False)
    gone = {"refs/heads/memfun/merged", "refs/heads/memfun/pushed", "refs/memfun/attempts/old/1"}
    assert _refs(repo) == {r: oid for r, oid in refs.items() if r not in gone}
    assert not s.finished.exists()
    assert (s.crashed / "notes.txt").read_text() == "half-done work\n"
    assert s.elsewhere.is_dir()
    assert sorted(_worktrees(repo)) == sorted(w for w in worktrees if w[0] != str(s.finished))

    # gc --force: the crashed worktree goes too (not what its link points at); undelivered
    # branches go, their tips kept as attempts. The elsewhere worktree is still left alone.
    assert _gc(repo, capsys, "--force") == _lines(
        {
            k: v
            for k, v in _expected(s, force=True).items()
            if k[1] not in ("memfun/merged", "memfun/pushed", "refs/memfun/attempts/old/1")
            and k[2] != str(s.finished)
        },
        dry_run=False,
    )
    assert not s.crashed.exists()
    assert (s.outside / "precious.txt").read_text() == "not memfun's to delete\n"
    inside_outside = str(s.outside) + os.sep
    assert {k: v for k, v in _tree(s.outside).items()} == {
        k: v for k, v in folders.items() if k.startswith(inside_outside)
    }
    assert sorted(_worktrees(repo)) == sorted(
        [(str(s.users_worktree), "feature")]
        + [(folder, "memfun/elsewhere") for folder in s.elsewhere_seen_from]
    )
    after = _refs(repo)
    assert after == {
        "refs/heads/main": refs["refs/heads/main"],
        "refs/heads/feature": refs["refs/heads/feature"],
        "refs/heads/memfun/elsewhere": refs["refs/heads/memfun/elsewhere"],
        "refs/remotes/origin/memfun/pushed": refs["refs/remotes/origin/memfun/pushed"],
        "refs/notes/memfun": refs["refs/notes/memfun"],
        s.fresh_attempt: refs[s.fresh_attempt],
        "refs/memfun/attempts/finished/1": after["refs/memfun/attempts/finished/1"],
        "refs/memfun/attempts/undelivered/1": after["refs/memfun/attempts/undelivered/1"],
    }
    # A forced branch's tip is kept under a commit made now (same tree, the tip its parent),
    # so the retention period counts from the removal, not from the tip's own date.
    for name in ("finished", "undelivered"):
        kept = git(repo, "rev-parse", f"refs/memfun/attempts/{name}/1^").strip()
        assert kept == s.tips[f"memfun/{name}"]
        assert git(repo, "rev-parse", f"refs/memfun/attempts/{name}/1^{{tree}}") == git(
            repo, "rev-parse", f"{kept}^{{tree}}"
        )
    # gc never touched the user's HEAD or index.
    assert ((repo / ".git" / "HEAD").read_bytes(), (repo / ".git" / "index").read_bytes()) == (
        user_state
    )

    # Nothing more to do: a second forced run keeps everything that is left.
    again = _as_dict(plan(s.paths, force=True))
    assert not any(remove for remove, _ in again.values())
    assert {k[1] for k in again} == {
        "memfun/elsewhere",
        s.fresh_attempt,
        "refs/memfun/attempts/finished/1",
        "refs/memfun/attempts/undelivered/1",
    }


def test_attempts_expire_after_keep_attempts_days(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    _attempt(git_repo, "refs/memfun/attempts/t/1", age_days=10)
    _attempt(git_repo, "refs/memfun/attempts/t/2", age_days=2)
    now = time.time()

    def verdicts(days: int, at: float) -> list[tuple[str, bool, str]]:
        return [(i.name, i.remove, i.reason) for i in plan(paths, keep_attempts_days=days, now=at)]

    assert verdicts(30, now) == [
        ("refs/memfun/attempts/t/1", False, "kept 20 more days"),
        ("refs/memfun/attempts/t/2", False, "kept 28 more days"),
    ]
    assert verdicts(5, now) == [
        ("refs/memfun/attempts/t/1", True, "older than 5 days"),
        ("refs/memfun/attempts/t/2", False, "kept 3 more days"),
    ]
    assert verdicts(30, now + 25 * DAY) == [
        ("refs/memfun/attempts/t/1", True, "older than 30 days"),
        ("refs/memfun/attempts/t/2", False, "kept 3 more days"),
    ]


def test_a_killed_sandbox_runs_throwaway_worktree_goes_without_force(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    with Workspace(paths, "sandbox-0badc0de", keep=True) as ws:
        (ws.path / "junk.txt").write_text("left by a killed command\n")
    with Workspace(paths, "real-task", keep=True) as task:
        (task.path / "work.txt").write_text("the user's task\n")
    items = {(i.kind, i.name): (i.remove, i.reason) for i in plan(paths)}
    assert items["worktree", "memfun/sandbox-0badc0de"] == (True, "a throwaway sandbox worktree")
    assert items["worktree", "memfun/real-task"] == (False, "holds uncommitted work: work.txt")
    apply(paths, plan(paths))
    assert not ws.path.exists()
    assert (task.path / "work.txt").exists()
