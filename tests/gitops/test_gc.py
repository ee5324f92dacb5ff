"""`memfun gc`, the only code that deletes branches: one test per rule, and one messy scene.

The scene holds, at once: a crashed task's worktree (a real process killed while it worked:
untracked files, an ignored cache, a symlink to a folder outside), a finished worktree left on
disk, an undelivered branch with commits, a branch merged into main and one pushed (a
remote-tracking ref), an expired attempt, a fresh one, the user's own linked worktree, and a
worktree whose branch is checked out elsewhere too (in the main tree, or in a second worktree).
"""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from memfun_git.gitops.gc import GcItem, GcOutcome, apply, plan
from memfun_git.gitops.repo import RepoPaths, require_repo
from memfun_git.gitops.worktree import Workspace
from tests.conftest import git
from tests.helpers.messy import Child
from tests.helpers.require import need_tool

DAY = 86400
GATE = "ruff=pass review=pass"

Key = tuple[str, str, str]
"""(kind, name, path) of a gc item."""
Verdict = tuple[bool, str]
"""(removed, reason)."""

_TASK = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path

    from memfun_git.gitops.repo import require_repo
    from memfun_git.gitops.worktree import Workspace
    from tests.helpers.messy import make_leftovers

    ws = Workspace(require_repo(Path(sys.argv[1])), sys.argv[2])
    ws.__enter__()
    exec(sys.argv[3], {"root": ws.path, "os": os, "make_leftovers": make_leftovers})
    print("ready", flush=True)
    signal.pause()
    """
)


def killed_task(repo: Path, task_id: str, script: str = "") -> Path:
    """A task whose process was killed (SIGKILL) after running `script` in its worktree
    (`root`): what a crash leaves. Returns the worktree's folder."""
    child = Child(str(repo), task_id, script, code=_TASK)
    child.wait_for("ready")
    assert child.kill() == -signal.SIGKILL
    return Workspace(require_repo(repo), task_id).path


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
    """(folder, branch or 'detached') of every linked worktree, from `git worktree list`."""
    found: list[tuple[str, str]] = []
    folder = ""
    for line in git(repo, "worktree", "list", "--porcelain").splitlines():
        if line.startswith("worktree "):
            folder = line.split(" ", 1)[1]
        elif line.startswith("branch "):
            found.append((folder, line.split(" ", 1)[1].removeprefix("refs/heads/")))
        elif line == "detached":
            found.append((folder, "detached"))
    return found[1:]  # the first is the main tree


def verdicts(paths: RepoPaths, *, force: bool = False) -> dict[tuple[str, str], Verdict]:
    return {(i.kind, i.name): (i.remove, i.reason) for i in plan(paths, force=force)}


# -- the scene -------------------------------------------------------------------------------


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

    crashed = killed_task(
        repo,
        "crashed",
        "(root / 'notes.txt').write_text('half-done work\\n')\n"
        "(root / '__pycache__').mkdir()\n"
        "(root / '__pycache__' / 'app.cpython-311.pyc').write_text('cache\\n')\n"
        f"(root / 'link-out').symlink_to({str(outside)!r}, target_is_directory=True)\n",
    )

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
        seen_from = {str(elsewhere): str(second)}

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
        if other != str(s.repo):  # the second worktree: the user's own, on a memfun branch
            want["worktree", "memfun/elsewhere", other] = (False, "made by you, not by memfun")
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
    """gc's lines about the repository: the sandboxes' cgroups it also lists are the whole
    machine's (other processes' runs end meanwhile; tests/sandbox covers them)."""
    assert run(["-C", str(repo), "gc", *flags]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    return sorted(line for line in out.splitlines() if " sandbox  /" not in line)


def test_gc_removes_exactly_what_holds_no_work(
    scene: Scene, capsys: pytest.CaptureFixture[str]
) -> None:
    s = scene
    repo = s.repo
    refs = _refs(repo)
    folders = _tree(repo.parent, s.home)
    worktrees = _worktrees(repo)
    user_state = (repo / ".git" / "HEAD").read_bytes(), (repo / ".git" / "index").read_bytes()
    # crashed, finished, elsewhere, the user's (and their second one)
    assert len(worktrees) == 4 + sum(o != str(repo) for o in s.elsewhere_seen_from.values())

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
    still = [(str(s.users_worktree), "feature"), (str(s.elsewhere), "memfun/elsewhere")]
    still += [(o, "memfun/elsewhere") for o in s.elsewhere_seen_from.values() if o != str(repo)]
    assert sorted(_worktrees(repo)) == sorted(still)
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


# -- worktrees, one rule each ----------------------------------------------------------------


def test_a_worktree_whose_work_is_all_committed_goes(git_repo: Path) -> None:
    _write(git_repo / ".git" / "info" / "exclude", "*.pyc\n")
    paths = require_repo(git_repo)
    folder = _task(paths, "done", ["done.py"], keep=True).path
    (folder / "cache.pyc").write_text("ignored: not work\n")
    want = (True, "all its work is committed")
    assert verdicts(paths)["worktree", "memfun/done"] == want
    apply(paths, plan(paths))
    assert not folder.exists()
    assert _worktrees(git_repo) == []
    assert git(git_repo, "rev-parse", "--verify", "memfun/done")  # the branch is work: kept


def test_a_worktree_with_uncommitted_work_stays_unless_forced(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    outside = git_repo.parent / "outside"
    _write(outside / "precious.txt", "keep me\n")
    folder = killed_task(
        git_repo,
        "dirty",
        "(root / 'notes.txt').write_text('work\\n')\n"
        "(root / 'src' / 'app.py').write_text('changed\\n')\n"
        f"(root / 'out').symlink_to({str(outside)!r})\n",
    )
    held = (False, "holds uncommitted work: notes.txt, out, src/app.py")
    assert verdicts(paths)["worktree", "memfun/dirty"] == held
    apply(paths, plan(paths))
    assert (folder / "notes.txt").read_text() == "work\n"
    assert verdicts(paths, force=True)["worktree", "memfun/dirty"] == (
        True,
        "forced: uncommitted work dropped",
    )
    apply(paths, plan(paths, force=True))
    assert not folder.exists()
    assert (outside / "precious.txt").read_text() == "keep me\n"  # the link was not followed


@pytest.mark.parametrize("where", ["main-tree", "second-worktree"])
def test_a_worktree_whose_branch_is_checked_out_elsewhere_stays(git_repo: Path, where: str) -> None:
    paths = require_repo(git_repo)
    folder = _task(paths, "shared", ["a.py"], keep=True).path
    if where == "main-tree":
        git(git_repo, "checkout", "-q", "--ignore-other-worktrees", "memfun/shared")
        other = git_repo
    else:
        other = git_repo.parent / "second"
        git(git_repo, "worktree", "add", "-q", "--force", str(other), "memfun/shared")
    for force in (False, True):
        ours = [i for i in plan(paths, force=force) if i.path == str(folder)]
        assert [(i.remove, i.reason) for i in ours] == [
            (False, f"its branch is checked out in {other}")
        ]
    apply(paths, plan(paths, force=True))
    assert (folder / "a.py").is_file()


@pytest.mark.parametrize("loss", ["folder", "dot-git-file"])
def test_a_worktree_whose_folder_or_git_file_is_gone_goes(git_repo: Path, loss: str) -> None:
    paths = require_repo(git_repo)
    folder = _task(paths, "lost", ["a.py"], keep=True).path
    (folder / "left.txt").write_text("whatever\n")
    if loss == "folder":
        os.rename(folder, git_repo.parent / "moved-away-by-hand")
        want = (True, "its folder is gone")
    else:
        (folder / ".git").unlink()
        want = (True, "its folder has lost its .git file")
    assert verdicts(paths)["worktree", "memfun/lost"] == want
    outcomes = apply(paths, plan(paths))
    assert all(o.error == "" for o in outcomes)
    assert not folder.exists()
    assert _worktrees(git_repo) == []
    assert not (git_repo / ".git" / "worktrees").exists()


@pytest.mark.parametrize("how", ["added", "moved"])
def test_the_users_own_worktree_on_a_memfun_branch_is_never_removed(
    git_repo: Path, capsys: pytest.CaptureFixture[str], how: str
) -> None:
    """`git worktree add ../review memfun/t1` with an ignored `.env` copied in: gc deleted it.
    A worktree memfun made and the user moved (`git worktree move`) is theirs too."""
    _write(git_repo / ".git" / "info" / "exclude", ".env\n")
    paths = require_repo(git_repo)
    review = git_repo.parent / "review"
    if how == "added":
        _task(paths, "t1", ["feature.py"])
        git(git_repo, "worktree", "add", "-q", str(review), "memfun/t1")
    else:
        made = _task(paths, "t1", ["feature.py"], keep=True).path
        git(git_repo, "worktree", "move", str(made), str(review))
    (review / ".env").write_text("SECRET=the user's\n")
    before = _tree(review)
    for flags in ([], ["--force"]):
        assert run(["-C", str(git_repo), "gc", *flags]) == 0
        out = capsys.readouterr().out.splitlines()
        assert out == [
            f"kept         worktree memfun/t1 ({review}) — made by you, not by memfun",
            f"kept         branch   memfun/t1 — checked out in {review}",
        ]
    assert _tree(review) == before
    assert _worktrees(git_repo) == [(str(review), "memfun/t1")]


def test_a_worktree_in_use_by_a_running_memfun_stays(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    with Workspace(paths, "busy") as ws:
        (ws.path / "half.txt").write_text("being written\n")
        busy = (False, f"in use by a running memfun (process {os.getpid()})")
        assert verdicts(paths, force=True)["worktree", "memfun/busy"] == busy
        apply(paths, plan(paths, force=True))
        assert (ws.path / "half.txt").is_file()
    assert ws.attempt is not None  # the owner kept its own work when it finished


def test_a_locked_worktree_stays(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    folder = _task(paths, "locked", ["a.py"], keep=True).path
    git(git_repo, "worktree", "lock", str(folder))
    want = (False, "locked (git worktree lock)")
    assert verdicts(paths, force=True)["worktree", "memfun/locked"] == want


def test_throwaways_of_ended_runs_go_and_running_ones_stay(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_tool("bwrap")
    paths = require_repo(git_repo)
    (git_repo / "uncommitted.env").write_text("KEY=the user's\n")
    runs = [
        Child(
            "-C",
            str(git_repo),
            "sandbox",
            "run",
            "--with-changes",
            "--",
            "sh",
            "-c",
            "echo made > junk.txt; echo ready; sleep 120",
        )
        for _ in range(2)
    ]
    for child in runs:
        child.wait_for("ready")
    throwaways = {i.path: i for i in plan(paths) if i.kind == "worktree"}
    assert len(throwaways) == 2
    pid = {str(c.proc.pid) for c in runs}
    for item in throwaways.values():
        assert not item.remove
        assert item.reason.startswith("in use by a running memfun (process ")
        assert item.reason.removesuffix(")").rsplit(" ", 1)[1] in pid
    runs[0].kill()
    items = plan(paths)
    ended = [i for i in items if i.remove and i.kind == "worktree"]
    assert [(i.kind, i.reason) for i in ended] == [
        ("worktree", "a throwaway worktree of a memfun sandbox run that ended")
    ]
    # The killed run's view of the git dir goes too; the running one's stays.
    views = [i for i in items if i.kind == "sandbox" and "sandbox-views" in i.path]
    assert [v.name.rsplit("/", 1)[1].split("-")[0] for v in views] == [str(runs[0].proc.pid)]
    # No branch, no note, nothing under refs/heads: a `git push --all` publishes nothing.
    assert _refs(git_repo).keys() == {"refs/heads/main"}
    assert run(["-C", str(git_repo), "gc"]) == 0
    assert not Path(ended[0].path).exists()
    assert [folder for folder, _ in _worktrees(git_repo)] == [
        p for p in throwaways if p != ended[0].path
    ]
    assert runs[1].kill(signal.SIGTERM) == 143  # a stopped run cleans up after itself
    assert _worktrees(git_repo) == []
    capsys.readouterr()


def test_gc_after_a_killed_run_left_a_fifo_and_a_deep_tree(git_repo: Path) -> None:
    """A pipe left in a worktree hung `memfun gc`; a 150-deep tree made it crash."""
    need_tool("bwrap")
    script = (
        "mkfifo pipe .gitignore; mkdir -p src/closed; mkfifo src/closed/.gitattributes; "
        "chmod 311 src/closed; mkdir locked; chmod 0 locked; "
        'python3 -c "import os; os.makedirs(\\"/\\".join([\\"d\\"] * 150))"; '
        "echo ready; sleep 120"
    )
    child = Child("-C", str(git_repo), "sandbox", "run", "--", "sh", "-c", script)
    child.wait_for("ready")
    child.kill()
    assert len(_worktrees(git_repo)) == 1
    gc = Child("-C", str(git_repo), "gc")
    code, out, err = gc.finish(timeout=60)  # a hang fails here
    assert (code, err) == (0, "")
    assert out.startswith("removed      worktree ")
    assert _worktrees(git_repo) == []
    assert _refs(git_repo).keys() == {"refs/heads/main"}


def test_gc_reads_a_killed_tasks_worktree_whatever_it_holds(git_repo: Path) -> None:
    """Pipes named .gitignore and .gitattributes (one in a mode 311 folder), a socket, a
    chmod 0 folder, a 150-deep tree and a name that is not UTF-8, left by a killed task."""
    folder = killed_task(git_repo, "messy", "make_leftovers(root)")
    gc = Child("-C", str(git_repo), "gc")
    code, out, err = gc.finish(timeout=60)
    assert (code, err) == (0, "")
    assert f"kept         worktree memfun/messy ({folder}) — holds uncommitted work: " in out
    assert "caf\\xe9.txt" in out
    assert (folder / "closed" / "inside.txt").read_text() == "in a folder without permissions\n"
    code, out, err = Child("-C", str(git_repo), "gc", "--force").finish(timeout=60)
    assert (code, err) == (0, "")
    assert f"removed      worktree memfun/messy ({folder}) — forced:" in out
    assert not folder.exists()


# -- branches --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["merged", "pushed"])
def test_a_delivered_branch_goes(git_repo: Path, how: str) -> None:
    paths = require_repo(git_repo)
    _task(paths, "t", ["t.py"])
    if how == "merged":
        git(git_repo, "merge", "-q", "--no-ff", "-m", "merge", "memfun/t")
        where = "refs/heads/main"
    else:
        git(git_repo, "update-ref", "refs/remotes/origin/memfun/t", "memfun/t")
        where = "refs/remotes/origin/memfun/t"
    assert verdicts(paths)["branch", "memfun/t"] == (True, f"delivered (reachable from {where})")
    apply(paths, plan(paths))
    assert "refs/heads/memfun/t" not in _refs(git_repo)


def test_an_undelivered_branch_stays_and_forced_its_tip_is_kept(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    _task(paths, "t", ["a.py", "b.py"])
    with Workspace(paths, "t", kind="specialist", agent="coder") as ws:
        (ws.path / "c.py").write_text("C = 1\n")
        ws.commit(["c.py"], "c", gate=GATE)
    tip = git(git_repo, "rev-parse", "memfun/t").strip()
    assert verdicts(paths)["branch", "memfun/t"] == (
        False,
        "2 commits not delivered anywhere (--force)",
    )
    forced = {i.name: i for i in plan(paths, force=True) if i.kind == "branch"}
    assert forced["memfun/t"] == GcItem(
        "branch",
        "memfun/t",
        True,
        "forced: 2 undelivered commits kept as an attempt",
        keep_tip=True,
    )
    assert forced["memfun-agents/t/coder"].keep_tip
    apply(paths, list(forced.values()))
    refs = _refs(git_repo)
    assert "refs/heads/memfun/t" not in refs
    assert git(git_repo, "rev-parse", "refs/memfun/attempts/t/1^").strip() == tip
    message = git(git_repo, "log", "-1", "--format=%B", "refs/memfun/attempts/t/1")
    assert message.splitlines()[0] == "memfun: kept memfun/t when gc --force removed it"
    assert message.rstrip("\n").splitlines()[-3:] == [
        "Memfun-Task: t",
        "Memfun-Agent: memfun",
        "Memfun-Gate: n/a (the tip of a branch gc --force removed)",
    ]
    assert "refs/memfun/attempts/t+coder/1" in refs


def test_a_checked_out_branch_stays(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    _task(paths, "t", ["a.py"])
    git(git_repo, "checkout", "-q", "memfun/t")
    want = (False, f"checked out in {git_repo}")
    assert verdicts(paths, force=True)["branch", "memfun/t"] == want


# -- attempts, folders, reporting --------------------------------------------------------------


def test_attempts_expire_after_keep_attempts_days(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    _attempt(git_repo, "refs/memfun/attempts/t/1", age_days=10)
    _attempt(git_repo, "refs/memfun/attempts/t/2", age_days=2)
    now = time.time()

    def at(days: int, when: float) -> list[tuple[str, bool, str]]:
        return [
            (i.name, i.remove, i.reason) for i in plan(paths, keep_attempts_days=days, now=when)
        ]

    assert at(30, now) == [
        ("refs/memfun/attempts/t/1", False, "kept 20 more days"),
        ("refs/memfun/attempts/t/2", False, "kept 28 more days"),
    ]
    assert at(5, now) == [
        ("refs/memfun/attempts/t/1", True, "older than 5 days"),
        ("refs/memfun/attempts/t/2", False, "kept 3 more days"),
    ]
    assert at(30, now + 25 * DAY) == [
        ("refs/memfun/attempts/t/1", True, "older than 30 days"),
        ("refs/memfun/attempts/t/2", False, "kept 3 more days"),
    ]


def test_a_trash_folder_left_by_an_interrupted_removal_goes(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    folder = _task(paths, "t", ["a.py"], keep=True).path
    trash = folder.with_name(".trash-t-0badc0de")
    (trash / "deep" / "er").mkdir(parents=True)
    (trash / "deep" / "er" / "x").write_text("half removed\n")
    (trash / "deep").chmod(0)
    items = [i for i in plan(paths) if i.kind == "folder"]
    assert items == [
        GcItem("folder", str(trash), True, "left by an interrupted removal", str(trash))
    ]
    assert apply(paths, items) == [GcOutcome(items[0], True)]
    assert not trash.exists()


def test_each_removal_is_reported_once_done_and_a_failure_as_such(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    for task in ("a", "b"):
        _task(paths, task, [f"{task}.py"])
        git(git_repo, "merge", "-q", "--no-ff", "-m", "merge", f"memfun/{task}")
    items = plan(paths)
    # Between plan and apply the user checks memfun/a out: git refuses to delete it then.
    git(git_repo, "worktree", "add", "-q", str(git_repo.parent / "look"), "memfun/a")
    seen: list[tuple[str, bool, str, bool]] = []

    def report(outcome: GcOutcome) -> None:
        exists = f"refs/heads/{outcome.item.name}" in _refs(git_repo)
        seen.append((outcome.item.name, outcome.removed, outcome.error[:20], exists))

    apply(paths, items, on_outcome=report)
    assert seen[1] == ("memfun/b", True, "", False)  # reported after it was gone
    name, removed, error, exists = seen[0]
    assert (name, removed, exists) == ("memfun/a", False, True)
    assert error


def test_removals_go_to_the_log_and_show_with_verbose(
    git_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = require_repo(git_repo)
    _task(paths, "t", ["t.py"])
    git(git_repo, "merge", "-q", "--no-ff", "-m", "merge", "memfun/t")
    assert run(["-v", "-C", str(git_repo), "gc"]) == 0
    line = "gc removed branch memfun/t: delivered (reachable from refs/heads/main)"
    assert f"memfun: {line}\n" in capsys.readouterr().err
    log = (git_repo / ".git" / "memfun" / "logs" / "memfun.log").read_text()
    assert f"INFO memfun_git.gitops.gc: {line}" in log


def test_what_sandboxed_runs_left_goes(git_repo: Path) -> None:
    """A killed run's view of the git dir (and cgroups) stay behind; packs of task objects
    accumulate. gc removes the dead run's view and the packs no worktree needs, unused for a
    week; a live worktree's packs and a live run's view stay."""
    import pygit2

    from memfun_git.sandbox.leftovers import owner_tag
    from memfun_git.sandbox.objects import ObjectCache

    paths = require_repo(git_repo)
    kept = _task(paths, "kept", ["a.py"], keep=True)
    views = paths.common_dir / "memfun" / "sandbox-views"
    dead_view = views / "999999999-1-0badc0de"  # no such process
    live_view = views / f"{owner_tag()}-c0ffee00"
    for view in (dead_view, live_view):
        (view / "objects" / "pack").mkdir(parents=True)
    repo = pygit2.Repository(str(git_repo))
    cache = ObjectCache(paths.common_dir)
    needed = cache.chain(repo, str(pygit2.Repository(str(kept.path)).head.target))
    git(git_repo, "checkout", "-q", "-b", "elsewhere")
    _write(git_repo / "other.py", "x = 1\n")
    git(git_repo, "add", "other.py")
    git(git_repo, "commit", "-q", "-m", "work the task never saw")
    git(git_repo, "checkout", "-q", "main")
    stale = cache.chain(repo, str(repo.revparse_single("elsewhere").id))
    old = time.time() - 8 * DAY
    for chain in (needed, stale):
        for pack in chain.packs:
            os.utime(pack.parent, (old, old))
    items = [i for i in plan(paths) if i.kind == "sandbox"]
    removable = {Path(i.path) for i in items if i.remove}
    assert dead_view in removable
    assert live_view not in removable
    assert all(pack.parent not in removable for pack in needed.packs)
    assert stale.packs[0].parent in removable
    assert all(i.reason for i in items)
    assert all(o.removed for o in apply(paths, items))
    assert not dead_view.exists()
    assert live_view.exists()
    assert all(pack.exists() for pack in needed.packs)
