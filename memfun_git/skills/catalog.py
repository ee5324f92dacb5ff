"""Agent Skills (agentskills.io): the SKILL.md folders memfun finds, checks and runs.

A skill is a folder holding `SKILL.md`: YAML frontmatter between `---` lines (`name`,
`description`; optional `license`, `compatibility`, `metadata`, `allowed-tools`, and nothing
else, as the specification's reference validator insists), then Markdown instructions. Its
optional `scripts/` run only in the sandbox (the engine shows the skill's folder read-only to
sandboxed commands while the skill's task runs).

`discover` reads, in order, later ones overriding earlier by name: the built-in skills
shipped in the package (`memfun_git/skills/builtin`), the project's `.memfun/skills`, the
user's `~/.memfun/skills`, and the project's `.claude/skills` (the folder Claude Code reads,
so a team's skills there work here unchanged). A malformed skill is one problem line naming
the file and the field; the others still load. memfun reads `metadata.memfun-mode` (`task`:
the skill changes files, run as a task; `question`: it answers) when a skill says it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

__all__ = [
    "ALLOWED_KEYS",
    "BUILTIN",
    "Catalog",
    "Skill",
    "SkillInvalid",
    "discover",
    "parse_skill",
    "skill_places",
]

BUILTIN = Path(__file__).with_name("builtin")
ALLOWED_KEYS = ("name", "description", "license", "compatibility", "metadata", "allowed-tools")
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)(.*)\Z", re.DOTALL)
_MAX_BYTES = 256_000


class SkillInvalid(ValueError):
    """A SKILL.md that breaks the specification: `path`, the `field` at fault, and why."""

    def __init__(self, path: Path, field_name: str, why: str) -> None:
        super().__init__(f"{path}: {field_name}: {why}")
        self.path = path
        self.field = field_name
        self.why = why


@dataclass(frozen=True, slots=True)
class Skill:
    name: str
    description: str
    instructions: str
    """The Markdown body: what the model is told to follow."""
    folder: Path
    place: str
    """Where it was found: package, project, user or claude."""
    license: str = ""
    compatibility: str = ""
    metadata: Mapping[str, str] = field(default_factory=dict[str, str])
    allowed_tools: str = ""

    @property
    def mode(self) -> str:
        """ "task", "question", or "" (decide from the request)."""
        mode = self.metadata.get("memfun-mode", "")
        return mode if mode in ("task", "question") else ""

    @property
    def scripts(self) -> tuple[str, ...]:
        folder = self.folder / "scripts"
        if not folder.is_dir():
            return ()
        return tuple(sorted(p.name for p in folder.iterdir() if p.is_file()))


@dataclass
class Catalog:
    skills: dict[str, Skill] = field(default_factory=dict[str, Skill])
    problems: list[str] = field(default_factory=list[str])
    """One line per malformed skill: its file, the field, why."""

    def get(self, name: str) -> Skill | None:
        return self.skills.get(name)


def skill_places(
    workdir: Path | None, environ: Mapping[str, str] | None = None
) -> list[tuple[str, Path]]:
    """(place, folder) to read skills from, in overriding order."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())
    places: list[tuple[str, Path]] = [("package", BUILTIN)]
    if workdir is not None:
        places.append(("project", workdir / ".memfun" / "skills"))
    places.append(("user", home / ".memfun" / "skills"))
    if workdir is not None:
        places.append(("claude", workdir / ".claude" / "skills"))
    return places


def discover(workdir: Path | None, environ: Mapping[str, str] | None = None) -> Catalog:
    """Every skill from every place, later places overriding earlier ones by name."""
    catalog = Catalog()
    for place, folder in skill_places(workdir, environ):
        if not folder.is_dir():
            continue
        for entry in sorted(folder.iterdir()):
            if entry.name.startswith(".") or not (entry / "SKILL.md").is_file():
                continue
            try:
                skill = parse_skill(entry, place)
            except SkillInvalid as exc:
                catalog.problems.append(str(exc))
                continue
            catalog.skills[skill.name] = skill
    return catalog


def parse_skill(folder: Path, place: str = "project") -> Skill:
    """The skill in `folder`; SkillInvalid names the first rule its SKILL.md breaks."""
    import yaml

    path = folder / "SKILL.md"
    data = path.read_bytes()
    if len(data) > _MAX_BYTES:
        raise SkillInvalid(path, "SKILL.md", f"over {_MAX_BYTES:,} bytes")
    text = data.decode("utf-8", errors="replace")
    found = _FRONT.match(text)
    if found is None:
        raise SkillInvalid(path, "frontmatter", "no YAML frontmatter between --- lines at the top")
    try:
        front: Any = yaml.safe_load(found.group(1))
    except yaml.YAMLError as exc:
        problem = str(exc).splitlines()[0] if str(exc) else "invalid YAML"
        raise SkillInvalid(path, "frontmatter", f"invalid YAML ({problem})") from None
    if not isinstance(front, dict):
        raise SkillInvalid(path, "frontmatter", "is not a mapping of fields")
    fields = cast(dict[Any, Any], front)
    extra = sorted(str(k) for k in fields if k not in ALLOWED_KEYS)
    if extra:
        raise SkillInvalid(path, extra[0], f"is not a field of the specification (allowed: "
                           f"{', '.join(ALLOWED_KEYS)})")  # fmt: skip
    name = _text(path, fields, "name", 64, required=True)
    if not _NAME.fullmatch(name):
        raise SkillInvalid(path, "name", f"{name!r} must be lowercase letters, digits and single "
                           "hyphens, not starting or ending with one")  # fmt: skip
    if name != folder.name:
        raise SkillInvalid(path, "name", f"{name!r} must equal its folder's name {folder.name!r}")
    description = _text(path, fields, "description", 1024, required=True)
    metadata = fields.get("metadata", {})
    if not isinstance(metadata, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in cast(dict[Any, Any], metadata).items()
    ):
        raise SkillInvalid(path, "metadata", "must map names to strings")
    return Skill(
        name=name,
        description=description,
        instructions=found.group(2).strip(),
        folder=folder.resolve(),
        place=place,
        license=_text(path, fields, "license", 1024),
        compatibility=_text(path, fields, "compatibility", 500),
        metadata=cast(dict[str, str], metadata),
        allowed_tools=_text(path, fields, "allowed-tools", 1024),
    )


def _text(
    path: Path, fields: dict[Any, Any], key: str, most: int, *, required: bool = False
) -> str:
    value = fields.get(key)
    if value is None:
        if required:
            raise SkillInvalid(path, key, "is required")
        return ""
    if not isinstance(value, str) or not value.strip():
        raise SkillInvalid(path, key, "must be a non-empty string")
    if len(value) > most:
        raise SkillInvalid(path, key, f"is {len(value)} characters (at most {most})")
    return value.strip()
