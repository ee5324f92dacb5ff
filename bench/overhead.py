"""A memfun Workspace's cost beside the floor of plain git, on a generated 1,000-file repository.

- memfun: open a Workspace (a fresh task id each run), write one file, commit it through
  `ws.commit`, close (the worktree is removed);
- floor: `git worktree add -b <branch> <path>`, write the file, `git add` + `git commit`,
  `git worktree remove`, as subprocesses.

Both are measured in the same run (median of N runs each, interleaved). Target (issue 11): the
memfun case takes at most 2x the floor. HOME, the XDG folders and git's global config are
temporary, and the identity comes from the environment, so the figures do not depend on the
machine's git setup.

    uv run python bench/overhead.py [--runs 15] [--files 1000] [--profile]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

TARGET_RATIO = 2.0
MESSAGE = "bench: add one file"


def _isolate(tmp: Path) -> None:
    """A temporary HOME, XDG folders and global git config; must run before pygit2 loads."""
    home = tmp / "home"
    home.mkdir()
    gitconfig = home / ".gitconfig"
    gitconfig.write_text(
        "[user]\n\tname = Bench\n\temail = bench@example.com\n"
        "[init]\n\tdefaultBranch = main\n\ttemplateDir =\n"
        "[commit]\n\tgpgsign = false\n[gc]\n\tauto = 0\n"
    )
    for name in list(os.environ):
        if name.startswith("GIT_") or name.startswith("MEMFUN_"):
            del os.environ[name]
    os.environ.update(
        {
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "GIT_CONFIG_GLOBAL": str(gitconfig),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Bench",
            "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "Bench",
            "GIT_COMMITTER_EMAIL": "bench@example.com",
        }
    )


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def make_repo(root: Path, files: int) -> Path:
    """`files` small text files in nested folders, one commit."""
    repo = root / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", "-b", "main")
    for i in range(files):
        folder = repo / f"pkg{i // 100:02d}" / f"mod{(i // 10) % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file{i:04d}.py").write_text(
            f'"""Module {i}."""\n\n\ndef f{i}(x: int) -> int:\n    return x + {i}\n'
        )
    (repo / "README.md").write_text("# Generated\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "initial")
    return repo


def git_floor(repo: Path, root: Path) -> Callable[[], None]:
    """The floor, one run per call: `git worktree add -b`, write a file, `git add`, `git
    commit`, `git worktree remove`, as subprocesses (worktrees under `root`)."""
    counter = iter(range(1_000_000))

    def floor() -> None:
        n = next(counter)
        path = root / f"run-{n}"
        _git(repo, "worktree", "add", "-q", "-b", f"floor/run-{n}", str(path))
        (path / "added.txt").write_text(f"run {n}\n")
        _git(path, "add", "added.txt")
        _git(path, "commit", "-q", "-m", MESSAGE)
        _git(repo, "worktree", "remove", str(path))

    return floor


def main() -> int:
    parser = argparse.ArgumentParser(description="memfun Workspace cost beside plain git")
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument(
        "--profile", action="store_true", help="Also profile the memfun case (cProfile)."
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="memfun-overhead-"))
    try:
        _isolate(tmp)
        return _measure(tmp, args.runs, args.files, args.profile)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(tmp: Path, runs: int, files: int, profile: bool) -> int:
    from memfun_git.gitops.repo import require_repo
    from memfun_git.gitops.worktree import Workspace

    repo = make_repo(tmp, files)
    paths = require_repo(repo)
    floor_root = tmp / "floor"
    floor_root.mkdir()
    counter = iter(range(1_000_000))

    def memfun() -> None:
        n = next(counter)
        with Workspace(paths, f"bench-{n}") as ws:
            (ws.path / "added.txt").write_text(f"run {n}\n")
            result = ws.commit(["added.txt"], MESSAGE, gate="n/a (benchmark)")
            assert result is not None
        assert not ws.path.exists()

    floor = git_floor(repo, floor_root)

    cases: dict[str, Callable[[], None]] = {"memfun": memfun, "floor": floor}
    for case in cases.values():  # warm the file cache and the imports
        case()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, case in cases.items():
            started = time.perf_counter()
            case()
            times[name].append(time.perf_counter() - started)

    medians = {name: statistics.median(samples) for name, samples in times.items()}
    ratio = medians["memfun"] / medians["floor"]
    print(
        f"repository: {files} files in nested folders, one commit; runs: {runs} each, interleaved"
    )
    print(f"{'case':<10}{'median ms':>11}{'min ms':>9}{'max ms':>9}")
    for name, samples in times.items():
        print(
            f"{name:<10}{medians[name] * 1000:>11.1f}"
            f"{min(samples) * 1000:>9.1f}{max(samples) * 1000:>9.1f}"
        )
    ok = ratio <= TARGET_RATIO
    verdict = "met" if ok else "MISSED"
    print(f"ratio memfun/floor: {ratio:.2f}; target at most {TARGET_RATIO:.1f}x: {verdict}")
    if profile:
        _profile(memfun)
    return 0 if ok else 1


def _profile(case: Callable[[], None]) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(5):
        case()
    profiler.disable()
    print("\nprofile of 5 memfun runs (cumulative):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    sys.exit(main())
