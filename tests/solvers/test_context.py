"""What the model sees of a project: the planner's listing and the solver's file contents."""

from __future__ import annotations

import subprocess
from pathlib import Path

from memfun_git.redact import register_secret
from memfun_git.solvers.context import estimate_tokens, gather, listing, project_files


def _repo(tmp_path: Path, files: dict[str, bytes]) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
    for rel, data in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "initial"], cwd=repo, check=True)
    return repo


def test_the_listing_names_text_files_with_sizes_and_top_level_names(tmp_path: Path) -> None:
    repo = _repo(
        tmp_path,
        {
            "src/app.py": (
                b"import os\n\n\nclass App:\n    def run(self): ...\n\n\ndef main():\n    pass\n"
            ),
            "web/index.ts": b"export function render() {}\nexport class View {}\nconst x = 1;\n",
            "cmd/main.go": b"package main\n\nfunc main() {}\ntype Server struct{}\n",
            "logo.png": b"\x89PNG\r\n\x1a\n\0\0\0",
            "node_modules/lib/index.js": b"module.exports = 1;\n",
            "package-lock.json": b"{}\n",
        },
    )
    files = project_files(repo)
    assert [f.path for f in files] == ["cmd/main.go", "src/app.py", "web/index.ts"]
    by_path = {f.path: f for f in files}
    assert by_path["src/app.py"].names == ("App", "main")
    assert by_path["web/index.ts"].names == ("render", "View")
    assert by_path["cmd/main.go"].names == ("main", "Server")
    text = listing(files)
    assert "src/app.py (" in text
    assert ": App, main" in text


def test_contents_fit_the_budget_and_name_what_was_left_out(tmp_path: Path) -> None:
    repo = _repo(tmp_path, {"a.py": b"a = 1\n" * 10, "b.py": b"b = 2\n" * 1000, "c.py": b"c\n"})
    context = gather(repo, ["a.py", "b.py", "c.py", "a.py", "missing.py"], budget_tokens=200)
    assert context.paths == ("a.py", "c.py")
    assert context.left_out == ("b.py",)
    assert estimate_tokens(context.text) <= 200
    assert context.text.startswith("### a.py\na = 1\n")


def test_secrets_in_files_reach_the_prompt_redacted(tmp_path: Path) -> None:
    token = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    repo = _repo(tmp_path, {"config.py": f"TOKEN = '{token}'\n".encode()})
    register_secret("not-a-real-secret-value-123")
    context = gather(repo, ["config.py"], budget_tokens=1000)
    assert token not in context.text
    assert "TOKEN = '" in context.text
