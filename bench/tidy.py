"""What tidying a worktree after each command costs on a 10,000-file tree.

The tree: 10,000 files in 1,000 folders, 3 levels deep. Three figures, median of N runs:
- walk: a plain `os.walk` listing every folder (the floor of any full scan in Python);
- full: `Tidier.tidy(full=True)`, what the first command in a worktree pays;
- after: `Tidier.tidy()` after a command that added one file in one folder, what every later
  command pays (only folders whose stamp changed are listed again).
The ratio after/walk is the point: a scan after every command must not cost a full walk.

    uv run python bench/tidy.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from memfun_git.gitops.tidy import Tidier


def _make_tree(root: Path, files: int = 10_000, per_folder: int = 10) -> None:
    for i in range(files // per_folder):
        folder = root / f"pkg{i // 100}" / f"mod{i // 10}" / f"part{i}"
        folder.mkdir(parents=True, exist_ok=True)
        for j in range(per_folder):
            (folder / f"file{j}.py").write_text("x = 1\n")


def _median_ms(runs: int, setup: Callable[[], None], action: Callable[[], object]) -> float:
    times: list[float] = []
    for _ in range(runs):
        setup()
        start = time.perf_counter()
        action()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        root = Path(tmp) / "worktree"
        _make_tree(root)
        folders = sum(1 for _ in os.walk(root))
        tidier = Tidier(root)
        tidier.tidy()
        time.sleep(0.1)  # past the racy window: the stamps are trusted from the next walk
        tidier.tidy()
        counter = iter(range(1_000_000))

        def command() -> None:
            (root / "pkg3" / "mod31" / "part310" / f"new{next(counter)}.py").write_text("y\n")

        walk = _median_ms(args.runs, lambda: None, lambda: sum(1 for _ in os.walk(root)))
        full = _median_ms(args.runs, lambda: None, lambda: tidier.tidy(full=True))
        time.sleep(0.1)
        tidier.tidy()
        after = _median_ms(args.runs, command, tidier.tidy)
    print(f"tree: 10,000 files in {folders:,} folders")
    print(f"os.walk (every folder listed):      {walk:7.2f} ms")
    print(f"tidy, full (first command):         {full:7.2f} ms   ({full / walk:.2f}x os.walk)")
    print(f"tidy, after a command (each later): {after:7.2f} ms   ({after / walk:.2f}x os.walk)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
