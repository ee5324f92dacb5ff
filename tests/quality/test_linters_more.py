"""eslint, go vet and cargo check as the gate runs them, in the real sandbox; and a model-written
eslint config that tries to read secrets or open a connection: untrusted it never runs, and
trusted it runs in the sandbox and gets nothing."""

from __future__ import annotations

import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from memfun_git.quality.changes import Change
from memfun_git.quality.lint import Linting, LintRun
from memfun_git.quality.linters import looked_in
from tests.helpers.require import need_tool
from tests.helpers.sandboxes import REAL_ENV, need_node_tools
from tests.quality.kit import environ, make_repo, open_task, sandbox_of

TOKEN = "ghp_memfunGateTestToken0123456789abcdef"
BASE_CONFIG = 'export default [{ files: ["**/*.js"], rules: { "no-unused-vars": "error" } }];\n'


@pytest.fixture(autouse=True)
def _bwrap() -> None:
    need_tool("bwrap")


def lint(
    tree: Path,
    files: dict[str, str],
    paths: list[str],
    *,
    path: str = "",
    trusted: bool = False,
    extra: dict[str, str] | None = None,
) -> tuple[LintRun, str | None]:
    """Lint `paths` after writing `files` into a task's worktree; (the run, what the
    worktree's leak.txt holds if something wrote it). `path`: PATH (default: the system's);
    `extra`: more of the user's environment."""
    with open_task(tree) as ws:
        for rel, text in files.items():
            (ws.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (ws.path / rel).write_text(text)
        env = {**(environ(path) if path else environ()), **(extra or {})}
        linting = Linting(
            Change(ws.repo, ws.base_oid, ws.path),
            sandbox_of(ws, tree, env),
            places=looked_in(tree, env),
            trusted=trusted,
            candidates=ws.dirty_paths(),
        )
        run = linting.run(paths)
        leak = ws.path / "leak.txt"
        return run, leak.read_text() if leak.exists() else None


class Listener:
    """A TCP server on the host's loopback that counts the connections it gets."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        self.done.set()
        self.thread.join()
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def js_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    tools = need_node_tools()
    need_tool("node")
    home = Path(os.environ["HOME"])
    (home / ".ssh").mkdir(exist_ok=True)
    (home / ".ssh" / "id_ed25519").write_text("memfun-ssh-secret\n")
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    tree = make_repo(
        home / "web",
        {
            "package.json": '{"name": "web", "private": true, "type": "module"}\n',
            "eslint.config.js": BASE_CONFIG,
            "src/index.js": "export const a = 1;\n",
        },
        ignored="node_modules/\n.env\n",
    )
    (tree / ".env").write_text("DATABASE_PASSWORD=memfun-dotenv-secret\n")
    shutil.copytree(tools / "node_modules", tree / "node_modules", symlinks=True)
    return tree


def evil_config(tree: Path, port: int) -> str:
    home = os.environ["HOME"]
    targets = [f"{home}/.ssh/id_ed25519", f"{tree}/.env", "/etc/shadow"]
    return f"""\
import fs from "node:fs";
import net from "node:net";

const out = [];
for (const file of {targets!r}) {{
  try {{ out.push("READ " + fs.readFileSync(file, "utf8")); }}
  catch (error) {{ out.push("NOREAD " + error.code); }}
}}
out.push("ENV " + Object.keys(process.env).filter((k) => /TOKEN|KEY|SECRET/.test(k)).join(","));
out.push("TOKEN " + JSON.stringify(process.env.GITHUB_TOKEN ?? null));
await new Promise((done) => {{
  const socket = net.connect({port}, "127.0.0.1");
  socket.on("connect", () => {{ out.push("CONNECTED"); socket.end(); done(); }});
  socket.on("error", (error) => {{ out.push("NOCONNECT " + error.code); done(); }});
  setTimeout(() => {{ out.push("NOCONNECT timeout"); done(); }}, 3000);
}});
fs.writeFileSync("leak.txt", out.join("\\n") + "\\n");
export default [{{ files: ["**/*.js"], rules: {{}} }}];
"""


def test_eslint_runs_from_the_users_node_modules(js_project: Path) -> None:
    files = {"src/index.js": "const unused = 1;\nexport const a = 1;\n"}
    run, _ = lint(js_project, files, ["src/index.js"])
    (verdict,) = run.verdicts
    assert verdict.linter == "eslint"
    assert verdict.program == str(js_project / "node_modules" / ".bin" / "eslint")
    assert verdict.status == "fail", verdict.output
    assert [(f.path, f.line, f.source) for f in verdict.findings] == [
        ("src/index.js", 1, "eslint:no-unused-vars")
    ]


def test_an_untrusted_eslint_config_never_runs(js_project: Path, listener: Listener) -> None:
    files = {
        "eslint.config.js": evil_config(js_project, listener.port),
        "src/index.js": "const unused = 1;\nexport const a = 1;\n",
    }
    run, leak = lint(js_project, files, ["eslint.config.js", "src/index.js"])
    assert leak is None
    (verdict,) = run.verdicts
    assert verdict.status == "fail"  # the base's rules
    assert verdict.config_changes == (
        "eslint.config.js (changed; not used: linted with the base commit's)",
    )
    assert listener.accepted == 0


def test_a_trusted_eslint_config_gets_nothing_in_the_sandbox(
    js_project: Path, listener: Listener
) -> None:
    files = {
        "eslint.config.js": evil_config(js_project, listener.port),
        "src/index.js": "const unused = 1;\nexport const a = 1;\n",
    }
    run, leak = lint(js_project, files, ["eslint.config.js", "src/index.js"], trusted=True)
    assert leak is not None, run.verdicts[0].output
    assert "READ" not in leak.replace("NOREAD", "")
    assert "memfun-ssh-secret" not in leak
    assert "memfun-dotenv-secret" not in leak
    assert TOKEN not in leak
    assert "ENV \n" in leak  # no variable named like a secret
    assert "TOKEN null" in leak
    assert "NOCONNECT" in leak
    assert "CONNECTED\n" not in leak.replace("NOCONNECT", "")
    assert listener.accepted == 0
    assert [v.status for v in run.verdicts] == ["pass"]  # its own (empty) rules


def test_go_vet_runs_on_the_changed_packages(tmp_path: Path) -> None:
    need_tool("go")
    tree = make_repo(
        tmp_path / "gomod",
        {
            "go.mod": "module example.com/app\n\ngo 1.19\n",
            "main.go": 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Println("hi")\n}\n',
            "util/util.go": "package util\n\nfunc Twice(n int) int {\n\treturn 2 * n\n}\n",
        },
    )
    bad = 'package main\n\nimport "fmt"\n\nfunc main() {\n\tfmt.Printf("%d\\n", "x")\n}\n'
    files = {"main.go": bad, "util/util.go": "package util\n"}
    run, _ = lint(tree, files, ["main.go", "util/util.go"], path=os.environ["PATH"])
    (verdict,) = run.verdicts
    assert verdict.linter == "go"
    assert verdict.status == "fail", verdict.output
    assert [(f.path, f.line) for f in verdict.findings] == [("main.go", 6)]
    assert "wrong type string" in verdict.findings[0].message


def test_cargo_check_reports_compile_errors(tmp_path: Path) -> None:
    need_tool("cargo")
    tree = make_repo(
        tmp_path / "crate",
        {
            "Cargo.toml": '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n',
            "src/main.rs": 'fn main() {\n    println!("hi");\n}\n',
        },
        ignored="target/\n",
    )
    bad = 'fn main() {\n    let n: u32 = "text";\n    println!("{n}");\n}\n'
    # A rustup install finds its toolchains by RUSTUP_HOME (HOME is the test's own here).
    real_home = Path(REAL_ENV.get("HOME", "/root"))
    rustup = {
        var: REAL_ENV.get(var) or str(real_home / sub)
        for var, sub in (("RUSTUP_HOME", ".rustup"), ("CARGO_HOME", ".cargo"))
    }
    path = REAL_ENV.get("PATH", os.defpath)
    run, _ = lint(tree, {"src/main.rs": bad}, ["src/main.rs"], path=path, extra=rustup)
    (verdict,) = run.verdicts
    assert verdict.linter == "cargo"
    assert verdict.status == "fail", verdict.output
    assert [(f.path, f.line, f.source) for f in verdict.findings] == [
        ("src/main.rs", 2, "cargo:E0308")
    ]
