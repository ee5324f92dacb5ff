"""The README's set-up works as written: its first command, run in a `git clone` of this checkout,
installs a `memfun` that runs in any folder, from a fresh environment of its own (not from this
checkout's virtualenv), and runs the demo to its commit; again with bubblewrap out of reach."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.helpers.require import need_tool
from tests.helpers.wheelhouse import build_wheelhouse, locked_closure

PROJECT = Path(__file__).resolve().parents[1]


def _setup_commands() -> list[str]:
    """The commands of the README's "Set up" section, in order."""
    section = PROJECT.joinpath("README.md").read_text().split("## Set up", 1)[1]
    section = section.split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def test_the_readme_has_two_setup_commands() -> None:
    assert _setup_commands() == ["uv tool install . && memfun demo", "uv run pytest"]


@pytest.mark.slow
def test_the_first_setup_command_installs_memfun_for_every_repository(
    tmp_path: Path, git_repo: Path, request: pytest.FixtureRequest
) -> None:
    """Run offline: uv finds the locked versions in a folder of wheels rebuilt from this
    environment (tests/helpers/wheelhouse.py), and keeps its cache in tmp."""
    uv = need_tool("uv")
    names = locked_closure(PROJECT / "uv.lock", ["memfun-git", "hatchling"]) - {"memfun-git"}
    wheels = tmp_path / "wheels"
    build_wheelhouse(wheels, names)
    # The tools go where a person's would (~/.local/share/uv/tools), not under /tmp: the
    # sandbox never runs a program from /tmp, and the demo's ruff is memfun's own.
    tools = Path(tempfile.mkdtemp(prefix="memfun-readme-", dir="/var/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(tools, ignore_errors=True))
    tool_bin = tools / "bin"
    # Not this checkout's .venv/bin: the `memfun` found must be the one just installed.
    path = os.pathsep.join([str(tool_bin), str(Path(uv).parent), "/usr/bin", "/bin"])
    env = {
        **os.environ,
        "PATH": path,
        "UV_TOOL_DIR": str(tools / "tools"),
        "UV_TOOL_BIN_DIR": str(tool_bin),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_OFFLINE": "1",
        "UV_NO_INDEX": "1",
        "UV_FIND_LINKS": str(wheels),
        "UV_PYTHON": sys.executable,
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
        "UV_NO_PROGRESS": "1",
    }
    env.pop("VIRTUAL_ENV", None)
    env["TMPDIR"] = str(tmp_path / "tmp")
    (tmp_path / "tmp").mkdir()
    first = _setup_commands()[0]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(clone)], check=True)

    def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)

    done = run(["bash", "-c", first], clone)

    assert done.returncode == 0, done.stderr
    _assert_demo_done(done.stdout, bubblewrap=True)
    assert (tool_bin / "memfun").is_file()
    elsewhere = run(["memfun", "-C", str(git_repo), "config", "show", "--json"], tmp_path)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert f'"repo_root": "{git_repo}"' in elsewhere.stdout
    # The command runs the installed copy, not this checkout's code (no editable install).
    python = next((tools / "tools").glob("*/bin/python"))
    where = run([str(python), "-c", "import memfun_git; print(memfun_git.__file__)"], tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(tools / "tools"), where

    # Again where bubblewrap cannot be found: only git and bash are on PATH besides memfun.
    shim = tmp_path / "shim"
    shim.mkdir()
    for program in ("git", "bash"):
        (shim / program).symlink_to(need_tool(program))
    env["PATH"] = os.pathsep.join([str(tool_bin), str(Path(uv).parent), str(shim)])
    again = run([str(shim / "bash"), "-c", first], clone)
    assert again.returncode == 0, again.stderr
    _assert_demo_done(again.stdout, bubblewrap=False)


def _assert_demo_done(out: str, *, bubblewrap: bool) -> None:
    """The demo ended with its commit on memfun/<id>, no worktree left, and said how to look."""
    found = re.search(r"a copy of the textstats sample in (\S+)", out)
    assert found is not None, out
    sample = Path(found.group(1))
    task = re.search(r"memfun show (\S+)", out)
    assert task is not None, out
    branch = f"memfun/{task.group(1)}"
    assert "recorded" in out
    assert ("bubblewrap is not installed" in out) is not bubblewrap
    for command in (f"cd {sample}", "memfun show ", "memfun diff ", f"git log --oneline {branch}"):
        assert command in out
    log = subprocess.run(
        ["git", "-C", str(sample), "log", "--format=%s%n%b", "-1", branch],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert log.startswith("Add a function that returns the most common words of a text")
    assert "Memfun-Gate: ruff=pass review=pass" in log
    worktrees = subprocess.run(
        ["git", "-C", str(sample), "worktree", "list", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert worktrees.count("worktree ") == 1, worktrees
