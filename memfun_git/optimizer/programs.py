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

__all__ = ["PROGRAMS_DIR", "STEPS", "Programs", "load_programs"]

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
            state = json.loads(file.read_text(encoding="utf-8"))
            if not isinstance(state, dict):
                raise ValueError("not a JSON object")
            signature = getattr(signatures, name)
            dspy.Predict(signature).load_state(cast(dict[str, Any], state))
            _check_demos(cast(dict[str, Any], state), signature)
        except Exception as exc:  # any way a file cannot load: the default program runs
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            found.warnings.append(
                f"{shown} does not load ({why[:200]}): the default {step} program runs"
            )
            continue
        found.states[name] = cast(dict[str, Any], state)
        found.files[step] = shown
    return found


def _check_demos(state: dict[str, Any], signature: Any) -> None:
    known = set(signature.input_fields) | set(signature.output_fields)
    demos = state.get("demos") or []
    if not isinstance(demos, list):
        raise ValueError("its demos are not a list")
    for demo in cast(list[Any], demos):
        if not isinstance(demo, dict):
            raise ValueError("a demo is not an object")
        extra = set(cast(dict[str, Any], demo)) - known - {"augmented"}
        if extra:
            raise ValueError(f"a demo has fields the signature lacks: {', '.join(sorted(extra))}")
