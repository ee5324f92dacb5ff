"""The workflow tier on git branches: each sub-task of the decomposer's DAG is done by its
specialist on a branch of its own, and the cross-agent reviewer merges those branches into the
task's branch.

- A sub-task works on `memfun-agents/<task>/<sub-task id>` (ids are unique in a plan; two
  coders are two ids), in a worktree of its own, started from the task's base, from its one
  predecessor's tip, or from a commit joining its predecessors' tips (gitops/merge.py).
  Sub-tasks run as the scheduler starts them (schedule.py: each when its dependencies end,
  at most [workflow] max_parallel at once).
- A writing specialist (coder, tester, debugger) solves its sub-task with the context-first
  solver in its worktree and commits only through the quality gate. A read-only specialist
  answers the same way but its file operations are refused ("may not write"), never applied:
  its words are its report, handed to the sub-tasks after it and kept in the result.
- The reviewer merges the writing specialists' branches into the task branch in the plan's
  order, each as a merge commit naming the branch it joins. A branch that conflicts with what
  is merged already is first settled by the reviewer (step "resolve"): shown the conflicted
  files with their regions marked, it answers with edit operations on them, applied in memory
  with the fuzzy matcher; an answer refused (not edits of those files, a region left, a quoted
  secret) is asked for once more with the refusal. Unsettled, the branch goes back to its
  specialist as a revision round (at most [workflow] revision_rounds), started from the task
  branch as merged so far with the conflicted paths as feedback, on
  `memfun-agents/<task>/<id>-r<round>`. What still cannot be merged is named in
  the result with its branch (kept, never dropped): the workflow then fails.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from memfun_git.agents.dag import Dag, SubTask
from memfun_git.agents.schedule import NodeOutcome, run_dag
from memfun_git.agents.specialists import Specialist, specialist
from memfun_git.errors import GateBlocked, LLMError, MemfunError, TaskFailed
from memfun_git.redact import redact

if TYPE_CHECKING:
    from memfun_git.backends.protocols import SandboxAdapter
    from memfun_git.config import Config
    from memfun_git.events import EventSink
    from memfun_git.gitops.merge import Conflict
    from memfun_git.gitops.repo import RepoPaths
    from memfun_git.gitops.worktree import Workspace
    from memfun_git.llm.session import LMSession
    from memfun_git.operations import Operation

__all__ = ["AgentRun", "Unsettled", "Workflow", "WorkflowResult", "describe", "settle"]


@dataclass(frozen=True, slots=True)
class AgentRun:
    node_id: str
    specialist: str
    branch: str
    base: str
    tip: str
    """The branch's last commit (its base when it committed nothing)."""
    commits: tuple[str, ...] = ()
    summary: str = ""
    """The specialist's own account (a read-only specialist's report)."""
    refused: int = 0
    """File operations refused because the specialist may not write."""
    round: int = 0
    paths: tuple[str, ...] = ()
    """The paths its work changed."""


@dataclass
class WorkflowResult:
    dag: Dag
    outcomes: dict[str, NodeOutcome]
    merged: list[str] = field(default_factory=list[str])
    """Branches merged into the task branch, in order."""
    unmerged: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    """(branch, why) of work that is not in the task branch (kept on its branch)."""
    reports: dict[str, str] = field(default_factory=dict[str, str])
    """Read-only specialists' reports, by sub-task id."""
    findings: list[str] = field(default_factory=list[str])
    """What the cross-review still blocks on after the revision rounds."""

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes.values()) and not self.unmerged and not self.findings


SandboxFor = Callable[["Workspace"], "SandboxAdapter"]


class Workflow:
    """One task's workflow: `run(dag)` with the task's own workspace (`memfun/<id>`) open."""

    def __init__(
        self,
        *,
        paths: RepoPaths,
        task_id: str,
        request: str,
        target: Workspace,
        session: LMSession,
        config: Config,
        sandbox_for: SandboxFor,
        emit: EventSink,
        conventions: str = "",
        environ: Mapping[str, str] | None = None,
        recall: Callable[[str], str] | None = None,
    ) -> None:
        self.recall = recall
        """Memory's answer to a query (the specialists' `recall` tool)."""
        self.paths = paths
        self.task_id = task_id
        self.request = request
        self.target = target
        self.session = session
        self.config = config
        self.sandbox_for = sandbox_for
        self.emit = emit
        self.conventions = conventions
        self.environ = environ
        self._git = threading.Lock()
        """Held while a worktree is added or removed (git's own files are shared)."""

    def run(self, dag: Dag) -> WorkflowResult:
        from memfun_git.events import AgentFinished, WorkflowPlanned

        self.emit(WorkflowPlanned(tuple(
            (n.id, n.specialist, n.request, tuple(n.after)) for n in dag.nodes
        )))  # fmt: skip

        def finished(node: SubTask, outcome: NodeOutcome) -> None:
            if outcome.status == "skipped":  # never started: _attempt says the rest
                self.emit(AgentFinished(node.id, node.specialist, "skipped", outcome.error))

        outcomes = run_dag(
            dag, self._work, max_parallel=self.config.workflow.max_parallel, on_finish=finished
        )
        result = WorkflowResult(dag, outcomes)
        for node_id in dag.order():
            outcome = outcomes[node_id]
            if not outcome.ok:
                why = f"{outcome.status}: {outcome.error}"
                result.unmerged.append((_branch(self.task_id, node_id), why))
                continue
            run: AgentRun = outcome.value
            if not specialist(run.specialist).may_write:
                result.reports[node_id] = run.summary
                continue
            self._merge(dag.node(node_id), run, result)
        if result.merged and not result.unmerged:
            self._cross_review(dag, result)
        return result

    def _cross_review(self, dag: Dag, result: WorkflowResult) -> None:
        """Review the merged work against the whole request (one call, step "cross-review");
        a blocking finding goes back to the specialist whose work changed its file, on top of
        the merged work, within the revision rounds; what still blocks is the result's."""
        import pygit2

        from memfun_git.events import StepStarted
        from memfun_git.quality.review import review_change

        if self.config.gate.review == "off":
            return
        repo = self.target.repo
        rounds = self.config.workflow.revision_rounds
        for round_ in range(rounds + 1):
            self.emit(StepStarted("cross-review", f"round {round_ + 1}"))
            base = repo[self.target.base_oid].peel(pygit2.Commit)
            head = repo.head.peel(pygit2.Commit)
            diff = repo.diff(base, head).patch or ""
            review = review_change(
                self.session, self.request, diff, conventions=self.conventions,
                step="cross-review",
            )  # fmt: skip
            blocking = review.over(self.config.gate.severity_threshold)
            if not blocking or self.config.gate.review != "block":
                return
            said = "; ".join(f.render() for f in blocking)
            owner = self._owner(dag, result, blocking[0].path)
            if round_ == rounds or owner is None:
                result.findings = [f.render() for f in blocking]
                return
            node, last = owner
            feedback = (
                "The reviewer of everyone's merged work found, in what you changed: "
                f"{said}. Fix exactly that, on top of the merged work as it is now."
            )
            try:
                run = self._attempt(
                    node, [], base=str(head.id), feedback=feedback, round_=last.round + 1
                )
            except MemfunError as exc:
                result.findings = [f.render() for f in blocking]
                result.findings.append(f"{node.id}'s revision failed: {exc.message}")
                return
            result.outcomes[node.id] = NodeOutcome(node.id, "done", value=run)
            self._merge(node, run, result)

    def _owner(
        self, dag: Dag, result: WorkflowResult, path: str
    ) -> tuple[SubTask, AgentRun] | None:
        """The last writing sub-task whose work changed `path` (else the last writer)."""
        writers = [
            (dag.node(i), result.outcomes[i].value)
            for i in dag.order()
            if result.outcomes[i].ok and specialist(dag.node(i).specialist).may_write
        ]
        touched = [(n, r) for n, r in writers if path in r.paths]
        found = touched or writers
        return found[-1] if found else None

    # -- one sub-task ------------------------------------------------------------------------

    def _work(self, node: SubTask, given: dict[str, NodeOutcome]) -> AgentRun:
        before = [given[a].value for a in node.after]
        return self._attempt(node, before, base="", feedback="", round_=0)

    def _attempt(
        self, node: SubTask, before: list[AgentRun], *, base: str, feedback: str, round_: int
    ) -> AgentRun:
        from memfun_git.events import AgentFinished, AgentStarted
        from memfun_git.gitops.worktree import Workspace, worktree_root

        who = specialist(node.specialist)
        try:
            start = base or self._start(node, before)
        except MemfunError as exc:
            self.emit(AgentFinished(node.id, who.name, "failed", exc.message, round=round_))
            raise
        agent = node.id if round_ == 0 else f"{node.id}-r{round_}"
        workspace = Workspace(
            self.paths, self.task_id, base=start, root=worktree_root(
                self.config.workspace.root, self.environ),
            environ=self.environ, kind="specialist", agent=agent,
            include=self.config.workspace.include, link=self.config.workspace.link,
        )  # fmt: skip
        with self._git:
            ws = workspace.__enter__()
        self.emit(AgentStarted(node.id, who.name, node.request, ws.branch, round_))
        try:
            run = self._solve(ws, who, node, before, feedback, start, round_)
        except BaseException as exc:
            with self._git:  # the attempt is kept, as for any task
                workspace.__exit__(type(exc), exc, exc.__traceback__)
            why = exc.message if isinstance(exc, MemfunError) else type(exc).__name__
            self.emit(AgentFinished(node.id, who.name, "failed", why, round=round_))
            raise
        with self._git:
            workspace.__exit__(None, None, None)
        self.emit(AgentFinished(node.id, who.name, "done", commits=len(run.commits), round=round_))
        return run

    def _solve(
        self,
        ws: Workspace,
        who: Specialist,
        node: SubTask,
        before: list[AgentRun],
        feedback: str,
        start: str,
        round_: int,
    ) -> AgentRun:
        from memfun_git.agents.loop import Tools, run_loop
        from memfun_git.agents.web import Web
        from memfun_git.engine import commit_message
        from memfun_git.quality.gate import run_gate
        from memfun_git.sandbox import close_sandbox

        request = self._request(node, before, feedback)
        sandbox = self.sandbox_for(ws)
        try:
            web = (
                Web(self.config.web, self.environ or {})
                if who.allows("web_search") or who.allows("web_fetch")
                else None
            )
            tools = Tools(
                ws.path, who, apply=ws.apply, sandbox=sandbox, recall=self.recall, web=web
            )
            done = run_loop(
                self.session, who, request, tools, conventions=self.conventions, emit=self.emit
            )
            if who.may_write:
                changed = [p for p in done.changed if p in set(ws.dirty_paths())]
                if not changed:
                    why = "reached its step cap" if done.capped else "changed nothing"
                    raise TaskFailed(f"{node.id} ({who.name}) {why}", "")
                outcome = run_gate(
                    ws, sandbox, self.session, self.config.gate, request=request,
                    paths=changed, emit=self.emit,
                    message=commit_message(f"{node.id}: {node.request}", done.summary),
                    conventions=self.conventions, environ=self.environ,
                )  # fmt: skip
                if not outcome.passed:
                    raise GateBlocked(outcome.reason or "the quality gate refused it", "")
        finally:
            close_sandbox(sandbox)
        commits = tuple(c.oid for c in ws.commits)
        return AgentRun(
            node.id, who.name, ws.branch, start, commits[-1] if commits else start, commits,
            done.summary, done.refused, round_, tuple(done.changed),
        )  # fmt: skip

    def _start(self, node: SubTask, before: list[AgentRun]) -> str:
        from memfun_git.gitops.commit import Trailers
        from memfun_git.gitops.merge import merged_base

        tips = [r.tip for r in before if specialist(r.specialist).may_write]
        if not tips:
            return self.target.base_oid
        if len(tips) == 1:
            return tips[0]
        names = [r.branch for r in before if specialist(r.specialist).may_write]
        with self._git:
            import pygit2

            repo = pygit2.Repository(str(self.paths.common_dir))
            try:
                trailers = Trailers(self.task_id, "reviewer", "n/a (a merge)")
                joined = merged_base(repo, tips, trailers, names, environ=self.environ)
            finally:
                repo.free()
        if not joined.oid:
            raise TaskFailed(
                f"{node.id} cannot start: {', '.join(names)} conflict in "
                f"{', '.join(joined.conflicts)}",
                "",
            )
        return joined.oid

    def _request(self, node: SubTask, before: list[AgentRun], feedback: str) -> str:
        parts = [node.request, f"This is one part of the task: {self.request}"]
        reports = [
            f"{r.node_id} ({r.specialist}) reported:\n{r.summary}"
            for r in before
            if not specialist(r.specialist).may_write and r.summary
        ]
        if reports:
            parts.append("What the specialists before you found:\n\n" + "\n\n".join(reports))
        if feedback:
            parts.append(feedback)
        return "\n\n".join(parts)

    # -- the reviewer's merges --------------------------------------------------------------

    def _merge(self, node: SubTask, run: AgentRun, result: WorkflowResult) -> None:
        from memfun_git.events import BranchMerged
        from memfun_git.gitops.commit import Trailers
        from memfun_git.gitops.merge import merge_into

        trailers = Trailers(self.task_id, "reviewer", "n/a (a merge of gated commits)")
        rounds = self.config.workflow.revision_rounds
        while True:
            message = f"memfun: merge {run.branch} ({run.specialist}: {node.request})"
            done = merge_into(
                self.target.repo, run.tip, message[:200], trailers, environ=self.environ,
                resolve=lambda found, run=run: self._resolve(node, run, found, result.merged),
            )  # fmt: skip
            self.emit(BranchMerged(run.branch, done.oid, done.resolved, done.conflicts))
            if done.oid or done.already:
                result.merged.append(run.branch)
                if done.oid:
                    self._record(run, done.oid)
                return
            if run.round >= rounds:
                why = f"conflicts in {', '.join(done.conflicts)} after {run.round} revision(s)"
                result.unmerged.append((run.branch, why))
                return
            feedback = (
                f"Your earlier change on {run.branch} conflicted with the others' work, "
                f"already merged, in {', '.join(done.conflicts)}. Make your part of the change "
                "again on top of their work as it is now, keeping theirs."
            )
            head = str(self.target.repo.head.target)
            try:
                run = self._attempt(node, [], base=head, feedback=feedback, round_=run.round + 1)
            except MemfunError as exc:
                result.unmerged.append((run.branch, f"its revision failed: {exc.message}"))
                return

    def _resolve(
        self, node: SubTask, run: AgentRun, conflicts: Sequence[Conflict], merged: list[str]
    ) -> dict[str, str] | None:
        """The reviewer's settlement of a merge's conflicts (their texts by path), or None."""
        from memfun_git.events import StepStarted
        from memfun_git.llm.signatures import ResolveConflicts
        from memfun_git.operations import FORMAT_INSTRUCTIONS, parse

        self.emit(StepStarted("resolve", f"{run.branch}: {', '.join(c.path for c in conflicts)}"))
        work = (
            f"The work merged so far: {', '.join(merged) or 'none'}.\n"
            f"The work being merged: {run.branch}, {run.specialist}: {node.request}"
        )
        files = "\n\n".join(f"### {c.path}\n{c.text}" for c in conflicts)
        feedback = "(none)"
        for _ in range(2):
            try:
                answer = self.session.text(
                    "resolve", ResolveConflicts, request=redact(self.request),
                    work=redact(work), files=redact(files), feedback=feedback,
                    format=FORMAT_INSTRUCTIONS,
                )  # fmt: skip
            except LLMError:  # cut off, unreadable, unreachable: a revision round instead
                return None
            try:
                return settle(conflicts, parse(answer).operations)
            except MemfunError as exc:
                feedback = f"Your answer was refused: {exc.message}"
        return None

    def _record(self, run: AgentRun, merge: str) -> None:
        """The specialist's commits and the merge, in the task's commits (what the result
        and `memfun show` list), each with the paths it changed."""
        import pygit2

        from memfun_git.gitops.commit import CommitResult

        known = {c.oid for c in self.target.commits}
        repo = self.target.repo
        for oid in (*run.commits, merge):
            if oid in known:
                continue
            commit = repo[oid].peel(pygit2.Commit)
            diff = repo.diff(commit.parents[0], commit) if commit.parents else None
            paths = tuple(sorted({d.new_file.path for d in diff.deltas})) if diff else ()
            self.target.commits.append(CommitResult(oid=oid, paths=paths, signed=False))


class Unsettled(MemfunError):
    """The reviewer's answer does not settle a merge's conflicts (the message says why)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, "")


def settle(conflicts: Sequence[Conflict], operations: Sequence[Operation]) -> dict[str, str]:
    """The conflicted files with the reviewer's edits applied (fuzzy-matched, as any edit);
    `Unsettled` (or the matcher's EditError) when the edits are not all edits of those files,
    quote a hidden secret, miss, or leave a conflicting region."""
    from memfun_git.edits.match import apply_edit
    from memfun_git.gitops.merge import MARKS
    from memfun_git.operations import EditFile, describe
    from memfun_git.redact import MARKER

    texts = {c.path: c.text for c in conflicts}
    named = ", ".join(texts)
    if not operations:
        raise Unsettled(f"no edit given: replace each conflicting region of {named}")
    for op in operations:
        if not isinstance(op, EditFile) or op.path not in texts:
            raise Unsettled(f"only edits of {named} settle this merge, not {describe(op)}")
        if MARKER in op.search or MARKER in op.replace:
            raise Unsettled(f"the edit of {op.path} quotes {MARKER}: leave those lines")
        texts[op.path] = apply_edit(texts[op.path], op.search, op.replace).text
    left = [path for path, text in texts.items() if any(m in text for m in MARKS)]
    if left:
        raise Unsettled(
            f"conflicting regions are left in {', '.join(left)}: replace each, its three "
            "marker lines included"
        )
    return texts


def _branch(task_id: str, node_id: str) -> str:
    from memfun_git.gitops.branches import Work

    return Work(task_id, "specialist", node_id).branch


def describe(result: WorkflowResult) -> list[str]:
    """One line per sub-task, for a summary."""
    lines: list[str] = []
    for node_id in result.dag.order():
        outcome = result.outcomes[node_id]
        run: Any = outcome.value
        what = f"{run.specialist}, {len(run.commits)} commit(s)" if outcome.ok else outcome.error
        lines.append(f"{node_id}: {outcome.status} ({what})")
    return lines
