"""`memfun demo` through the real door: the sample, the recorded answers, the real gate, a
commit on memfun/<id> and no worktree left; with bubblewrap, and with it out of reach."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from memfun_git.cli.main import run
from tests.conftest import git
from tests.helpers.require import need_tool


def _demo(folder: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert run(["demo", "--dir", str(folder)]) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _check(folder: Path, out: str) -> None:
    found = re.search(r"memfun show (\S+)", out)
    assert found is not None, out
    task = found.group(1)
    branch = f"memfun/{task}"
    message = git(folder, "log", "-1", "--format=%B", branch)
    assert message.startswith("Add a function that returns the most common words of a text")
    assert "Memfun-Gate: ruff=pass review=pass" in message
    core = git(folder, "show", f"{branch}:textstats/core.py")
    assert "def most_common_words(" in core
    assert "import os" not in core  # the fix round removed what ruff found
    assert "after 1 fix round" in out
    assert "recorded" in out
    for command in (f"cd {folder}", f"memfun diff {task}", f"git log --oneline {branch}"):
        assert command in out
    worktrees = git(folder, "worktree", "list", "--porcelain")
    assert worktrees.count("worktree ") == 1
    assert git(folder, "status", "--porcelain") == ""
    assert git(folder, "log", "--format=%s", "main") == "The textstats sample project\n"
    # Caches ruff leaves in the sample of a source checkout are not copied.
    assert sorted(p.name for p in folder.iterdir()) == [
        ".git",
        "README.md",
        "pyproject.toml",
        "textstats",
    ]


def test_the_demo_runs_a_whole_task_in_the_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    need_tool("bwrap")
    out = _demo(tmp_path / "demo", capsys)
    assert "bubblewrap is not installed" not in out
    _check(tmp_path / "demo", out)


def test_without_bubblewrap_the_demo_uses_the_local_backend_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "git").symlink_to(need_tool("git"))
    monkeypatch.setenv("PATH", str(shim))
    out = _demo(tmp_path / "demo", capsys)
    assert "bubblewrap is not installed: the local backend runs ruff without isolation" in out
    _check(tmp_path / "demo", out)


def test_a_folder_that_is_not_empty_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine.txt").write_text("keep me\n")
    assert run(["demo", "--dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == (
        f"memfun: {tmp_path} is not an empty folder — pass --dir a new or empty folder for the demo"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_the_demo_keeps_to_its_own_settings_and_its_own_ruff(
    tmp_path: Path,
    isolated_env: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The user's settings and tools are for their projects: a configuration that would stop
    the demo (no fix round, a setup command that fails, no review) and a broken ruff, in the
    active virtualenv and first on PATH, change nothing."""
    need_tool("bwrap")
    from ruff import find_ruff_bin

    (isolated_env / ".memfun").mkdir()
    (isolated_env / ".memfun" / "config.toml").write_text(
        '[gate]\nfix_rounds = 0\n\n[workspace]\nsetup = "false"\n'
    )
    monkeypatch.setenv("MEMFUN_GATE_REVIEW", "off")
    broken = tmp_path / "venv" / "bin"
    broken.mkdir(parents=True)
    (broken / "ruff").write_text("#!/bin/sh\nexit 3\n")
    (broken / "ruff").chmod(0o755)
    monkeypatch.setenv("VIRTUAL_ENV", str(broken.parent))
    monkeypatch.setenv("PATH", f"{broken}{os.pathsep}{os.environ['PATH']}")
    out = _demo(tmp_path / "demo", capsys)
    assert f"ruff pass ({find_ruff_bin()})" in out
    _check(tmp_path / "demo", out)


def test_a_file_or_a_folder_that_cannot_be_made_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "mine.txt"
    mine.write_text("keep me\n")
    hint = "pass --dir a new or empty folder for the demo"
    for folder, says in (
        (mine, f"{mine} is a file, not a folder"),
        (mine / "demo", f"cannot use {mine / 'demo'}: Not a directory"),
    ):
        assert run(["demo", "--dir", str(folder)]) == 2
        out, err = capsys.readouterr()
        assert (out, err) == ("", f"memfun: {says} — {hint}\n")
    assert mine.read_text() == "keep me\n"


def test_the_sample_ships_in_the_wheel(tmp_path: Path) -> None:
    uv = need_tool("uv")
    project = Path(__file__).resolve().parents[2]
    env = {**os.environ, "UV_OFFLINE": "1", "UV_NO_PROGRESS": "1"}
    done = subprocess.run(
        [uv, "build", "--wheel", "--no-build-isolation", "-o", str(tmp_path), str(project)],
        capture_output=True,
        text=True,
        env=env,
    )
    if done.returncode != 0:
        pytest.skip(f"uv cannot build offline here: {done.stderr.strip()[-200:]}")
    import zipfile

    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    sample = sorted(n.removeprefix("memfun_git/demo/sample/") for n in names if "/sample/" in n)
    assert sample == ["README.md", "pyproject.toml", "textstats/__init__.py", "textstats/core.py"]
