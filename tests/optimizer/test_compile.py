"""`memfun optimize`'s pieces (optimizer/examples.py, metrics.py, compile.py): examples
rebuilt from real traces of the engine's tasks, scored against what the project accepted,
compiled with GEPA and the scripted model, saved, loaded by the engine in the next task."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.config import LLMConfig
from memfun_git.engine import Engine
from memfun_git.errors import UsageError
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.llm.session import LMSession
from memfun_git.optimizer.compile import compile_step, parse_steps, plan_run, save_program
from memfun_git.optimizer.examples import (
    Sample,
    Samples,
    collect,
    gate_findings,
    prompt_inputs,
    task_score,
)
from memfun_git.optimizer.metrics import judge
from memfun_git.optimizer.programs import load_programs
from memfun_git.records import Records
from memfun_git.tasks import Task
from memfun_git.traces import load_trace, traced_tasks
from tests.conftest import git
from tests.helpers.projects import CLEAN, answer, small_project
from tests.helpers.require import need_tool
from tests.quality.kit import environ, venv_with_ruff

_NAMES = ("alpha", "beta", "gamma", "delta")


def _module(name: str) -> str:
    return f'src/{name}.py\n<<<<<<< WRITE\ndef {name}() -> str:\n    return "{name}"\n>>>>>>> WRITE'


def _traced_repo(tmp_path: Path, tasks: int = 4) -> Path:
    """A project with `tasks` done tasks run by the engine (scripted), each traced."""
    need_tool("bwrap")
    repo = small_project(tmp_path / "repo")
    venv_with_ruff(repo)
    cfg = config.load(repo, environ={"MEMFUN_WORKFLOW_ESCALATE": "false"})
    for name in _NAMES[:tasks]:
        lm = scripted_lm([Answer(raw=answer(f"Added {name}.", _module(name)), step="solve"),
                          Answer(raw=CLEAN, step="review")])  # fmt: skip
        result = Engine(cfg, lm=lm, environ=environ()).run(
            Task.create(f"add a {name} function", repo)
        )
        assert result.ok, result.error
    return repo


def _traces(repo: Path) -> list[dict[str, object]]:
    cfg = config.load(repo)
    with Records.open(cfg.backend, repo / ".git") as store:
        found = [load_trace(store, str(r["id"])) for r in traced_tasks(store)]
    return [t for t in found if t is not None]


def _session(answers: list[Answer]) -> LMSession:
    return LMSession(LLMConfig(provider="openai", model="memfun-scripted"), scripted_lm(answers))


def test_examples_come_back_from_the_traces_prompts(tmp_path: Path) -> None:
    repo = _traced_repo(tmp_path, tasks=3)
    samples = collect(_traces(repo), ["plan", "solve", "review"])
    assert (samples.tasks, samples.finished, samples.cut) == (3, 3, 0)
    solves = samples.by_step["solve"]
    assert len(solves) == 3
    assert not samples.by_step["plan"]
    first = solves[0]
    assert first.score == 1.0
    assert first.changed == (f"src/{_NAMES[2]}.py",)
    assert first.inputs["request"] == f"add a {_NAMES[2]} function"
    assert list(first.inputs) == ["request", "conventions", "files", "project", "feedback",
                                  "format"]  # fmt: skip
    assert first.answer.startswith(f"Added {_NAMES[2]}.")
    reviews = samples.by_step["review"]
    assert len(reviews) == 3
    assert reviews[0].answer == CLEAN
    assert "+def gamma() -> str:" in reviews[0].inputs["diff"]


def test_a_cut_prompt_and_a_failed_task_are_not_examples() -> None:
    assert prompt_inputs("## system\nx\n\n## user\n[[ ## a ## ]]\n1", ["a"]) is None
    whole = ("## system\nx\n\n## user\n[[ ## a ## ]]\n1\n\n[[ ## b ## ]]\nfirst\n\n[[ ## c ## ]]"
             "\n\nReply with the `c` text only, exactly in the form described.")  # fmt: skip
    assert prompt_inputs(whole, ["a", "b"]) == {"a": "1", "b": "first\n\n[[ ## c ## ]]"}
    assert task_score({"status": "failed", "events": []}) == 0.0
    assert task_score({"status": "done", "events": [{"event": "FixRound"}]}) == 0.5
    assert task_score({"status": "done", "events": [{"event": "Reviewed", "blocking": []}]}) == 1
    assert collect([{"status": "failed", "calls": []}], ["solve"]).finished == 0


def _call(prompt_of: str, answer_text: str, finish: str = "stop") -> dict[str, object]:
    return {"prompt": prompt_of, "answer": answer_text, "finish_reason": finish}


def test_refused_and_cut_off_answers_and_quoted_markers_are_no_examples(tmp_path: Path) -> None:
    repo = _traced_repo(tmp_path, tasks=1)
    (trace,) = _traces(repo)
    calls: list[dict[str, object]] = trace["calls"]  # type: ignore[assignment]
    solve = next(c for c in calls if "`answer`" in str(c["prompt"]))
    prompt = str(solve["prompt"])
    good = str(solve["answer"])
    quoting = prompt.replace("[[ ## feedback ## ]]\n(none)",
                             "[[ ## feedback ## ]]\nsee\n\n[[ ## format ## ]]\nx", 1)  # fmt: skip
    trace["calls"] = [
        _call(prompt, "I will add it now."),  # refused by the operation parser: asked again
        _call(prompt, good[:30], "length"),  # cut off
        _call(quoting, good),  # a value quoting a later field's marker
        _call(prompt, good),
    ]
    samples = collect([trace], ["solve"])
    assert [s.answer for s in samples.by_step["solve"]] == [good]
    assert samples.cut == 1
    # done after a fix round: only its last (committed) solving answer may be an example; cut
    # off, it leaves none, never the earlier answer the gate sent back
    fixed = {**trace, "events": [{"event": "FixRound", "number": 1, "findings": []}],
             "calls": [_call(prompt, good), _call(prompt, good[:30], "length")]}  # fmt: skip
    assert collect([fixed], ["solve"]).by_step["solve"] == []


def test_a_symlinked_programs_folder_is_refused(tmp_path: Path) -> None:
    import dspy

    from memfun_git.llm.signatures import SolveTask

    repo = small_project(tmp_path / "repo")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (repo / ".memfun").symlink_to(elsewhere)
    with pytest.raises(UsageError, match=r"^\.memfun is a symbolic link"):
        save_program(repo, "solve", dspy.Predict(SolveTask).dump_state())
    assert list(elsewhere.iterdir()) == []


def _solve_sample(accepted: str, changed: tuple[str, ...] = ("src/alpha.py",)) -> Sample:
    return Sample("solve", {"request": "r"}, accepted, changed, 1.0, "t1")


def test_the_metrics_score_against_what_was_accepted() -> None:
    accepted = answer("Added alpha.", _module("alpha"))
    assert judge(_solve_sample(accepted), accepted).score == 1.0
    other = judge(_solve_sample(accepted), answer("Added beta.", _module("beta")))
    assert 0.3 < other.score < 0.7
    assert "touched src/alpha.py" in other.feedback
    assert judge(_solve_sample(accepted), "I will add it now.").score == 0.0
    unreadable = judge(_solve_sample(accepted), "src/a.py\n<<<<<<< WRITE\nno end")
    assert unreadable.score == 0.0
    assert "could not be read as operations" in unreadable.feedback
    listing = "src/app.py (120)\n  def main()\nsrc/alpha.py (40)\nREADME.md (10)"
    plan = Sample("plan", {"listing": listing}, "src/alpha.py", ("src/alpha.py",), 1.0, "t")
    assert judge(plan, "- `src/alpha.py`").score == 1.0
    missed = judge(plan, "README.md")
    assert missed.score == 0.0
    assert "it missed src/alpha.py" in missed.feedback
    blocking = "src/a.py:3: error: the loop never ends\nSUMMARY: broken."
    review = Sample("review", {}, blocking, (), 1.0, "t")
    assert judge(review, blocking).score == 1.0
    assert judge(review, CLEAN).score == pytest.approx(0.2)
    assert judge(review, "looks fine").score == 0.0


def test_what_the_gate_had_fixed_is_in_the_feedback() -> None:
    trace = {"status": "done", "events": [
        {"event": "FixRound", "number": 1, "findings": [
            {"path": "src/a.py", "line": 3, "message": "F401 unused import", "source": "ruff"}]},
        {"event": "FixRound", "number": 2, "findings": [
            {"path": "src/a.py", "line": 3, "message": "F401 unused import", "source": "ruff"}]},
    ]}  # fmt: skip
    assert gate_findings(trace) == ("src/a.py:3 (ruff) F401 unused import",)
    accepted = answer("Added alpha.", _module("alpha"))
    sample = Sample("solve", {}, accepted, (), 0.5, "t", fixed=gate_findings(trace))
    feedback = judge(sample, accepted).feedback
    assert feedback.endswith("had its first answer fixed for: src/a.py:3 (ruff) F401 unused "
                             "import.")  # fmt: skip


def test_steps_and_budgets_are_checked_before_anything_is_spent() -> None:
    assert parse_steps("solver, planner") == ["plan", "solve"]
    with pytest.raises(UsageError, match="'coder', which is not a step memfun"):
        parse_steps("coder")
    empty = Samples(by_step={"solve": []}, tasks=2)
    with pytest.raises(
        UsageError, match=r"nothing to optimize: .* hold solve 0 example\(s\); a program needs 3"
    ):
        plan_run(empty, ["solve"], 40)
    four = Samples(by_step={"solve": [_solve_sample(f"a{i}") for i in range(4)]}, tasks=4)
    with pytest.raises(UsageError, match="--max-calls 5 is too few"):
        plan_run(four, ["solve"], 5)
    planned = plan_run(four, ["solve"], 40)
    (step,) = planned.steps
    assert (len(step.demos), len(step.train), step.calls) == (2, 2, 40)
    assert planned.cost is None
    assert not step.held_out  # two left after the demonstrations: scored in-sample
    priced = [Sample("solve", {}, "a", (), 1.0, f"t{i}", cost=0.01 * (i + 1)) for i in range(4)]
    costed = plan_run(Samples(by_step={"solve": priced}, tasks=4), ["solve"], 40)
    assert costed.cost == pytest.approx(40 * 0.025)  # the traced calls' mean cost, per call
    nine = Samples(by_step={"solve": [_solve_sample(f"a{i}") for i in range(9)]}, tasks=9)
    (held,) = plan_run(nine, ["solve"], 40).steps
    assert held.held_out
    assert (len(held.demos), len(held.val), len(held.train)) == (2, 2, 5)
    # GEPA checks its budget only between iterations: one iteration's runs are kept back
    assert held.gepa_budget + 2 * held.batch + len(held.val) == held.rollouts


def test_compiled_saved_and_used_by_the_next_task(tmp_path: Path) -> None:
    repo = _traced_repo(tmp_path)
    samples = collect(_traces(repo), ["solve"])
    planned = plan_run(samples, ["solve"], 16)
    (step,) = planned.steps
    accepted = step.train[0].answer
    # the default program's runs (its score on the examples, then on a minibatch) answer
    # wrongly; the proposed instructions' runs as the project accepted: GEPA keeps them
    wrong = answer("Added nothing useful.", _module("zeta"))
    rollouts = [Answer(raw=wrong if i < 4 else accepted, step="optimize-solve")
                for i in range(step.rollouts)]  # fmt: skip
    proposals = [Answer(raw="Write the module the request names, lint-clean. (tuned)",
                        step="optimize-instructions") for _ in range(step.proposals)]  # fmt: skip
    session = _session([*rollouts, *proposals])
    compiled = compile_step(session, step, threads=1)
    assert compiled.candidates == 2
    assert compiled.rollouts <= step.rollouts
    assert compiled.baseline < compiled.best
    assert session.usage.calls <= step.calls
    path = save_program(repo, "solve", compiled.state)
    saved = json.loads(path.read_text())
    assert [d["answer"] for d in saved["demos"]] == [s.answer for s in step.demos]
    git(repo, "add", ".memfun/programs")
    git(repo, "commit", "-qm", "programs")
    assert list(load_programs(repo).states) == ["SolveTask"]
    cfg = config.load(repo, environ={"MEMFUN_WORKFLOW_ESCALATE": "false"})
    lm = scripted_lm([Answer(raw=answer("Added omega.", _module("omega")), step="solve"),
                      Answer(raw=CLEAN, step="review")])  # fmt: skip
    result = Engine(cfg, lm=lm, environ=environ()).run(Task.create("add omega", repo))
    assert result.ok, result.error
    prompt = next(c for c in engine_of(lm).calls if c.step == "solve").prompt
    for demo in step.demos:
        assert demo.answer.strip() in prompt
    assert saved["signature"]["instructions"].endswith("(tuned)")
    assert "Write the module the request names, lint-clean. (tuned)" in prompt


def test_a_cap_reached_stops_gepa_and_keeps_the_best_so_far(tmp_path: Path) -> None:
    repo = _traced_repo(tmp_path)
    samples = collect(_traces(repo), ["solve"])
    (step,) = plan_run(samples, ["solve"], 16).steps
    accepted = step.train[0].answer
    session = LMSession(
        LLMConfig(provider="openai", model="memfun-scripted", max_calls_per_task=3),
        scripted_lm([Answer(raw=accepted, step="optimize-solve") for _ in range(3)]),
    )
    compiled = compile_step(session, step, threads=1)
    assert compiled.capped is not None
    assert "cap" in str(compiled.capped) or "calls" in str(compiled.capped)
    assert session.usage.calls == 3
    assert compiled.candidates == 1  # the default program, scored before the cap: kept
    assert save_program(repo, "solve", compiled.state).exists()


def test_a_program_with_uncommitted_changes_is_not_overwritten(tmp_path: Path) -> None:
    repo = small_project(tmp_path / "repo")
    folder = repo / ".memfun" / "programs"
    folder.mkdir(parents=True)
    (folder / "solve.json").write_text("{}")
    import dspy

    from memfun_git.llm.signatures import SolveTask

    state = dspy.Predict(SolveTask).dump_state()
    with pytest.raises(UsageError, match=r"solve\.json has changes not committed"):
        save_program(repo, "solve", state)
    assert (folder / "solve.json").read_text() == "{}"
