"""`memfun analyze` through the real door: the tree, --json, a PATH, --query/--budget ranking,
--no-cache, and one-line errors for bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from memfun_git.codemap.build import cache_path
from memfun_git.codemap.render import tokens
from tests.conftest import git


@pytest.fixture
def project(git_repo: Path) -> Path:
    (git_repo / "src" / "shop.py").write_text(
        "class Cart:\n    @property\n    def total(self) -> int:\n        return 0\n"
    )
    (git_repo / "web").mkdir()
    (git_repo / "web" / "view.tsx").write_text(
        "export function CartView(): JSX.Element { return <div/>; }\n"
    )
    (git_repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "shop")
    (git_repo / "src" / "wip.py").write_text("def unfinished():\n    pass\n")
    return git_repo


def test_the_tree_shows_files_sizes_definitions_and_what_was_skipped(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(project), "analyze"]) == 0
    out = capsys.readouterr().out
    assert "src/shop.py (" in out
    assert "class Cart" in out
    assert "@property def total(self) -> int" in out
    assert "export function CartView" not in out
    assert "function CartView(): JSX.Element" in out
    assert "src/wip.py" in out
    assert "def unfinished()" in out
    assert "skipped 1 files: binary 1" in out


def test_json_lists_symbols_and_skipped_files(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(project), "analyze", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    by_path = {f["path"]: f for f in data["files"]}
    assert set(by_path) == {"README.md", "src/app.py", "src/shop.py", "src/wip.py", "web/view.tsx"}
    assert by_path["web/view.tsx"]["language"] == "tsx"
    total = by_path["src/shop.py"]["symbols"][1]
    assert (total["kind"], total["name"], total["parent"]) == ("method", "total", "Cart")
    assert data["skipped"] == [{"path": "logo.png", "reason": "binary"}]


def test_a_path_limits_the_map_and_works_from_a_subfolder(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(project / "src"), "analyze", "--json", "shop.py"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["path"] for f in data["files"]] == ["src/shop.py"]
    assert run(["-C", str(project), "analyze", "--json", "web"]) == 0
    assert [f["path"] for f in json.loads(capsys.readouterr().out)["files"]] == ["web/view.tsx"]


def test_query_and_budget_render_the_ranked_map_within_the_budget(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        run(["-C", str(project), "analyze", "--query", "cart total is wrong", "--budget", "60"])
        == 0
    )
    out = capsys.readouterr().out
    assert out.startswith("src/shop.py (")
    assert tokens(out) <= 60
    assert run(["-C", str(project), "analyze", "--json", "--query", "unfinished work"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["files"][0]["path"] == "src/wip.py"
    assert data["rendered"].startswith("src/wip.py (")


def test_no_cache_builds_cold_and_leaves_no_cache(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["-C", str(project), "analyze", "--no-cache", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parsed"] == 5
    assert not cache_path(project / ".git").exists()
    assert run(["-C", str(project), "analyze", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parsed"] == 5
    assert run(["-C", str(project), "analyze", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["parsed"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["analyze", "missing/"], "missing/ does not exist"),
        (["analyze", "--budget", "0"], "--budget 0 is not a number of tokens"),
        (["analyze", "--budget", "many"], "--budget"),
        (["analyze", "--query", "  "], "--query is empty"),
        (["analyze", "/"], "is outside the repository"),
    ],
)
def test_bad_input_is_one_line_naming_what_to_fix(
    project: Path, args: list[str], message: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "memfun_git", "-C", str(project), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) <= 2


def test_outside_a_repository_the_error_says_so(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "memfun_git", "-C", str(tmp_path), "analyze"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "git" in proc.stderr.lower()
    assert "Traceback" not in proc.stderr


def test_a_reader_that_goes_away_ends_memfun_quietly(tmp_path: Path) -> None:
    """`memfun analyze | head -1`: memfun stops quietly, no traceback, no crash log."""
    repo = tmp_path / "big"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    for i in range(300):
        (repo / f"mod_{i}.py").write_text(
            "".join(f"def function_number_{j}(a, b, c):\n    pass\n" for j in range(20))
        )
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "many files")
    with subprocess.Popen(
        [sys.executable, "-m", "memfun_git", "-C", str(repo), "analyze", "--no-cache"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.readline()
        proc.stdout.close()  # the output (over 300 KB) no longer fits the pipe: memfun stops
        error = proc.stderr.read()
        # 141 as git's commands, or 0 where rich itself stopped writing to the closed pipe.
        assert proc.wait(timeout=60) in (0, 141)
    assert error == b""
    assert not list((repo / ".git").rglob("crash-*"))
