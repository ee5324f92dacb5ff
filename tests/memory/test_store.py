"""Recall, learning and the user's edits on real repositories: secrets never written, agent
instruction files read at the base, five branches' memories merged with nothing lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_git.errors import UsageError
from memfun_git.gitops.deliver import merge_task
from memfun_git.gitops.repo import require_repo
from memfun_git.memory.entries import Entry, MemoryFile
from memfun_git.memory.store import add_entry, clean_text, forget_entry, recall
from tests.conftest import git

SECRETS = [
    "sk-ant-api03-" + "Zq8XUv3nT0pSecretKeyValue4711abcdEFGH",
    "sk-proj-" + "Zq8XUv3nT0pSecretKeyValue4711abcd",
    "ghp_" + "R7xT2kLm9QpZ4vWc8NbY3hJd6FgS1aEu0oIq",
    "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU",
    "postgres://admin:" + "hunter2-very-secret" + "@db.internal:5432/app",
]


@pytest.mark.parametrize("secret", SECRETS)
def test_a_secret_is_never_written(git_repo: Path, secret: str) -> None:
    paths = require_repo(git_repo)
    if secret.startswith("postgres://"):
        # The password goes; where the database is stays worth remembering.
        assert add_entry(paths, secret).text == "postgres://admin:[REDACTED]@db.internal:5432/app"
    else:
        with pytest.raises(UsageError, match="mostly a secret"):
            add_entry(paths, secret)
    entry = add_entry(paths, f"the staging database is reached with {secret} from the bastion")
    written = (git_repo / ".memfun" / "MEMORY.md").read_text()
    assert secret not in written
    assert "[REDACTED]" in written
    assert entry.text in written


def test_clean_text_keeps_ordinary_text_on_one_line() -> None:
    assert clean_text("  use   ruff\n for  lint ") == "use ruff for lint"
    with pytest.raises(UsageError, match="empty"):
        clean_text(" \n ")


def test_add_and_forget_edit_the_working_tree_file_and_the_index(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    entry = add_entry(paths, "always use pool_size=10 for dev", "preference")
    assert "## Preferences\n- [" in (git_repo / ".memfun" / "MEMORY.md").read_text()
    with pytest.raises(UsageError, match="already holds"):
        add_entry(paths, "Always use  pool_size=10 for dev", "preference")
    found = recall(paths, "what pool size for development?", user_memory=False)
    assert [e.id for e in found.entries] == [entry.id]
    assert "pool_size" in found.boost
    assert "always use pool_size=10 for dev" in found.conventions
    assert forget_entry(paths, entry.id[:4]) is not None
    assert recall(paths, "pool size", user_memory=False).entries == ()
    with pytest.raises(UsageError, match="no memory entry"):
        forget_entry(paths, "abcdef")
    with pytest.raises(UsageError, match="not a memory id"):
        forget_entry(paths, "x")


def test_instructions_for_other_agents_are_read_at_the_base(git_repo: Path) -> None:
    (git_repo / "AGENTS.md").write_text("# Agents\nRun `make check` before committing.\n")
    (git_repo / ".github").mkdir()
    (git_repo / ".github" / "copilot-instructions.md").write_text("Prefer pathlib over os.path.\n")
    git(git_repo, "add", "AGENTS.md", ".github")
    git(git_repo, "commit", "-qm", "agent instructions")
    (git_repo / "CLAUDE.md").write_text("untracked: not at the base\n")
    found = recall(require_repo(git_repo), "anything", user_memory=False)
    assert "From AGENTS.md:\n# Agents\nRun `make check` before committing." in found.conventions
    assert "Prefer pathlib over os.path." in found.conventions
    assert "untracked" not in found.conventions


def test_the_user_level_memory_is_recalled_when_wanted(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / ".memfun").mkdir(parents=True)
    (home / ".memfun" / "MEMORY.md").write_text("- I prefer short commit messages\n")
    env = {"HOME": str(home)}
    paths = require_repo(git_repo)
    assert recall(paths, "commit messages", environ=env).entries[0].source == "user"
    assert recall(paths, "commit messages", environ=env, user_memory=False).entries == ()


def _branch_with_entries(repo: Path, name: str, texts: list[str]) -> None:
    git(repo, "checkout", "-q", "-b", name, "main")
    path = repo / ".memfun" / "MEMORY.md"
    memory = MemoryFile.parse(path.read_text() if path.exists() else "")
    for text in texts:
        memory.add(Entry.new(text, day="2026-12-04"))
    path.parent.mkdir(exist_ok=True)
    path.write_text(memory.render())
    git(repo, "add", ".memfun/MEMORY.md")
    git(repo, "commit", "-qm", f"remember on {name}")
    git(repo, "checkout", "-q", "main")


@pytest.mark.parametrize("how", ["memfun", "git merge=union"])
def test_five_branches_merge_without_conflict_and_lose_or_double_nothing(
    git_repo: Path, how: str
) -> None:
    shared = "the API listens on 8080"
    expected = {shared}
    if how == "git merge=union":
        (git_repo / ".gitattributes").write_text(".memfun/MEMORY.md merge=union\n")
        git(git_repo, "add", ".gitattributes")
        git(git_repo, "commit", "-qm", "attributes")
    for n in range(5):
        texts = [f"fact {n}.{k} from branch {n}" for k in range(3)] + [shared]
        expected |= set(texts)
        _branch_with_entries(git_repo, f"memfun/t{n}", texts)
    # A commit on main first, so every merge is a real merge, not a fast-forward.
    (git_repo / "README.md").write_text("# Demo\n\nmain moved on\n")
    git(git_repo, "commit", "-qam", "main moves")
    for n in range(5):
        if how == "memfun":
            assert merge_task(require_repo(git_repo), f"t{n}", "x").kind == "merge commit"
        else:
            git(git_repo, "merge", "-q", "--no-edit", f"memfun/t{n}")
    assert git(git_repo, "status", "--porcelain") == ""
    merged = MemoryFile.parse((git_repo / ".memfun" / "MEMORY.md").read_text())
    texts = [e.text for e in merged.entries]
    assert sorted(texts) == sorted(expected)
    lines = [line for line in merged.render().splitlines() if line.startswith("- ")]
    assert len(lines) == len(expected)  # no entry doubled, even as a line


def test_a_small_committed_memory_md_is_always_loaded_ranked_entries_first(
    git_repo: Path,
) -> None:
    (git_repo / ".memfun").mkdir()
    memory = MemoryFile.parse("")
    memory.add(Entry.new("commit messages are written in English", "convention"))
    memory.add(Entry.new("the dev database is postgres 16", "fact"))
    (git_repo / ".memfun" / "MEMORY.md").write_text(memory.render())
    git(git_repo, "add", ".memfun/MEMORY.md")
    git(git_repo, "commit", "-qm", "memory")
    found = recall(require_repo(git_repo), "upgrade the database driver", user_memory=False)
    assert [e.text for e in found.entries] == [
        "the dev database is postgres 16",
        "commit messages are written in English",
    ]


def test_what_the_user_added_is_recalled_whatever_the_request(git_repo: Path) -> None:
    paths = require_repo(git_repo)
    entry = add_entry(paths, "always name constants in CAPITALS", "preference")
    found = recall(paths, "add the pool", always=("base", "worktree"))
    assert entry.id in {e.id for e in found.entries}
    assert "always name constants in CAPITALS" in found.conventions
    assert recall(paths, "add the pool").conventions == ""  # not unless asked for
