"""The console script's short path for `memfun hook review` (no typer, no pydantic, no DSPy on
the way to a cached or no-model verdict), and everything else left to the full command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from memfun_git.cli.entry import quick_hook_review


@pytest.mark.parametrize(
    ("args", "parsed"),
    [
        (["hook", "review"], (None, None, False)),
        (["-C", "/r", "hook", "review", "--json"], (Path("/r"), None, True)),
        (["--repo=/r", "hook", "review", "--threshold", "warning"], (Path("/r"), "warning", False)),
        (["hook", "review", "--threshold=info", "--json"], (None, "info", True)),
        (["hook", "review", "--help"], None),
        (["-v", "hook", "review"], None),
        (["hook", "install"], None),
        (["hook", "review", "--threshold"], None),
        (["run", "hook", "review"], None),
        ([], None),
    ],
)
def test_only_a_plain_hook_review_takes_the_short_path(
    args: list[str], parsed: tuple[Path | None, str | None, bool] | None
) -> None:
    assert quick_hook_review(args) == parsed


def test_the_short_path_loads_no_heavy_library(git_repo: Path) -> None:
    (git_repo / "new.py").write_text("x = 1\n")
    subprocess.run(["git", "add", "new.py"], cwd=git_repo, check=True)
    code = (
        "import sys\n"
        "sys.argv = ['memfun', 'hook', 'review']\n"
        "from memfun_git.cli import entry\n"
        "try:\n    entry.main()\nexcept SystemExit as exit:\n    print('exit', exit.code)\n"
        "print(sorted(m for m in ('typer', 'pydantic', 'dspy', 'litellm') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=git_repo,
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "HOME": str(git_repo.parent)},
    )
    assert done.stdout.splitlines()[-2:] == ["exit 0", "[]"], done.stdout + done.stderr
    assert done.stderr.startswith("memfun review: not reviewed: no model is configured")


def test_everything_else_goes_to_the_full_command_line(git_repo: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "memfun_git", "hook", "review", "--help"],
        cwd=git_repo,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0
    assert "Review what is staged for the next commit" in done.stdout
