"""`memfun optimize`'s own work, beside what it cannot avoid, in the same run: rebuilding the
examples from traces (optimizer/examples.py `collect`) against reading the traces' JSON, and
scoring one answer (optimizer/metrics.py `judge`), which GEPA does once per run of a program.

- traces: `--tasks` done tasks, each with a plan, a solving and a review call whose prompts
  are written by our own adapters (an LMSession over the scripted model, so the recorded text
  is what real traces hold), a listing of 300 files and `--file-kb` of file contents;
- read: `json.loads` of every trace as the store returns it (the floor);
- collect: the examples of all three steps from those traces;
- judge: each example's accepted answer scored against itself and against another's.

Target: collecting costs under 1 ms a task (the ratio to reading is printed), and a score
under 100 ms at p95: GEPA scores once per model call, which takes seconds.

    uv run python bench/optimize.py [--tasks 200] [--file-kb 40]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from typing import Any

from memfun_git.config import LLMConfig
from memfun_git.llm.scripted import Answer, scripted_lm
from memfun_git.llm.session import LMSession
from memfun_git.optimizer.examples import collect
from memfun_git.optimizer.metrics import judge


def _module(n: int) -> str:
    body = "".join(f"    total += {i} * value\n" for i in range(20))
    return (f"src/mod{n}.py\n<<<<<<< WRITE\ndef mod{n}(value: int) -> int:\n    total = 0\n"
            f"{body}    return total\n>>>>>>> WRITE")  # fmt: skip


def _trace(n: int, file_kb: int) -> dict[str, Any]:
    from memfun_git.llm.signatures import PlanFiles, ReviewChange, SolveTask

    listing = "\n".join(f"src/mod{i}.py ({i * 37})\n  def mod{i}(value)" for i in range(300))
    files = f"### src/mod{n}.py\n" + ("x = 1\n" * (file_kb * 1024 // 6))
    solved = f"Added mod{n}.\n\n{_module(n)}\n"
    review = "SUMMARY: adds the module as asked."
    session = LMSession(
        LLMConfig(provider="openai", model="memfun-scripted"),
        scripted_lm([Answer(raw=f"src/mod{n}.py", step="plan"),
                     Answer(raw=solved, step="solve"), Answer(raw=review, step="review")]),
    )  # fmt: skip
    request = f"add a mod{n} function"
    session.text("plan", PlanFiles, request=request, conventions="(none)", listing=listing,
                 budget="about 30,000 tokens")  # fmt: skip
    session.text("solve", SolveTask, request=request, conventions="(none)", files=files,
                 project="(none)", feedback="(none)", format="(the operation format)")  # fmt: skip
    session.text("review", ReviewChange, intent=request, conventions="(none)", notes="(none)",
                 context="(not given)", diff=f"+def mod{n}(value: int) -> int:",
                 format="(the review format)")  # fmt: skip
    calls = [{"step": r.step, "prompt": r.prompt, "answer": r.answer, "finish_reason": "stop",
              "cost_usd": None, "input_tokens": r.input_tokens, "output_tokens": r.output_tokens}
             for r in session.usage.records]  # fmt: skip
    return {"id": f"t{n}", "status": "done", "events": [], "calls": calls,
            "commits": [{"paths": [f"src/mod{n}.py"]}]}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--file-kb", type=int, default=40)
    args = parser.parse_args()
    stored = [json.dumps(_trace(n, args.file_kb)) for n in range(args.tasks)]
    size = sum(map(len, stored))

    collect([json.loads(stored[0])], ["plan", "solve", "review"])  # imports, compiled patterns
    start = time.perf_counter()
    traces = [json.loads(text) for text in stored]
    read = time.perf_counter() - start
    start = time.perf_counter()
    samples = collect(traces, ["plan", "solve", "review"])
    collecting = time.perf_counter() - start
    found = {step: len(kept) for step, kept in samples.by_step.items()}
    times: list[float] = []
    for kept in samples.by_step.values():
        for i, sample in enumerate(kept):
            for answer in (sample.answer, kept[(i + 1) % len(kept)].answer):
                start = time.perf_counter()
                judge(sample, answer)
                times.append(time.perf_counter() - start)
    p50 = statistics.median(times) * 1000
    p95 = sorted(times)[int(len(times) * 0.95) - 1] * 1000
    print(f"traces: {args.tasks} tasks, {size / 2**20:.1f} MiB of JSON; examples {found}")
    per_task = collecting * 1000 / args.tasks
    print(f"read (json.loads): {read * 1000:.0f} ms; collect: {collecting * 1000:.0f} ms, "
          f"{per_task:.2f} ms a task (ratio to reading {collecting / read:.2f}x)")  # fmt: skip
    print(f"judge: p50 {p50:.2f} ms, p95 {p95:.2f} ms over {len(times)} scores")
    ok = per_task < 1 and p95 < 100
    print(f"target: collect < 1 ms a task, judge p95 < 100 ms: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
