"""What an Action step leaves for the workflow: outputs (`GITHUB_OUTPUT`) and the job summary
(`GITHUB_STEP_SUMMARY`).

Outputs are written as `name<<DELIMITER` blocks with a random delimiter each, so a value (a
model's text, a path) can never end the block early and set another output. The summary is
capped below GitHub's 1 MiB per step (past it GitHub drops the whole summary), cut at a line and
saying so. Everything written is redacted first.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from pathlib import Path

from memfun_git.redact import redact

__all__ = ["MAX_SUMMARY_BYTES", "write_outputs", "write_summary"]

MAX_SUMMARY_BYTES = 1_000_000


def write_outputs(path: str | None, values: Mapping[str, str]) -> None:
    """Append `values` to the GITHUB_OUTPUT file at `path` (nothing when it is not set)."""
    if not path:
        return
    blocks: list[str] = []
    for name, value in values.items():
        text = redact(value)
        delimiter = f"memfun_{secrets.token_hex(16)}"
        while delimiter in text:  # pragma: no cover (128 random bits)
            delimiter = f"memfun_{secrets.token_hex(16)}"
        blocks.append(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
    with Path(path).open("a", encoding="utf-8") as out:
        out.write("".join(blocks))


def write_summary(path: str | None, markdown: str) -> None:
    """Append `markdown` to the job summary at `path`, capped (nothing when it is not set)."""
    if not path:
        return
    text = redact(markdown)
    data = text.encode("utf-8")
    if len(data) > MAX_SUMMARY_BYTES:
        cut = data[:MAX_SUMMARY_BYTES].decode("utf-8", "ignore").rsplit("\n", 1)[0]
        text = f"{cut}\n\n… the rest is cut: a job summary holds at most 1 MiB.\n"
    with Path(path).open("a", encoding="utf-8") as out:
        out.write(text if text.endswith("\n") else text + "\n")
