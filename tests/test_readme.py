"""The README's set-up works as written: its first command, run in a `git clone` of this checkout
on what stands in for a fresh machine (a new HOME, no git identity, no uv config), installs a
`memfun` that runs in any folder, from an environment of its own (not from this checkout's
virtualenv), and runs the demo to its commit; again with neither bubblewrap nor uv on PATH (the
command gets uv with pip)."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import pytest

from tests.helpers.require import missing, need_tool
from tests.helpers.wheelhouse import _repack, build_wheelhouse, locked_closure

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


FIRST = (
    "command -v uv >/dev/null || python3 -m pip install --user uv; "
    'export PATH="$HOME/.local/bin:$PATH"; uv tool install . && memfun demo'
)


def test_the_readme_has_two_setup_commands() -> None:
    assert _setup_commands() == [FIRST, "uv run pytest"]


def _uv_wheel(folder: Path, uv: str) -> bool:
    """Rebuild a wheel of the uv found at `uv` when pip installed it (its .dist-info sits
    beside its bin/), so the test's `pip install --user uv` needs no network."""
    sites = Path(uv).resolve().parent.parent.glob("lib/python*/site-packages")
    for dist in importlib.metadata.distributions(name="uv", path=[str(s) for s in sites]):
        wheel = _repack(dist, folder)
        # pip makes a script executable only when its zip mode says a regular file (uv
        # looks at the permission bits alone): add S_IFREG to the programs' modes.
        entries = zipfile.ZipFile(wheel)
        with entries, zipfile.ZipFile(wheel.with_suffix(".tmp"), "w") as fixed:
            for entry in entries.infolist():
                if entry.external_attr >> 16 & 0o111:
                    entry.external_attr |= stat.S_IFREG << 16
                fixed.writestr(entry, entries.read(entry))
        wheel.with_suffix(".tmp").replace(wheel)
        return True
    return False


def _pip_python() -> Path | None:
    """The interpreter behind this virtualenv, when pip can install into its user site."""
    python = Path(sys.base_prefix) / "bin" / "python3"
    done = subprocess.run(
        [str(python), "-c", "import pip, sysconfig; print(sysconfig.get_path('stdlib'))"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0 or Path(done.stdout.strip(), "EXTERNALLY-MANAGED").exists():
        return None
    return python


@pytest.mark.slow
def test_the_first_setup_command_installs_memfun_for_every_repository(
    tmp_path: Path, git_repo: Path, request: pytest.FixtureRequest
) -> None:
    """Offline where it can be: uv finds the locked versions in a folder of wheels rebuilt from
    this environment (tests/helpers/wheelhouse.py) and keeps its cache in tmp; pip finds uv
    rebuilt the same way from the uv on PATH (from the package registry when that uv was not
    installed by pip)."""
    uv = need_tool("uv")
    names = locked_closure(PROJECT / "uv.lock", ["memfun-git", "hatchling"]) - {"memfun-git"}
    wheels = tmp_path / "wheels"
    build_wheelhouse(wheels, names)
    # The homes sit where a person's does, not under /tmp: the sandbox never runs a program
    # from /tmp, and the demo's ruff is the one uv installs with memfun under ~/.local/share.
    homes = Path(tempfile.mkdtemp(prefix="memfun-readme-", dir="/var/tmp"))
    request.addfinalizer(lambda: shutil.rmtree(homes, ignore_errors=True))
    (tmp_path / "gitconfig").write_text("")  # no user.name or user.email, as on a new machine
    (tmp_path / "tmp").mkdir()
    kept = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("XDG_", "UV_", "PIP_", "PYTHON", "VIRTUAL_ENV"))
    }
    base = {
        **kept,
        "GIT_CONFIG_GLOBAL": str(tmp_path / "gitconfig"),
        "TMPDIR": str(tmp_path / "tmp"),
        "UV_CACHE_DIR": str(tmp_path / "uv-cache"),
        "UV_OFFLINE": "1",
        "UV_NO_INDEX": "1",
        "UV_FIND_LINKS": str(wheels),
        "UV_PYTHON": sys.executable,
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_CONFIG": "1",
        "UV_NO_PROGRESS": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_NO_WARN_SCRIPT_LOCATION": "1",
    }
    first = _setup_commands()[0]
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(PROJECT), str(clone)], check=True)

    def machine(name: str, programs: dict[str, str], **extra: str) -> tuple[Path, dict[str, str]]:
        """A new HOME, and a PATH of only `programs` (name -> path) and what `extra` adds."""
        home = homes / name
        shim = home.parent / f"{name}-bin"
        shim.mkdir(parents=True)
        home.mkdir()
        for program, path in programs.items():
            (shim / program).symlink_to(path)
        return home, {**base, "HOME": str(home), "PATH": str(shim), **extra}

    def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)

    # With uv and bubblewrap. `memfun` is not on PATH until the command's own `export`.
    home, env = machine("with-uv", {"uv": uv})
    env["PATH"] += os.pathsep + os.pathsep.join(["/usr/bin", "/bin"])
    need_tool("bwrap", env["PATH"])
    done = run(["bash", "-c", first], clone, env)
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_demo_done(done.stdout, home, bubblewrap=True)
    memfun = home / ".local" / "bin" / "memfun"
    assert memfun.is_file()
    elsewhere = run([str(memfun), "-C", str(git_repo), "config", "show", "--json"], tmp_path, env)
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert f'"repo_root": "{git_repo}"' in elsewhere.stdout
    # The command runs the installed copy, not this checkout's code (no editable install).
    tools = home / ".local" / "share" / "uv" / "tools"
    python = next(tools.glob("*/bin/python"))
    where = run([str(python), "-c", "import memfun_git; print(memfun_git.__file__)"], tmp_path, env)
    assert Path(where.stdout.strip()).is_relative_to(tools), where

    # Neither bubblewrap nor uv: only bash, git and a Python whose pip installs uv.
    pip_python = _pip_python()
    uv_wheels = tmp_path / "uv-wheels"
    uv_wheels.mkdir()
    offline = _uv_wheel(uv_wheels, uv)
    pip = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(uv_wheels)} if offline else {}
    programs = {"bash": need_tool("bash"), "git": need_tool("git")}
    programs |= {"python3": str(pip_python)} if pip_python else {"uv": uv}
    home, env = machine("bare", programs, **pip)
    again = run([programs["bash"], "-c", first], clone, env)
    assert again.returncode == 0, again.stdout + again.stderr
    _assert_demo_done(again.stdout, home, bubblewrap=False)
    if pip_python is None:
        missing(f"{sys.base_prefix}'s Python cannot pip install --user (the README's way to uv)")
    assert (home / ".local" / "bin" / "uv").is_file()  # pip put it there; the export found it


def _assert_demo_done(out: str, home: Path, *, bubblewrap: bool) -> None:
    """The demo ended with its commit on memfun/<id>, no worktree left, and said how to look;
    its gate ran the ruff installed with memfun (under `home`)."""
    found = re.search(r"a copy of the textstats sample in (\S+)", out)
    assert found is not None, out
    sample = Path(found.group(1))
    task = re.search(r"memfun show (\S+)", out)
    assert task is not None, out
    branch = f"memfun/{task.group(1)}"
    assert "recorded" in out
    assert ("bubblewrap is not installed" in out) is not bubblewrap
    assert f"ruff pass ({home / '.local' / 'share' / 'uv' / 'tools'}" in out, out
    assert "after 1 fix round" in out
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
