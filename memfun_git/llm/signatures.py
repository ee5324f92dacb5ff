"""DSPy signatures for every LLM step. Steps convert outputs to our types at the `llm/` edge."""

from __future__ import annotations

import dspy

__all__ = ["AskProject", "PlanFiles", "SolveTask"]


class AskProject(dspy.Signature):
    """Answer a developer's question about their project from its file list and README.

    Be direct and concrete, name the files that matter, and say plainly when the context given
    does not hold the answer rather than guessing."""

    question: str = dspy.InputField()
    project: str = dspy.InputField(desc="the project's name")
    files: str = dspy.InputField(desc="the repository's tracked files, one per line")
    readme: str = dspy.InputField(desc="the project's README, possibly shortened")
    answer: str = dspy.OutputField(desc="the answer, in Markdown")


class PlanFiles(dspy.Signature):
    """Choose the files a developer must read before making a requested change to a project.

    From the project's listing (each file's path, size and top-level names), name the files
    whose current contents the change needs: the files it will edit, and those that define
    what it uses or must stay consistent with (callers, tests, configuration). Most important
    first; fewer is better when the budget is tight. Name only files of the listing."""

    request: str = dspy.InputField(desc="the change the developer asked for")
    listing: str = dspy.InputField(desc="the project's files, one a line: path (size): names")
    budget: str = dspy.InputField(desc="how much file content the next step can read")
    files: str = dspy.OutputField(
        desc="paths from the listing, one per line, most important first, nothing else"
    )


class SolveTask(dspy.Signature):
    """Make a requested change to a project, completely and correctly, in one answer.

    Read the files given, then write every change the request needs as operations in the
    format given: edits of existing files (quote the file exactly), new files, deletions,
    renames, and commands to run (tests, code generators). Follow the project's existing
    style and conventions; change nothing the request does not need; keep the code working
    (update callers, imports and tests that the change affects). Say in a few plain
    sentences, outside the operations, what you changed and why."""

    request: str = dspy.InputField(desc="the change the developer asked for")
    files: str = dspy.InputField(
        desc="the project's files that matter, each under a `### path` heading, as they are now"
    )
    project: str = dspy.InputField(desc="the project's other files, by path (not shown)")
    feedback: str = dspy.InputField(
        desc="what went wrong with your previous answer, if anything; fix exactly that"
    )
    format: str = dspy.InputField(desc="how to write the answer")
    answer: str = dspy.OutputField(
        desc="the operations and a short explanation, exactly in the format given"
    )
