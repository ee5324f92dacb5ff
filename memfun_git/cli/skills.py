"""`memfun skill list | show NAME | run NAME "<request>" | new NAME --from-traces`.

`list` and `show` read the skills `skills.catalog.discover` finds (built-in, the project's
`.memfun/skills`, `~/.memfun/skills`, the project's `.claude/skills`; later places override
earlier ones by name); malformed ones are listed as one line each on stderr. `run` follows a
skill: a skill whose `metadata.memfun-mode` is `task` (or, without one, a request that
plainly asks for a change) runs as `memfun run` does, the skill's instructions in the prompts
and its folder shown read-only to sandboxed commands (its scripts run only there); the others
answer as `memfun ask` does, with the instructions in the question.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from memfun_git.cli.tasks import print_columns, print_json
from memfun_git.errors import UsageError
from memfun_git.gitops.repo import require_repo
from memfun_git.redact import redact

if TYPE_CHECKING:
    from memfun_git.skills.catalog import Catalog, Skill

__all__ = [
    "find_skill",
    "run_skill",
    "run_skill_list",
    "run_skill_new",
    "run_skill_show",
    "skill_question",
]


def _catalog(start: Path, environ: Mapping[str, str] | None) -> Catalog:
    from memfun_git.skills.catalog import discover

    paths = require_repo(start)
    catalog = discover(paths.workdir, environ)
    for problem in catalog.problems:
        print(redact(f"memfun: skipped a malformed skill: {problem}"), file=sys.stderr)
    return catalog


def find_skill(catalog: Catalog, name: str) -> Skill:
    found = catalog.get(name.strip().lstrip("/"))
    if found is None:
        known = ", ".join(sorted(catalog.skills)[:8])
        raise UsageError(f"no skill {name!r}", f"`memfun skill list` shows them ({known})")
    return found


def run_skill_list(
    start: Path,
    *,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    out = sys.stdout if stdout is None else stdout
    catalog = _catalog(start, environ)
    skills = sorted(catalog.skills.values(), key=lambda s: s.name)
    if json_out:
        print_json([_entry(s) for s in skills], out)
        return 0
    header = ("SKILL", "MODE", "FROM", "DESCRIPTION")
    rows = [(s.name, s.mode or "-", s.place, _first_sentence(s.description)) for s in skills]
    print_columns(header, rows, out)
    return 0


def run_skill_show(
    start: Path,
    name: str,
    *,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
) -> int:
    out = sys.stdout if stdout is None else stdout
    skill = find_skill(_catalog(start, environ), name)
    if json_out:
        print_json({**_entry(skill), "instructions": skill.instructions}, out)
        return 0
    lines = [
        f"{skill.name} ({skill.place}: {skill.folder / 'SKILL.md'})",
        skill.description,
        f"mode: {skill.mode or 'from the request'}",
    ]
    if skill.scripts:
        lines.append(f"scripts (run in the sandbox): {', '.join(skill.scripts)}")
    lines += ["", skill.instructions]
    out.write(redact("\n".join(lines)) + "\n")
    return 0


def run_skill(
    start: Path,
    name: str,
    request: str,
    overrides: Mapping[str, Any],
    *,
    json_out: bool = False,
    environ: Mapping[str, str] | None = None,
) -> int:
    from memfun_git.tasks import SkillUse, plainly_a_task

    env = os.environ if environ is None else environ
    skill = find_skill(_catalog(start, env), name)
    if not request.strip():
        raise UsageError("the request is empty", f'say what for: memfun skill run {name} "..."')
    if skill.mode == "task" or (not skill.mode and plainly_a_task(request)):
        from memfun_git.cli.run import run_request

        use = SkillUse(skill.name, skill.instructions, str(skill.folder))
        return run_request(start, request, overrides, json_out=json_out, skill=use, environ=env)
    from memfun_git.cli.ask import run_ask

    return run_ask(start, skill_question(skill, request), overrides, json_out=json_out,
                   environ=env)  # fmt: skip


def run_skill_new(
    start: Path,
    name: str,
    overrides: Mapping[str, Any],
    *,
    from_traces: bool = False,
    about: str = "",
    most: int = 5,
    environ: Mapping[str, str] | None = None,
) -> int:
    from memfun_git import config
    from memfun_git.cli.progress import CallSpinner
    from memfun_git.llm.session import LMSession
    from memfun_git.records import Records, clone_name
    from memfun_git.redact import register_environ
    from memfun_git.skills.draft import draft_skill, pick_traces
    from memfun_git.traces import load_trace, traced_tasks

    env = os.environ if environ is None else environ
    if not from_traces:
        raise UsageError("say what to draft the skill from", f"memfun skill new {name} "
                         "--from-traces (the traces of similar tasks that went well)")  # fmt: skip
    paths = require_repo(start)
    assert paths.workdir is not None
    cfg = config.load(paths.workdir, environ=env, overrides=overrides)
    register_environ(env, [cfg.llm.key_env] if cfg.llm.key_env else [])
    wanted = about or name.replace("-", " ")
    with Records.open(cfg.backend, paths.common_dir) as store:
        picked = pick_traces(traced_tasks(store, clone_name(paths.common_dir)), wanted, most)
        traces = [t for r in picked if (t := load_trace(store, str(r.get("id")))) is not None]
    with CallSpinner(environ=env) as spinner:
        session = LMSession.from_config(cfg.llm, env, observer=spinner)
        draft = draft_skill(session, paths.workdir, name, wanted, traces)
    shown = draft.path.relative_to(paths.workdir)
    print(f"Drafted {shown} from {len(draft.traces)} task(s): {', '.join(draft.traces)}. "
          "Review it, then commit it to share it.")  # fmt: skip
    return 0


def skill_question(skill: Skill, request: str) -> str:
    """A question-mode skill's request as the question the model answers."""
    return f"{request.strip()}\n\nFollow the skill {skill.name}:\n{skill.instructions}"


def _entry(skill: Skill) -> dict[str, Any]:
    return {
        "name": skill.name,
        "description": skill.description,
        "mode": skill.mode,
        "place": skill.place,
        "path": str(skill.folder / "SKILL.md"),
        "scripts": list(skill.scripts),
        "license": skill.license,
        "compatibility": skill.compatibility,
    }


def _first_sentence(text: str) -> str:
    first = text.split(". ", 1)[0].rstrip(".")
    return first if len(first) <= 90 else first[:89] + "…"
