"""Recall before a task, learn after it, and the user's own edits: memory's entry points.

- `open_index(paths, base)` opens the clone's index and brings it up to date with its sources:
  `.memfun/MEMORY.md` at the task's base, at the tip of every task branch (`memfun/*`: what
  tasks learned before anyone merged them), in the user's working tree (what `memory add`
  wrote), and `~/.memfun/MEMORY.md` ([memory] user_memory). A source is re-read only when its
  blob id or content hash changed.
- `recall(...)` gives the entries ranked for the request (at most [memory] max_recall; all of
  MEMORY.md at the base while it is under 2,000 characters, ranked ones first), the
  project's instructions for other agents (AGENTS.md, CLAUDE.md,
  .github/copilot-instructions.md at the base) within the same budget, and the names the
  entries mention, which boost the code map's ranking.
- `learn(...)` takes the lessons the review proposed (its REMEMBER lines, no extra call),
  drops secrets and near-duplicates, writes them into MEMORY.md on the task's branch as a
  commit of their own (`memfun: remember ...`, reviewed with the work) and into the index at
  once.
- `add_entry` / `forget_entry` are the user's explicit edits of the working tree's file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.errors import UsageError
from memfun_git.memory.entries import SECTIONS, Entry, MemoryFile, normalise
from memfun_git.memory.index import MemoryIndex, index_path
from memfun_git.redact import MARKER, redact

if TYPE_CHECKING:
    import pygit2

    from memfun_git.gitops.repo import RepoPaths
    from memfun_git.gitops.worktree import Workspace

__all__ = [
    "INSTRUCTION_FILES",
    "MEMORY_PATH",
    "Recall",
    "add_entry",
    "branch_entries",
    "clean_text",
    "forget_entry",
    "learn",
    "open_index",
    "recall",
    "user_memory_path",
]

MEMORY_PATH = ".memfun/MEMORY.md"
INSTRUCTION_FILES = ("AGENTS.md", "CLAUDE.md", ".github/copilot-instructions.md")
"""What people keep for other agents: read as the project's conventions."""
_RECALL_CHARS = 6_000
"""About 1,500 tokens: the remembered entries and the instructions together."""
_ALWAYS_LOADED_CHARS = 2_000
"""MEMORY.md at the base goes into every prompt whole up to this size; past it, ranked."""
_NEAR_DUPLICATE = 0.8
_MIN_WORDS = 3

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Recall:
    entries: tuple[Entry, ...]
    conventions: str
    """The text injected into the planner's, the solver's and the review's prompts."""
    boost: tuple[str, ...]
    """Paths and identifiers the entries mention (for the code map's ranking)."""


def user_memory_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("HOME") or str(Path.home())) / ".memfun" / "MEMORY.md"


def open_index(
    paths: RepoPaths,
    base: str = "HEAD",
    *,
    user_memory: bool = True,
    environ: Mapping[str, str] | None = None,
) -> MemoryIndex:
    """The clone's index, synced with its sources (see the module's docstring)."""
    import pygit2

    index = MemoryIndex.open(index_path(paths.common_dir))
    repo = pygit2.Repository(str(paths.common_dir))
    try:
        sources: dict[str, tuple[str, str]] = {}  # name -> (fingerprint, text)
        commit = _commit(repo, base)
        if commit is not None:
            _add_blob(repo, sources, "base", commit)
        for name in repo.branches.local:
            if name.startswith("memfun/"):
                branch = repo.branches.local[name].peel(pygit2.Commit)
                _add_blob(repo, sources, f"branch:{name}", branch)
        if paths.workdir is not None:
            _add_file(sources, "worktree", paths.workdir / MEMORY_PATH)
        if user_memory:
            _add_file(sources, "user", user_memory_path(environ))
    finally:
        repo.free()
    for name, (fingerprint, text) in sources.items():
        if index.fingerprint(name) != fingerprint:
            index.replace_source(name, fingerprint, MemoryFile.parse(text, name).entries)
    index.drop_sources_except(list(sources))
    return index


def recall(
    paths: RepoPaths,
    request: str,
    *,
    base: str = "HEAD",
    limit: int = 8,
    user_memory: bool = True,
    environ: Mapping[str, str] | None = None,
    always: Sequence[str] = ("base",),
    extra: Sequence[Entry] = (),
) -> Recall:
    """What memory and the project's agent instructions say about `request`.

    `always`: the sources loaded whole while they are small ("base": MEMORY.md at `base`;
    the hook adds "worktree", the user's own file, since it has no request to search with).
    `extra`: entries found elsewhere for the request (the tier's knowledge base, for a
    worker), added after the clone's own unless the clone knows or forgot them."""
    import pygit2

    with open_index(paths, base, user_memory=user_memory, environ=environ) as index:
        entries = index.search(request, limit)
        # MEMORY.md at the base is always loaded while it is small: all of it, ranked first.
        committed = index.from_sources(always)
        if extra:
            known = {e.id for e in entries} | index.forgotten_ids()
            entries += [e for e in extra if e.id not in known][: max(0, limit - len(entries))]
    if sum(len(e.text) for e in committed) <= _ALWAYS_LOADED_CHARS:
        shown = {e.id for e in entries}
        entries += [e for e in committed if e.id not in shown]
    parts: list[str] = []
    used = 0
    if entries:
        lines = [f"- {redact(e.text)}" for e in entries]
        block = "Remembered for this project (follow these):\n" + "\n".join(lines)
        parts.append(block)
        used += len(block)
    repo = pygit2.Repository(str(paths.common_dir))
    try:
        commit = _commit(repo, base)
        for name in INSTRUCTION_FILES if commit is not None else ():
            text = _blob_text(repo, commit, name) if commit is not None else None
            if not text or used >= _RECALL_CHARS:
                continue
            room = _RECALL_CHARS - used
            shown = text if len(text) <= room else text[:room].rsplit("\n", 1)[0] + "\n…"
            block = f"From {name}:\n{redact(shown.strip())}"
            parts.append(block)
            used += len(block)
    finally:
        repo.free()
    return Recall(tuple(entries), "\n\n".join(parts), _mentions(entries))


def branch_entries(paths: RepoPaths, base: str, tip: str) -> list[Entry]:
    """The entries MEMORY.md has at `tip` and not at `base` (what a task's branch learned)."""
    import pygit2

    repo = pygit2.Repository(str(paths.common_dir))
    try:
        texts: list[str] = []
        for rev in (base, tip):
            commit = _commit(repo, rev)
            found = _blob_text(repo, commit, MEMORY_PATH) if commit is not None else None
            texts.append(found or "")
    finally:
        repo.free()
    before = {e.id for e in MemoryFile.parse(texts[0]).entries}
    return [e for e in MemoryFile.parse(texts[1], "learned").entries if e.id not in before]


def clean_text(text: str) -> str:
    """The entry's text, one line, redacted; UsageError when it is empty or mostly a secret."""
    line = " ".join(text.split())
    if not line:
        raise UsageError("the memory entry is empty", "say what to remember")
    cleaned = redact(line)
    if cleaned != line:
        rest = cleaned.replace(MARKER, " ")
        words = re.findall(r"[^\W_]{2,}", rest)
        if len(words) < _MIN_WORDS or len(rest.strip()) < len(line) / 3:
            raise UsageError(
                "the memory entry is mostly a secret, which memory never keeps",
                "remember where the secret lives instead (e.g. the variable's name)",
            )
    return cleaned


def learn(
    workspace: Workspace,
    index: MemoryIndex,
    lessons: Sequence[tuple[str, str]],
) -> list[Entry]:
    """Write the review's `lessons` ((kind, text) pairs) into MEMORY.md on the task's branch
    (one commit) and into the index; the entries added (secrets and near-duplicates left
    out)."""
    path = workspace.path / MEMORY_PATH
    text = path.read_text(encoding="utf-8", errors="surrogateescape") if path.is_file() else ""
    memory = MemoryFile.parse(text)
    known = [*memory.entries, *index.all()]
    added: list[Entry] = []
    for kind, raw in lessons:
        try:
            entry = Entry.new(clean_text(raw), kind if kind in SECTIONS else "fact")
        except UsageError as exc:
            logger.info("a lesson was not kept: %s", exc)
            continue
        if _near_duplicate(entry, [*known, *added]):
            continue
        if memory.add(entry):
            added.append(entry)
    if not added:
        return []
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(memory.render(), encoding="utf-8", errors="surrogateescape")
    first = added[0].text if len(added[0].text) <= 50 else added[0].text[:49] + "…"
    more = f" (+{len(added) - 1} more)" if len(added) > 1 else ""
    workspace.commit(
        [MEMORY_PATH],
        f"memfun: remember {first}{more}",
        gate="n/a (memory entries the review proposed)",
    )
    index.add(added)
    return added


def add_entry(
    paths: RepoPaths, text: str, kind: str = "fact", environ: Mapping[str, str] | None = None
) -> Entry:
    """The user's `memory add`: the working tree's MEMORY.md (left for them to commit) and the
    index, at once."""
    if kind not in SECTIONS:
        raise UsageError(f"{kind!r} is not a kind of memory", f"use one of {', '.join(SECTIONS)}")
    entry = Entry.new(clean_text(text), kind)
    file = _worktree_file(paths)
    memory = MemoryFile.parse(_read(file))
    if not memory.add(entry):
        raise UsageError(f"memory already holds this (entry {entry.id})", "")
    file.parent.mkdir(parents=True, exist_ok=True)
    file.write_text(memory.render(), encoding="utf-8", errors="surrogateescape")
    with MemoryIndex.open(index_path(paths.common_dir)) as index:
        index.add([entry])
    return entry


def forget_entry(paths: RepoPaths, entry_id: str) -> Entry | None:
    """The user's `memory forget`: out of the working tree's MEMORY.md (when there) and never
    recalled again in this clone. The entry removed from the file, or None."""
    if not re.fullmatch(r"[0-9a-f]{4,16}", entry_id):
        raise UsageError(f"{entry_id!r} is not a memory id", "`memfun memory list` shows them")
    file = _worktree_file(paths)
    memory = MemoryFile.parse(_read(file))
    matches = {e.id for e in memory.entries if e.id.startswith(entry_id)}
    with MemoryIndex.open(index_path(paths.common_dir)) as index:
        matches |= {e.id for e in index.all() if e.id.startswith(entry_id)}
        if not matches:
            raise UsageError(f"no memory entry {entry_id}", "`memfun memory list` shows them")
        if len(matches) > 1:
            raise UsageError(f"{entry_id} names {len(matches)} entries", "give more of the id")
        (found,) = matches
        index.forget(found)
    removed = memory.remove(found)
    if removed is not None:
        file.write_text(memory.render(), encoding="utf-8", errors="surrogateescape")
    return removed or Entry(found, "", "")


# -- helpers -------------------------------------------------------------------------------


def _worktree_file(paths: RepoPaths) -> Path:
    if paths.workdir is None:
        raise UsageError("a bare repository has no MEMORY.md to edit", "run memfun in a checkout")
    return paths.workdir / MEMORY_PATH


def _read(file: Path) -> str:
    return file.read_text(encoding="utf-8", errors="surrogateescape") if file.is_file() else ""


def _commit(repo: pygit2.Repository, base: str) -> pygit2.Commit | None:
    import pygit2

    try:
        return repo.revparse_single(base).peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None


def _blob_text(repo: pygit2.Repository, commit: pygit2.Commit, path: str) -> str | None:
    import pygit2

    try:
        blob = commit.tree[path].peel(pygit2.Blob)
    except (KeyError, ValueError, pygit2.GitError):
        return None
    return blob.data.decode("utf-8", errors="replace")


def _add_blob(
    repo: pygit2.Repository, sources: dict[str, tuple[str, str]], name: str, commit: pygit2.Commit
) -> None:
    try:
        entry = commit.tree[MEMORY_PATH]
    except KeyError:
        return
    text = _blob_text(repo, commit, MEMORY_PATH)
    if text is not None:
        sources[name] = (str(entry.id), text)


def _add_file(sources: dict[str, tuple[str, str]], name: str, path: Path) -> None:
    try:
        data = path.read_bytes()
    except OSError:
        return
    sources[name] = (hashlib.sha256(data).hexdigest(), data.decode("utf-8", errors="replace"))


def _words(text: str) -> set[str]:
    return set(re.findall(r"[^\W_]+", normalise(text)))


def _near_duplicate(entry: Entry, known: Sequence[Entry]) -> bool:
    mine = _words(entry.text)
    for other in known:
        if other.id == entry.id:
            return True
        theirs = _words(other.text)
        if mine and theirs and len(mine & theirs) / len(mine | theirs) >= _NEAR_DUPLICATE:
            return True
    return False


_MENTION = re.compile(
    r"`([^`]+)`|\b([\w.-]+/[\w./-]+|\w+\.\w{1,5}|[a-z]+_[a-z_]+|[a-z]+[A-Z]\w+)\b"
)


def _mentions(entries: Sequence[Entry]) -> tuple[str, ...]:
    found: list[str] = []
    for entry in entries:
        for quoted, bare in _MENTION.findall(entry.text):
            found.append(quoted or bare)
    return tuple(dict.fromkeys(found))
