"""The real pre-commit framework runs memfun's `memfun-review` hook from this checkout's
`.pre-commit-hooks.yaml`, in a temporary repository with staged changes, against the local
OpenAI-compatible stub server: it blocks on an error finding, passes a clean diff, and passes
with a clear line when no model is reachable.

pre-commit installs the hook as it would for any user (`language: python`: a virtualenv and
`pip install` of the hook repository), offline: pip finds the locked versions in a folder of
wheels rebuilt from this environment (tests/helpers/wheelhouse.py). The hook repository is a
commit of this checkout's files as they are (what `pre-commit try-repo` does), installed once
for the module.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import git
from tests.helpers.stub_llm import StubLLMServer
from tests.helpers.wheelhouse import build_wheelhouse, locked_closure

PROJECT = Path(__file__).resolve().parents[1]
BUG = "src/calc.py:2: error: divides by zero when count is 0\nSUMMARY: adds mean, with a bug."
CLEAN = "SUMMARY: adds mean as written."
MEAN = "def mean(total, count):\n    return total / count\n"

pytestmark = pytest.mark.slow


def _pre_commit() -> str:
    found = Path(sys.executable).parent / "pre-commit"
    if not found.is_file():
        pytest.skip("pre-commit is not installed in this environment (uv sync)")
    return str(found)


def _hook_repo(folder: Path) -> str:
    """A repository holding this checkout's files as they are, committed; its commit id."""
    listed = subprocess.run(
        ["git", "--no-optional-locks", "ls-files", "-z", "--cached", "--others",
         "--exclude-standard"],
        cwd=PROJECT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for rel in filter(None, listed):
        source = PROJECT / rel
        if source.is_file():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, folder / rel)
    git(folder, "init", "-q", "-b", "main")
    git(folder, "add", "-A")
    git(folder, "commit", "-qm", "memfun as it is")
    return git(folder, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def framework(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment for pre-commit: its cache with memfun's hook installed, offline."""
    pre_commit = _pre_commit()
    root = tmp_path_factory.mktemp("framework")
    wheels = root / "wheels"
    names = locked_closure(PROJECT / "uv.lock", ["memfun-git", "hatchling"]) - {"memfun-git"}
    build_wheelhouse(wheels, names)
    hooks = root / "hooks"
    hooks.mkdir()
    rev = _hook_repo(hooks)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MEMFUN_", "VIRTUAL_ENV", "PIP_", "UV_")) and k != "CI"
    }
    env |= {
        "PRE_COMMIT_HOME": str(root / "cache"),
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(wheels),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PRE_COMMIT_BIN": pre_commit,
        "HOOK_REPO": str(hooks),
        "HOOK_REV": rev,
    }
    return env


def _project(tmp_path: Path, env: dict[str, str]) -> Path:
    repo = tmp_path / "project"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {env['HOOK_REPO']}\n    rev: {env['HOOK_REV']}\n"
        "    hooks:\n      - id: memfun-review\n"
    )
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("def add(a, b):\n    return a + b\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "initial")
    (repo / "src" / "calc.py").write_text(MEAN)
    git(repo, "add", "src/calc.py")
    return repo


def _run(repo: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [env["PRE_COMMIT_BIN"], "run", "--color=never"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _model(stub: StubLLMServer) -> dict[str, str]:
    return {
        "MEMFUN_LLM_PROVIDER": "custom",
        "MEMFUN_LLM_MODEL": "stub-model",
        "MEMFUN_LLM_BASE_URL": stub.url,
        "MEMFUN_LLM_NUM_RETRIES": "0",
    }


def test_the_framework_blocks_an_error_finding_and_passes_a_clean_diff(
    framework: dict[str, str], tmp_path: Path
) -> None:
    repo = _project(tmp_path, framework)
    with StubLLMServer([BUG, CLEAN]) as stub:
        blocked = _run(repo, framework | _model(stub))
        assert blocked.returncode == 1, blocked.stdout + blocked.stderr
        assert "memfun review....." in blocked.stdout
        assert "Failed" in blocked.stdout
        assert "src/calc.py:2: error: divides by zero when count is 0" in blocked.stdout
        (repo / "src" / "calc.py").write_text(MEAN.replace("count\n", "max(count, 1)\n"))
        git(repo, "add", "src/calc.py")
        passed = _run(repo, framework | _model(stub))
        assert passed.returncode == 0, passed.stdout + passed.stderr
        assert "Passed" in passed.stdout
        # The same staged content again: the cached verdict, no model call.
        again = _run(repo, framework | _model(stub))
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(stub.posts) == 2


def test_with_no_model_reachable_the_framework_passes_with_a_clear_line(
    framework: dict[str, str], tmp_path: Path
) -> None:
    import socket

    repo = _project(tmp_path, framework)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    env = framework | {
        "MEMFUN_LLM_PROVIDER": "custom",
        "MEMFUN_LLM_MODEL": "stub-model",
        "MEMFUN_LLM_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "MEMFUN_LLM_NUM_RETRIES": "0",
        "PRE_COMMIT_VERBOSE": "1",
    }
    done = subprocess.run(
        [framework["PRE_COMMIT_BIN"], "run", "--color=never", "--verbose"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "memfun review: not reviewed: the model could not review it (" in done.stdout
    assert "the commit goes ahead ([hook] block_on_llm_error = false)" in done.stdout
