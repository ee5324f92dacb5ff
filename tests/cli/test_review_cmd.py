"""`memfun review [PATH|--staged|REF]`: the hook's review program on other changes, with the
local stub model: the staged change gets the hook's own verdict (its cache answers the other
door), a commit range and a path's uncommitted changes are reviewed with the same prompt
shape, findings and threshold; bad names are one line; nothing of the user's changes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from tests.conftest import git
from tests.helpers.messy import snapshot
from tests.helpers.stub_llm import StubLLMServer, StubRequest

BUG = "src/calc.py:2: error: divides by zero when count is 0\nSUMMARY: adds mean, with a bug."
MEAN = "def mean(total, count):\n    return total / count\n"
FINDING = "src/calc.py:2: error: divides by zero when count is 0"


def _model(monkeypatch: pytest.MonkeyPatch, stub: StubLLMServer) -> None:
    monkeypatch.delenv("CI", raising=False)
    for key, value in {"PROVIDER": "custom", "MODEL": "stub-model", "BASE_URL": stub.url,
                       "NUM_RETRIES": "0"}.items():  # fmt: skip
        monkeypatch.setenv(f"MEMFUN_LLM_{key}", value)


def _diff_sent(request: StubRequest) -> str:
    shown = "\n".join(m["content"] for m in request.body["messages"])
    return shown.split("[[ ## diff ## ]]")[-1].split("[[ ##")[0]


def test_staged_and_a_commit_range_give_the_hook_s_findings(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "src" / "calc.py").write_text(MEAN)
    git(git_repo, "add", "src/calc.py")
    sent: list[str] = []

    def answer(request: StubRequest) -> str:
        sent.append(_diff_sent(request))
        return BUG

    with StubLLMServer(responder=answer) as stub:
        _model(monkeypatch, stub)
        before = snapshot(git_repo)
        assert run(["-C", str(git_repo), "hook", "review", "--json"]) == 1
        hook = json.loads(capsys.readouterr().out)
        assert run(["-C", str(git_repo), "review", "--staged", "--json"]) == 1
        staged = json.loads(capsys.readouterr().out)
        assert staged["cached"]  # the very verdict the hook made, from its cache
        assert staged["findings"] == hook["findings"]
        assert snapshot(git_repo) == before
        git(git_repo, "commit", "-qm", "add mean")
        assert run(["-C", str(git_repo), "review", "HEAD~1..HEAD"]) == 1
        out = capsys.readouterr().out.splitlines()
        assert out == [
            FINDING,
            "memfun review: 1 error — 1 at or over error ([hook] threshold) in HEAD~1..HEAD",
        ]
        assert run(["-C", str(git_repo), "review", "HEAD", "--json"]) == 1  # a commit alone
        one = json.loads(capsys.readouterr().out)
    assert one["findings"] == hook["findings"]
    assert len(sent) == 3  # the hook's review, the range's, the commit's
    assert sent[0] == sent[1] == sent[2]  # one diff, one program: the same prompt for it
    assert "+    return total / count" in sent[0]


def test_a_path_reviews_its_uncommitted_changes_only(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (git_repo / "src" / "app.py").write_text("def add(a, b):\n    return a - b\n")
    (git_repo / "README.md").write_text("# Demo\n\nChanged too.\n")
    sent: list[str] = []

    def answer(request: StubRequest) -> str:
        sent.append(_diff_sent(request))
        return "SUMMARY: fine."

    with StubLLMServer(responder=answer) as stub:
        _model(monkeypatch, stub)
        before = snapshot(git_repo)
        assert run(["-C", str(git_repo), "review", "src"]) == 0
        assert capsys.readouterr().out == "memfun review: no findings — fine.\n"
        assert run(["-C", str(git_repo), "review"]) == 0
        capsys.readouterr()
        assert run(["-C", str(git_repo), "review", "docs"]) == 2  # no such path, no such commit
        assert capsys.readouterr().err.strip() == (
            "memfun: 'docs' is not a commit here — name a commit, a branch or a range"
        )
    assert "src/app.py" in sent[0]
    assert "README.md" not in sent[0]
    assert "README.md" in sent[1]
    assert "src/app.py" in sent[1]
    assert snapshot(git_repo) == before


def test_staged_with_a_target_and_nothing_to_review_say_so(
    git_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with StubLLMServer(responder=lambda _r: "SUMMARY: x") as stub:
        _model(monkeypatch, stub)
        assert run(["-C", str(git_repo), "review", "--staged", "HEAD"]) == 2
        assert capsys.readouterr().err.strip() == (
            "memfun: --staged and HEAD name two changes — review one: --staged, a path or a commit"
        )
        assert run(["-C", str(git_repo), "review", "src"]) == 0
        assert capsys.readouterr().out == "memfun review: no change in src\n"
        assert not stub.posts
