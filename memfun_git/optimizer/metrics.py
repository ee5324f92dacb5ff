"""How `memfun optimize` scores a candidate program's answer against what the project
accepted, without running the task again: cheap, deterministic, and with feedback that says
why, for GEPA's reflection to learn from.

- plan: the files the task's commits changed (those in the listing) are what the plan had to
  name; the accepted plan's files may be named too. 0.7 × recall + 0.3 × precision.
- solve: an answer our operation parser cannot read, or with no operation, scores 0 (why is
  the feedback);
  one it reads scores 0.3, plus 0.4 × how well the files it touches match the accepted
  answer's and the commits' (F1), plus 0.3 × how like the accepted answer's operations its
  operations are, token by token (difflib's ratio).
- review: an answer our review parser cannot read scores 0; else 0.2, plus 0.5 when its
  verdict (blocking findings or none) is the accepted review's, plus 0.3 × the F1 of the
  files its findings name (1 when both name none).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from memfun_git.optimizer.examples import Sample, listed_paths

__all__ = ["Verdict", "judge"]

_SHOWN = 1_500
"""Characters of the accepted answer the feedback quotes."""
_COMPARED = 3_000
"""Tokens (words and symbols) of each answer's operations that difflib compares: characters
would take seconds on long answers, lines give no credit for a line nearly right."""
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class Verdict:
    score: float
    feedback: str


def judge(sample: Sample, answer: str) -> Verdict:
    """The score of `answer` to `sample`'s inputs (see the module)."""
    if sample.step == "plan":
        verdict = _plan(sample, answer)
    elif sample.step == "solve":
        verdict = _solve(sample, answer)
    else:
        verdict = _review(sample, answer)
    if not sample.fixed:
        return verdict
    listed = "; ".join(sample.fixed)[:_SHOWN]
    said = f"When this task ran, lint and review had its first answer fixed for: {listed}."
    return Verdict(verdict.score, f"{verdict.feedback}\n{said}")


def _f1(got: set[str], wanted: set[str]) -> float:
    if not got and not wanted:
        return 1.0
    hit = len(got & wanted)
    if not hit:
        return 0.0
    precision, recall = hit / len(got), hit / len(wanted)
    return 2 * precision * recall / (precision + recall)


def _names(paths: Iterable[str]) -> str:
    listed = sorted(paths)
    return ", ".join(listed) if listed else "none"


def _plan(sample: Sample, answer: str) -> Verdict:
    from memfun_git.solvers.planning import pick_paths

    known = listed_paths(sample.inputs.get("listing", ""))
    picked = set(pick_paths(answer, known))
    accepted = set(pick_paths(sample.answer, known))
    needed = set(sample.changed) & set(known) or accepted
    useful = needed | accepted
    recall = len(picked & needed) / len(needed) if needed else 1.0
    precision = len(picked & useful) / len(picked) if picked else 0.0
    score = round(0.7 * recall + 0.3 * precision, 4)
    missed, extra = needed - picked, picked - useful
    feedback = (
        f"The committed change touched {_names(needed)}. This plan named {_names(picked)}"
        + (f"; it missed {_names(missed)}" if missed else "")
        + (f"; {_names(extra)} did not matter to the change" if extra else "")
        + f". Score {score:.2f} (0.7 × files found, 0.3 × files that mattered)."
    )
    return Verdict(score, feedback)


def _ops(answer: str) -> tuple[set[str], str]:
    """The paths an answer's operations touch and the operations as text; OperationFormatError
    when it cannot be read."""
    from memfun_git.operations.parse import parse
    from memfun_git.operations.values import DeleteFile, EditFile, RenameFile, WriteFile

    parsed = parse(answer)
    paths: set[str] = set()
    parts: list[str] = []
    for op in parsed.operations:
        match op:
            case EditFile(path, search, replace):
                paths.add(path)
                parts.append(f"edit {path}\n{search}\n=>\n{replace}")
            case WriteFile(path, content):
                paths.add(path)
                parts.append(f"write {path}\n{content}")
            case DeleteFile(path):
                paths.add(path)
                parts.append(f"delete {path}")
            case RenameFile(path, new_path):
                paths.update((path, new_path))
                parts.append(f"rename {path} {new_path}")
            case _:
                parts.append(f"run {' '.join(op.argv)}")
    return paths, "\n".join(parts)


def _solve(sample: Sample, answer: str) -> Verdict:
    from memfun_git.errors import OperationFormatError

    try:
        paths, text = _ops(answer)
    except OperationFormatError as exc:
        return Verdict(0.0, f"The answer could not be read as operations: {exc.message}. "
                            "Write every change exactly in the format given.")  # fmt: skip
    if not text:
        return Verdict(0.0, "The answer has no operation: the task would change nothing. "
                            "Write every change as operations in the format given.")  # fmt: skip
    try:
        wanted, accepted_text = _ops(sample.answer)
    except OperationFormatError:
        wanted, accepted_text = set[str](), sample.answer
    wanted |= set(sample.changed)
    files = _f1(paths, wanted)
    alike = difflib.SequenceMatcher(
        None, _TOKEN.findall(text)[:_COMPARED], _TOKEN.findall(accepted_text)[:_COMPARED],
        autojunk=False,
    ).ratio()  # fmt: skip
    score = round(0.3 + 0.4 * files + 0.3 * alike, 4)
    quoted = sample.answer[:_SHOWN] + ("\n…" if len(sample.answer) > _SHOWN else "")
    feedback = (
        f"The answer was read. The accepted change touched {_names(wanted)}; this answer "
        f"touched {_names(paths)} (match {files:.2f}); its operations are {alike:.0%} like the "
        f"accepted ones. Score {score:.2f}. The accepted answer began:\n{quoted}"
    )
    return Verdict(score, feedback)


def _review(sample: Sample, answer: str) -> Verdict:
    from memfun_git.errors import LLMUnparseable
    from memfun_git.quality.review import parse_review
    from memfun_git.quality.verdicts import at_least

    try:
        findings, _ = parse_review(answer)
    except LLMUnparseable as exc:
        return Verdict(0.0, f"The review could not be read: {exc.message}. "
                            "Write it exactly in the format given.")  # fmt: skip
    try:
        accepted, _ = parse_review(sample.answer)
    except LLMUnparseable:
        accepted = ()
    blocks = any(at_least(f.severity, "error") for f in findings)
    should = any(at_least(f.severity, "error") for f in accepted)
    files = _f1({f.path for f in findings}, {f.path for f in accepted})
    score = round(0.2 + (0.5 if blocks == should else 0.0) + 0.3 * files, 4)
    verdict = "blocking findings" if should else "no blocking finding"
    listed = "; ".join(f"{f.path}:{f.line} {f.message}" for f in accepted)[:_SHOWN]
    feedback = (
        f"The accepted review had {verdict}"
        + (f" ({listed})" if listed else "")
        + f"; this one {'agreed' if blocks == should else 'did not'}, and its findings' files "
        f"match {files:.2f}. Score {score:.2f}."
    )
    return Verdict(score, feedback)
