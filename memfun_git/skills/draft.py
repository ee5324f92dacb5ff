"""`memfun skill new NAME --from-traces`: a SKILL.md drafted from the project's own history.

The traced tasks that finished well (traces.py) are ranked by how many words their request
shares with what the skill is for (`--about`, else its name's words); the best few become
examples (request, the operations applied, the commands run, the gate's verdict), and one
model call (step "skill-draft", signature `DraftSkill`) writes the description and the
instructions. The draft is checked as any skill is (catalog.py); refused, it is asked for once
more with the reason. It is written to `.memfun/skills/<name>/SKILL.md` in the working tree,
for the developer to review and commit; an existing skill of that name is never overwritten.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git.errors import UsageError
from memfun_git.redact import redact

if TYPE_CHECKING:
    from memfun_git.llm.session import LMSession

__all__ = ["Draft", "draft_skill", "examples_from", "pick_traces"]

_WORD = re.compile(r"[a-z0-9]+")
_EXAMPLE_CHARS = 3_000
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


@dataclass(frozen=True, slots=True)
class Draft:
    path: Path
    """The SKILL.md written."""
    traces: tuple[str, ...]
    """The tasks whose traces it was drafted from."""


def pick_traces(
    traces: Sequence[Mapping[str, Any]], about: str, most: int = 5
) -> list[Mapping[str, Any]]:
    """The done traces most like `about` (shared words of their request), best first."""
    wanted = set(_WORD.findall(about.lower()))
    scored: list[tuple[int, float, Mapping[str, Any]]] = []
    for trace in traces:
        if trace.get("status") != "done":
            continue
        words = set(_WORD.findall(str(trace.get("request", "")).lower()))
        shared = len(wanted & words)
        if shared:
            when = float(trace.get("written") or trace.get("updated") or 0)
            scored.append((shared, when, trace))
    scored.sort(key=lambda s: (-s[0], -s[1]))
    return [t for _, _, t in scored[:most]]


def examples_from(traces: Sequence[Mapping[str, Any]]) -> str:
    """The traces as short examples for the model (redacted)."""
    parts: list[str] = []
    for number, trace in enumerate(traces, 1):
        ops: list[str] = []
        runs: list[str] = []
        for event in trace.get("events") or []:
            if event.get("event") == "OperationDone":
                result = event.get("result") or {}
                op = result.get("op") or {}
                kind = "edit" if "search" in op else "write" if "content" in op else "op"
                ops.append(f"{kind} {op.get('path', '?')}" + ("" if result.get("ok") else
                                                                " (refused)"))  # fmt: skip
            elif event.get("event") == "CommandRan":
                ran = event.get("result") or {}
                runs.append(f"{' '.join(ran.get('argv') or [])} (exit {ran.get('exit_code')})")
        gates = [c.get("gate", "") for c in trace.get("commits") or [] if c.get("gate")]
        text = (
            f"Example {number}: {trace.get('request', '')}\n"
            f"What it did: {trace.get('summary', '') or '(no summary)'}\n"
            f"Operations: {', '.join(ops) or 'none'}\n"
            f"Commands: {', '.join(runs) or 'none'}\n"
            f"Gate: {'; '.join(gates) or 'passed'}"
        )
        parts.append(text[:_EXAMPLE_CHARS])
    return redact("\n\n".join(parts))


def draft_skill(
    session: LMSession,
    workdir: Path,
    name: str,
    about: str,
    traces: Sequence[Mapping[str, Any]],
) -> Draft:
    """Write `.memfun/skills/<name>/SKILL.md` drafted from `traces` (see the module)."""
    from memfun_git.llm.signatures import DraftSkill
    from memfun_git.skills.catalog import SkillInvalid, parse_skill

    if not _NAME.fullmatch(name) or len(name) > 64:
        raise UsageError(f"{name!r} cannot name a skill",
                         "use lowercase letters, digits and single hyphens")  # fmt: skip
    folder = workdir / ".memfun" / "skills" / name
    if (folder / "SKILL.md").exists():
        raise UsageError(f"{folder / 'SKILL.md'} exists already", "edit it, or pick another name")
    if not traces:
        raise UsageError(
            f"no finished task's trace is about {about!r}",
            "run a few such tasks first, or say what the skill is for with --about",
        )
    examples = examples_from(traces)
    mode = "task" if any(t.get("commits") for t in traces) else "question"
    feedback = "(none)"
    folder.mkdir(parents=True, exist_ok=True)
    for attempt in (1, 2):
        found = session.predict(
            "skill-draft", DraftSkill, name=name, about=redact(about), examples=examples,
            feedback=feedback,
        )  # fmt: skip
        description = " ".join(str(found.description).split())
        body = redact(str(found.body).strip())
        text = (
            f"---\nname: {name}\ndescription: {json.dumps(redact(description))}\n"
            f"metadata:\n  memfun-mode: {mode}\n"
            f"  memfun-drafted-from: {json.dumps(' '.join(str(t['id']) for t in traces))}\n"
            f"---\n\n{body}\n"
        )
        (folder / "SKILL.md").write_text(text, encoding="utf-8")
        try:
            parse_skill(folder)
            return Draft(folder / "SKILL.md", tuple(str(t["id"]) for t in traces))
        except SkillInvalid as exc:
            feedback = f"Your draft was refused: {exc.field}: {exc.why}."
            if attempt == 2:
                (folder / "SKILL.md").unlink()
                if not any(folder.iterdir()):
                    folder.rmdir()
                raise UsageError(f"the drafted skill is not valid ({exc.field}: {exc.why})",
                                 "try again, or write it by hand") from None  # fmt: skip
    raise AssertionError("unreachable")  # pragma: no cover
