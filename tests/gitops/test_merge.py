"""gitops/merge.py on a real repository: merge commits that name what they join, a tip already
merged merging nothing, a conflict changing nothing, a base joining several tips."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pygit2

from memfun_git.gitops.commit import Trailers
from memfun_git.gitops.merge import MARKS, Conflict, merge_into, merged_base
from tests.conftest import git

TRAILERS = Trailers("t1", "reviewer", "n/a (a merge)")


def _branch(repo: Path, name: str, rel: str, text: str, start: str = "main") -> str:
    git(repo, "checkout", "-q", "-b", name, start)
    (repo / rel).write_text(text)
    git(repo, "add", rel)
    git(repo, "commit", "-qm", f"{name} changes {rel}")
    git(repo, "checkout", "-q", "main")
    return git(repo, "rev-parse", name).strip()


def test_a_merge_commit_names_the_branch_and_the_worktree_follows(git_repo: Path) -> None:
    a = _branch(git_repo, "a", "a.txt", "a\n")
    b = _branch(git_repo, "b", "b.txt", "b\n")
    repo = pygit2.Repository(str(git_repo))
    first = merge_into(repo, a, "memfun: merge a", TRAILERS)
    second = merge_into(repo, b, "memfun: merge b", TRAILERS)
    assert first.oid
    assert second.oid
    assert merge_into(repo, a, "again", TRAILERS).already
    commit = repo[second.oid].peel(pygit2.Commit)
    assert [str(p) for p in commit.parent_ids] == [first.oid, b]
    assert commit.message.startswith("memfun: merge b\n")
    assert "Memfun-Task: t1" in commit.message
    assert (git_repo / "a.txt").read_text() == "a\n"
    assert (git_repo / "b.txt").read_text() == "b\n"
    assert git(git_repo, "--no-optional-locks", "status", "--porcelain").strip() == ""


def test_a_conflict_merges_nothing_and_names_the_paths(git_repo: Path) -> None:
    a = _branch(git_repo, "a", "src/app.py", "def add(a, b):\n    return a - b\n")
    b = _branch(git_repo, "b", "src/app.py", "def add(a, b):\n    return b + a\n")
    repo = pygit2.Repository(str(git_repo))
    assert merge_into(repo, a, "merge a", TRAILERS).oid
    head = str(repo.head.target)
    clash = merge_into(repo, b, "merge b", TRAILERS)
    assert (clash.oid, clash.conflicts) == ("", ("src/app.py",))
    assert str(repo.head.target) == head
    assert "a - b" in (git_repo / "src" / "app.py").read_text()


def test_a_base_joining_tips_is_a_descendant_of_each(git_repo: Path) -> None:
    a = _branch(git_repo, "a", "a.txt", "a\n")
    after_a = _branch(git_repo, "a2", "a2.txt", "a2\n", start="a")
    b = _branch(git_repo, "b", "b.txt", "b\n")
    repo = pygit2.Repository(str(git_repo))
    assert merged_base(repo, [a, after_a], TRAILERS, ["a", "a2"]).oid == after_a
    joined = merged_base(repo, [a, b], TRAILERS, ["a", "b"])
    assert repo.descendant_of(joined.oid, a)
    assert repo.descendant_of(joined.oid, b)
    assert repo[joined.oid].peel(pygit2.Commit).message.startswith("memfun: join a and b")
    c = _branch(git_repo, "c", "a.txt", "c\n")
    assert merged_base(repo, [a, c], TRAILERS, ["a", "c"]).conflicts == ("a.txt",)


def test_a_resolver_settles_a_conflict_into_the_merge_commit(git_repo: Path) -> None:
    a = _branch(git_repo, "a", "src/app.py", "def add(a, b):\n    return a - b\n")
    b = _branch(git_repo, "b", "src/app.py", "def add(a, b):\n    return b + a\n")
    repo = pygit2.Repository(str(git_repo))
    assert merge_into(repo, a, "merge a", TRAILERS).oid
    shown: list[Conflict] = []

    def resolve(conflicts: Sequence[Conflict]) -> dict[str, str]:
        shown.extend(conflicts)
        return {"src/app.py": "def add(a, b):\n    return a + b\n"}

    done = merge_into(repo, b, "merge b", TRAILERS, resolve=resolve)
    assert done.oid
    assert done.resolved == ("src/app.py",)
    assert [c.path for c in shown] == ["src/app.py"]
    assert shown[0].text == (
        f"def add(a, b):\n{MARKS[0]}\n    return a - b\n{MARKS[1]}\n    return b + a\n{MARKS[2]}\n"
    )
    commit = repo[done.oid].peel(pygit2.Commit)
    assert [str(p) for p in commit.parent_ids][1] == b
    assert "Conflicts resolved by the reviewer: src/app.py" in commit.message
    assert (git_repo / "src" / "app.py").read_text() == "def add(a, b):\n    return a + b\n"
    assert git(git_repo, "--no-optional-locks", "status", "--porcelain").strip() == ""


def test_a_resolution_that_leaves_a_marker_or_a_file_out_merges_nothing(git_repo: Path) -> None:
    a = _branch(git_repo, "a", "src/app.py", "def add(a, b):\n    return a - b\n")
    b = _branch(git_repo, "b", "src/app.py", "def add(a, b):\n    return b + a\n")
    repo = pygit2.Repository(str(git_repo))
    assert merge_into(repo, a, "merge a", TRAILERS).oid
    head = str(repo.head.target)
    for answer in (None, {}, {"src/app.py": f"{MARKS[0]}\nx\n"}, {"other.py": "x\n"}):
        clash = merge_into(repo, b, "merge b", TRAILERS, resolve=lambda _c, a=answer: a)
        assert (clash.oid, clash.conflicts) == ("", ("src/app.py",))
    assert str(repo.head.target) == head


def test_a_file_deleted_on_one_side_is_not_shown_to_the_resolver(git_repo: Path) -> None:
    a = _branch(git_repo, "a", "src/app.py", "def add(a, b):\n    return a - b\n")
    git(git_repo, "checkout", "-q", "-b", "gone", "main")
    git(git_repo, "rm", "-q", "src/app.py")
    git(git_repo, "commit", "-qm", "drop app")
    git(git_repo, "checkout", "-q", "main")
    repo = pygit2.Repository(str(git_repo))
    assert merge_into(repo, a, "merge a", TRAILERS).oid
    asked: list[object] = []
    gone = git(git_repo, "rev-parse", "gone").strip()
    clash = merge_into(repo, gone, "merge gone", TRAILERS, resolve=asked.append)
    assert clash.conflicts == ("src/app.py",)
    assert asked == []


def test_a_file_that_holds_marker_like_lines_is_not_offered(git_repo: Path) -> None:
    doc = "Example:\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\nend\n"
    (git_repo / "doc.md").write_text(doc)
    git(git_repo, "add", "doc.md")
    git(git_repo, "commit", "-qm", "doc")
    a = _branch(git_repo, "a", "doc.md", doc.replace("end", "end A"))
    b = _branch(git_repo, "b", "doc.md", doc.replace("end", "end B"))
    repo = pygit2.Repository(str(git_repo))
    assert merge_into(repo, a, "merge a", TRAILERS).oid
    asked: list[object] = []
    clash = merge_into(repo, b, "merge b", TRAILERS, resolve=asked.append)
    assert clash.conflicts == ("doc.md",)
    assert asked == []
