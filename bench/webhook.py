"""The App's acknowledgement latency: signed webhooks at 50 per second to `memfun app serve`,
beside a bare starlette endpoint that does nothing, in the same run.

Two servers on loopback, each uvicorn in a process of its own: `memfun app serve --port 0`
(the real command: signature check, routing, the delivery's record and the task enqueued on
the SQLite tier in a temporary folder) and a starlette app whose one endpoint answers 200 and
does nothing. Every 1/rate seconds one request goes to each, in alternating order, on a new
connection each (as GitHub delivers); each is a `labeled` payload of a new delivery, so every
one is accepted (202) and queued: the slowest path. Printed: p50, p99 and max of the time from
sending to the answer, for both, and memfun's over the bare endpoint's. Target (issue 26):
answered well under a second; p99 at most 50 ms here.

    uv run python bench/webhook.py [--seconds 5] [--rate 50]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
PAYLOAD = ROOT / "tests" / "fixtures" / "github-webhooks" / "issues" / "labeled.payload.json"
SECRET = "bench-webhook-secret-0123456789"
TARGET_P99 = 0.050


def _serve_bare() -> None:
    """The baseline: uvicorn serving one starlette endpoint that does nothing."""
    import socket

    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def nothing(request: Request) -> Response:
        return Response(status_code=200)

    app = Starlette(routes=[Route("/webhook", nothing, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    print(f"port {sock.getsockname()[1]}", flush=True)
    config = uvicorn.Config(app, log_config=None, access_log=False, server_header=False)
    uvicorn.Server(config).run(sockets=[sock])


def _start(argv: list[str], env: dict[str, str], cwd: str, pattern: str) -> tuple[Any, int]:
    """A server process and its port, read from the line it prints when it listens."""
    proc = subprocess.Popen(
        argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    stream = proc.stdout if "port" in pattern else proc.stderr
    assert stream is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        found = re.search(pattern, line)
        if found:
            return proc, int(found.group(1))
    proc.kill()
    raise SystemExit(f"{argv[-3:]} did not start: {proc.communicate()[1][-500:]}")


def _body(n: int) -> bytes:
    payload = json.loads(PAYLOAD.read_text())
    payload["label"]["name"] = "memfun"
    payload["issue"]["number"] = n
    return json.dumps(payload).encode()


async def _load(ports: dict[str, int], seconds: float, rate: float) -> dict[str, list[float]]:
    import httpx

    samples: dict[str, list[float]] = {name: [] for name in ports}
    statuses: dict[str, set[int]] = {name: set() for name in ports}
    limits = httpx.Limits(max_keepalive_connections=0)  # a new connection each, as GitHub
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:

        async def post(name: str, n: int, body: bytes, signature: str) -> None:
            headers = {
                "X-GitHub-Event": "issues",
                "X-GitHub-Delivery": f"bench-{n}",
                "X-Hub-Signature-256": signature,
                "Content-Type": "application/json",
            }
            url = f"http://127.0.0.1:{ports[name]}/webhook"
            begin = time.perf_counter()
            response = await client.post(url, content=body, headers=headers)
            samples[name].append(time.perf_counter() - begin)
            statuses[name].add(response.status_code)

        for n in range(-20, 0):  # warm up both (connections, imports, the SQLite file)
            body = _body(-n)
            for name in ports:
                await post(name, n, body, _sign(body))
        for name in ports:
            samples[name].clear()
            statuses[name].clear()
        total = int(seconds * rate)
        started = time.perf_counter()
        for n in range(total):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            body = _body(n + 1)
            order = list(ports) if n % 2 == 0 else list(reversed(ports))
            for name in order:
                await post(name, n, body, _sign(body))
    if statuses["memfun"] != {202} or statuses["bare"] != {200}:
        raise SystemExit(f"unexpected answers: {statuses}")
    return samples


def _sign(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def _quantiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100)
    return statistics.median(samples), cuts[98], max(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description="webhook acknowledgement latency")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        _serve_bare()
        return 0
    with tempfile.TemporaryDirectory(prefix="memfun-bench-") as tmp:
        env = {
            **os.environ,
            "HOME": tmp,
            "MEMFUN_WEBHOOK_SECRET": SECRET,
            "MEMFUN_BACKEND_TIER": "sqlite",
            "MEMFUN_BACKEND_SQLITE_PATH": str(Path(tmp) / "memfun.db"),
        }
        memfun, memfun_port = _start(
            [sys.executable, "-m", "memfun_git", "app", "serve", "--port", "0"],
            env,
            tmp,
            r"http://127\.0\.0\.1:(\d+)/webhook",
        )
        bare, bare_port = _start(
            [sys.executable, str(Path(__file__).resolve()), "--bare"], env, tmp, r"^port (\d+)"
        )
        try:
            samples = asyncio.run(
                _load({"memfun": memfun_port, "bare": bare_port}, args.seconds, args.rate)
            )
        finally:
            for proc in (memfun, bare):
                proc.terminate()
                proc.communicate(timeout=30)
    count = len(samples["memfun"])
    print(
        f"{count} signed webhooks to each server at {args.rate:g}/s, interleaved, a new "
        "connection each; acknowledgement latency (send to answer)"
    )
    print(f"{'endpoint':<34}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}")
    ours, base = _quantiles(samples["memfun"]), _quantiles(samples["bare"])
    for name, row in (("memfun app serve (sqlite, 202)", ours), ("bare starlette (200)", base)):
        print(f"{name:<34}{row[0] * 1000:>8.2f}{row[1] * 1000:>8.2f}{row[2] * 1000:>8.2f}")
    print(
        f"{'ratio memfun / bare':<34}{ours[0] / base[0]:>8.2f}{ours[1] / base[1]:>8.2f}"
        f"{ours[2] / base[2]:>8.2f}"
    )
    met = ours[1] <= TARGET_P99
    print(f"target: memfun's p99 at most {TARGET_P99 * 1000:.0f} ms: {'met' if met else 'MISSED'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
