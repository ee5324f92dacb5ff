"""`memfun hook review` wall time, beside `pre-commit run` of a trivial hook and `python -c
"import dspy"`, all measured in the same run (medians of N runs each, interleaved).

A temporary repository (a few modules) has a staged change; the model is the local
OpenAI-compatible stub server (tests/helpers/stub_llm.py), answering at once with a clean
review. Each case runs `memfun hook review` as a process, as git or pre-commit starts it:

- no model: no model configured: one line, the policy, exit 0;
- cached: the same staged content reviewed before: the verdict from the cache, no call;
- uncached: a new staged content each run (staged before the clock starts): the code map
  around it (its cache warm), the memory recall, DSPy and the call.

Targets (issue 23): the cached verdict and the no-model path at most 0.3 s; an uncached review
at most the `import dspy` floor plus 0.5 s. HOME, the XDG folders and git's configuration are
temporary (bench/overhead.py's `_isolate`).

    uv run python bench/hook.py [--runs 9]
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

from overhead import _isolate

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers.stub_llm import StubLLMServer

QUICK_TARGET = 0.3
UNCACHED_ADDED = 0.5
CLEAN = "SUMMARY: adds the function as written."
TRIVIAL = """\
repos:
  - repo: local
    hooks:
      - id: trivial
        name: trivial
        entry: "true"
        language: system
        pass_filenames: false
        always_run: true
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


def _repo(root: Path) -> Path:
    repo = root / "repo"
    (repo / "pkg").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    for i in range(40):
        (repo / "pkg" / f"mod{i:02d}.py").write_text(
            f'"""Module {i}."""\n\n\ndef f{i}(x: int) -> int:\n    return x + {i}\n'
        )
    (repo / ".pre-commit-config.yaml").write_text(TRIVIAL)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "initial")
    return repo


def _stage(repo: Path, n: int) -> None:
    (repo / "pkg" / "added.py").write_text(
        f"from pkg.mod01 import f1\n\n\ndef g(x: int) -> int:\n    return f1(x) * {n}\n"
    )
    _git(repo, "add", "pkg/added.py")


def _timed(argv: list[str], repo: Path, env: dict[str, str]) -> Callable[[], float]:
    def run() -> float:
        started = time.perf_counter()
        done = subprocess.run(argv, cwd=repo, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")
        return seconds

    return run


def main() -> int:
    parser = argparse.ArgumentParser(description="memfun hook review wall time")
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="memfun-hook-bench-"))
    try:
        _isolate(tmp)
        return _measure(tmp, args.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _measure(tmp: Path, runs: int) -> int:
    repo = _repo(tmp)
    bin_dir = Path(sys.executable).parent
    memfun = [str(bin_dir / "memfun"), "hook", "review"]
    base = {k: v for k, v in os.environ.items() if k not in ("CI", "VIRTUAL_ENV")}
    counter = iter(range(1, 1_000_000))
    with StubLLMServer([CLEAN] * (runs + 2) * 2) as stub:
        model = base | {
            "MEMFUN_LLM_PROVIDER": "custom",
            "MEMFUN_LLM_MODEL": "stub-model",
            "MEMFUN_LLM_BASE_URL": stub.url,
            "MEMFUN_LLM_NUM_RETRIES": "0",
        }
        cached = _timed(memfun, repo, model)
        fresh = _timed(memfun, repo, model)

        def uncached() -> float:
            _stage(repo, next(counter))
            return fresh()

        def cached_run() -> float:
            _stage(repo, 0)  # the same content every time: reviewed once, then cached
            return cached()

        cases: dict[str, Callable[[], float]] = {
            "pre-commit run (trivial hook)": _timed(
                [str(bin_dir / "pre-commit"), "run"], repo, base
            ),
            'python -c "import dspy"': _timed([sys.executable, "-c", "import dspy"], repo, base),
            "memfun hook review, no model": _timed(memfun, repo, base),
            "memfun hook review, cached": cached_run,
            "memfun hook review, uncached": uncached,
        }
        _stage(repo, 0)
        for case in cases.values():  # warm: imports, the code map's cache, the verdict
            case()
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(runs):
            for name, case in cases.items():
                times[name].append(case())
        calls = len(stub.posts)
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    floor = medians['python -c "import dspy"']
    print(f"runs: {runs} each, interleaved; model: the stub server, answering at once")
    print(f"{'case':<32}{'median s':>10}")
    for name, median in medians.items():
        print(f"{name:<32}{median:>10.3f}")
    print(f"model calls: {calls} ({runs + 1} uncached runs, 1 to fill the cache)")
    checks = [
        ("no model", medians["memfun hook review, no model"], QUICK_TARGET),
        ("cached", medians["memfun hook review, cached"], QUICK_TARGET),
        ("uncached", medians["memfun hook review, uncached"], floor + UNCACHED_ADDED),
    ]
    ok = True
    for name, seconds, limit in checks:
        met = seconds <= limit
        ok &= met
        print(f"target {name}: {seconds:.3f} s <= {limit:.3f} s: {'met' if met else 'MISSED'}")
    ratio = medians["memfun hook review, uncached"] / floor
    print(f"uncached / import dspy: {ratio:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
