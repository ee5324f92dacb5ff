"""`memfun memory list | add | forget | search`: the user's view and edits of memory.

`add` and `forget` change `.memfun/MEMORY.md` in the working tree (left for the user to
commit, as a package manager edits its manifest) and the clone's index at once; the chat's
/remember, /memory and /forget call the same functions (`memory.store`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from memfun_git import config
from memfun_git.gitops.repo import require_repo
from memfun_git.redact import redact

if TYPE_CHECKING:
    from memfun_git.memory.entries import Entry

__all__ = ["run_memory_add", "run_memory_forget", "run_memory_list", "run_memory_search"]


def _entry(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "text": entry.text,
        "section": entry.section,
        "date": entry.date,
        "source": entry.source,
    }


def _write(entries: list[Entry], json_out: bool, out: TextIO, empty: str) -> None:
    if json_out:
        out.write(redact(json.dumps([_entry(e) for e in entries], ensure_ascii=False, indent=2)))
        out.write("\n")
        return
    if not entries:
        out.write(empty + "\n")
        return
    for entry in entries:
        date = f" {entry.date}" if entry.date else ""
        section = f" ({entry.section})" if entry.section else ""
        out.write(redact(f"{entry.id}{date}{section}  {entry.text}") + "\n")


def _user_memory(start: Path) -> bool:
    paths = require_repo(start)
    if paths.workdir is None:
        return True
    return config.load(paths.workdir).memory.user_memory


def run_memory_list(start: Path, *, json_out: bool = False, stdout: TextIO | None = None) -> int:
    from memfun_git.memory.store import open_index

    paths = require_repo(start)
    with open_index(paths, user_memory=_user_memory(start)) as index:
        entries = index.all()
    _write(entries, json_out, stdout or sys.stdout, 'Nothing remembered yet: `memfun memory '
           'add "..."`, or a task whose review proposes it.')  # fmt: skip
    return 0


def run_memory_search(
    start: Path, query: str, *, json_out: bool = False, stdout: TextIO | None = None
) -> int:
    from memfun_git.errors import UsageError
    from memfun_git.memory.store import open_index

    if not query.strip():
        raise UsageError("the query is empty", 'say what to look for: memfun memory search "db"')
    paths = require_repo(start)
    with open_index(paths, user_memory=_user_memory(start)) as index:
        entries = index.search(query, 10)
    _write(entries, json_out, stdout or sys.stdout, "No entry matches.")
    return 0


def run_memory_add(
    start: Path, text: str, kind: str, *, json_out: bool = False, stdout: TextIO | None = None
) -> int:
    from memfun_git.memory.store import MEMORY_PATH, add_entry

    out = stdout or sys.stdout
    entry = add_entry(require_repo(start), text, kind)
    if json_out:
        out.write(json.dumps(_entry(entry), ensure_ascii=False, indent=2) + "\n")
    else:
        out.write(f"Remembered {entry.id} in {MEMORY_PATH} (commit it to share it).\n")
    return 0


def run_memory_forget(
    start: Path, entry_id: str, *, json_out: bool = False, stdout: TextIO | None = None
) -> int:
    from memfun_git.memory.store import MEMORY_PATH, forget_entry

    out = stdout or sys.stdout
    removed = forget_entry(require_repo(start), entry_id)
    if json_out:
        out.write(json.dumps({"id": removed.id if removed else entry_id, "forgotten": True}) + "\n")
    elif removed is not None and removed.text:
        out.write(f"Forgot {removed.id}; removed from {MEMORY_PATH} (commit it to share it).\n")
    else:
        out.write(f"Forgot {removed.id if removed else entry_id}: it is not recalled here again.\n")
    return 0
