"""MEMORY.md read tolerantly and written back without losing a line; memory's union merge."""

from __future__ import annotations

from memfun_git.memory.entries import Entry, MemoryFile, entry_id, union

HAND_EDITED = """# Memory

Some prose a person wrote about this file.

## Preferences
- [19f59f 2026-12-01] always use pool_size=10 for dev
- use tabs in Makefiles
  - a nested note under it
| a | table |

## Odd section name
* starred bullet
- [zz] not an id, read as text
"""


def test_a_hand_edited_file_loads_and_a_rewrite_keeps_every_odd_line() -> None:
    memory = MemoryFile.parse(HAND_EDITED)
    texts = [e.text for e in memory.entries]
    assert texts == [
        "always use pool_size=10 for dev",
        "use tabs in Makefiles",
        "starred bullet",
        "[zz] not an id, read as text",
    ]
    assert memory.entries[0].id == "19f59f"
    assert memory.entries[1].id == entry_id("use tabs in Makefiles")
    assert memory.entries[2].section == "Odd section name"
    assert [raw for _, raw in memory.odd] == [
        "Some prose a person wrote about this file.",
        "  - a nested note under it",
        "| a | table |",
    ]
    assert memory.render() == HAND_EDITED
    memory.add(Entry.new("the API listens on port 8080", "fact", day="2026-12-04"))
    memory.add(Entry.new("prefer httpx over requests", "preference", day="2026-12-04"))
    rewritten = memory.render()
    for line in HAND_EDITED.splitlines():
        assert line in rewritten.splitlines()
    assert "## Project facts\n- [" in rewritten
    preferences = rewritten.split("## Preferences\n")[1].split("\n\n")[0].splitlines()
    assert preferences[-1].endswith("] prefer httpx over requests")


def test_ids_ignore_case_and_spacing_so_the_same_fact_is_one_entry() -> None:
    assert entry_id("Use  Ruff") == entry_id("use ruff")
    memory = MemoryFile.parse("")
    assert memory.add(Entry.new("Use ruff", day="2026-12-04"))
    assert not memory.add(Entry.new("use   RUFF", day="2026-12-05"))
    assert memory.render().startswith("# Memory\n\n## Project facts\n- [")
    assert memory.remove(entry_id("use ruff")) is not None
    assert memory.entries == []


def test_union_keeps_every_entry_of_both_sides_once() -> None:
    base = "# Memory\n\n## Project facts\n- [aaaaaa 2026-12-01] shared\n"
    ours = MemoryFile.parse(base)
    ours.add(Entry.new("ours only", day="2026-12-02"))
    theirs = MemoryFile.parse(base + "a line only theirs wrote\n")
    theirs.add(Entry.new("theirs only", "preference", day="2026-12-03"))
    merged = MemoryFile.parse(union(ours.render(), theirs.render()))
    assert sorted(e.text for e in merged.entries) == ["ours only", "shared", "theirs only"]
    assert "a line only theirs wrote" in merged.render()
    assert union(merged.render(), merged.render()) == merged.render()
