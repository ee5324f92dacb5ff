"""Attempts: a failed or interrupted task's worktree, kept as a commit under
`refs/memfun/attempts/<slug>/<n>` (never overwriting an earlier one).

Recording takes the worktree's dirty paths one by one (not `add_all`, which stops at a nested
repository and would store LFS content where pointers belong), in path order, while they fit
`Limits`; what it cannot or may not take is named in the attempt's message and stays in the
worktree, which the caller then keeps. Hashing files runs with stop signals allowed (an
interrupted recording keeps the worktree and its branch: nothing is lost); only the ref is
made with them held. The worktree's index file is not written: the worktree stays as the task
left it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.gitops.commit import Trailers, identity
from memfun_git.gitops.files import Kinds
from memfun_git.gitops.limits import Budget, LeftOut, Limits, Reporter, describe_left_out
from memfun_git.gitops.readonly import not_recordable
from memfun_git.gitops.signals import no_interrupts
from memfun_git.redact import redact

if TYPE_CHECKING:
    import pygit2

__all__ = ["ATTEMPTS_PREFIX", "Attempt", "attempt_refs", "record_attempt", "save_attempt"]

logger = logging.getLogger(__name__)

ATTEMPTS_PREFIX = "refs/memfun/attempts/"


@dataclass(frozen=True, slots=True)
class Attempt:
    ref: str
    oid: str
    reason: str
    unsaved: tuple[str, ...] = ()
    """Paths not recorded (see `left_out`): the worktree is kept."""
    left_out: tuple[LeftOut, ...] = ()


def attempt_refs(repo: pygit2.Repository, slug: str | None = None) -> list[str]:
    prefix = ATTEMPTS_PREFIX + (f"{slug}/" if slug else "")
    return sorted(r for r in repo.references if r.startswith(prefix))


def save_attempt(user: pygit2.Repository, slug: str, oid: str) -> str:
    """Keep `oid` under the next free `refs/memfun/attempts/<slug>/<n>`; return the ref."""
    import pygit2

    taken = [r.rsplit("/", 1)[1] for r in attempt_refs(user, slug)]
    number = 1 + max((int(n) for n in taken if n.isdigit()), default=0)
    while True:
        ref = f"{ATTEMPTS_PREFIX}{slug}/{number}"
        try:
            user.references.create(ref, oid)
        except (ValueError, pygit2.AlreadyExistsError):
            number += 1  # another process took it: never overwrite an attempt
            continue
        return ref


def record_attempt(
    repo: pygit2.Repository,
    user: pygit2.Repository,
    *,
    dirty: list[str],
    slug: str,
    trailers: Trailers,
    why: str,
    limits: Limits,
    reporter: Reporter,
    environ: Mapping[str, str] | None = None,
) -> Attempt:
    """Snapshot the `dirty` paths of the worktree `repo` into an attempt of `user`."""
    index = repo.index
    index.read(True)
    try:
        left_out = _stage(repo, index, dirty, limits, reporter)
        tree = index.write_tree()
    finally:
        index.read(True)  # the worktree's index stays as the task left it
    if left_out:
        where = f"not recorded, kept in {repo.workdir.rstrip('/')}"
        why = f"{why}; {where}: {describe_left_out(left_out, limits)}"
    author, committer = identity(repo, environ)
    gate = Trailers(trailers.task, trailers.agent, f"n/a (attempt {why})")
    message = f"memfun: attempt of {trailers.task} ({why})\n\n{gate.render()}\n"
    parent = repo.head.target
    oid = str(repo.create_commit(None, author, committer, redact(message), tree, [parent]))
    with no_interrupts():
        ref = save_attempt(user, slug, oid)
    logger.info("kept attempt %s of %s: %s", ref, trailers.task, redact(why))
    return Attempt(ref, oid, why, tuple(item.path for item in left_out), tuple(left_out))


def _stage(
    repo: pygit2.Repository,
    index: pygit2.Index,
    dirty: list[str],
    limits: Limits,
    reporter: Reporter,
) -> list[LeftOut]:
    """Stage every dirty path that git can record and the limits allow; return the rest."""
    import pygit2

    kinds = Kinds(Path(repo.workdir))
    budget = Budget(limits)
    left_out: list[LeftOut] = []
    reporter.total = len(dirty)
    for done, rel in enumerate(dirty):
        reporter.tick(done, budget.bytes)
        why = not_recordable(repo, rel, (index,))
        if why is not None:
            left_out.append(LeftOut(rel, why))
            continue
        kind = kinds.of(rel)
        try:
            if kind.kind == "missing":
                with contextlib.suppress(KeyError, OSError):
                    index.remove(rel)
            elif kind.kind not in ("file", "link"):
                left_out.append(LeftOut(rel, "not a regular file"))
            elif not budget.take(kind.size):
                left_out.append(LeftOut(rel, "over the caps"))
            else:
                index.add(rel)
        except (pygit2.GitError, OSError):
            left_out.append(LeftOut(rel, "refused by git"))
    reporter.finish(len(dirty), budget.bytes)
    logger.debug("attempt staged %d files (%d bytes)", budget.files, budget.bytes)
    return left_out
