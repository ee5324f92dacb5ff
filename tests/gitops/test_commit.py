"""Commits made through a Workspace: exact paths, trailers, notes, identity, redaction, signing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from memfun_git.errors import RepoError
from memfun_git.gitops.commit import NOTES_REF
from memfun_git.gitops.repo import require_repo
from memfun_git.gitops.worktree import Workspace
from tests.conftest import git
from tests.helpers.require import need_tool

TOKEN = "ghs_" + "A1b2" * 9  # 36 characters after the prefix
GATE = "ruff=pass review=pass"


def _user_state(repo: Path) -> dict[str, bytes]:
    """The user's index, HEAD, config and working-tree files, byte for byte."""
    state = {name: (repo / ".git" / name).read_bytes() for name in ("index", "HEAD", "config")}
    state["refs/heads/main"] = git(repo, "rev-parse", "main").encode()
    for path in sorted(repo.rglob("*")):
        if ".git" not in path.relative_to(repo).parts and path.is_file():
            state[str(path.relative_to(repo))] = path.read_bytes()
    return state


def _tree(repo: Path, rev: str) -> dict[str, tuple[str, bytes]]:
    """path -> (mode, content) of every file in `rev`."""
    out = git(repo, "ls-tree", "-r", "-z", rev)
    entries: dict[str, tuple[str, bytes]] = {}
    for record in filter(None, out.split("\0")):
        meta, path = record.split("\t", 1)
        mode, _, oid = meta.split(" ")
        content = subprocess.run(
            ["git", "cat-file", "blob", oid], cwd=repo, check=True, capture_output=True
        ).stdout
        entries[path] = (mode, content)
    return entries


def test_commit_holds_exactly_the_given_paths_with_trailers_and_note(
    git_repo: Path, tmp_path: Path
) -> None:
    repo = git_repo
    (repo / "src" / "util.py").write_text("UTIL = 1\n")
    git(repo, "add", "src/util.py")
    git(repo, "commit", "-q", "-m", "util")
    before = _user_state(repo)
    deps = tmp_path / "deps"
    (deps / "left-pad").mkdir(parents=True)
    (deps / "left-pad" / "index.js").write_text("module.exports = 1;\n")

    with Workspace(require_repo(repo), "t1", agent="coder") as ws:
        w = ws.path
        (w / "src" / "café.py").write_text("NAME = 'café'\n")
        (w / "README.md").write_text("# Demo\n\nEdited.\n")
        (w / "src" / "app.py").unlink()
        (w / "docs").mkdir()
        (w / "docs" / "readme").symlink_to("../README.md")
        (w / "run.sh").write_text("#!/bin/sh\necho hi\n")
        (w / "run.sh").chmod(0o755)
        (w / "stray.txt").write_text("not part of the task\n")
        (w / "node_modules").symlink_to(deps, target_is_directory=True)
        # Something in the task ran `git add`: what it staged stays out all the same.
        (w / "staged-stray.txt").write_text("staged by a tool\n")
        (w / "src" / "util.py").write_text("UTIL = 2\n")
        git(w, "add", "staged-stray.txt", "src/util.py")
        # A failed call stages nothing for the next one.
        (w / "half.py").write_text("half = 1\n")
        with pytest.raises(RepoError, match=r"^src is a folder — name the files in it"):
            ws.commit(["half.py", "src"], "half", gate=GATE)

        result = ws.commit(
            ["src/café.py", "README.md", "src/app.py", "docs/readme", "run.sh", "never-there.txt"],
            f"Add café\n\nDeploy with {TOKEN} please.\n",
            gate=GATE,
            note=f"task t1: 5 paths, 2 tool calls; token {TOKEN}",
        )
        assert result is not None
        assert result.paths == ("README.md", "docs/readme", "run.sh", "src/app.py", "src/café.py")
        assert (result.signed, result.unsigned_reason) == (False, "")
        assert ws.commit(["README.md"], "again", gate=GATE) is None  # nothing changed
        assert ws.dirty_paths() == [
            "half.py",
            "node_modules",
            "src/util.py",
            "staged-stray.txt",
            "stray.txt",
        ]
        base = ws.base_oid

    oid = result.oid
    assert not ws.path.exists()
    assert git(repo, "rev-parse", "memfun/t1").strip() == oid
    assert git(repo, "rev-parse", f"{oid}^").strip() == base
    assert _tree(repo, oid) == {
        "README.md": ("100644", b"# Demo\n\nEdited.\n"),
        "docs/readme": ("120000", b"../README.md"),
        "run.sh": ("100755", b"#!/bin/sh\necho hi\n"),
        "src/café.py": ("100644", "NAME = 'café'\n".encode()),
        "src/util.py": ("100644", b"UTIL = 1\n"),
    }
    assert git(repo, "show", "-s", "--format=%B", oid) == (
        "Add café\n\nDeploy with [REDACTED] please.\n\n"
        "Memfun-Task: t1\nMemfun-Agent: coder\nMemfun-Gate: ruff=pass review=pass\n\n"
    )
    # Real git trailers, as `git interpret-trailers` parses them.
    assert git(repo, "show", "-s", "--format=%(trailers:only,unfold)", oid) == (
        "Memfun-Task: t1\nMemfun-Agent: coder\nMemfun-Gate: ruff=pass review=pass\n\n"
    )
    note = git(repo, "notes", f"--ref={NOTES_REF}", "show", oid)
    assert note.rstrip("\n") == "task t1: 5 paths, 2 tool calls; token [REDACTED]"
    assert TOKEN not in git(repo, "log", "--all", "--format=%B%N", f"--notes={NOTES_REF}")
    assert _user_state(repo) == before


@pytest.mark.parametrize(
    ("setup", "author", "committer"),
    [
        ("global", "Test User <test@example.com>", "Test User <test@example.com>"),
        ("repo", "Repo Person <repo@example.com>", "Repo Person <repo@example.com>"),
        ("env", "Env Author <env@example.com>", "Test User <test@example.com>"),
        ("unset", "memfun <memfun@localhost>", "memfun <memfun@localhost>"),
        ("unset+env", "Env Author <env@example.com>", "memfun <memfun@localhost>"),
    ],
)
def test_identity_is_the_users_then_memfuns(
    git_repo: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    setup: str,
    author: str,
    committer: str,
) -> None:
    monkeypatch.delenv("EMAIL", raising=False)
    if setup == "repo":
        git(git_repo, "config", "user.name", "Repo Person")
        git(git_repo, "config", "user.email", "repo@example.com")
    if "unset" in setup:
        bare = tmp_path / "gitconfig-without-user"
        bare.write_text("[init]\n\tdefaultBranch = main\n")
        monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(bare))
    if "env" in setup:
        monkeypatch.setenv("GIT_AUTHOR_NAME", "Env Author")
        monkeypatch.setenv("GIT_AUTHOR_EMAIL", "env@example.com")

    with Workspace(require_repo(git_repo), "who") as ws:
        (ws.path / "a.txt").write_text("a\n")
        result = ws.commit(["a.txt"], "add a", gate=GATE)
    assert result is not None
    shown = git(git_repo, "show", "-s", "--format=%an <%ae>|%cn <%ce>", result.oid).strip()
    assert shown == f"{author}|{committer}"


@pytest.mark.parametrize("where", ["repo config", "global config"])
@pytest.mark.parametrize("key", ["present", "missing"])
def test_ssh_signing_follows_the_users_config(
    git_repo: Path, tmp_path: Path, isolated_env: Path, where: str, key: str
) -> None:
    need_tool("ssh-keygen")
    keyfile = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", str(keyfile)],
        check=True,
        capture_output=True,
    )
    pub = keyfile.with_suffix(".pub").read_text().strip()
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"test@example.com {pub}\n")
    if key == "missing":
        keyfile.unlink()
        keyfile.with_suffix(".pub").rename(tmp_path / "elsewhere.pub")
    settings = {
        "gpg.format": "ssh",
        "user.signingkey": f"{keyfile}.pub",
        "commit.gpgsign": "true",
        "gpg.ssh.allowedSignersFile": str(allowed),
    }
    for name, value in settings.items():
        if where == "repo config":
            git(git_repo, "config", name, value)
        else:
            git(git_repo, "config", "--global", name, value)
    assert os.environ["GIT_CONFIG_GLOBAL"] == str(isolated_env / ".gitconfig")

    with Workspace(require_repo(git_repo), "signed") as ws:
        (ws.path / "a.txt").write_text("a\n")
        result = ws.commit(["a.txt"], f"add a\n\n{TOKEN}", gate=GATE)
    assert result is not None

    verify = subprocess.run(
        ["git", "verify-commit", result.oid], cwd=git_repo, capture_output=True, text=True
    )
    message = git(git_repo, "show", "-s", "--format=%B", result.oid)
    assert message.startswith("add a\n\n[REDACTED]\n\nMemfun-Task: signed\n")
    assert git(git_repo, "rev-parse", "memfun/signed").strip() == result.oid
    if key == "present":
        assert (result.signed, result.unsigned_reason) == (True, "")
        assert verify.returncode == 0, verify.stderr
        assert 'Good "git" signature for test@example.com' in verify.stderr
    else:
        assert result.signed is False
        assert "key" in result.unsigned_reason.lower()
        assert verify.returncode != 0
        assert "gpgsig" not in git(git_repo, "cat-file", "commit", result.oid)
