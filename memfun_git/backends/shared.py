"""The members built on a tier's StateStore: chat sessions, the shared knowledge base and the
tool registry. One implementation for every tier, so that they behave alike wherever they run
(the contract suite runs them on all four); each tier brings only its StateStore.

Keys (under the tier's namespace):
- `session/<id>`: a session's JSON record (title, times, turn count, meta);
  `turn/<id>/<index:08d>`: one turn each. A turn claims its index with compare-and-set, so two
  processes appending at once get two indexes, never one overwritten turn; the count in the
  record follows with compare-and-set too.
- `knowledge/entry/<id>` (`knowledge@<scope>/entry/<id>` for a scope: one repository of the
  App's) a memory entry; `knowledge/forgotten/<id>`: a tombstone, so an entry
  forgotten stays forgotten while an old branch still has it (as in the local memory index).
  Search ranks with that index's own BM25 (FTS5, Porter stemmer) in an in-memory database:
  the same order on every tier.
- `tool/<name>`: a tool's spec.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from memfun_git.backends.protocols import SessionInfo, StateStore, ToolSpec, Turn
from memfun_git.memory.entries import Entry

__all__ = ["StateKnowledge", "StateSessions", "StateTools"]

_TOOL_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,128}")
_SESSION_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")
_ROLES = frozenset({"user", "assistant", "tool", "system"})


def _dumps(value: dict[str, Any]) -> bytes:
    return json.dumps(value, sort_keys=True).encode()


def _loads(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class StateSessions:
    """Chat sessions and their turns (see the module's docstring for the keys)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    async def create(
        self, *, title: str = "", meta: dict[str, Any] | None = None, session_id: str = ""
    ) -> SessionInfo:
        session_id = session_id or uuid.uuid4().hex[:16]
        if not _SESSION_ID.fullmatch(session_id):
            raise ValueError(f"a session id is letters, digits, `_.-`: {session_id!r}")
        now = time.time()
        info = SessionInfo(session_id, title, now, now, 0, dict(meta or {}))
        if not await self.state.cas(f"session/{session_id}", None, _dumps(_info_dict(info))):
            raise ValueError(f"the session {session_id} exists already")
        return info

    async def get(self, session_id: str) -> SessionInfo | None:
        found = _loads(await self.state.get(f"session/{session_id}"))
        return _info(found) if found is not None else None

    async def append(
        self, session_id: str, role: str, text: str, *, meta: dict[str, Any] | None = None
    ) -> Turn:
        if role not in _ROLES:
            raise ValueError(f"a turn's role is one of {sorted(_ROLES)}, not {role!r}")
        key = f"session/{session_id}"
        raw = await self.state.get(key)
        info = _loads(raw)
        if info is None:
            raise KeyError(f"there is no session {session_id}")
        index = int(info.get("turns", 0))
        at = time.time()
        while True:
            turn = Turn(session_id, index, role, text, at, dict(meta or {}))
            value = _dumps({k: v for k, v in asdict(turn).items() if k != "session_id"})
            if await self.state.cas(_turn_key(session_id, index), None, value):
                break
            index += 1  # another process took this index first
        while info is not None and int(info.get("turns", 0)) <= index:
            updated = {**info, "turns": index + 1, "updated": at}
            if await self.state.cas(key, raw, _dumps(updated)):
                break
            raw = await self.state.get(key)
            info = _loads(raw)
        return turn

    async def turns(self, session_id: str, *, last: int = 0) -> list[Turn]:
        keys = await self.state.keys(f"turn/{session_id}/")
        if last > 0:
            keys = keys[-last:]
        found: list[Turn] = []
        for key in keys:
            value = _loads(await self.state.get(key))
            if value is not None:
                found.append(
                    Turn(
                        session_id,
                        int(value["index"]),
                        str(value["role"]),
                        str(value["text"]),
                        float(value["at"]),
                        dict(value.get("meta") or {}),
                    )
                )
        return found

    async def sessions(self) -> list[SessionInfo]:
        found: list[SessionInfo] = []
        for key in await self.state.keys("session/"):
            value = _loads(await self.state.get(key))
            if value is not None:
                found.append(_info(value))
        return sorted(found, key=lambda s: s.updated, reverse=True)

    async def delete(self, session_id: str) -> bool:
        for key in await self.state.keys(f"turn/{session_id}/"):
            await self.state.delete(key)
        return await self.state.delete(f"session/{session_id}")


def _turn_key(session_id: str, index: int) -> str:
    return f"turn/{session_id}/{index:08d}"


def _info_dict(info: SessionInfo) -> dict[str, Any]:
    return asdict(info)


def _info(value: dict[str, Any]) -> SessionInfo:
    return SessionInfo(
        str(value["session_id"]),
        str(value.get("title", "")),
        float(value["created"]),
        float(value["updated"]),
        int(value.get("turns", 0)),
        dict(value.get("meta") or {}),
    )


class StateKnowledge:
    """Memory entries shared by a tier's workers (see the module's docstring); `scope` keeps
    one project's entries apart from another's on one tier (the App's repositories)."""

    def __init__(self, state: StateStore, scope: str = "") -> None:
        self.state = state
        self.scope = scope
        self.prefix = f"knowledge@{scope}/" if scope else "knowledge/"

    def scoped(self, scope: str) -> StateKnowledge:
        return StateKnowledge(self.state, scope)

    async def add(self, entries: Sequence[Entry]) -> int:
        added = 0
        for entry in entries:
            if await self.state.get(f"{self.prefix}forgotten/{entry.id}") is not None:
                continue
            value = _dumps({**asdict(entry), "source": entry.source or "knowledge"})
            if await self.state.cas(f"{self.prefix}entry/{entry.id}", None, value):
                added += 1
        return added

    async def forget(self, entry_id: str) -> bool:
        await self.state.put(f"{self.prefix}forgotten/{entry_id}", b"1")
        return await self.state.delete(f"{self.prefix}entry/{entry_id}")

    async def entries(self) -> list[Entry]:
        found: list[Entry] = []
        for key in await self.state.keys(f"{self.prefix}entry/"):
            value = _loads(await self.state.get(key))
            if value is not None:
                found.append(
                    Entry(
                        str(value["id"]),
                        str(value["text"]),
                        str(value.get("section", "")),
                        str(value.get("date", "")),
                        str(value.get("source", "")),
                    )
                )
        return sorted(found, key=lambda e: (e.date, e.id), reverse=True)

    async def search(self, query: str, limit: int = 8) -> list[Entry]:
        from memfun_git.memory.index import MemoryIndex

        known = await self.entries()
        if not known:
            return []
        with MemoryIndex.in_memory() as index:
            index.add(known, source="knowledge")
            found = {e.id: e for e in known}
            return [found[e.id] for e in index.search(query, limit)]


class StateTools:
    """The tool registry (see the module's docstring)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    async def register(self, spec: ToolSpec, *, ttl: float | None = None) -> None:
        if not _TOOL_NAME.fullmatch(spec.name):
            raise ValueError(f"a tool's name is letters, digits and `_.:-`: {spec.name!r}")
        await self.state.put(f"tool/{spec.name}", _dumps(asdict(spec)), ttl=ttl)

    async def unregister(self, name: str) -> bool:
        return await self.state.delete(f"tool/{name}")

    async def get(self, name: str) -> ToolSpec | None:
        value = _loads(await self.state.get(f"tool/{name}"))
        return _spec(value) if value is not None else None

    async def tools(self, provider: str = "") -> list[ToolSpec]:
        found: list[ToolSpec] = []
        for key in await self.state.keys("tool/"):
            value = _loads(await self.state.get(key))
            if value is not None and str(value.get("provider", "")).startswith(provider):
                found.append(_spec(value))
        return found


def _spec(value: dict[str, Any]) -> ToolSpec:
    return ToolSpec(
        str(value["name"]),
        str(value.get("description", "")),
        dict(value.get("parameters") or {}),
        str(value.get("provider", "builtin")),
        bool(value.get("may_write", False)),
    )
