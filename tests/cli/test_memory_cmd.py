"""`memfun memory list | add | forget | search` through the real door."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfun_git.cli.main import run


def _json(repo: Path, capsys: pytest.CaptureFixture[str], *args: str) -> object:
    assert run(["-C", str(repo), "memory", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_add_list_search_and_forget(git_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    memfun = ["-C", str(git_repo), "memory"]
    assert run([*memfun, "list"]) == 0
    assert "Nothing remembered yet" in capsys.readouterr().out
    assert run([*memfun, "add", "--kind", "preference", "always use pool_size=10 for dev"]) == 0
    assert "Remembered " in capsys.readouterr().out
    added = _json(git_repo, capsys, "add", "the API server listens on port 8080")
    assert isinstance(added, dict)
    assert added["section"] == "Project facts"
    listed = _json(git_repo, capsys, "list")
    assert isinstance(listed, list)
    assert {e["text"] for e in listed} == {
        "always use pool_size=10 for dev",
        "the API server listens on port 8080",
    }
    found = _json(git_repo, capsys, "search", "which port does the api listen on")
    assert isinstance(found, list)
    assert found[0]["id"] == added["id"]
    assert run([*memfun, "forget", added["id"]]) == 0
    assert "removed from .memfun/MEMORY.md" in capsys.readouterr().out
    assert "8080" not in (git_repo / ".memfun" / "MEMORY.md").read_text()
    assert _json(git_repo, capsys, "search", "port") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add", "  "], "the memory entry is empty"),
        (["add", "ghp_" + "R7xT2kLm9QpZ4vWc8NbY3hJd6FgS1aEu0oIq"], "mostly a secret"),
        (["add", "--kind", "mood", "x y z"], "'mood' is not a kind of memory"),
        (["forget", "zz"], "'zz' is not a memory id"),
        (["forget", "abcdef"], "no memory entry abcdef"),
        (["search", " "], "the query is empty"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    git_repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert run(["-C", str(git_repo), "memory", *args]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert message in err
    assert len(err.strip().splitlines()) == 1
    assert not (git_repo / ".memfun").exists()
