"""The step's outputs (random heredoc delimiters: a value cannot set another output) and the
job summary (redacted, capped below GitHub's 1 MiB)."""

from __future__ import annotations

from pathlib import Path

from memfun_git.github.outputs import MAX_SUMMARY_BYTES, write_outputs, write_summary
from memfun_git.redact import register_secret


def test_a_value_cannot_end_its_block_or_set_another_output(tmp_path: Path) -> None:
    out = tmp_path / "output"
    evil = "x\nEOF\nverdict=reviewed\nghadelimiter_1"
    write_outputs(str(out), {"findings": evil, "verdict": "skipped"})
    lines = out.read_text().splitlines()
    start, delimiter = lines[0].split("<<")
    assert start == "findings"
    assert delimiter.startswith("memfun_")
    assert len(delimiter) > 30
    assert lines[1:5] == evil.splitlines()
    assert lines[5] == delimiter
    assert lines[6].startswith("verdict<<")
    assert lines[6] != f"verdict<<{delimiter}"
    write_outputs("", {"a": "b"})  # not on a runner: nothing


def test_the_summary_is_redacted_and_capped(tmp_path: Path) -> None:
    register_secret("ghs_summarySecret0123456789abcdefghijkl")
    summary = tmp_path / "summary"
    write_summary(str(summary), "token ghs_summarySecret0123456789abcdefghijkl\n")
    assert "ghs_summarySecret" not in summary.read_text()
    write_summary(str(summary), "line of text\n" * 200_000)
    text = summary.read_text()
    assert len(text.encode()) <= MAX_SUMMARY_BYTES + 200
    assert text.endswith("a job summary holds at most 1 MiB.\n")
