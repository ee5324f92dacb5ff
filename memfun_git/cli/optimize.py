"""`memfun optimize [--steps plan,solve,review]`: the project's programs compiled from its
own traces (optimizer/), saved to `.memfun/programs/` for the developer to commit.

It reads this clone's traces from the configured tier's store, rebuilds each step's examples,
and prints what it will do and spend (calls, and dollars at the traced calls' own cost)
before it spends anything: at a terminal it asks, elsewhere `--yes` is needed. The calls go
through one session capped at that many calls and at `--max-cost`. Each program is saved as
soon as it is compiled, with its score before and after (GEPA stops early once a program
scores 1 on every example); a program file with uncommitted
changes stops the run before the first call. GEPA's progress goes to stderr, the results to
stdout. Tasks start from a commit, so a program is used once it is committed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from memfun_git.errors import UsageError

if TYPE_CHECKING:
    from memfun_git.llm.session import LMSession
    from memfun_git.optimizer.compile import Compiled, RunPlan, StepPlan
    from memfun_git.optimizer.examples import Samples

__all__ = ["DEFAULT_MAX_CALLS", "describe_plan", "run_optimize"]

DEFAULT_MAX_CALLS = 60


def describe_plan(plan: RunPlan, samples: Samples, model: str) -> str:
    """What the run will do and may spend, for the developer to confirm."""
    lines = [f"memfun optimize: {samples.finished} finished of {samples.tasks} traced task(s); "
             f"model {model}"]  # fmt: skip
    for step in plan.steps:
        lines.append(
            f"  {step.step:<7} {len(step.train) + len(step.demos)} example(s): "
            f"{len(step.demos)} shown as demonstrations, {len(step.val)} to score candidates "
            f"on; up to {step.rollouts} runs of the program and {step.proposals} proposal(s)"
        )
    lines += [f"  {line} (skipped)" for line in plan.skipped]
    cost = plan.cost
    price = (f"about ${cost:.2f} at the traced calls' own cost" if cost is not None
             else "cost unknown (the traced calls recorded no price)")  # fmt: skip
    lines.append(f"Budget: at most {plan.calls} model calls, {price}.")
    return "\n".join(lines)


def run_optimize(
    start: Path,
    overrides: Mapping[str, Any],
    *,
    steps: str = "plan,solve,review",
    max_calls: int = DEFAULT_MAX_CALLS,
    max_cost: float | None = None,
    threads: int = 4,
    yes: bool = False,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    ask: Callable[[str], bool] | None = None,
) -> int:
    from memfun_git import config
    from memfun_git.cli.tasks import require_repo
    from memfun_git.llm.session import LMSession
    from memfun_git.optimizer.compile import check_writable, parse_steps, plan_run
    from memfun_git.optimizer.examples import collect
    from memfun_git.records import Records, clone_name
    from memfun_git.redact import register_environ
    from memfun_git.traces import load_trace, traced_tasks

    out = sys.stdout if stdout is None else stdout
    env = os.environ if environ is None else environ
    wanted = parse_steps(steps)
    if max_calls < 1:
        raise UsageError(f"--max-calls {max_calls} allows no call", "give a positive number")
    if max_cost is not None and max_cost <= 0:
        raise UsageError(f"--max-cost {max_cost:g} allows nothing to be spent",
                         "give a positive number of US dollars")  # fmt: skip
    if threads < 1:
        raise UsageError(f"--threads {threads} runs nothing", "give 1 or more")
    paths = require_repo(start)
    if paths.workdir is None:
        raise UsageError("a bare repository has no working tree to save programs in",
                         "run memfun optimize in a clone")  # fmt: skip
    workdir = paths.workdir
    cfg = config.load(workdir, environ=env, overrides=overrides)
    register_environ(env, [cfg.llm.key_env] if cfg.llm.key_env else [])
    with Records.open(cfg.backend, paths.common_dir) as store:
        records = traced_tasks(store, clone_name(paths.common_dir))
        traces = [t for r in records if (t := load_trace(store, str(r.get("id")))) is not None]
    samples = collect(traces, wanted)
    plan = plan_run(samples, wanted, max_calls)
    for step in plan.steps:  # what saving would refuse after the calls, refused before them
        check_writable(workdir, step.step)
    cost_cap = cfg.llm.max_cost_per_task if max_cost is None else max_cost
    llm = dataclasses.replace(
        cfg.llm, max_calls_per_task=plan.calls, max_cost_per_task=cost_cap, max_tokens_per_task=0
    )
    session = LMSession.from_config(llm, env)
    out.write(describe_plan(plan, samples, llm.model) + "\n")
    if cost_cap:
        out.write(f"The run stops at ${cost_cap:.2f} (--max-cost).\n")
    out.flush()
    if not _confirmed(yes, ask):
        out.write("Nothing compiled.\n")
        return 1
    return _compile_all(session, plan, workdir, threads, out)


def _confirmed(yes: bool, ask: Callable[[str], bool] | None) -> bool:
    if yes:
        return True
    if ask is not None:
        return ask("Go on?")
    if not sys.stdin.isatty():
        raise UsageError("memfun optimize asks before it spends",
                         "pass --yes to go on without being asked")  # fmt: skip
    import typer

    return typer.confirm("Go on?", default=False)


def _compile_all(
    session: LMSession, plan: RunPlan, workdir: Path, threads: int, out: TextIO
) -> int:
    from memfun_git.optimizer.compile import compile_step, save_program
    from memfun_git.optimizer.programs import STEPS, load_programs

    kept = load_programs(workdir).states
    saved: list[str] = []
    for step in plan.steps:
        with contextlib.redirect_stdout(sys.stderr):  # DSPy's progress bars: stderr
            compiled = compile_step(session, step, kept.get(STEPS[step.step]), threads=threads)
        path = save_program(workdir, step.step, compiled.state)
        shown = path.relative_to(workdir).as_posix()
        saved.append(shown)
        out.write(_step_line(step, compiled, shown))
        out.flush()
        if compiled.capped is not None:  # what was paid for is saved; the rest cannot run
            _used(session, out)
            out.write(_commit_line(saved))
            raise compiled.capped
    _used(session, out)
    out.write(_commit_line(saved))
    return 0


def _step_line(step: StepPlan, compiled: Compiled, shown: str) -> str:
    better = ("better instructions found" if compiled.best > compiled.baseline
              else "no better instructions found; the wording kept")  # fmt: skip
    scored = ("kept from training" if step.held_out
              else "in-sample: too few to keep some from training")  # fmt: skip
    failed = f"; {compiled.failed} answer(s) cut off or unreadable" if compiled.failed else ""
    capped = "; stopped at the cap" if compiled.capped is not None else ""
    return (
        f"{step.step}: score {compiled.baseline:.2f} -> {compiled.best:.2f} on "
        f"{len(step.val)} example(s) ({scored}), {compiled.candidates} program(s) tried "
        f"({better}{failed}{capped}); {len(step.demos)} demonstration(s); wrote {shown}\n"
    )


def _used(session: LMSession, out: TextIO) -> None:
    usage = session.usage
    cost = f", ${usage.cost:.4f}" if usage.cost else ""
    out.write(f"Used {usage.calls} model call(s), {usage.input_tokens + usage.output_tokens:,} "
              f"tokens{cost}.\n")  # fmt: skip


def _commit_line(saved: Sequence[str]) -> str:
    return (f"Tasks start from a commit: commit {' '.join(saved)} to use them "
            "(memfun show names the programs a task used).\n")  # fmt: skip
