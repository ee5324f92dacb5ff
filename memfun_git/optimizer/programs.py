"""Compiled programs a project keeps in `.memfun/programs/` (committed, shared with the team).

One JSON file per step: `plan.json` (signature `PlanFiles`), `solve.json` (`SolveTask`),
`review.json` (`ReviewChange`), each a DSPy `Predict` state (`dump_state()`: demonstrations
and the signature's instructions) as `memfun optimize` writes it. `load_programs(root)`
reads them from a tree (the task's worktree at its base, so a program is the base commit's);
a file that does not load (bad JSON, fields the signature does not have, a wrong shape) is
one warning naming it, and that step runs its default program. `LMSession.programs` applies
them: every call of that signature, whatever the step name, is made with the compiled state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

__all__ = ["PROGRAMS_DIR", "STEPS", "Programs", "load_programs", "sanitized"]

PROGRAMS_DIR = Path(".memfun") / "programs"
STEPS = {"plan": "PlanFiles", "solve": "SolveTask", "review": "ReviewChange"}
"""Optimizable steps: file name -> the signature its program is for."""


@dataclass
class Programs:
    states: dict[str, dict[str, Any]] = field(default_factory=dict[str, dict[str, Any]])
    """Signature name -> the Predict state to load."""
    files: dict[str, str] = field(default_factory=dict[str, str])
    """Step -> the file it came from (relative to the tree), for `memfun show`."""
    warnings: list[str] = field(default_factory=list[str])


def load_programs(root: Path) -> Programs:
    """The programs kept under `root/.memfun/programs` (see the module)."""
    import dspy

    from memfun_git.llm import signatures

    found = Programs()
    folder = root / PROGRAMS_DIR
    if not folder.is_dir():
        return found
    for step, name in STEPS.items():
        file = folder / f"{step}.json"
        if not file.is_file() or file.is_symlink():
            continue
        shown = (PROGRAMS_DIR / file.name).as_posix()
        try:
            raw = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            signature = getattr(signatures, name)
            state = sanitized(cast(dict[str, Any], raw), signature)
            dspy.Predict(signature).load_state(state)
        except Exception as exc:  # any way a file cannot load: the default program runs
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            found.warnings.append(
                f"{shown} does not load ({why[:200]}): the default {step} program runs"
            )
            continue
        found.states[name] = state
        found.files[step] = shown
    return found


def sanitized(state: dict[str, Any], signature: Any) -> dict[str, Any]:
    """Only what a compiled program may carry: demonstrations (the signature's fields, text)
    and the signature's instructions and field wording. A file is the repository's, so
    anything else (an `lm`, a `config` whose `api_base` would send the model key elsewhere,
    attributes DSPy would set) is refused, never loaded."""
    extra = sorted(set(state) - _KEYS)
    if extra:
        raise ValueError(f"it holds {', '.join(extra)}, which a compiled program may not set")
    if state.get("lm"):
        raise ValueError("it names a model (lm), which a compiled program may not set")
    known = set(signature.input_fields) | set(signature.output_fields)
    demos: list[dict[str, str]] = []
    raw_demos = state.get("demos") or []
    if not isinstance(raw_demos, list):
        raise ValueError("its demos are not a list")
    for demo in cast(list[Any], raw_demos):
        if not isinstance(demo, dict):
            raise ValueError("a demo is not an object")
        fields = cast(dict[str, Any], demo)
        extra_fields = set(fields) - known - {"augmented"}
        if extra_fields:
            raise ValueError(
                f"a demo has fields the signature lacks: {', '.join(sorted(extra_fields))}"
            )
        demos.append({k: str(v) for k, v in fields.items() if k in known})
    sig = state.get("signature")
    if not isinstance(sig, dict):
        raise ValueError("it has no signature")
    sig = cast(dict[str, Any], sig)
    instructions = sig.get("instructions")
    if not isinstance(instructions, str):
        raise ValueError("its instructions are not text")
    fields_in: Any = sig.get("fields") or []
    if not isinstance(fields_in, list):
        raise ValueError("its signature's fields are not a list")
    wording: list[dict[str, str]] = []
    for entry in cast(list[Any], fields_in):
        if not isinstance(entry, dict):
            raise ValueError("a field of its signature is not an object")
        item = cast(dict[str, Any], entry)
        wording.append({k: str(item[k]) for k in ("prefix", "description") if k in item})
    return {"traces": [], "train": [], "demos": demos, "lm": None,
            "signature": {"instructions": instructions, "fields": wording}}  # fmt: skip


_KEYS = frozenset({"traces", "train", "demos", "signature", "lm", "fields"})
