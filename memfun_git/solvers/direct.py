"""The direct route: a question about the project answered in one model call.

Context is the repository's tracked file list and its README, read without touching the
user's index or working tree, redacted before it is put into the prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from memfun_git.llm.session import LMSession
from memfun_git.redact import redact

__all__ = ["DirectAnswer", "answer_question", "project_context"]

MAX_FILES = 2000
MAX_README_CHARS = 16_000
_READMES = ("README.md", "README.rst", "README.txt", "README", "readme.md", "Readme.md")


@dataclass(frozen=True, slots=True)
class DirectAnswer:
    answer: str
    files_shown: int
    files_total: int


def project_context(workdir: Path) -> tuple[list[str], str]:
    """(tracked paths, README text) of the repository at `workdir`; reads only."""
    import pygit2

    repo = pygit2.Repository(str(workdir))
    paths = sorted(entry.path for entry in repo.index)
    readme = ""
    for name in _READMES:
        candidate = workdir / name
        if candidate.is_file() and not candidate.is_symlink():
            readme = candidate.read_text(encoding="utf-8", errors="replace")
            break
    return paths, readme


def answer_question(session: LMSession, workdir: Path, question: str, project: str) -> DirectAnswer:
    """Answer `question` about the project at `workdir` with one call through `session`."""
    from memfun_git.llm.signatures import AskProject

    paths, readme = project_context(workdir)
    shown = paths[:MAX_FILES]
    listing = "\n".join(shown)
    if len(paths) > len(shown):
        listing += f"\n… and {len(paths) - len(shown)} more files"
    if len(readme) > MAX_README_CHARS:
        readme = readme[:MAX_README_CHARS] + "\n… (README shortened)"
    prediction = session.predict(
        "ask",
        AskProject,
        question=redact(question),
        project=redact(project),
        files=redact(listing) or "(no tracked files)",
        readme=redact(readme) or "(no README)",
    )
    return DirectAnswer(
        answer=redact(str(prediction.answer)), files_shown=len(shown), files_total=len(paths)
    )
