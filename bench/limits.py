"""How soon memfun gives up or stops, each case beside a baseline measured in the same run.

Tests assert what happens (the limit is met, nothing is retried, a huge file is left out);
how long it takes is measured here, where a loaded machine makes a slow figure, not a red
test (issue 17). Each row prints the case's median, the baseline's, and their ratio; about 1.0
is the aim: the case costs what its baseline costs.

- sandbox time limit: a busy loop with a 1 s limit, beside `sleep 1` (local and bubblewrap);
- setsid children: a command leaving `setsid` children that hold its pipes, beside `echo`;
- unreachable model endpoint: a refused connection, beside a stub that answers at once;
- silent model endpoint: `timeout_seconds = 1` against a stub that never answers in time,
  beside a 1 s sleep (one time-out, not retried);
- no Ollama: a refused port, beside an Ollama stub listing its models;
- huge files: a workspace ending with an 8 GiB sparse file, committing it (refused), and
  comparing it with an LFS pointer, each beside the same with a small file (never read).

    uv run python bench/limits.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Literal

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # tests.helpers: the stub servers the tests use

HUGE = 8 << 30
GATE = "ruff=pass review=pass"
Case = Callable[[], object]


def main() -> int:
    parser = argparse.ArgumentParser(description="how soon memfun gives up, beside baselines")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="memfun-bench-limits-"))
    try:
        from bench.sandbox import _isolate, _make_repo  # one isolation for every bench

        _isolate(tmp)
        repo = _make_repo(tmp)
        rows = [*_sandbox_rows(repo), *_model_rows(), *_huge_file_rows(repo)]
        print(f"runs: {args.runs} per case, interleaved with its baseline; median seconds")
        print(f"{'case':<44}{'case s':>8}{'base s':>8}{'ratio':>7}")
        for name, case, baseline in rows:
            measured, base = _medians(case, baseline, args.runs)
            print(f"{name:<44}{measured:>8.2f}{base:>8.2f}{measured / base:>7.2f}", flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _medians(case: Case, baseline: Case, runs: int) -> tuple[float, float]:
    for warm_up in (case, baseline):  # imports, caches, the resolver
        warm_up()
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        for index, run in enumerate((case, baseline)):
            started = time.perf_counter()
            run()
            times[index].append(time.perf_counter() - started)
    return statistics.median(times[0]), statistics.median(times[1])


def _sandbox_rows(repo: Path) -> list[tuple[str, Case, Case]]:
    from memfun_git.config import SandboxConfig
    from memfun_git.gitops.repo import require_repo
    from memfun_git.gitops.worktree import Workspace
    from memfun_git.sandbox import make_sandbox

    ws = Workspace(require_repo(repo), "bench-limits").__enter__()
    loop = ["sh", "-c", "while :; do :; done"]
    children = "setsid sleep 1000 & setsid sleep 1001 </dev/null >/dev/null 2>&1 & echo started"
    rows: list[tuple[str, Case, Case]] = []
    backends: list[Literal["local", "bubblewrap"]] = ["local"]
    if shutil.which("bwrap"):
        backends.append("bubblewrap")
    for backend in backends:
        config = SandboxConfig(backend=backend, allow=("sh",))
        box = make_sandbox(config, ws.path, user_tree=repo, common_dir=repo / ".git")
        rows.append(
            (
                f"{backend}: 1 s limit on a busy loop",
                lambda box=box: box.run(loop, timeout=1),
                lambda box=box: box.run(["sh", "-c", "sleep 1"]),
            )
        )
        if backend == "bubblewrap":  # the local backend cannot end setsid children
            rows.append(
                (
                    f"{backend}: setsid children holding the pipes",
                    lambda box=box: box.run(["sh", "-c", children], timeout=30),
                    lambda box=box: box.run(["sh", "-c", "echo started"]),
                )
            )
    return rows


def _model_rows() -> list[tuple[str, Case, Case]]:
    from memfun_git.config import LLMConfig
    from memfun_git.errors import MemfunError
    from memfun_git.llm.session import LMSession
    from memfun_git.ollama import probe_ollama
    from tests.helpers.ollama import serve_ollama
    from tests.helpers.stub_llm import StubLLMServer, StubReply

    pong = "[[ ## answer ## ]]\npong\n\n[[ ## completed ## ]]"
    stub = StubLLMServer().__enter__()
    ollama = serve_ollama(["llama3.1:latest"])
    ollama_url = ollama.__enter__()
    closed = f"http://127.0.0.1:{_closed_port()}"

    def call(url: str, reply: StubReply | None = None, timeout: float = 10) -> None:
        if reply is not None:
            stub.add([reply])
        llm = LLMConfig(
            provider="custom", model="m", base_url=url, timeout_seconds=timeout, num_retries=3
        )
        with contextlib.suppress(MemfunError):
            LMSession.from_config(llm, {}).predict("bench", "question -> answer", question="ping")

    return [
        (
            "unreachable endpoint (no retry)",
            lambda: call(closed + "/v1"),
            lambda: call(stub.url, StubReply(pong)),
        ),
        (
            "silent endpoint, 1 s time-out (no retry)",
            lambda: call(stub.url, StubReply(pong, delay=3), timeout=1),
            lambda: time.sleep(1),
        ),
        (
            "no Ollama at a refused port",
            lambda: probe_ollama(closed),
            lambda: probe_ollama(ollama_url),
        ),
    ]


def _huge_file_rows(repo: Path) -> list[tuple[str, Case, Case]]:
    from memfun_git.errors import RepoError
    from memfun_git.gitops.lfs import lfs_unchanged
    from memfun_git.gitops.repo import require_repo
    from memfun_git.gitops.worktree import Workspace

    def attempt(size: int) -> None:
        with Workspace(require_repo(repo), f"huge-{size}-{time.monotonic_ns()}") as ws:
            _sparse(ws.path / "core.dump", size)

    def commit(size: int) -> None:
        with Workspace(require_repo(repo), f"grown-{size}-{time.monotonic_ns()}") as ws:
            _sparse(ws.path / "app.py", size)
            with contextlib.suppress(RepoError):
                ws.commit(["app.py"], "grown", gate=GATE)
            (ws.path / "app.py").write_text("X = 1\n")

    (repo / ".gitattributes").write_text("*.bin filter=lfs diff=lfs merge=lfs -text\n")
    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{'0' * 64}\nsize 12\n"
    (repo / "model.bin").write_text(pointer)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "lfs"], cwd=repo, check=True)
    ws = Workspace(require_repo(repo), "bench-lfs").__enter__()

    def compare(size: int) -> None:
        _sparse(ws.path / "model.bin", size)
        lfs_unchanged(ws.repo, "model.bin")

    return [
        ("workspace ends with an 8 GiB sparse file", lambda: attempt(HUGE), lambda: attempt(10)),
        ("commit refuses an 8 GiB file", lambda: commit(HUGE), lambda: commit(10)),
        ("LFS check of an 8 GiB file", lambda: compare(HUGE), lambda: compare(10)),
    ]


def _sparse(path: Path, size: int) -> None:
    if path.is_symlink() or path.exists():
        path.unlink()
    with path.open("wb") as handle:
        handle.truncate(size)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


if __name__ == "__main__":
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    sys.exit(main())
