"""The explore tier's REPL (sandbox/repl.py) against DSPy's own LocalInterpreter (an
unsandboxed subprocess), in the same run: start-up, and a step's round trip (code sent, run,
output back), and a host tool call from inside the REPL. What isolation costs the explore
tier per step, beside a model call's seconds.

    uv run python bench/repl.py [--steps 50]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from dspy.primitives.local_interpreter import LocalInterpreter

from memfun_git.config import SandboxConfig
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from memfun_git.sandbox import close_sandbox, make_sandbox
from memfun_git.sandbox.repl import SandboxInterpreter


def _repo(root: Path) -> Path:
    repo = root / "repo"
    repo.mkdir()
    (repo / "app.py").write_text("def add(a, b):\n    return a + b\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "app.py"],
        ["-c", "user.name=b", "-c", "user.email=b@x", "commit", "-qm", "init"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True)  # fmt: skip
    return repo


def _measure(make: object, steps: int) -> tuple[float, float, float]:
    began = time.perf_counter()
    repl = make()  # type: ignore[operator]
    repl.tools["echo"] = lambda text: text
    repl.start()
    start = time.perf_counter() - began
    rounds: list[float] = []
    tools: list[float] = []
    try:
        repl.execute("x = 0")
        for n in range(steps):
            t = time.perf_counter()
            repl.execute(f"x += {n}\nprint(x)")
            rounds.append(time.perf_counter() - t)
            t = time.perf_counter()
            repl.execute("print(echo(text='hi'))")
            tools.append(time.perf_counter() - t)
    finally:
        repl.shutdown()
    return start, statistics.median(rounds), statistics.median(tools)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=50)
    steps = parser.parse_args().steps
    with tempfile.TemporaryDirectory() as tmp:
        repo = _repo(Path(tmp))
        with Workspace(require_repo(repo), "bench-repl") as ws:
            sandbox = make_sandbox(SandboxConfig(), ws.path, user_tree=repo,
                                   common_dir=repo / ".git")  # fmt: skip
            try:
                ours = _measure(lambda: SandboxInterpreter(sandbox), steps)
            finally:
                close_sandbox(sandbox)
        theirs = _measure(LocalInterpreter, steps)
    names = ("start-up", "step round trip", "host tool call")
    print(f"explore REPL, {steps} steps (median), bubblewrap vs DSPy's LocalInterpreter:")
    for name, a, b in zip(names, ours, theirs, strict=True):
        print(f"  {name:<16} {a * 1000:8.1f} ms  vs {b * 1000:8.1f} ms  ({a / b:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
