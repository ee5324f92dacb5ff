"""memfun's branch names, by the kind of work: tasks and the specialists working for them.

- a task works on `memfun/<task-id>`;
- a specialist of a task works on `memfun-agents/<task-id>/<agent>` (git cannot hold
  `memfun/<id>` and `memfun/<id>/<agent>` at once);
- throwaway work (`memfun sandbox run`) has no branch at all: its worktree is detached, so
  nothing of it sits under `refs/heads` for a `git push --all` to publish.

Each kind of work also has a slug, `<task-id>` or `<task-id>+<agent>` ('+' is in no task id),
naming its worktree folder and its attempts (`refs/memfun/attempts/<slug>/<n>`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from memfun_git.errors import RepoError

if TYPE_CHECKING:
    import pygit2

__all__ = [
    "AGENT_BRANCH_PREFIX",
    "BRANCH_PREFIX",
    "Work",
    "WorkKind",
    "delete_branch",
    "is_ours",
    "slug_of_branch",
    "valid_name",
]

BRANCH_PREFIX = "memfun/"
AGENT_BRANCH_PREFIX = "memfun-agents/"
_OURS = ("refs/heads/" + BRANCH_PREFIX, "refs/heads/" + AGENT_BRANCH_PREFIX, "refs/memfun/")
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

WorkKind = Literal["task", "specialist"]


@dataclass(frozen=True, slots=True)
class Work:
    """What a workspace is for: a task, or one specialist working for a task."""

    task_id: str
    kind: WorkKind = "task"
    agent: str = ""
    """The specialist's name (kind "specialist" only)."""

    def __post_init__(self) -> None:
        if not valid_name(self.task_id):
            raise RepoError(
                f"{self.task_id!r} is not a valid task id",
                "use letters, digits, '-', '_' and '.' only",
            )
        if self.kind == "specialist" and not valid_name(self.agent):
            raise RepoError(
                f"{self.agent!r} is not a valid specialist name",
                "use letters, digits, '-', '_' and '.' only",
            )

    @property
    def branch(self) -> str:
        if self.kind == "specialist":
            return f"{AGENT_BRANCH_PREFIX}{self.task_id}/{self.agent}"
        return BRANCH_PREFIX + self.task_id

    @property
    def slug(self) -> str:
        return f"{self.task_id}+{self.agent}" if self.kind == "specialist" else self.task_id


def valid_name(name: str) -> bool:
    """A task id or agent name that is safe as a ref component and a folder name."""
    return (
        0 < len(name) <= 100
        and set(name) <= _ALLOWED
        and not name.startswith((".", "-"))
        and not name.endswith((".", ".lock"))
        and ".." not in name
    )


def is_ours(ref: str) -> bool:
    """True for memfun's branches and its own refs (attempts)."""
    return ref.startswith(_OURS)


def slug_of_branch(short: str) -> str:
    """The slug of a branch `memfun/<id>` or `memfun-agents/<id>/<agent>`."""
    if short.startswith(AGENT_BRANCH_PREFIX):
        return short.removeprefix(AGENT_BRANCH_PREFIX).replace("/", "+", 1).replace("/", "-")
    return short.removeprefix(BRANCH_PREFIX).replace("/", "-")


def delete_branch(user: pygit2.Repository, short: str) -> None:
    ref = user.branches.local.get(short)
    if ref is not None:
        ref.delete()
