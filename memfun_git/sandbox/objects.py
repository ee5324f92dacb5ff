"""The git objects a sandboxed command may read: the task's own history, nothing else.

The user's object store also holds what no task should see: stashes (`git stash --all`
snapshots ignored `.env` files), other branches, dangling objects, memfun's attempts. So the
sandbox never sees the store itself, only packs built from it that hold exactly:
- the task's base commit and every object of its tree (the boundary: git in the sandbox sees
  it as a shallow root), and
- every commit between the base and the task's tip, with the objects of their trees.

Packs are cached by commit under `<git-common-dir>/memfun/sandbox-objects/<oid>/`, so a base
is packed once for every task and command that starts from it, and a new base is packed as
the difference from a cached base that is its ancestor (whose objects are history of the new
one, so allowed). The chain of a tip is its own pack, its base's, and the bases that base was
packed against. Built by `git rev-list --objects` and `git pack-objects --window=0
--compression=1` (no delta search, fast zlib: existing deltas are reused where their base is
in the pack): for git.git's tree (4,952 objects, 16 MB) about 1.2-1.5 s once per clone (3.6x
a `git archive` of that tree; its whole history instead: 11-16 s and 322 MB), a later base
0.2-0.3 s, a task's own commits tens of milliseconds; `bench/sandbox_objects.py` measures it.

Which commit is the base: walking first parents from the tip, the first commit that is not
memfun's own (its message has no `Memfun-Task:` trailer): the task's commits and bookkeeping
carry one, the user's do not.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from memfun_git.errors import SandboxUnavailable
from memfun_git.gitops.git import run_git

if TYPE_CHECKING:
    import pygit2

__all__ = ["Chain", "ObjectCache", "boundary"]

_TRAILER = "\nMemfun-Task: "
_MAX_WALK = 1000
_MAX_CHAIN = 8
"""Bases packed as differences, at most: beyond it a base is packed whole again."""


@dataclass(frozen=True, slots=True)
class Chain:
    """The packs that together hold a tip's objects, and the base git sees as shallow root."""

    base: str
    packs: tuple[Path, ...]
    """`.pack` files (each with its `.idx` beside it)."""


def boundary(repo: pygit2.Repository, tip: str) -> str:
    """The task's base for `tip`: the first first-parent ancestor that is not memfun's own."""
    import pygit2

    commit = repo.revparse_single(tip).peel(pygit2.Commit)
    for _ in range(_MAX_WALK):
        if _TRAILER not in "\n" + commit.message or not commit.parents:
            return str(commit.id)
        commit = commit.parents[0]
    return str(commit.id)


class ObjectCache:
    """Packs of reachable objects, cached by commit, for one clone."""

    def __init__(self, common_dir: Path, environ: Mapping[str, str] | None = None) -> None:
        self.common_dir = common_dir
        self.root = common_dir / "memfun" / "sandbox-objects"
        self.environ = {
            **(os.environ if environ is None else environ),
            "GIT_NO_LAZY_FETCH": "1",  # a partial clone must not fetch what it lacks
            "GIT_TERMINAL_PROMPT": "0",
        }

    def chain(self, repo: pygit2.Repository, tip: str) -> Chain:
        """The packs holding `tip`'s commits since its base and the base's whole tree."""
        base = boundary(repo, tip)
        packs = list(self._base_chain(repo, base))
        if tip != base:
            entry = self.root / tip
            if not _complete(entry):
                self._build(entry, "tip", base, self._tip_objects(repo, tip, base))
            packs.insert(0, _pack_of(entry))
        for pack in packs:
            with contextlib.suppress(OSError):
                os.utime(pack.parent)  # used now: `prune` keeps what is in use
        return Chain(base=base, packs=tuple(packs))

    def unused(self, repo: pygit2.Repository, keep: list[str], *, days: float = 7) -> list[Path]:
        """Packs no chain of the tips `keep` uses and unused for `days` (and builds a killed
        process left), for gc to remove. Nothing is built here."""
        needed: set[str] = set()
        for tip in keep:
            try:
                names = [tip, boundary(repo, tip)]
            except (KeyError, ValueError):
                continue
            for name in names:
                entry = self.root / name
                while _complete(entry) and entry.name not in needed:
                    needed.add(entry.name)
                    entry = self.root / (_meta(entry).get("parent") or ".none")
        cutoff = time.time() - days * 86400
        try:
            entries = sorted(self.root.iterdir())
        except OSError:
            return []
        found: list[Path] = []
        for entry in entries:
            with contextlib.suppress(OSError):
                if entry.name not in needed and entry.stat().st_mtime < cutoff:
                    found.append(entry)
        return found

    # -- bases -------------------------------------------------------------------------------

    def _base_chain(self, repo: pygit2.Repository, base: str) -> list[Path]:
        entry = self.root / base
        if not _complete(entry):
            parent = self._nearest_base(repo, base)
            objects = self._base_objects(repo, base, parent)
            self._build(entry, "base", parent, objects)
        chain: list[Path] = []
        while True:
            chain.append(_pack_of(entry))
            parent = _meta(entry).get("parent")
            if not parent:
                return chain
            entry = self.root / parent
            if not _complete(entry):
                # A parent removed meanwhile (gc): pack this base whole instead.
                shutil.rmtree(self.root / base, ignore_errors=True)
                self._build(self.root / base, "base", None, self._base_objects(repo, base, None))
                return [_pack_of(self.root / base)]

    def _nearest_base(self, repo: pygit2.Repository, base: str) -> str | None:
        """The latest cached base that is an ancestor of `base`, if its chain is not too long."""
        import pygit2

        best: tuple[int, str] | None = None
        for entry in self._entries():
            meta = _meta(entry)
            if meta.get("kind") != "base" or entry.name == base:
                continue
            try:
                if not repo.descendant_of(base, entry.name):
                    continue
                when = repo.revparse_single(entry.name).peel(pygit2.Commit).commit_time
            except (KeyError, ValueError, pygit2.GitError):
                continue
            if best is None or when > best[0]:
                best = (when, entry.name)
        if best is None or self._length(best[1]) >= _MAX_CHAIN:
            return None
        return best[1]

    def _length(self, name: str) -> int:
        length, entry = 0, self.root / name
        while _complete(entry) and length <= _MAX_CHAIN:
            length += 1
            parent = _meta(entry).get("parent")
            if not parent:
                break
            entry = self.root / parent
        return length

    def _base_objects(self, repo: pygit2.Repository, base: str, parent: str | None) -> list[str]:
        """The base commit and its tree's objects, less those of `parent`'s tree."""
        lines = [_tree(repo, base)]
        if parent is not None:
            lines.append("^" + _tree(repo, parent))
        return [base, *self._rev_list(lines)]

    def _tip_objects(self, repo: pygit2.Repository, tip: str, base: str) -> list[str]:
        """The commits from `base` (excluded) to `tip`, and their trees' objects less the base's
        tree's (objects of older history that a task's tree reuses are included)."""
        commits = self._git("rev-list", tip, "^" + base).split()
        trees = [_tree(repo, c) for c in commits]
        return [*commits, *self._rev_list([*trees, "^" + _tree(repo, base)])]

    # -- building ------------------------------------------------------------------------------

    def _rev_list(self, lines: list[str]) -> list[str]:
        out = self._git(
            "rev-list", "--objects", "--no-object-names", "--missing=allow-any", "--stdin",
            input="".join(line + "\n" for line in lines),
        )  # fmt: skip
        return out.split()

    def _build(self, entry: Path, kind: str, parent: str | None, objects: list[str]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{entry.name[:12]}-", dir=self.root))
        try:
            self._git(
                "pack-objects", "-q", "--window=0", "--compression=1", str(work / "pack"),
                input="".join(oid + "\n" for oid in dict.fromkeys(objects)),
            )  # fmt: skip
            meta = {"kind": kind, "parent": parent, "made": time.time(), "objects": len(objects)}
            (work / "meta.json").write_text(json.dumps(meta))
            for file in work.iterdir():
                file.chmod(0o444)
            try:
                os.rename(work, entry)
            except OSError:
                if not _complete(entry):  # not another process that built the same entry
                    shutil.rmtree(entry, ignore_errors=True)
                    os.rename(work, entry)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _git(self, *args: str, input: str | None = None) -> str:
        try:
            return run_git(
                ["--git-dir", str(self.common_dir), *args],
                cwd=self.common_dir,
                environ=self.environ,
                input=input,
            ).stdout
        except Exception as exc:
            raise SandboxUnavailable(
                f"could not prepare the task's git objects for the sandbox ({exc})",
                "run `git fsck` in your repository; report this if it passes",
            ) from exc

    def _entries(self) -> list[Path]:
        try:
            return [e for e in self.root.iterdir() if not e.name.startswith(".")]
        except OSError:
            return []


def _tree(repo: pygit2.Repository, commit: str) -> str:
    import pygit2

    return str(repo.revparse_single(commit).peel(pygit2.Commit).tree_id)


def _meta(entry: Path) -> dict[str, str]:
    """An entry's kind and parent (strings; a missing parent is '')."""
    try:
        data = json.loads((entry / "meta.json").read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: str(data.get(key) or "") for key in ("kind", "parent")}


def _complete(entry: Path) -> bool:
    with contextlib.suppress(OSError):
        return (entry / "meta.json").is_file() and any(entry.glob("pack-*.idx"))
    return False


def _pack_of(entry: Path) -> Path:
    return next(entry.glob("pack-*.pack"))
