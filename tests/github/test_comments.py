"""Findings placed on a pull request's diff: hunks read from the unified diff, inline comments
only where GitHub takes them, suggestion fences, fingerprints for the delta review, the cap."""

from __future__ import annotations

from memfun_git.github.comments import fingerprint, plan_review, posted, render_finding
from memfun_git.github.diffmap import DiffMap
from memfun_git.quality.verdicts import Finding

DIFF = """\
diff --git a/src/a.py b/src/a.py
index 1111111..2222222 100644
--- a/src/a.py
+++ b/src/a.py
@@ -1,3 +1,4 @@
 import os
+import sys

 def f():
@@ -20,2 +21,3 @@ def g():
     x = 1
+    y = 2
     return x
diff --git a/gone.py b/gone.py
deleted file mode 100644
--- a/gone.py
+++ /dev/null
@@ -1,1 +0,0 @@
-x = 1
"""


def test_the_diff_map_knows_the_new_side_lines_of_each_hunk() -> None:
    diff = DiffMap.of(DIFF)
    assert diff.hunks == {"src/a.py": ((1, 4), (21, 23))}
    assert diff.commentable("src/a.py", 2)
    assert diff.commentable("src/a.py", 21, 23)
    assert not diff.commentable("src/a.py", 4, 21)  # across two hunks
    assert not diff.commentable("src/a.py", 10)
    assert not diff.commentable("gone.py", 1)
    assert not diff.commentable("src/b.py", 1)


def _finding(line: int, severity: str = "warning", end: int | None = None, **more: str) -> Finding:
    return Finding("src/a.py", line, severity, f"problem at {line}", end_line=end, **more)  # type: ignore[arg-type]


def test_findings_go_inline_where_github_takes_them_and_in_the_body_elsewhere() -> None:
    code = "    y = 2  # ```fenced```\n"
    findings = [
        _finding(2, suggestion="import sys  # needed\n"),
        _finding(21, "error", end=22, suggestion=code),
        _finding(10, "info"),
    ]
    planned = plan_review(findings, DiffMap.of(DIFF), set(), max_comments=10)
    first, second = planned.comments
    assert (first["line"], first["start_line"], first["start_side"]) == (22, 21, "RIGHT")
    assert "````suggestion\n    y = 2  # ```fenced```\n````" in first["body"]
    assert (second["line"], "start_line" in second) == (2, False)
    assert "```suggestion\nimport sys  # needed\n```" in second["body"]
    assert [f.line for f in planned.elsewhere] == [10]
    assert "`src/a.py:10` problem at 10" in render_finding(planned.elsewhere[0], inline=False)


def test_fingerprints_survive_moved_lines_and_skip_what_was_posted() -> None:
    old = _finding(2)
    moved = Finding("src/a.py", 3, "warning", "problem  at 2")
    assert fingerprint(old) == fingerprint(moved)
    known = posted([render_finding(old, inline=True), "a human's comment", ""])
    assert known == {fingerprint(old)}
    planned = plan_review([moved, _finding(21)], DiffMap.of(DIFF), known, max_comments=10)
    assert planned.repeated == 1
    assert [c["line"] for c in planned.comments] == [21]


def test_the_cap_keeps_the_most_severe_inline() -> None:
    findings = [_finding(1, "info"), _finding(2, "error"), _finding(3, "warning")]
    planned = plan_review(findings, DiffMap.of(DIFF), set(), max_comments=1)
    assert [c["line"] for c in planned.comments] == [2]
    assert planned.capped == 2
    assert {f.line for f in planned.elsewhere} == {1, 3}
