"""What counts as a configuration change, and the swap that lints with the base's: found by
comparing a real base commit with a real worktree, restored exactly (bytes, modes, links,
folders), suppressions in added lines only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git.gitops.worktree import Workspace
from memfun_git.quality.changes import Change
from memfun_git.quality.configs import (
    CONFIG_NAMES,
    base_configuration,
    config_changes,
    new_suppressions,
    suppression_added,
)
from tests.quality.kit import make_repo, open_task

BASE = {
    "eslint.config.js": 'import rules from "./tools/rules.js";\nexport default [rules];\n',
    "tools/rules.js": 'import extra from "./extra.mjs";\nexport default { rules: extra };\n',
    "tools/extra.mjs": 'export default { "no-unused-vars": "error" };\n',
    "package.json": '{"name": "web", "dependencies": {}, "eslintConfig": {"root": true}}\n',
    "Cargo.toml": (
        '[package]\nname = "c"\nversion = "0.1.0"\n\n[lints.rust]\nunsafe_code = "forbid"\n'
    ),
    "src/lib.rs": "pub fn f() {}\n",
    "web/index.js": "export const a = 1;\n",
    "app.py": "x = 1\n",
    "memfun.toml": '[project]\nname = "x"\n\n[gate]\nreview = "block"\n',
    "lib/cfg/.ruff.toml": "line-length = 60\n",
}


@pytest.fixture
def task(tmp_path: Path) -> Iterator[Workspace]:
    tree = make_repo(tmp_path / "p", BASE)
    with open_task(tree) as ws:
        yield ws


def write(ws: Workspace, rel: str, text: str) -> None:
    (ws.path / rel).parent.mkdir(parents=True, exist_ok=True)
    (ws.path / rel).write_text(text)


def changes(ws: Workspace, *paths: str) -> list[str]:
    change = Change(ws.repo, ws.base_oid, ws.path)
    candidates = [*change.base_paths(CONFIG_NAMES), *paths]
    return [c.render(False) for c in config_changes(change, candidates)]


def test_what_an_eslint_config_imports_is_configuration_too(task: Workspace) -> None:
    write(task, "tools/extra.mjs", 'export default { "no-unused-vars": "off" };\n')
    assert changes(task) == [
        "tools/extra.mjs (imported by tools/rules.js changed; not used: linted with the base "
        "commit's)"
    ]


def test_a_file_only_the_tasks_config_imports_is_followed(task: Workspace) -> None:
    write(task, "eslint.config.js", 'import loose from "./loose.js";\nexport default [loose];\n')
    write(task, "loose.js", "export default {};\n")
    assert [c.split(" (")[0] for c in changes(task, "eslint.config.js", "loose.js")] == [
        "eslint.config.js",
        "loose.js",
    ]


def test_tables_are_compared_parsed(task: Workspace) -> None:
    package = '{"name": "web", "dependencies": {"x": "1"}, "eslintConfig": {"root": true}}\n'
    write(task, "package.json", package)
    cargo = BASE["Cargo.toml"].replace('version = "0.1.0"', 'version = "0.2.0"')
    write(task, "Cargo.toml", cargo)
    write(task, "memfun.toml", '[project]\nname = "renamed"\n\n[gate]\nreview = "block"\n')
    assert changes(task) == []
    write(task, "Cargo.toml", cargo.replace('"forbid"', '"allow"'))
    write(task, "memfun.toml", '[project]\nname = "x"\n\n[sandbox]\nbackend = "local"\n')
    write(task, ".cargo/config.toml", '[build]\nrustflags = ["-A", "warnings"]\n')
    assert changes(task, ".cargo/config.toml") == [
        ".cargo/config.toml (added; not used: linted with the base commit's)",
        "Cargo.toml ([lints] changed; not used: linted with the base commit's)",
        "memfun.toml ([sandbox], [gate] changed; not used: memfun reads the user's own "
        "memfun.toml)",
    ]


def test_the_swap_restores_the_tasks_files_exactly(task: Workspace) -> None:
    write(task, "eslint.config.js", "export default [];\n")
    (task.path / "eslint.config.js").chmod(0o600)
    (task.path / "tools" / "rules.js").unlink()
    (task.path / "tools" / "rules.js").mkdir()  # a folder where the base has a file
    (task.path / "tools" / "rules.js" / "keep.txt").write_text("mine\n")
    os.symlink("/etc/hostname", task.path / ".eslintrc.json")  # a link the task left
    (task.path / "tools" / "extra.mjs").unlink()
    (task.path / "lib" / "cfg" / ".ruff.toml").unlink()
    (task.path / "lib" / "cfg").rmdir()  # the whole folder gone
    change = Change(task.repo, task.base_oid, task.path)
    found = config_changes(
        change, [*change.base_paths(CONFIG_NAMES), "eslint.config.js", ".eslintrc.json"]
    )
    assert len(found) == 5
    before = snapshot(task.path)
    with base_configuration(change, found):
        for rel in ("eslint.config.js", "tools/rules.js", "tools/extra.mjs", "lib/cfg/.ruff.toml"):
            assert (task.path / rel).read_text() == BASE[rel]
        assert not (task.path / ".eslintrc.json").is_symlink()
        assert not (task.path / ".eslintrc.json").exists()
    assert snapshot(task.path) == before
    assert stat.S_IMODE((task.path / "eslint.config.js").stat().st_mode) == 0o600


def snapshot(root: Path) -> dict[str, object]:
    found: dict[str, object] = {}
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in [*dirs, *files]:
            full = Path(folder) / name
            rel = str(full.relative_to(root))
            if full.is_symlink():
                found[rel] = ("link", os.readlink(full))
            elif full.is_dir():
                found[rel] = ("dir", full.stat().st_mode)
            else:
                found[rel] = (full.read_bytes(), full.stat().st_mode)
    return found


def test_suppressions_are_found_in_added_lines_only(task: Workspace) -> None:
    write(task, "app.py", "x = 1  # noqa\ny = 2  # noqa: E501\n")
    write(task, "web/index.js", "// eslint-disable-next-line no-undef\nexport const a = b;\n")
    write(task, "src/lib.rs", "#![allow(dead_code)]\npub fn f() {}\n")
    change = Change(task.repo, task.base_oid, task.path)
    found = new_suppressions(change, ["app.py", "web/index.js", "src/lib.rs", "memfun.toml"])
    assert [s.render() for s in found] == [
        "app.py:1: x = 1  # noqa",
        "app.py:2: y = 2  # noqa: E501",
        "web/index.js:1: // eslint-disable-next-line no-undef",
        "src/lib.rs:1: #![allow(dead_code)]",
    ]
    assert [s.family for s in found] == ["ruff", "ruff", "eslint", "cargo"]


def test_an_edit_that_adds_a_suppression_is_recognised() -> None:
    assert suppression_added("a.py", "import os\n", "import os  # noqa: F401\n") == (
        "import os  # noqa: F401"
    )
    assert suppression_added("a.py", "x = 1  # noqa\n", "x = 2  # noqa\n") is None  # kept
    assert suppression_added("a.go", "f()\n", "f() //nolint\n") == "f() //nolint"
    assert suppression_added("README.md", "", "# noqa\n") is None
