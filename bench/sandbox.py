"""What the bubblewrap sandbox adds to a command, beside a plain subprocess of the same command.

Commands: `true`, and `python -c pass` (this project's interpreter, through its venv: what a
task's tests start). Three cases each, interleaved, median of N runs:
- plain: `subprocess.run(argv)` in the worktree, with the sandbox's allowlisted environment;
- bwrap: bwrap itself with the very arguments the sandbox gives it (mounts included), as a
  bare subprocess: the floor of any bubblewrap sandbox with these mounts;
- sandbox: `make_sandbox(...).run(argv)` inside a real Workspace of a temporary repository
  (resolution cached, output captured, pids cgroup where one can be made, the wait for the
  sandbox's init).

Target (issue 13): the sandbox adds at most 20 ms per command to the plain subprocess; exit 1
when missed. Temporary folders go to /dev/shm when it exists (a slow disk would dominate).

    uv run python bench/sandbox.py [--runs 30] [--profile]
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

TARGET_MS = 20.0


def _isolate(tmp: Path) -> None:
    """A temporary HOME, XDG folders and git config, before memfun or pygit2 loads."""
    home = tmp / "home"
    home.mkdir()
    for name in list(os.environ):
        if name.startswith(("GIT_", "MEMFUN_")):
            del os.environ[name]
    os.environ.update(
        {
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "Bench",
            "GIT_AUTHOR_EMAIL": "bench@example.com",
            "GIT_COMMITTER_NAME": "Bench",
            "GIT_COMMITTER_EMAIL": "bench@example.com",
        }
    )


def _make_repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "initial"]):
        if args[0] == "add":
            (repo / "README.md").write_text("# Bench\n")
            (repo / "app.py").write_text("print('hello')\n")
        subprocess.run(["git", *args], cwd=repo, check=True, stdout=subprocess.DEVNULL)
    return repo


def main() -> int:
    parser = argparse.ArgumentParser(description="bubblewrap sandbox cost beside a subprocess")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--profile", action="store_true", help="Profile the sandbox (cProfile).")
    args = parser.parse_args()
    if shutil.which("bwrap") is None:
        print("bwrap is not installed: nothing to measure", file=sys.stderr)
        return 2
    shm = Path("/dev/shm")
    tmp = Path(tempfile.mkdtemp(prefix="memfun-bench-sandbox-", dir=shm if shm.is_dir() else None))
    try:
        _isolate(tmp)
        return _measure(tmp, args.runs, args.profile)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(tmp: Path, runs: int, profile: bool) -> int:
    from memfun_git.config import SandboxConfig
    from memfun_git.gitops.repo import require_repo
    from memfun_git.gitops.worktree import Workspace
    from memfun_git.sandbox import make_sandbox
    from memfun_git.sandbox.bubblewrap import BubblewrapSandbox
    from memfun_git.sandbox.env import sandbox_environ

    repo = _make_repo(tmp)
    commands = {"true": ["true"], "python -c pass": [sys.executable, "-c", "pass"]}
    results: dict[str, dict[str, list[float]]] = {}
    with Workspace(require_repo(repo), "bench-sandbox") as ws:
        sandbox = make_sandbox(SandboxConfig(), ws.path, user_tree=repo, common_dir=repo / ".git")
        assert isinstance(sandbox, BubblewrapSandbox)
        for label, argv in commands.items():
            resolved = sandbox.resolver.resolve(argv[0])
            env = sandbox_environ(
                os.environ, home=sandbox.home, path=[*resolved.path_dirs, "/usr/bin", "/bin"]
            )
            bare = [sandbox.bwrap, *sandbox.arguments(resolved, sandbox.worktree), "--"]
            bare += [resolved.program, *argv[1:]]

            def plain(argv: list[str] = argv, env: dict[str, str] = env) -> None:
                subprocess.run(argv, cwd=ws.path, env=env, capture_output=True, check=True)

            def bwrap(bare: list[str] = bare, env: dict[str, str] = env) -> None:
                subprocess.run(bare, cwd=ws.path, env=env, capture_output=True, check=True)

            def boxed(argv: list[str] = argv) -> None:
                result = sandbox.run(argv)
                assert result.ok, result

            cases: dict[str, Callable[[], None]] = {
                "plain": plain,
                "bwrap": bwrap,
                "sandbox": boxed,
            }
            for case in cases.values():  # warm the file cache and the resolver
                case()
            times: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(runs):
                for name, case in cases.items():
                    started = time.perf_counter()
                    case()
                    times[name].append(time.perf_counter() - started)
            results[label] = times
        if profile:
            _profile(lambda: sandbox.run(commands["python -c pass"]))

    print(f"runs: {runs} per case, interleaved; temporary folders in {tmp.parent}")
    print(f"{'command':<16}{'case':<9}{'median ms':>10}{'min ms':>8}{'max ms':>8}")
    ok = True
    added: dict[str, float] = {}
    for label, times in results.items():
        for name, samples in times.items():
            print(
                f"{label:<16}{name:<9}{statistics.median(samples) * 1000:>10.1f}"
                f"{min(samples) * 1000:>8.1f}{max(samples) * 1000:>8.1f}"
            )
        added[label] = (
            statistics.median(times["sandbox"]) - statistics.median(times["plain"])
        ) * 1000
        ok = ok and added[label] <= TARGET_MS
    for label, ms in added.items():
        floor = (
            statistics.median(results[label]["bwrap"]) - statistics.median(results[label]["plain"])
        ) * 1000
        print(
            f"{label}: the sandbox adds {ms:.1f} ms "
            f"(bare bwrap with the same mounts: {floor:.1f} ms)"
        )
    verdict = "met" if ok else "MISSED"
    print(f"target: at most {TARGET_MS:.0f} ms added per command: {verdict}")
    return 0 if ok else 1


def _profile(case: Callable[[], object]) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(20):
        case()
    profiler.disable()
    print("\nprofile of 20 sandboxed `python -c pass` runs (cumulative):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(20)


if __name__ == "__main__":
    sys.exit(main())
