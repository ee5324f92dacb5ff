"""DSPy signatures for every LLM step. Steps convert outputs to our types at the `llm/` edge."""

from __future__ import annotations

import dspy

__all__ = ["AskProject"]


class AskProject(dspy.Signature):
    """Answer a developer's question about their project from its file list and README.

    Be direct and concrete, name the files that matter, and say plainly when the context given
    does not hold the answer rather than guessing."""

    question: str = dspy.InputField()
    project: str = dspy.InputField(desc="the project's name")
    files: str = dspy.InputField(desc="the repository's tracked files, one per line")
    readme: str = dspy.InputField(desc="the project's README, possibly shortened")
    answer: str = dspy.OutputField(desc="the answer, in Markdown")
