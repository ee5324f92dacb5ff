"""What the gate's lint costs beyond running the linter: config scan, judging, the swap.

On a generated repository (FILES Python files in nested packages, a ruff.toml, a nested
pyproject.toml), a task changes five files (and, in the second case, loosens ruff.toml). Printed
per case, median of ROUNDS: ruff run directly in the same sandbox (the floor), the gate's
`Linting.run` (detection, config changes, suppressions, swap, ruff), and their ratio; plus the
one-time walk of the base tree for config file names.

    uv run python bench/gate.py [FILES]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from memfun_git.config import SandboxConfig
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from memfun_git.quality.changes import Change
from memfun_git.quality.configs import CONFIG_NAMES
from memfun_git.quality.lint import Linting
from memfun_git.quality.linters import looked_in
from memfun_git.sandbox import make_sandbox

ROUNDS = 7


def make_repo(tree: Path, files: int) -> None:
    tree.mkdir(parents=True)
    for n in range(files):
        folder = tree / "pkg" / f"m{n % 40}" / f"s{n % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"mod{n}.py").write_text(f"def f{n}(x):\n    return x + {n}\n")
    (tree / "ruff.toml").write_text('line-length = 60\n\n[lint]\nselect = ["F", "E501"]\n')
    (tree / "pkg" / "pyproject.toml").write_text('[project]\nname = "pkg"\nversion = "0"\n')
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=b", "-c", "user.email=b@e", "commit", "-q", "-m", "base"],
    ):
        subprocess.run(argv, cwd=tree, env=env, check=True)
    venv = tree / ".venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "pyvenv.cfg").write_text(f"home = {os.path.dirname(sys.executable)}\n")
    (venv / "bin" / "ruff").symlink_to(Path(sys.executable).parent / "ruff")
    (tree / ".git" / "info" / "exclude").write_text(".venv/\n")


def median_ms(action: Callable[[], object]) -> float:
    times: list[float] = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "project"
        make_repo(tree, count)
        env = {**os.environ, "PATH": "/usr/bin:/bin"}
        env.pop("VIRTUAL_ENV", None)
        root = Path(tmp) / "worktrees"
        with Workspace(require_repo(tree), "bench-" + uuid.uuid4().hex[:6], root=root) as ws:
            changed = [f"pkg/m{n % 40}/s{n % 7}/mod{n}.py" for n in range(5)]
            for rel in changed:
                (ws.path / rel).write_text("import os\n\n\ndef g(x):\n    return x\n")
            sandbox = make_sandbox(
                SandboxConfig(), ws.path, user_tree=tree, common_dir=tree / ".git", environ=env
            )
            change = Change(ws.repo, ws.base_oid, ws.path)
            scan = median_ms(lambda: list(change.base_paths(CONFIG_NAMES)))
            argv = ["ruff", "check", "--no-cache", "--output-format=json", "--", *changed]
            floor = median_ms(lambda: sandbox.run(argv))
            linting = Linting(change, sandbox, places=looked_in(tree, env))
            plain = median_ms(lambda: linting.run(changed))
            (ws.path / "ruff.toml").write_text('[lint]\nselect = ["F"]\n')
            swapped = median_ms(lambda: linting.run([*changed, "ruff.toml"]))
            (verdict,) = linting.run([*changed, "ruff.toml"]).verdicts
            assert verdict.status == "fail", verdict  # the base's rules, not the loosened ones
            assert verdict.config_changes, verdict
            print(f"repository: {count} files; {ROUNDS} rounds, medians")
            print(f"  base tree scan for config names (once per gate): {scan:7.1f} ms")
            print(f"  ruff in the sandbox (floor):                     {floor:7.1f} ms")
            print(f"  gate lint, no config change:                     {plain:7.1f} ms"
                  f"  ({plain / floor:.2f}x the floor)")  # fmt: skip
            print(f"  gate lint, ruff.toml loosened (swapped):         {swapped:7.1f} ms"
                  f"  ({swapped / floor:.2f}x the floor)")  # fmt: skip


if __name__ == "__main__":
    main()
