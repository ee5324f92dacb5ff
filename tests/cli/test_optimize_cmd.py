"""`memfun optimize` end to end over a real HTTP model (the stub server): tasks run and
traced, the budget printed and confirmed, programs compiled with GEPA and saved, nothing of
the developer's changed but the program files, no secret in them; bad input is one line."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from memfun_git.optimizer.programs import load_programs
from tests.conftest import git
from tests.helpers.projects import CLEAN, answer, small_project
from tests.helpers.require import need_tool
from tests.helpers.stub_llm import StubLLMServer, StubReply, StubRequest
from tests.quality.kit import venv_with_ruff

SECRET = "sk-memfun-optimize-test-7f3a9c2e1d"
TUNED = "Write the one module the request names, lint-clean, and nothing else."
_ASKED = re.compile(r"add an? (\w+) function")


def _model(monkeypatch: pytest.MonkeyPatch, stub: StubLLMServer) -> None:
    for key, value in {"PROVIDER": "custom", "MODEL": "stub-model", "BASE_URL": stub.url,
                       "NUM_RETRIES": "0"}.items():  # fmt: skip
        monkeypatch.setenv(f"MEMFUN_LLM_{key}", value)
    monkeypatch.setenv("MEMFUN_WORKFLOW_ESCALATE", "false")


def _module(name: str) -> str:
    return f'src/{name}.py\n<<<<<<< WRITE\ndef {name}() -> str:\n    return "{name}"\n>>>>>>> WRITE'


class _Model:
    """The model. In tasks, each solving call writes the function its request names (the
    last user message's, not a demonstration's) and reviews pass. While optimizing, it
    answers right only under the proposed instructions (TUNED in the system message): the
    default programs score below 1 and GEPA has something to find."""

    def __init__(self) -> None:
        self.optimizing = False
        self.refuse_proposals = False

    def __call__(self, request: StubRequest) -> str | StubReply:
        messages = request.body["messages"]
        last = messages[-1]["content"]
        if "Reply with the `improved` text only" in last:
            if self.refuse_proposals:
                return StubReply(status=401, error_body={"error": {"message": "invalid api key"}})
            return TUNED
        right = not self.optimizing or TUNED in messages[0]["content"]
        if "Reply with the `review` text only" in last:
            return CLEAN if right else "src/app.py:1: error: this is wrong\nSUMMARY: broken."
        asked = _ASKED.findall(last)
        name = asked[0] if asked and right else "zeta"
        return answer(f"Added {name}.", _module(name))


def _traced(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stub: StubLLMServer,
    extra: dict[str, str] | None = None,
) -> Path:
    """A project where four tasks were run (`memfun run`, over `stub`) and traced."""
    need_tool("bwrap")
    repo = small_project(tmp_path / "repo", extra)
    venv_with_ruff(repo)
    _model(monkeypatch, stub)
    for name in ("alpha", "beta", "gamma", "delta"):
        assert run(["-C", str(repo), "run", f"add a {name} function"]) == 0
    return repo


def _state(repo: Path) -> tuple[bytes, str, str]:
    index = (repo / ".git" / "index").read_bytes()
    status = git(repo, "--no-optional-locks", "status", "--porcelain", "--untracked-files=all")
    return index, status, git(repo, "branch", "--list")


def test_optimize_compiles_saves_and_the_next_task_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _Model()
    with StubLLMServer(responder=model) as stub:
        repo = _traced(tmp_path, monkeypatch, stub, {"settings.py": f"API_KEY = {SECRET!r}\n"})
        (repo / "notes.txt").write_text("uncommitted work of the developer\n")
        capsys.readouterr()
        before = _state(repo)
        calls = len(stub.requests)
        assert run(["-C", str(repo), "optimize", "--steps", "solver,review"]) == 2
        err = capsys.readouterr().err
        assert err.strip().splitlines()[-1] == (
            "memfun: memfun optimize asks before it spends — pass --yes to go on without being "
            "asked"
        )
        assert len(stub.requests) == calls  # nothing spent
        model.optimizing = True
        code = run(["-C", str(repo), "optimize", "--steps", "solver,review", "--yes",
                    "--max-calls", "30", "--threads", "1"])  # fmt: skip
        out, err = capsys.readouterr()
        assert code == 0, err
        assert "solve   4 example(s): 2 shown as demonstrations" in out
        assert "Budget: at most 30 model calls" in out
        for step in ("solve", "review"):
            line = next(t for t in out.splitlines() if t.startswith(f"{step}: score"))
            before_score, after_score = map(float, re.findall(r"\d\.\d\d", line)[:2])
            assert before_score < after_score == 1.0, line
            assert "(better instructions found); 2 demonstration(s)" in line
            assert f"wrote .memfun/programs/{step}.json" in line
        assert len(stub.requests) - calls <= 30
        model.optimizing = False
        after = _state(repo)
        assert after[0] == before[0]
        assert after[2] == before[2]
        added = set(after[1].splitlines()) - set(before[1].splitlines())
        assert added == {"?? .memfun/programs/review.json", "?? .memfun/programs/solve.json"}
        assert "?? notes.txt" in after[1]
        saved = (repo / ".memfun" / "programs" / "solve.json").read_text()
        assert SECRET not in saved
        assert len(json.loads(saved)["demos"]) == 2
        git(repo, "add", ".memfun/programs")
        git(repo, "commit", "-qm", "memfun: compiled programs")
        assert sorted(load_programs(repo).states) == ["ReviewChange", "SolveTask"]
        calls = len(stub.requests)
        assert run(["-C", str(repo), "run", "add an omega function"]) == 0
        asked = "Reply with the `answer` text only"
        solve = next(r for r in stub.requests[calls:]
                     if asked in r.body["messages"][-1]["content"])  # fmt: skip
        shown = "\n".join(m["content"] for m in solve.body["messages"])
        assert "Added alpha." in shown or "Added delta." in shown  # a demonstration
        tuned = json.loads(saved)["signature"]["instructions"]
        assert tuned.splitlines()[0] in shown
    capsys.readouterr()
    assert run(["-C", str(repo), "list", "--json"]) == 0
    tasks = json.loads(capsys.readouterr().out)
    omega = next(t["id"] for t in tasks if t["request"] == "add an omega function")
    assert run(["-C", str(repo), "show", omega]) == 0
    assert (
        "Compiled programs: solve (.memfun/programs/solve.json), review" in capsys.readouterr().out
    )


def test_a_refused_proposal_stops_the_run_with_one_line_and_saves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    model = _Model()
    with StubLLMServer(responder=model) as stub:
        repo = _traced(tmp_path, monkeypatch, stub)
        capsys.readouterr()
        model.optimizing = model.refuse_proposals = True
        calls = len(stub.requests)
        code = run(["-C", str(repo), "optimize", "--steps", "solve", "--yes", "--threads", "1"])
        err = capsys.readouterr().err.strip().splitlines()
        asked = [r for r in stub.requests[calls:]
                 if "`improved`" in r.body["messages"][-1]["content"]]  # fmt: skip
    assert code == 2, err
    assert err[-1].startswith("memfun: ")
    assert "key" in err[-1]
    assert "Traceback" not in "\n".join(err)
    assert len(asked) == 1  # not retried by GEPA, and the run stopped
    assert not (repo / ".memfun" / "programs").exists()


def test_a_cap_reached_saves_the_step_s_best_so_far_then_is_the_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run's plan holds (its session is capped at the plan's calls), so the cap is met
    here as `--max-cost` meets it: a session whose cap is lower than the plan."""
    import dataclasses
    import io

    from memfun_git import config
    from memfun_git.cli.optimize import _compile_all  # pyright: ignore[reportPrivateUsage]
    from memfun_git.errors import BudgetExceeded
    from memfun_git.llm.session import LMSession
    from memfun_git.optimizer.compile import plan_run
    from memfun_git.optimizer.examples import collect
    from memfun_git.records import Records
    from memfun_git.traces import load_trace, traced_tasks

    model = _Model()
    with StubLLMServer(responder=model) as stub:
        repo = _traced(tmp_path, monkeypatch, stub)
        model.optimizing = True
        cfg = config.load(repo)
        with Records.open(cfg.backend, repo / ".git") as store:
            traces = [t for r in traced_tasks(store) if (t := load_trace(store, r["id"]))]
        plan = plan_run(collect(traces, ["solve", "review"]), ["solve", "review"], 30)
        session = LMSession.from_config(dataclasses.replace(cfg.llm, max_calls_per_task=3))
        out = io.StringIO()
        with pytest.raises(BudgetExceeded):
            _compile_all(session, plan, repo, 1, out)
    shown = out.getvalue()
    assert "; stopped at the cap); 2 demonstration(s); wrote .memfun/programs/solve.json" in shown
    assert "commit .memfun/programs/solve.json to use them" in shown
    assert (repo / ".memfun" / "programs" / "solve.json").exists()
    assert not (repo / ".memfun" / "programs" / "review.json").exists()
    assert session.usage.calls == 3


def test_bad_input_is_one_line_and_spends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = small_project(tmp_path / "repo")
    assert run(["-C", str(repo), "optimize", "--steps", "coder", "--yes"]) == 2
    assert capsys.readouterr().err.strip() == (
        "memfun: --steps names 'coder', which is not a step memfun optimize compiles — use "
        "plan, solve and review (planner, solver, reviewer)"
    )
    assert run(["-C", str(repo), "optimize", "--yes", "--max-cost", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "memfun: --max-cost 0 allows nothing to be spent — give a positive number of US dollars"
    )
    assert run(["-C", str(repo), "optimize", "--yes"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(
        "memfun: nothing to optimize: the traces of 0 finished task(s) (of 0) hold plan 0, "
        "solve 0, review 0 example(s); a program needs 3 — "
    )
    assert "\n" not in err


def test_the_plan_prints_its_cost_from_the_traced_calls() -> None:
    from memfun_git.cli.optimize import describe_plan
    from memfun_git.optimizer.compile import plan_run
    from memfun_git.optimizer.examples import Sample, Samples

    priced = [Sample("solve", {}, "a", (), 1.0, f"t{i}", cost=0.01 * (i + 1)) for i in range(4)]
    samples = Samples(by_step={"solve": priced}, tasks=5, finished=4)
    shown = describe_plan(plan_run(samples, ["solve"], 40), samples, "openai/gpt-4.1")
    assert shown.splitlines()[0] == ("memfun optimize: 4 finished of 5 traced task(s); model "
                                     "openai/gpt-4.1")  # fmt: skip
    assert shown.splitlines()[-1] == (
        "Budget: at most 40 model calls, about $1.00 at the traced calls' own cost."
    )
