"""Commits made by memfun: exact paths staged, the user's identity, trailers, notes, signing.

- Only the paths a task touched are staged (never "add all"): links, copied-in ignored files
  and stray build output never enter a commit.
- Author and committer come from the user's git configuration (GIT_AUTHOR_* / GIT_COMMITTER_*
  first, as git does), with a memfun identity as fallback.
- Trailers `Memfun-Task`, `Memfun-Agent`, `Memfun-Gate` end every message; bookkeeping commits
  carry `Memfun-Gate: n/a (<why>)`.
- A git note under `refs/notes/memfun` holds the task summary.
- When the user signs commits (`commit.gpgsign`), memfun's are signed the same way by
  `git commit-tree -S` (which knows gpg, ssh and x509 signing); if signing fails, the commit is
  made unsigned and `CommitResult.signed` says so, with the reason.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.redact import redact

if TYPE_CHECKING:
    import pygit2

__all__ = [
    "FALLBACK_EMAIL",
    "FALLBACK_NAME",
    "NOTES_REF",
    "CommitResult",
    "Trailers",
    "commit_paths",
    "identity",
    "signing_wanted",
]

NOTES_REF = "refs/notes/memfun"
FALLBACK_NAME = "memfun"
FALLBACK_EMAIL = "memfun@localhost"


@dataclass(frozen=True, slots=True)
class Trailers:
    task: str
    agent: str
    gate: str
    """`ruff=pass review=pass`, or `n/a (<why>)` for bookkeeping commits."""

    def render(self) -> str:
        return f"Memfun-Task: {self.task}\nMemfun-Agent: {self.agent}\nMemfun-Gate: {self.gate}"


@dataclass(frozen=True, slots=True)
class CommitResult:
    oid: str
    paths: tuple[str, ...]
    signed: bool
    unsigned_reason: str = ""
    """Why a commit that should have been signed is not ('' when signed or not wanted)."""


def identity(
    repo: pygit2.Repository, environ: Mapping[str, str] | None = None
) -> tuple[pygit2.Signature, pygit2.Signature]:
    """(author, committer) as git would pick them, else memfun's own identity."""
    import pygit2

    env = os.environ if environ is None else environ
    try:
        default = repo.default_signature
        name, email = default.name, default.email
    except (KeyError, pygit2.GitError):
        name, email = FALLBACK_NAME, FALLBACK_EMAIL
    author = pygit2.Signature(
        env.get("GIT_AUTHOR_NAME") or name, env.get("GIT_AUTHOR_EMAIL") or email
    )
    committer = pygit2.Signature(
        env.get("GIT_COMMITTER_NAME") or name, env.get("GIT_COMMITTER_EMAIL") or email
    )
    return author, committer


def signing_wanted(repo: pygit2.Repository) -> bool:
    try:
        return repo.config.get_bool("commit.gpgsign")
    except (KeyError, ValueError):
        return False


def message_with_trailers(message: str, trailers: Trailers) -> str:
    body = redact(message).rstrip()
    return f"{body}\n\n{trailers.render()}\n"


def stage(repo: pygit2.Repository, paths: Iterable[str]) -> tuple[str, ...]:
    """Put exactly `paths` (relative, '/'-separated) into the worktree's index; return them."""
    workdir = Path(repo.workdir)
    index = repo.index
    index.read(False)
    staged: list[str] = []
    for rel in sorted(set(paths)):
        full = workdir / rel
        if full.is_symlink() or full.is_file():
            index.add(rel)
        elif full.exists():
            raise IsADirectoryError(f"{rel} is a folder; stage the files in it")
        else:
            try:
                index.remove(rel)
            except (OSError, KeyError):
                continue  # neither on disk nor in the index: nothing to record
        staged.append(rel)
    index.write()
    return tuple(staged)


def commit_paths(
    repo: pygit2.Repository,
    paths: Iterable[str],
    message: str,
    trailers: Trailers,
    *,
    note: str | None = None,
    environ: Mapping[str, str] | None = None,
    allow_empty: bool = False,
) -> CommitResult | None:
    """Commit exactly `paths` of the worktree `repo` on its current branch.

    Returns None when nothing changed (and `allow_empty` is false).
    """
    import pygit2

    staged = stage(repo, paths)
    tree = repo.index.write_tree()
    head = repo.head.target
    parent = repo.revparse_single(str(head)).peel(pygit2.Commit)
    if not allow_empty and parent.tree_id == tree:
        return None
    author, committer = identity(repo, environ)
    text = message_with_trailers(message, trailers)
    signed, reason = False, ""
    oid: str | None = None
    if signing_wanted(repo):
        oid, reason = _commit_tree_signed(repo, str(tree), str(head), text, author, committer)
        signed = oid is not None
    if oid is None:
        oid = str(repo.create_commit(None, author, committer, text, tree, [head]))
    # Move the branch the worktree has checked out (HEAD is symbolic in a worktree).
    repo.head.set_target(oid)
    if note:
        repo.create_note(redact(note), author, committer, oid, NOTES_REF, True)
    return CommitResult(oid=oid, paths=staged, signed=signed, unsigned_reason=reason)


def _commit_tree_signed(
    repo: pygit2.Repository,
    tree: str,
    parent: str,
    message: str,
    author: pygit2.Signature,
    committer: pygit2.Signature,
) -> tuple[str | None, str]:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": committer.name,
        "GIT_COMMITTER_EMAIL": committer.email,
    }
    proc = subprocess.run(
        ["git", "commit-tree", tree, "-p", parent, "-S", "-F", "-"],
        cwd=repo.workdir,
        input=message,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        detail = lines[-1] if lines else f"git exited with {proc.returncode}"
        return None, redact(detail)
    return proc.stdout.strip(), ""
