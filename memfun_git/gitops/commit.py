"""Commits made by memfun: exact paths staged, the user's identity, trailers, notes, signing.

- Only the paths a task touched are staged (never "add all"): links, copied-in ignored files
  and stray build output never enter a commit.
- Author and committer come from the user's git configuration (GIT_AUTHOR_* / GIT_COMMITTER_*
  first, as git does), with a memfun identity as fallback. The configuration is read by
  `git config`, as git reads it: libgit2 reads the global file of the HOME it saw when pygit2
  was imported and knows nothing of GIT_CONFIG_GLOBAL or `includeIf`.
- Trailers `Memfun-Task`, `Memfun-Agent`, `Memfun-Gate` end every message; bookkeeping commits
  carry `Memfun-Gate: n/a (<why>)`.
- A git note under `refs/notes/memfun` holds the task summary.
- When the user signs commits (`commit.gpgsign`), memfun's are signed the same way by
  `git commit-tree -S` (which knows gpg, ssh and x509 signing); if signing fails, the commit is
  made unsigned and `CommitResult.signed` says so, with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.errors import RepoError
from memfun_git.gitops.files import Kinds, shown
from memfun_git.gitops.git import git_program, run_git
from memfun_git.gitops.limits import MAX_FILE_BYTES
from memfun_git.redact import redact

if TYPE_CHECKING:
    import pygit2

__all__ = [
    "FALLBACK_EMAIL",
    "FALLBACK_NAME",
    "MAX_FILE_BYTES",
    "NOTES_REF",
    "CommitResult",
    "Trailers",
    "commit_paths",
    "identity",
    "message_with_trailers",
    "signing_wanted",
    "stage",
    "user_config",
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


_CONFIG_KEYS = r"^(user\.name|user\.email|commit\.gpgsign)$"


def user_config(
    repo: pygit2.Repository, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """user.name, user.email and commit.gpgsign of the worktree `repo`, as git reads them."""
    env = {**os.environ, **(environ or {})}
    if git_program(env) is None:
        return _pygit2_config(repo)
    try:
        proc = run_git(
            ["config", "-z", "--get-regexp", _CONFIG_KEYS],
            cwd=repo.workdir or repo.path,
            environ=env,
            check=False,
        )
    except RepoError:
        return _pygit2_config(repo)
    if proc.returncode not in (0, 1):  # 1: none of the keys is set
        return _pygit2_config(repo)
    found: dict[str, str] = {}
    for record in filter(None, proc.stdout.split("\0")):
        key, _, value = record.partition("\n")
        found[key.lower()] = value  # later files win, as in git
    return found


def _pygit2_config(repo: pygit2.Repository) -> dict[str, str]:
    """Without a usable git binary: what libgit2 sees."""
    found: dict[str, str] = {}
    for key in ("user.name", "user.email", "commit.gpgsign"):
        try:
            found[key] = str(repo.config[key])
        except (KeyError, ValueError):
            continue
    return found


def identity(
    repo: pygit2.Repository,
    environ: Mapping[str, str] | None = None,
    *,
    settings: Mapping[str, str] | None = None,
) -> tuple[pygit2.Signature, pygit2.Signature]:
    """(author, committer) as git would pick them, else memfun's own identity."""
    import pygit2

    env = os.environ if environ is None else environ
    cfg = user_config(repo, environ) if settings is None else settings
    name = cfg.get("user.name") or FALLBACK_NAME
    email = cfg.get("user.email") or env.get("EMAIL") or FALLBACK_EMAIL
    author = pygit2.Signature(
        env.get("GIT_AUTHOR_NAME") or name, env.get("GIT_AUTHOR_EMAIL") or email
    )
    committer = pygit2.Signature(
        env.get("GIT_COMMITTER_NAME") or name, env.get("GIT_COMMITTER_EMAIL") or email
    )
    return author, committer


def signing_wanted(
    repo: pygit2.Repository,
    environ: Mapping[str, str] | None = None,
    *,
    settings: Mapping[str, str] | None = None,
) -> bool:
    cfg = user_config(repo, environ) if settings is None else settings
    value = cfg.get("commit.gpgsign")
    # A key without a value ("[commit] gpgsign") is true in git.
    return value is not None and value.strip().lower() in ("", "true", "yes", "on", "1")


def message_with_trailers(message: str, trailers: Trailers) -> str:
    body = redact(message).rstrip()
    return f"{body}\n\n{trailers.render()}\n"


def stage(
    repo: pygit2.Repository, paths: Iterable[str], *, max_file_bytes: int | None = MAX_FILE_BYTES
) -> tuple[str, ...]:
    """Put exactly `paths` (relative, '/'-separated) into the worktree's index; return them.

    Each path is staged as it is on disk, looked at without following links: a file or a
    link is added; a path that is gone (or lies below a link or a file, which git never
    descends into) is removed; a path that is now a folder loses its old entry (the folder's
    files are paths of their own). A file over `max_file_bytes` is refused (None: any size)."""
    import pygit2

    kinds = Kinds(Path(repo.workdir))
    wanted = sorted(set(paths))
    index = repo.index
    # From disk, always: an earlier call that failed half-way must not leave paths staged in
    # memory for this one.
    index.read(True)
    staged: list[str] = []
    try:
        # Whatever else is staged (a tool in the task ran `git add`) goes back to HEAD's
        # version: the worktree keeps the files, the commit does not take them.
        head_tree = repo.revparse_single("HEAD").peel(pygit2.Commit).tree
        for delta in index.diff_to_tree(head_tree).deltas:
            for rel in {delta.old_file.path, delta.new_file.path} - set(wanted):
                if rel in head_tree:
                    entry = head_tree[rel]
                    index.add(pygit2.IndexEntry(rel, entry.id, entry.filemode))
                elif rel in index:
                    index.remove(rel)
        for rel in wanted:
            kind = kinds.of(rel)
            if max_file_bytes is not None and kind.kind == "file" and kind.size > max_file_bytes:
                raise RepoError(
                    f"{shown(rel)} is {kind.size:,} bytes, over the {max_file_bytes:,} bytes a "
                    "commit may hold in one file",
                    "leave it out of the commit (or in Git LFS)",
                )
            if kind.kind in ("file", "link"):
                index.add(rel)
            elif kind.kind == "folder" and rel not in index:
                raise RepoError(
                    f"{shown(rel)} is a folder", "name the files in it to commit them one by one"
                )
            elif kind.kind == "special":
                raise RepoError(f"{shown(rel)} is not a regular file", "leave it out")
            else:
                try:
                    index.remove(rel)
                except (OSError, KeyError):
                    continue  # neither on disk nor in the index: nothing to record
            staged.append(rel)
    except BaseException:
        index.read(True)  # drop what this call staged in memory
        raise
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
    max_file_bytes: int | None = MAX_FILE_BYTES,
) -> CommitResult | None:
    """Commit exactly `paths` of the worktree `repo` on its current branch.

    Returns None when nothing changed (and `allow_empty` is false).
    """
    import pygit2

    staged = stage(repo, paths, max_file_bytes=max_file_bytes)
    tree = repo.index.write_tree()
    head = repo.head.target
    parent = repo.revparse_single(str(head)).peel(pygit2.Commit)
    if not allow_empty and parent.tree_id == tree:
        return None
    settings = user_config(repo, environ)
    author, committer = identity(repo, environ, settings=settings)
    text = message_with_trailers(message, trailers)
    signed, reason = False, ""
    oid: str | None = None
    if signing_wanted(repo, settings=settings):
        oid, reason = _commit_tree_signed(
            repo, str(tree), str(head), text, author, committer, environ
        )
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
    environ: Mapping[str, str] | None = None,
) -> tuple[str | None, str]:
    env = {
        **os.environ,
        **(environ or {}),
        "GIT_AUTHOR_NAME": author.name,
        "GIT_AUTHOR_EMAIL": author.email,
        "GIT_COMMITTER_NAME": committer.name,
        "GIT_COMMITTER_EMAIL": committer.email,
    }
    if git_program(env) is None:
        return None, "git is not installed"
    try:
        proc = run_git(
            ["commit-tree", tree, "-p", parent, "-S", "-F", "-"],
            cwd=repo.workdir,
            environ=env,
            input=message,
            check=False,
        )
    except RepoError as exc:
        return None, exc.message
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        detail = lines[-1] if lines else f"git exited with {proc.returncode}"
        return None, redact(detail)
    return proc.stdout.strip(), ""
