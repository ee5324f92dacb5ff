"""Compiled programs in `.memfun/programs/` (optimizer/programs.py): loaded from the task's
base, used by the engine's calls of that signature (the prompt shows the compiled
demonstration), named in `memfun show`; a file that does not load is one warning and the
default program runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_git import config
from memfun_git.cli.main import run
from memfun_git.engine import Engine
from memfun_git.events import Event, StepStarted
from memfun_git.llm.scripted import Answer, engine_of, scripted_lm
from memfun_git.optimizer.programs import load_programs
from memfun_git.tasks import Task
from tests.conftest import git
from tests.helpers.projects import CLEAN, GREET, answer, small_project
from tests.helpers.require import need_tool
from tests.quality.kit import environ, venv_with_ruff

DEMO = {
    "request": "add a farewell function", "conventions": "(none)", "files": "(none)",
    "project": "(none)", "feedback": "(none)", "format": "(the format)",
    "answer": "DEMO-MARKER: src/farewell.py written as asked",
}  # fmt: skip


def _program(demos: list[dict[str, str]]) -> str:
    """A compiled SolveTask as DSPy saves one (`dump_state`)."""
    import dspy

    from memfun_git.llm.signatures import SolveTask

    predictor = dspy.Predict(SolveTask.with_instructions("Solve it (compiled)."))
    state = predictor.dump_state()
    state["demos"] = demos
    return json.dumps(state)


def test_a_program_loads_and_a_broken_one_is_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / ".memfun" / "programs"
    folder.mkdir(parents=True)
    (folder / "solve.json").write_text(_program([DEMO]))
    (folder / "review.json").write_text("{not json")
    (folder / "plan.json").write_text(_program([{"nonsense": "x"}]))
    found = load_programs(tmp_path)
    assert list(found.states) == ["SolveTask"]
    assert found.files == {"solve": ".memfun/programs/solve.json"}
    assert len(found.warnings) == 2
    assert found.warnings[0].startswith(".memfun/programs/plan.json does not load (a demo has "
                                        "fields the signature lacks: nonsense)")  # fmt: skip
    assert found.warnings[1].startswith(".memfun/programs/review.json does not load (")
    assert found.warnings[1].endswith("the default review program runs")
    assert load_programs(tmp_path / "nowhere").states == {}


def test_the_engine_uses_the_saved_program_in_the_next_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_tool("bwrap")
    repo = small_project(tmp_path / "repo")
    venv_with_ruff(repo)
    folder = repo / ".memfun" / "programs"
    folder.mkdir(parents=True)
    (folder / "solve.json").write_text(_program([DEMO]))
    (folder / "review.json").write_text("[]")
    git(repo, "add", ".memfun/programs")
    git(repo, "commit", "-qm", "programs")
    lm = scripted_lm([Answer(raw=answer("Added greet.", GREET), step="solve"),
                      Answer(raw=CLEAN, step="review")])  # fmt: skip
    events: list[Event] = []
    cfg = config.load(repo, environ={"MEMFUN_WORKFLOW_ESCALATE": "false"})
    result = Engine(cfg, lm=lm, emit=events.append, environ=environ()).run(
        Task.create("add a greet function", repo)
    )
    assert result.ok, result.error
    solve = next(c for c in engine_of(lm).calls if c.step == "solve")
    assert "DEMO-MARKER: src/farewell.py written as asked" in solve.prompt
    assert "Solve it (compiled)." in solve.prompt
    review = next(c for c in engine_of(lm).calls if c.step == "review")
    assert "DEMO-MARKER" not in review.prompt
    warnings = [e.detail for e in events if isinstance(e, StepStarted) and e.step == "warning"]
    assert warnings == [".memfun/programs/review.json does not load (not a JSON object): the "
                        "default review program runs"]  # fmt: skip
    assert run(["-C", str(repo), "show", result.task.id]) == 0
    assert "Compiled programs: solve (.memfun/programs/solve.json)" in capsys.readouterr().out


def test_a_program_cannot_set_the_model_or_its_endpoint(tmp_path: Path) -> None:
    folder = tmp_path / ".memfun" / "programs"
    folder.mkdir(parents=True)
    state = json.loads(_program([DEMO]))
    (folder / "solve.json").write_text(json.dumps({**state, "config": {"api_base": "http://x"}}))
    (folder / "plan.json").write_text(json.dumps({**state, "lm": {"model": "evil"}}))
    found = load_programs(tmp_path)
    assert found.states == {}
    assert "it names a model (lm)" in found.warnings[0]
    assert "it holds config, which a compiled program may not set" in found.warnings[1]
