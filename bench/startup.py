"""Start-up time of `memfun --help` and `memfun --version`, beside `python -c pass`.

Both are measured in the same run (median of N runs each, interleaved), so the figure is the
time memfun adds to the interpreter's own start. Target (issue 10): at most 0.3 s added.

    uv run python bench/startup.py [--runs 21]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_ADDED_SECONDS = 0.3


def _memfun() -> list[str]:
    script = Path(sys.executable).parent / "memfun"
    if script.exists():
        return [str(script)]
    found = shutil.which("memfun")
    if found:
        return [found]
    return [sys.executable, "-m", "memfun_git"]


def _time(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description="memfun start-up time beside python -c pass")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()

    memfun = _memfun()
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "memfun --help": [*memfun, "--help"],
        "memfun --version": [*memfun, "--version"],
    }
    for cmd in cases.values():  # warm the file cache
        _time(cmd)
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, cmd in cases.items():
            times[name].append(_time(cmd))

    base = statistics.median(times["python -c pass"])
    print(f"runs: {args.runs} each, interleaved; command: {' '.join(memfun)}")
    print(f"{'case':<20}{'median s':>10}{'added s':>10}{'ratio':>8}")
    ok = True
    for name, samples in times.items():
        median = statistics.median(samples)
        added = median - base
        print(f"{name:<20}{median:>10.3f}{added:>10.3f}{median / base:>8.2f}")
        if name.startswith("memfun") and added > TARGET_ADDED_SECONDS:
            ok = False
    verdict = "met" if ok else "MISSED"
    print(
        f"target: at most {TARGET_ADDED_SECONDS:.1f} s added to the interpreter's start: {verdict}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
