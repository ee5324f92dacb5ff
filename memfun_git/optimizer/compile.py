"""`memfun optimize`: the plan, plan-files and review programs compiled from the project's
own traces with GEPA, under a call budget, and saved where the engine loads them.

- `plan_run(samples, steps, max_calls)` splits the budget between the steps that have enough
  examples (optimizer/examples.py): each step's best examples become its labelled
  demonstrations (their long inputs shortened), the rest are GEPA's examples; a step's share
  of the calls is its program's runs (GEPA's `max_metric_calls`) and the proposals of new
  instructions (one call each). The plan says what it will cost, from the traced calls' own
  cost, before anything is spent.
- `compile_step(session, step_plan, seed)` runs DSPy's GEPA on a `Predict` of the step's
  signature (starting from the program the project keeps, when it has one), scoring each
  answer with optimizer/metrics.py. New instructions come from `ImproveInstructions`, made
  through the session like every call of ours (caps, usage, redaction), with each example's
  inputs shortened; GEPA's own proposer would send the whole inputs (a solving call's files)
  and call the LM outside the session. When the proposals are spent, GEPA stops.
- `save_program(workdir, step, state)` writes `.memfun/programs/<step>.json`, checked as
  the engine will load it (programs.py); a file with uncommitted changes is never overwritten.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from memfun_git.errors import UsageError
from memfun_git.optimizer.examples import Sample, Samples
from memfun_git.optimizer.metrics import judge
from memfun_git.optimizer.programs import PROGRAMS_DIR, STEPS
from memfun_git.redact import redact

if TYPE_CHECKING:
    import dspy

    from memfun_git.llm.session import LMSession

__all__ = [
    "MIN_SAMPLES",
    "Compiled",
    "RunPlan",
    "StepPlan",
    "check_writable",
    "compile_step",
    "parse_steps",
    "plan_run",
    "program_changed",
    "save_program",
]

MIN_SAMPLES = 3
"""Examples a step needs: a demonstration and two to evaluate candidates on."""
_DEMOS = 2
_DEMO_FIELD_CHARS = 3_000
"""A demonstration's input is cut to this (the answer's form is what it shows)."""
_DEMO_ANSWER_CHARS = 8_000
"""A longer accepted answer is not made a demonstration."""
_SHOWN_INPUT_CHARS = 1_200
"""Each input of an example the proposal call reads."""
_PROPOSAL_EXAMPLES = 4
_MIN_SHARE = 12
"""Calls a step needs: a proposal, and runs for the first evaluation, one iteration and the
margin below."""
_ALIASES = {"plan": "plan", "planner": "plan", "solve": "solve", "solver": "solve",
            "review": "review", "reviewer": "review"}  # fmt: skip


def parse_steps(text: str) -> list[str]:
    """`plan,solve,review` (or planner, solver, reviewer) as step names, in that order."""
    wanted: set[str] = set()
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        if part not in _ALIASES:
            raise UsageError(
                f"--steps names {part!r}, which is not a step memfun optimize compiles",
                "use plan, solve and review (planner, solver, reviewer)",
            )
        wanted.add(_ALIASES[part])
    if not wanted:
        raise UsageError("--steps names no step", "use plan, solve and review")
    return [s for s in STEPS if s in wanted]


@dataclass(frozen=True, slots=True)
class StepPlan:
    step: str
    demos: tuple[Sample, ...]
    train: tuple[Sample, ...]
    val: tuple[Sample, ...]
    rollouts: int
    """Runs of the program, at most."""
    proposals: int
    cost_per_call: float | None

    @property
    def batch(self) -> int:
        """GEPA's minibatch: the examples a proposal is tried on."""
        return min(3, len(self.train))

    @property
    def held_out(self) -> bool:
        """Whether the examples candidates are scored on are not GEPA's training examples."""
        return not set(map(id, self.val)) & set(map(id, self.train))

    @property
    def gepa_budget(self) -> int:
        """GEPA's `max_metric_calls`. GEPA checks it before each iteration, and an iteration
        runs the parent and the new program on a minibatch, then the new one on the whole
        evaluation set: that much is kept back, so the runs never pass `rollouts`."""
        return self.rollouts - 2 * self.batch - len(self.val)

    @property
    def calls(self) -> int:
        return self.rollouts + self.proposals


@dataclass(frozen=True, slots=True)
class RunPlan:
    steps: tuple[StepPlan, ...]
    skipped: tuple[str, ...]
    """One line per step left out, saying why."""

    @property
    def calls(self) -> int:
        return sum(s.calls for s in self.steps)

    @property
    def cost(self) -> float | None:
        """Dollars at the traced calls' own cost; None when no traced call had a price."""
        known = [s.cost_per_call * s.calls for s in self.steps if s.cost_per_call is not None]
        return sum(known) if known else None


def plan_run(samples: Samples, steps: Sequence[str], max_calls: int) -> RunPlan:
    """How `max_calls` are spent on `steps` (see the module); UsageError when no step can be
    compiled."""
    skipped: list[str] = []
    usable: list[str] = []
    for step in steps:
        found = len(samples.by_step.get(step, []))
        if found < MIN_SAMPLES:
            skipped.append(f"{step}: {found} example(s) from finished tasks' traces, "
                           f"{MIN_SAMPLES} needed")  # fmt: skip
        else:
            usable.append(step)
    if not usable:
        counts = ", ".join(f"{step} {len(samples.by_step.get(step, []))}" for step in steps)
        raise UsageError(
            f"nothing to optimize: the traces of {samples.finished} finished task(s) (of "
            f"{samples.tasks}) hold {counts} example(s); a program needs {MIN_SAMPLES}",
            'run more tasks first (`memfun run "<request>"`): each keeps a trace for 30 days',
        )
    share = max_calls // len(usable)
    if share < _MIN_SHARE:
        raise UsageError(f"--max-calls {max_calls} is too few for {len(usable)} program(s)",
                         f"allow at least {_MIN_SHARE * len(usable)} calls")  # fmt: skip
    planned: list[StepPlan] = []
    for step in usable:
        pool = samples.by_step[step]
        fit = [s for s in pool if len(s.answer) <= _DEMO_ANSWER_CHARS]
        demos = tuple(fit[: min(_DEMOS, len(pool) - 2)])
        rest = tuple(s for s in pool if s not in demos)
        proposals = max(1, share // 7)
        rollouts = share - proposals
        room = max(1, (rollouts - 6) // 3)
        if len(rest) >= 4:  # kept from training, spread over the examples (not the best few)
            held = max(1, min(room, len(rest) // 3))
            val = rest[1::3][:held]
            train = tuple(s for s in rest if s not in val)
        else:  # too few to hold any out: scored in-sample
            train, val = rest, rest[: min(room, len(rest))]
        costs = [s.cost for s in pool if s.cost is not None]
        per_call = sum(costs) / len(costs) if costs else None
        planned.append(StepPlan(step, demos, train, val, rollouts, proposals, per_call))
    return RunPlan(tuple(planned), tuple(skipped))


@dataclass(frozen=True, slots=True)
class Compiled:
    step: str
    state: dict[str, Any]
    """The Predict state to save (`dump_state`)."""
    baseline: float
    """The starting program's average score on the evaluation examples."""
    best: float
    candidates: int
    """Programs GEPA evaluated, the starting one included."""
    rollouts: int
    failed: int = 0
    """Runs whose answer was cut off or could not be read (scored 0)."""
    capped: BaseException | None = None
    """The cap that stopped GEPA early (its best program so far is this one)."""


def _demo(sample: Sample, output: str) -> dict[str, str]:
    shown = {k: v if len(v) <= _DEMO_FIELD_CHARS else
             f"{v[:_DEMO_FIELD_CHARS]}\n… (shortened for this example)"
             for k, v in sample.inputs.items()}  # fmt: skip
    return {k: redact(v) for k, v in {**shown, output: sample.answer}.items()}


def compile_step(
    session: LMSession,
    plan: StepPlan,
    seed: Mapping[str, Any] | None = None,
    *,
    threads: int = 4,
) -> Compiled:
    """GEPA's best program for `plan.step` (see the module)."""
    import dspy

    from memfun_git.llm import signatures

    signature = getattr(signatures, STEPS[plan.step])
    output = next(iter(signature.output_fields))
    runs = _Runs(session, f"optimize-{plan.step}")
    student = _student(signature, runs)
    if seed is not None:
        student.predict.load_state(dict(seed))
        student.predict.lm = None
    student.predict.demos = [dspy.Example(**_demo(s, output)) for s in plan.demos]

    def metric(
        gold: dspy.Example, pred: dspy.Prediction, trace: Any = None,
        pred_name: str | None = None, pred_trace: Any = None,
    ) -> dspy.Prediction:  # fmt: skip
        verdict = judge(gold.sample, str(pred.get(output, "") or ""))
        return dspy.Prediction(score=verdict.score, feedback=verdict.feedback)

    def examples(chosen: Sequence[Sample]) -> list[dspy.Example]:
        return [dspy.Example(**s.inputs, sample=s).with_inputs(*s.inputs) for s in chosen]

    proposer = _Proposer(session, plan.step, signature, plan.proposals, runs)
    optimizer = dspy.GEPA(
        metric=metric,
        max_metric_calls=plan.gepa_budget,
        reflection_minibatch_size=plan.batch,
        instruction_proposer=proposer,
        num_threads=threads,
        track_stats=True,
        use_merge=False,
        warn_on_score_mismatch=False,
        gepa_kwargs={"stop_callbacks": [proposer.spent, runs.stopped, _perfect]},
    )
    try:
        with session.scope(runs.step, raw=True):
            best = optimizer.compile(
                student, trainset=examples(plan.train), valset=examples(plan.val)
            )
    except Exception as exc:
        raise (runs.fatal or runs.capped or session.failure(exc, runs.step)) from exc
    if runs.fatal is not None:
        raise runs.fatal
    results = cast(Any, best).detailed_results
    scores = [float(s) for s in results.val_aggregate_scores]
    state = cast(Any, best).predict.dump_state()
    return Compiled(
        plan.step,
        state,
        baseline=scores[0],
        best=max(scores),
        candidates=len(scores),
        rollouts=int(results.total_metric_calls or 0),
        failed=runs.failed,
        capped=runs.capped,
    )


def _perfect(state: Any) -> bool:
    """GEPA's stop condition: a program already scores 1 on every evaluation example."""
    scored: list[dict[Any, float]] = getattr(state, "prog_candidate_val_subscores", [])
    return any(s and min(s.values()) >= 1.0 for s in scored)


class _Runs:
    """What the runs and proposals of one step did, across the copies of the program GEPA
    makes. GEPA scores a run that raised as a failure and retries a proposal that raised, then
    goes on: a cut-off or unreadable answer is only that (counted); a cap reached (`capped`)
    stops GEPA, whose best program so far is kept (it was paid for); anything else (the key
    refused, the endpoint down, a bug) is `fatal`. `stopped` is GEPA's stop condition."""

    def __init__(self, session: LMSession, step: str) -> None:
        self.session = session
        self.step = step
        self.failed = 0
        self.capped: BaseException | None = None
        self.fatal: BaseException | None = None
        self._lock = threading.Lock()

    def failure(self, exc: Exception) -> None:
        from memfun_git.errors import BudgetExceeded, LLMTruncated, LLMUnparseable

        ours = self.session.failure(exc, self.step)
        with self._lock:
            if isinstance(ours, LLMTruncated | LLMUnparseable):
                self.failed += 1
            elif isinstance(ours, BudgetExceeded):
                self.capped = self.capped or ours
            elif self.fatal is None:
                self.fatal = ours

    def stopped(self, _state: Any = None) -> bool:
        return self.fatal is not None or self.capped is not None


def _student(signature: type[dspy.Signature], runs: _Runs) -> Any:
    """A module of one `Predict` named `predict` (GEPA optimizes a module's predictors) whose
    failures `runs` records (a closure: GEPA's copies of the module share it)."""
    import dspy

    class Student(dspy.Module):
        def __init__(self) -> None:
            super().__init__()
            self.predict = dspy.Predict(signature)

        def forward(self, **inputs: Any) -> dspy.Prediction:
            try:
                return self.predict(**inputs)
            except Exception as exc:
                runs.failure(exc)
                raise

    return Student()


class _Proposer:
    """GEPA's instruction proposer: one `ImproveInstructions` call through the session per
    proposal, at most `budget` of them; `spent` is GEPA's stop condition."""

    def __init__(
        self,
        session: LMSession,
        step: str,
        signature: type[dspy.Signature],
        budget: int,
        runs: _Runs,
    ) -> None:
        self.session = session
        self.step = step
        self.signature = signature
        self.left = budget
        self.runs = runs
        self._lock = threading.Lock()

    def spent(self, _state: Any = None) -> bool:
        return self.left <= 0

    def __call__(
        self,
        candidate: dict[str, str],
        reflective_dataset: Mapping[str, Sequence[Mapping[str, Any]]],
        components_to_update: list[str],
    ) -> dict[str, str]:
        from memfun_git.llm.signatures import ImproveInstructions

        proposed: dict[str, str] = {}
        for name in components_to_update:
            with self._lock:
                if self.left <= 0:
                    break
                self.left -= 1
            described = (
                f"{self.step}: inputs {', '.join(self.signature.input_fields)}; "
                f"output {', '.join(self.signature.output_fields)}"
            )
            try:
                text = self.session.text(
                    "optimize-instructions",
                    ImproveInstructions,
                    step=described,
                    current=candidate[name],
                    examples=_shown(reflective_dataset.get(name, ())),
                )
            except Exception as exc:  # GEPA would log it and go on: the run stops on it
                self.runs.failure(exc)
                self.left = 0
                raise
            proposed[name] = text.strip() or candidate[name]
        return proposed


def _shown(items: Sequence[Mapping[str, Any]]) -> str:
    """The reflective examples as text, each input shortened, redacted."""
    parts: list[str] = []
    for number, item in enumerate(items[:_PROPOSAL_EXAMPLES], 1):
        inputs = cast(Mapping[str, Any], item.get("Inputs") or {})
        shown = "\n".join(f"- {k}: {_cut(str(v))}" for k, v in inputs.items())
        outputs = item.get("Generated Outputs")
        said = (
            "\n".join(f"{k}: {_cut(str(v), 3 * _SHOWN_INPUT_CHARS)}"
                      for k, v in cast(Mapping[str, Any], outputs).items())
            if isinstance(outputs, Mapping) else _cut(str(outputs), 3 * _SHOWN_INPUT_CHARS)
        )  # fmt: skip
        parts.append(f"## Example {number}\nInputs:\n{shown}\nAnswer:\n{said}\n"
                     f"Feedback: {item.get('Feedback', '')}")  # fmt: skip
    return redact("\n\n".join(parts)) or "(none)"


def _cut(text: str, most: int = _SHOWN_INPUT_CHARS) -> str:
    return text if len(text) <= most else f"{text[:most]} … ({len(text) - most:,} more characters)"


def save_program(workdir: Path, step: str, state: Mapping[str, Any]) -> Path:
    """Write `.memfun/programs/<step>.json` under `workdir` (see the module)."""
    import dspy

    from memfun_git.atomic import write_atomic
    from memfun_git.llm import signatures
    from memfun_git.optimizer.programs import sanitized

    signature = getattr(signatures, STEPS[step])
    clean = sanitized(dict(state), signature)
    dspy.Predict(signature).load_state(clean)
    path = check_writable(workdir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, (json.dumps(clean, indent=2, ensure_ascii=False) + "\n").encode())
    return path


def check_writable(workdir: Path, step: str) -> Path:
    """Where `step`'s program is saved; UsageError when saving there would write outside
    the repository or over changes not committed."""
    path = workdir / PROGRAMS_DIR / f"{step}.json"
    _inside(workdir, path)
    if program_changed(workdir, step):
        raise UsageError(f"{path.relative_to(workdir).as_posix()} has changes not committed",
                         "commit or remove it, then optimize again")  # fmt: skip
    return path


def _inside(workdir: Path, path: Path) -> None:
    """UsageError unless `path` is a plain file (or none yet) in plain folders of `workdir`:
    a symlink on the way (a committed `.memfun` pointing elsewhere) would write outside."""
    here = workdir
    for part in path.relative_to(workdir).parts:
        here = here / part
        if here.is_symlink():
            raise UsageError(f"{here.relative_to(workdir).as_posix()} is a symbolic link: "
                             "memfun writes programs only inside the repository",
                             "make it a plain folder (or file), then optimize again")  # fmt: skip


def program_changed(workdir: Path, step: str) -> bool:
    """Whether `step`'s program file exists and differs from HEAD's (or HEAD has none): work
    of the developer's that saving would overwrite."""
    import pygit2

    path = workdir / PROGRAMS_DIR / f"{step}.json"
    if not path.exists():
        return False
    try:
        repo = pygit2.Repository(str(workdir))
        blob = repo.revparse_single(f"HEAD:{path.relative_to(workdir).as_posix()}")
    except (KeyError, ValueError, pygit2.GitError):
        return True
    return cast(Any, blob).data != path.read_bytes()
