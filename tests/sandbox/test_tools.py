"""Real tools in the bubblewrap sandbox, set up the way users have them.

- pytest from the project's venv under the user's home, the project installed in editable
  mode (uv, offline from the cache `uv sync` filled): it tests the worktree's code;
- python through a pyenv shim, resolved with pyenv's own `which` in the user's tree;
- eslint with a flat config that imports a plugin from the user's node_modules (installed by
  .ci/run into CI_NODE_TOOLS);
- no bubblewrap on PATH: refused, with the fix.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from memfun_git.config import SandboxConfig
from memfun_git.errors import SandboxUnavailable
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from memfun_git.sandbox import make_sandbox
from tests.helpers.messy import run_git, snapshot, without_memfun_refs
from tests.helpers.require import missing, need_tool
from tests.helpers.sandboxes import (
    REAL_ENV,
    SECRETS,
    base_python,
    need_node_tools,
    uv_cache_dir,
)


def git_setup(repo: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_NOSYSTEM="1", GIT_CONFIG_GLOBAL=os.devnull)
    identity = ["-c", "user.name=Owner", "-c", "user.email=owner@example.org"]
    subprocess.run(["git", *identity, *args], cwd=repo, env=env, check=True, capture_output=True)


def make_repo(tree: Path, files: dict[str, str], ignored: str = "") -> None:
    tree.mkdir(parents=True)
    git_setup(tree, "init", "-q", "--template=", "-b", "main")
    for rel, text in files.items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_text(textwrap.dedent(text))
    (tree / ".git" / "info").mkdir()
    (tree / ".git" / "info" / "exclude").write_text(ignored)
    git_setup(tree, "add", "-A")
    git_setup(tree, "commit", "-q", "-m", "initial")


def worktree_clean(ws: Workspace) -> None:
    """No file appeared in the worktree (no __pycache__, .pytest_cache, .eslintcache...)."""
    status = run_git(ws.path, "status", "--porcelain", "--ignored", "--untracked-files=all")
    assert status == ""


@pytest.fixture(autouse=True)
def _bwrap_and_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    need_tool("bwrap")
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


# -- pytest, from a venv under $HOME with an editable install ---------------------------------


@dataclass
class PythonProject:
    home: Path
    tree: Path
    venv: Path


@pytest.fixture(scope="module")
def python_project(tmp_path_factory: pytest.TempPathFactory) -> PythonProject:
    """~/project (src layout, `calc.add` subtracts: the bug) with ~/project/.venv made by uv:
    the project installed in editable mode by uv and hatchling, offline from uv's cache (where
    `uv sync` put hatchling when it built this project), and pytest with its dependencies
    copied from this project's environment (`uv sync` does not cache what an offline
    `uv pip install pytest` needs)."""
    uv = need_tool("uv", path=REAL_ENV.get("PATH"))
    home = tmp_path_factory.mktemp("pyuser")
    tree = home / "project"
    make_repo(
        tree,
        {
            "pyproject.toml": """\
                [project]
                name = "calc"
                version = "0.1.0"

                [build-system]
                requires = ["hatchling"]
                build-backend = "hatchling.build"

                [tool.hatch.build.targets.wheel]
                packages = ["src/calc"]
            """,
            "src/calc/__init__.py": "def add(a, b):\n    return a - b\n",
        },
        ignored=".venv/\n.env\n",
    )
    (tree / ".env").write_text("API_TOKEN=memfun-dotenv-secret\n")
    venv = tree / ".venv"
    env = {
        "HOME": str(home),
        "PATH": REAL_ENV.get("PATH", os.defpath),
        "UV_CACHE_DIR": uv_cache_dir(),
        "UV_OFFLINE": "1",
        "UV_NO_CONFIG": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        "UV_NO_PROGRESS": "1",
        **{k: v for k, v in REAL_ENV.items() if k.startswith("PYENV")},
    }
    python = str(venv / "bin" / "python")
    for argv in (
        [uv, "venv", "--quiet", "--python", base_python(), str(venv)],
        [uv, "pip", "install", "--quiet", "--python", python, "--editable", str(tree)],
    ):
        proc = subprocess.run(argv, env=env, cwd=tree, capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            missing(f"uv could not install offline from its cache (run `uv sync`): {last}")
    site = next(venv.glob("lib/python*/site-packages"))
    pth = "".join(p.read_text() for p in site.glob("*.pth"))
    assert str(tree / "src") in pth, pth  # the editable install names the user's tree
    copy_distribution("pytest", site)
    script = venv / "bin" / "pytest"
    script.write_text(
        f"#!{python}\nimport sys\nfrom pytest import console_main\nsys.exit(console_main())\n"
    )
    script.chmod(0o755)
    return PythonProject(home=home, tree=tree, venv=venv)


def copy_distribution(name: str, site: Path) -> None:
    """Copy `name` and what it requires from this environment into `site` (an offline install
    of what is installed here already)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    todo, done = [name], set[str]()
    while todo:
        dist = metadata.distribution(todo.pop())
        if dist.metadata["Name"].lower() in done:
            continue
        done.add(dist.metadata["Name"].lower())
        for file in dist.files or []:
            source = Path(str(dist.locate_file(file)))
            if ".." not in file.parts and source.is_file():
                (site / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, site / file)
        for line in dist.requires or []:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)


def test_pytest_from_the_users_venv_tests_the_worktrees_code(python_project: PythonProject) -> None:
    project = python_project
    tests = textwrap.dedent(f"""\
        import calc


        def test_add_is_fixed():
            assert calc.add(2, 3) == 5


        def test_imported_where_the_editable_install_points():
            assert calc.__file__ == {str(project.tree / "src" / "calc" / "__init__.py")!r}
    """)
    before = snapshot(project.tree)
    root = project.home / ".cache" / "memfun" / "worktrees"
    with Workspace(require_repo(project.tree), "fix-add-" + uuid.uuid4().hex[:6], root=root) as ws:
        (ws.path / "src" / "calc" / "__init__.py").write_text("def add(a, b):\n    return a + b\n")
        (ws.path / "tests").mkdir()
        (ws.path / "tests" / "test_calc.py").write_text(tests)
        ws.commit(["src/calc/__init__.py", "tests/test_calc.py"], "fix add", gate="test")
        environ = {
            **os.environ,
            "HOME": str(project.home),
            "VIRTUAL_ENV": str(project.venv),
            "PATH": f"{project.venv / 'bin'}:/usr/bin:/bin",
        }
        sandbox = make_sandbox(
            SandboxConfig(timeout_seconds=60),
            ws.path,
            user_tree=project.tree,
            common_dir=project.tree / ".git",
            environ=environ,
        )
        result = sandbox.run(["pytest", "-q", "tests"])
        assert result.ok, result.stdout + result.stderr
        assert "2 passed" in result.stdout
        # The venv's interpreter is a link under $HOME; what it runs is bound, nothing else.
        listing = "import sys, os; print(sys.prefix); print(sorted(os.listdir(os.environ['HOME'])))"
        probe = sandbox.run(["python", "-c", listing])
        # ~/project for its .venv and .git, ~/.cache for the worktree: nothing else of $HOME.
        assert probe.stdout.splitlines() == [str(project.venv), "['.cache', 'project']"]
        dotenv = sandbox.run(
            ["python", "-c", f"print(open({str(project.tree / '.env')!r}).read())"]
        )
        assert "memfun-dotenv-secret" not in dotenv.stdout
        assert "FileNotFoundError" in dotenv.stderr
        worktree_clean(ws)
        # The same tests against the user's own tree (the host's view) fail: the sandbox did
        # test the task's code.
        host = subprocess.run(
            [str(project.venv / "bin" / "python"), "-c", "import calc; print(calc.add(2, 3))"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert host.stdout == "-1\n"
    assert without_memfun_refs(snapshot(project.tree)) == without_memfun_refs(before)


# -- a pyenv shim -------------------------------------------------------------------------------


def test_python_through_a_pyenv_shim_resolves_the_version_of_the_users_tree(
    git_repo: Path,
) -> None:
    need_tool("pyenv")
    root = Path(REAL_ENV.get("PYENV_ROOT") or Path(REAL_ENV["HOME"]) / ".pyenv")
    versions = sorted(
        (p.name for p in (root / "versions").iterdir() if (p / "bin" / "python3").exists()),
        key=lambda name: [int(x) if x.isdigit() else 0 for x in name.split(".")],
    )
    assert versions, f"no pyenv versions under {root}"
    version = versions[-1]  # a pyenv-only Python, chosen by the tree's .python-version
    (git_repo / ".python-version").write_text(version + "\n")
    git_setup(git_repo, "add", ".python-version")
    git_setup(git_repo, "commit", "-q", "-m", "pin python")
    # As pyenv is installed: PYENV_ROOT=$HOME/.pyenv, its shims first on PATH.
    home = root.parent if root.name == ".pyenv" else Path(os.environ["HOME"])
    environ = {
        **{k: v for k, v in os.environ.items() if k != "PYENV_VERSION"},
        "HOME": str(home),
        "PYENV_ROOT": str(root),
        "PATH": f"{root / 'shims'}:{root / 'bin'}:/usr/bin:/bin",
    }
    with Workspace(require_repo(git_repo), "pyenv-" + uuid.uuid4().hex[:6]) as ws:
        sandbox = make_sandbox(
            SandboxConfig(timeout_seconds=60),
            ws.path,
            user_tree=git_repo,
            common_dir=git_repo / ".git",
            environ=environ,
        )
        script = (
            "import os, sys\n"
            "print(sys.version.split()[0])\n"
            "print(os.path.realpath(sys.executable))\n"
            "print(sorted(os.listdir(os.environ['HOME'])))\n"
            f"print(sorted(os.listdir({str(root)!r})))\n"
            f"print(sorted(os.listdir({str(root / 'versions')!r})))\n"
        )
        result = sandbox.run(["python3", "-c", script])
        assert result.ok, result.stderr
        lines = result.stdout.splitlines()
        assert lines[0] == version
        assert lines[1].startswith(str(root / "versions" / version) + "/")
        # $HOME is a tmpfs: only the interpreter's own folder was bound back into it.
        if home == root.parent:
            assert lines[2] == "['.pyenv']"
        assert lines[3] == "['versions']"
        assert lines[4] == f"[{version!r}]"
        worktree_clean(ws)


# -- eslint, its plugin in the user's node_modules ------------------------------------------------


@pytest.fixture(scope="module")
def js_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tools = need_node_tools()
    tree = tmp_path_factory.mktemp("jsuser") / "web"
    make_repo(
        tree,
        {
            "package.json": '{"name": "web", "private": true, "type": "module"}\n',
            "eslint.config.js": """\
                import simpleImportSort from "eslint-plugin-simple-import-sort";

                export default [
                  {
                    files: ["**/*.js"],
                    plugins: { "simple-import-sort": simpleImportSort },
                    rules: { "simple-import-sort/imports": "error", "no-unused-vars": "error" },
                  },
                ];
            """,
            "src/a.js": "export const a = 1;\n",
            "src/b.js": "export const b = 2;\n",
            "src/index.js": """\
                import { b } from "./b.js";
                import { a } from "./a.js";

                console.log(a + b);
            """,
        },
        ignored="node_modules/\n",
    )
    # The user ran `npm install`: eslint and the plugin are in their tree's node_modules.
    shutil.copytree(tools / "node_modules", tree / "node_modules", symlinks=True)
    return tree


def test_eslint_flat_config_loads_a_plugin_from_the_users_node_modules(js_project: Path) -> None:
    need_tool("node")
    with Workspace(require_repo(js_project), "lint-" + uuid.uuid4().hex[:6]) as ws:
        sandbox = make_sandbox(
            SandboxConfig(timeout_seconds=60),
            ws.path,
            user_tree=js_project,
            common_dir=js_project / ".git",
        )
        result = sandbox.run(["node_modules/.bin/eslint", "src"])
        assert result.exit_code == 1, result.stdout + result.stderr
        assert "simple-import-sort/imports" in result.stdout
        assert "1 problem" in result.stdout
        fixed = sandbox.run(["node_modules/.bin/eslint", "--fix", "src"])
        assert fixed.ok, fixed.stdout + fixed.stderr
        assert (ws.path / "src" / "index.js").read_text().startswith('import { a } from "./a.js";')
        assert not (js_project / "src" / "index.js").read_text().startswith("import { a }")
        assert not (ws.path / "node_modules").exists()  # the mount point is gone again
        assert run_git(ws.path, "status", "--porcelain", "--ignored") == " M src/index.js\n"


# -- no bubblewrap ---------------------------------------------------------------------------------


def test_missing_bubblewrap_is_refused_with_the_fix(git_repo: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("git", "sh", "python3"):
        (bin_dir / tool).symlink_to(need_tool(tool))
    environ = {**os.environ, "PATH": str(bin_dir)}
    with (
        Workspace(require_repo(git_repo), "nobwrap") as ws,
        pytest.raises(SandboxUnavailable) as caught,
    ):
        make_sandbox(
            SandboxConfig(),
            ws.path,
            user_tree=git_repo,
            common_dir=git_repo / ".git",
            environ=environ,
        )
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("bubblewrap (bwrap) is not installed — ")
    assert "apt-get install bubblewrap" in message
    assert '[sandbox] backend = "local"' in message
