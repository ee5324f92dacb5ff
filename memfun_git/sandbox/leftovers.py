"""Owner tags for what a sandboxed run leaves on disk, and removing what a dead run left.

A run killed outright (SIGKILL, a closed terminal before signals were handled) cannot clean
up: its git view under `<git-common-dir>/memfun/sandbox-views/`, its pids and memory cgroups.
Each of those is named after its owner, `<pid>-<start time>` (the start time from
`/proc/<pid>/stat`, so a pid the kernel gave to another process later is not mistaken for the
owner), and whatever belongs to an owner that is no longer alive is removed by the next
sandbox made for the repository and by `memfun gc`.
"""

from __future__ import annotations

import contextlib
import os
import re
from functools import cache
from pathlib import Path

from memfun_git.gitops.tidy import remove_tree

__all__ = ["CGROUP_ROOTS", "alive", "dead", "owner_tag", "remove", "remove_dead"]

CGROUP_ROOTS = (
    Path("/sys/fs/cgroup/pids/memfun"),
    Path("/sys/fs/cgroup/memory/memfun"),
    Path("/sys/fs/cgroup/unified/memfun"),
    Path("/sys/fs/cgroup/memfun"),
)
"""Where the sandbox makes its per-command cgroups (v1 pids and memory, v2)."""
_TAG = re.compile(r"^(\d+)-(\d+)-")


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = stat[stat.rfind(")") + 2 :].split()
    return fields[19] if len(fields) > 19 else None


@cache
def owner_tag() -> str:
    """`<pid>-<start time>` of this process."""
    pid = os.getpid()
    return f"{pid}-{_start_time(pid) or 0}"


def alive(name: str) -> bool:
    """True when the owner named at the start of `name` (`<pid>-<start>-...`) still runs; a
    name that carries no tag is taken to be alive (it is not ours to remove)."""
    match = _TAG.match(name)
    if match is None:
        return True
    return _start_time(int(match.group(1))) == match.group(2)


def dead(views: Path | None = None) -> list[Path]:
    """The git views (under `views`) and cgroups of runs that are no longer alive."""
    found: list[Path] = []
    if views is not None and views.is_dir():
        found += [entry for entry in sorted(views.iterdir()) if not alive(entry.name)]
    for root in CGROUP_ROOTS:
        try:
            groups = sorted(root.iterdir())
        except OSError:
            continue
        found += [group for group in groups if group.is_dir() and not alive(group.name)]
    return found


def remove(path: Path) -> None:
    """Remove one leftover: a cgroup by `rmdir` (its files are the kernel's; it must be
    empty, which a dead run's is: its init took every process with it), a view as a tree."""
    if any(root in path.parents for root in CGROUP_ROOTS):
        path.rmdir()
    else:
        remove_tree(path)


def remove_dead(views: Path | None = None) -> list[str]:
    """Remove the git views (under `views`) and cgroups of runs that are no longer alive;
    return what was removed."""
    removed: list[str] = []
    for path in dead(views):
        with contextlib.suppress(OSError):
            remove(path)
            removed.append(str(path))
    return removed
