"""Skills on their own (skills/catalog.py): the eight built-in skills valid under the Agent
Skills rules (our checks and the specification's reference validator agree), discovery from
the four places with later ones overriding earlier by name, and malformed skills reported one
line each, naming the file and the field, while the others load."""

from __future__ import annotations

from pathlib import Path

import pytest

from memfun_git.skills.catalog import BUILTIN, SkillInvalid, discover, parse_skill

BUILT_IN = ("analyze-code", "ask", "explain-code", "fix-bugs", "generate-tests", "refactor",
            "review-code", "security-audit")  # fmt: skip


def _skill(folder: Path, name: str, description: str = "Does a thing. Use when asked.",
           extra: str = "", body: str = "Do the thing.") -> Path:  # fmt: skip
    place = folder / name
    place.mkdir(parents=True, exist_ok=True)
    (place / "SKILL.md").write_text(
        f"---\nname: {name}\ndescription: {description}\n{extra}---\n\n{body}\n"
    )
    return place


def test_the_built_in_skills_are_valid_agent_skills() -> None:
    skills_ref = pytest.importorskip("skills_ref")
    folders = sorted(p for p in BUILTIN.iterdir() if (p / "SKILL.md").is_file())
    assert tuple(p.name for p in folders) == BUILT_IN
    for folder in folders:
        assert skills_ref.validate(folder) == [], folder.name
        skill = parse_skill(folder, "package")
        assert skill.name == folder.name
        assert "Use when" in skill.description
        assert len(skill.description) <= 1024
        assert skill.mode in ("task", "question")
        assert skill.instructions.startswith("# ")


def test_later_places_override_earlier_ones_by_name(git_repo: Path) -> None:
    home = Path.home()
    project = _skill(git_repo / ".memfun" / "skills", "ask", "Project ask. Use when asked.")
    _skill(git_repo / ".memfun" / "skills", "deploy", "Project deploy. Use when deploying.")
    _skill(home / ".memfun" / "skills", "deploy", "User deploy. Use when deploying.")
    _skill(home / ".memfun" / "skills", "standup", "User standup. Use at standups.")
    _skill(git_repo / ".claude" / "skills", "standup", "Claude standup. Use at standups.")
    catalog = discover(git_repo)
    assert catalog.problems == []
    assert catalog.skills["ask"].place == "project"
    assert catalog.skills["ask"].folder == project.resolve()
    assert catalog.skills["deploy"].description.startswith("User deploy")
    assert catalog.skills["standup"].place == "claude"
    assert catalog.skills["refactor"].place == "package"
    assert len(catalog.skills) == len(BUILT_IN) + 2


@pytest.mark.parametrize(
    ("name", "extra", "description", "field", "why"),
    [
        ("Bad_Name", "", "Fine. Use when.", "name", "must be lowercase letters"),
        ("two--dashes", "", "Fine. Use when.", "name", "single hyphens"),
        ("extra-key", "argument-hint: x\n", "Fine. Use when.", "argument-hint",
         "is not a field of the specification"),
        ("no-description", "", "", "description", "is required"),
        ("long-description", "", "x" * 1025, "description", "at most 1024"),
        ("bad-metadata", "metadata:\n  n: 1\n", "Fine.", "metadata", "must map names to strings"),
    ],
)  # fmt: skip
def test_a_malformed_skill_is_one_line_and_the_others_load(
    git_repo: Path, name: str, extra: str, description: str, field: str, why: str
) -> None:
    folder = git_repo / ".memfun" / "skills"
    _skill(folder, name, description, extra)
    _skill(folder, "fine", "Fine. Use when fine.")
    catalog = discover(git_repo)
    (problem,) = catalog.problems
    assert problem.startswith(f"{folder / name / 'SKILL.md'}: {field}: ")
    assert why in problem
    assert "fine" in catalog.skills
    assert name not in catalog.skills


def test_a_name_unlike_its_folder_or_no_frontmatter_is_refused(tmp_path: Path) -> None:
    place = _skill(tmp_path, "folder-name")
    (place / "SKILL.md").write_text("---\nname: other-name\ndescription: x\n---\nbody\n")
    with pytest.raises(SkillInvalid, match="must equal its folder's name 'folder-name'"):
        parse_skill(place)
    (place / "SKILL.md").write_text("# no frontmatter\n")
    with pytest.raises(SkillInvalid, match="frontmatter: no YAML frontmatter"):
        parse_skill(place)
