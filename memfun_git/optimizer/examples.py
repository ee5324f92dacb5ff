"""Training examples for `memfun optimize`, rebuilt from the project's own traces.

Each traced model call (traces.py) kept its whole prompt, as our adapters wrote it (a
`## system` message naming the signature's fields, then `## user` messages whose sections
are `[[ ## field ## ]]` blocks), and its answer. `prompt_inputs` reads the inputs of the
call back from that prompt; `signature_of` tells from the system message which optimizable
step the call was (the input and output field names of `PlanFiles`, `SolveTask` or
`ReviewChange`, whatever the session called the step). A prompt the trace cut is skipped.

A task's score is what its gate and reviews said (`task_score`): done with no fix round, no
blocking review and no climb of the ladder is 1.0 (its first answer passed lint and review);
done after fixes is 0.5; anything else is not an example. A first-pass task gives all its
calls; a task done after fixes gives its plans and reviews, and only its last solving call
(the answer that was committed). Each `Sample` keeps the task's changed paths as the label
the metrics compare against (optimizer/metrics.py), and what the gate had fixed in the
task's first answers (its fix rounds' findings), which their feedback names.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from memfun_git.optimizer.programs import STEPS

__all__ = [
    "Sample",
    "Samples",
    "collect",
    "gate_findings",
    "listed_paths",
    "prompt_inputs",
    "signature_fields",
    "task_score",
]

_FIELD = re.compile(r"^\d+\. `(\w+)` \(", re.MULTILINE)
_TAIL = re.compile(r"\n\nReply with the `\w+` text only, exactly in the form described\.\s*\Z")
_CUT = re.compile(r"\n… \([\d,]+ characters left out of the trace\) …\n")
"""What traces.py puts where it cut a call's prompt or answer."""


@dataclass(frozen=True, slots=True)
class Sample:
    step: str
    """"plan", "solve" or "review"."""
    inputs: dict[str, str]
    answer: str
    """The answer the task used."""
    changed: tuple[str, ...]
    """The paths the task's commits changed."""
    score: float
    task: str
    cost: float | None = None
    """What the call cost, where the price was known."""
    tokens: int = 0
    fixed: tuple[str, ...] = ()
    """What the task's gate found in its first answers and had fixed (lint and review
    findings, "path:line message"): the metrics' feedback names them."""

    @property
    def chars(self) -> int:
        return sum(map(len, self.inputs.values())) + len(self.answer)


@dataclass
class Samples:
    by_step: dict[str, list[Sample]] = field(default_factory=dict[str, list[Sample]])
    tasks: int = 0
    """Traces read."""
    finished: int = 0
    """Of those, tasks that scored (done)."""
    cut: int = 0
    """Calls left out because their trace cut the prompt."""


def signature_fields() -> dict[str, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Step -> (input field names, output field names) of its signature."""
    from memfun_git.llm import signatures

    found: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}
    for step, name in STEPS.items():
        sig = getattr(signatures, name)
        found[step] = (tuple(sig.input_fields), tuple(sig.output_fields))
    return found


def task_score(trace: Mapping[str, Any]) -> float:
    """1.0 for a task whose first answer passed lint and review, 0.5 for one done after
    fixes (or on a higher tier), 0.0 otherwise."""
    if trace.get("status") != "done":
        return 0.0
    for event in trace.get("events") or []:
        kind = event.get("event")
        if kind == "FixRound" or (kind == "Reviewed" and event.get("blocking")):
            return 0.5
        if kind == "StepStarted" and event.get("step") == "escalate":
            return 0.5
    return 1.0


def gate_findings(trace: Mapping[str, Any]) -> tuple[str, ...]:
    """The findings the task's fix rounds were asked to fix, once each, in order."""
    found: dict[str, None] = {}
    for event in trace.get("events") or []:
        if event.get("event") != "FixRound":
            continue
        for finding in event.get("findings") or []:
            where = f"{finding.get('path', '?')}:{finding.get('line', 0)}"
            source = finding.get("source") or "review"
            found[f"{where} ({source}) {finding.get('message', '')}".strip()] = None
    return tuple(found)


def prompt_inputs(prompt: str, names: Sequence[str]) -> dict[str, str] | None:
    """The inputs `names` of the last user message of a recorded prompt; None when the
    prompt is not whole (cut by the trace) or does not have them."""
    if _CUT.search(prompt):
        return None
    tail = _TAIL.search(prompt)
    if tail is None:
        return None
    body_end = tail.start()
    first = f"## user\n[[ ## {names[0]} ## ]]\n"
    at = prompt.rfind(first, 0, body_end)
    while at != -1:
        found = _sections(prompt[at + len("## user\n") : body_end], names)
        if found is not None:
            return found
        at = prompt.rfind(first, 0, at)
    return None


def _sections(body: str, names: Sequence[str]) -> dict[str, str] | None:
    """The fields of a user message; None when a value holds a later field's marker (a file
    quoting a prompt), where the split would be a guess."""
    if any(body.count(f"[[ ## {name} ## ]]\n") != 1 for name in names):
        return None
    values: dict[str, str] = {}
    pos = 0
    for i, name in enumerate(names):
        marker = f"[[ ## {name} ## ]]\n"
        if not body.startswith(marker, pos):
            return None
        start = pos + len(marker)
        if i + 1 == len(names):
            values[name] = body[start:]
            return values
        end = body.find(f"\n\n[[ ## {names[i + 1]} ## ]]\n", start)
        if end == -1:
            return None
        values[name] = body[start:end]
        pos = end + 2
    return values


def _step_of(
    prompt: str, fields: Mapping[str, tuple[tuple[str, ...], tuple[str, ...]]]
) -> str | None:
    """The optimizable step whose signature the call's system message describes."""
    system = prompt.split("\n\n## user\n", 1)[0]
    head, _, rest = system.partition("Your output fields are:")
    inputs = tuple(_FIELD.findall(head))
    outputs = tuple(_FIELD.findall(rest.split("\n\n", 1)[0]))
    for step, (ins, outs) in fields.items():
        if ins == inputs and outs == outputs:
            return step
    return None


def listed_paths(listing: str) -> list[str]:
    """The paths of a planner's listing (its unindented lines: `path (size)`)."""
    return [line.split(" (", 1)[0].strip() for line in listing.splitlines()
            if line.strip() and not line[0].isspace()]  # fmt: skip


def _readable(step: str, inputs: Mapping[str, str], answer: str) -> bool:
    """Whether the step's own parser reads `answer` (a plan names a file of its listing)."""
    from memfun_git.errors import LLMUnparseable, OperationFormatError

    if step == "plan":
        from memfun_git.solvers.planning import pick_paths

        return bool(pick_paths(answer, listed_paths(inputs.get("listing", ""))))
    try:
        if step == "solve":
            from memfun_git.operations.parse import parse

            return bool(parse(answer).operations)  # no operation: the task changed nothing
        else:
            from memfun_git.quality.review import parse_review

            parse_review(answer)
    except (OperationFormatError, LLMUnparseable):
        return False
    return True


def _key(sample: Sample) -> str:
    return hashlib.sha256(repr((sample.step, sorted(sample.inputs.items()))).encode()).hexdigest()


def collect(traces: Iterable[Mapping[str, Any]], steps: Sequence[str]) -> Samples:
    """The examples of `steps` in `traces` (see the module), the best and newest first."""
    fields = signature_fields()
    samples = Samples(by_step={step: [] for step in steps})
    seen: set[str] = set()
    for trace in traces:
        samples.tasks += 1
        score = task_score(trace)
        if score <= 0:
            continue
        samples.finished += 1
        commits: list[Mapping[str, Any]] = trace.get("commits") or []
        changed = tuple(dict.fromkeys(p for c in commits for p in c.get("paths") or []))
        fixed = gate_findings(trace)
        found: list[Sample] = []
        calls: list[Mapping[str, Any]] = trace.get("calls") or []
        stepped = [(call, _step_of(str(call.get("prompt") or ""), fields)) for call in calls]
        if score < 1.0:  # after fixes only the committed (last) solving answer is an example
            solving = [i for i, (_, step) in enumerate(stepped) if step == "solve"]
            stepped = [(c, s) for i, (c, s) in enumerate(stepped)
                       if s != "solve" or i == solving[-1]]  # fmt: skip
        for call, step in stepped:
            if step not in samples.by_step:
                continue
            prompt = str(call.get("prompt") or "")
            answer = str(call.get("answer") or "")
            inputs = prompt_inputs(prompt, fields[step][0])
            if inputs is None or _CUT.search(answer):
                samples.cut += 1
                continue
            if call.get("finish_reason") == "length" or not _readable(step, inputs, answer):
                continue  # cut off or refused: the task asked again, this is no example
            found.append(Sample(
                step, inputs, answer, changed, score, str(trace.get("id")),
                call.get("cost_usd"),
                int(call.get("input_tokens") or 0) + int(call.get("output_tokens") or 0), fixed,
            ))  # fmt: skip
        latest = {_key(sample): sample for sample in found}  # the same call again: its last
        for key, sample in latest.items():
            if key not in seen:  # traces come newest first
                seen.add(key)
                samples.by_step[sample.step].append(sample)
    for kept in samples.by_step.values():
        kept.sort(key=lambda s: -s.score)  # stable: the traces' own order (newest first) within
    return samples
