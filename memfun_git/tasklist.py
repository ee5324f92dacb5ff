"""The tasks of a clone as `memfun list`, `show`, `diff`, `merge` and `undo` see them.

What the engine recorded (`<git-common-dir>/memfun/memfun.db`, keys `task/<id>`) is joined
with what git says now, because git is the truth about branches:
- status: as recorded, except that a task recorded as running whose process is gone (killed,
  a closed terminal, a crash) was interrupted;
- the branch: whether `memfun/<id>` still exists, its commits since the task's first base,
  and whether it is delivered (reachable from a ref that is not memfun's own: merged,
  pushed) and where;
- the attempts kept under `refs/memfun/attempts/<id>/`.

A task is named by its id or by a unique start of it (`memfun show add-jwt`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git.errors import UsageError
from memfun_git.gitops.branches import BRANCH_PREFIX

if TYPE_CHECKING:
    import pygit2

    from memfun_git.config import BackendConfig
    from memfun_git.gitops.repo import RepoPaths

__all__ = ["TaskCommit", "TaskView", "age_text", "find_task", "load_tasks"]


@dataclass(frozen=True, slots=True)
class TaskCommit:
    oid: str
    subject: str
    gate: str
    note: str = ""
    """The trace note under refs/notes/memfun ("" when none)."""


@dataclass(frozen=True, slots=True)
class TaskView:
    id: str
    request: str
    status: str
    """done, failed, interrupted or running."""
    branch: str
    branch_exists: bool
    base: str
    """The commit the branch first started from ("" when the task never opened)."""
    started: float
    updated: float
    delivered: str | None
    """The ref delivering the branch (None: not delivered, or no branch)."""
    commits: tuple[TaskCommit, ...] = ()
    attempts: tuple[str, ...] = ()
    record: dict[str, Any] = field(default_factory=dict[str, Any])
    """The engine's record as stored (the last run's `TaskResult.as_dict()` and more)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.record,
            "id": self.id,
            "request": self.request,
            "status": self.status,
            "branch": self.branch,
            "branch_exists": self.branch_exists,
            "first_base": self.base,
            "started": self.started,
            "updated": self.updated,
            "delivered": self.delivered,
            "branch_commits": [
                {"oid": c.oid, "subject": c.subject, "gate": c.gate, "note": c.note}
                for c in self.commits
            ],
            "attempts": list(self.attempts),
        }


def load_tasks(
    paths: RepoPaths, backend: BackendConfig | None = None, *, detail: bool = False
) -> list[TaskView]:
    """Every recorded task of the clone, most recently updated first (on a shared tier, the
    records of other clones are left out). `detail`: also read each branch's commits and
    their notes (for `show`)."""
    import pygit2

    from memfun_git.config import BackendConfig
    from memfun_git.gitops.deliver import foreign_tips
    from memfun_git.records import Records, clone_name, database_path

    backend = backend or BackendConfig()
    local = backend.tier not in ("redis", "nats")
    if local and not database_path(paths.common_dir, backend.sqlite_path).exists():
        return []
    with Records.open(backend, paths.common_dir) as store:
        found = store.items("task/")
    here = clone_name(paths.common_dir)
    records = [r for r in found if r.value.get("clone", here) == here]
    user = pygit2.Repository(str(paths.common_dir))
    try:
        targets = foreign_tips(user)
        return [_view(user, r.value, r.updated, targets, detail) for r in records]
    finally:
        user.free()


def find_task(paths: RepoPaths, name: str, backend: BackendConfig | None = None) -> TaskView:
    """The task `name` names (its id, or a unique start of it), with its commits."""
    if not name.strip():
        raise UsageError("the task id is empty", "`memfun list` shows the tasks' ids")
    tasks = load_tasks(paths, backend, detail=True)
    exact = [t for t in tasks if t.id == name]
    found = exact or [t for t in tasks if t.id.startswith(name)]
    if len(found) == 1:
        return found[0]
    if not found:
        known = ", ".join(t.id for t in tasks[:3])
        hint = f"`memfun list` shows them (latest: {known})" if known else "run a task first"
        raise UsageError(f"no task {name!r} in this repository", hint)
    raise UsageError(
        f"{name!r} names {len(found)} tasks: {', '.join(t.id for t in found[:5])}",
        "give more of the id",
    )


def age_text(seconds: float) -> str:
    """`45 s`, `12 min`, `3 h`, `2 d`: how long ago, in the largest whole unit."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{int(seconds)} s"


def _view(
    user: pygit2.Repository,
    record: dict[str, Any],
    updated: float,
    targets: list[tuple[str, pygit2.Oid]],
    detail: bool,
) -> TaskView:
    import pygit2

    from memfun_git.gitops.attempts import attempt_refs
    from memfun_git.gitops.deliver import delivered_by, task_commits

    task_id = str(record.get("id", ""))
    branch = str(record.get("branch") or BRANCH_PREFIX + task_id)
    base = str(record.get("first_base") or record.get("base") or "")
    found = user.branches.local.get(branch)
    delivered: str | None = None
    commits: tuple[TaskCommit, ...] = ()
    if found is not None:
        tip = found.peel(pygit2.Commit).id
        delivered = delivered_by(user, tip, targets)
        if detail and base:
            commits = tuple(_commit(user, c) for c in task_commits(user, tip, base))
    return TaskView(
        id=task_id,
        request=str(record.get("first_request") or record.get("request", "")),
        status=_status(record),
        branch=branch,
        branch_exists=found is not None,
        base=base,
        started=float(record.get("started", updated)),
        updated=updated,
        delivered=delivered,
        commits=commits,
        attempts=tuple(attempt_refs(user, task_id)),
        record=record,
    )


def _status(record: dict[str, Any]) -> str:
    status = str(record.get("status", "failed"))
    if status == "running" and not _alive(record.get("pid")):
        return "interrupted"
    return status


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return _not_zombie(pid)


def _not_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: the signal said it exists
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _commit(user: pygit2.Repository, commit: pygit2.Commit) -> TaskCommit:
    import re

    import pygit2

    gate = re.search(r"^Memfun-Gate: (.*)$", commit.message, re.M)
    try:
        note = str(user.lookup_note(str(commit.id), "refs/notes/memfun").message)
    except (KeyError, pygit2.GitError):
        note = ""
    return TaskCommit(
        oid=str(commit.id),
        subject=commit.message.split("\n", 1)[0],
        gate=gate.group(1).strip() if gate else "",
        note=note.strip(),
    )
