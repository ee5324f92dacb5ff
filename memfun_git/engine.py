"""The engine: `Engine.run(task) -> TaskResult`, the one pipeline every front end calls.

    record the task as running (<git-common-dir>/memfun/memfun.db, key `task/<id>`)
    open its Workspace (branch memfun/<id>, a worktree outside the user's tree)
    make the sandbox and the model session (the session's call events join the stream)
    solve (context-first) → gate (lint → fix → review → polish → commit)
    record the result, emit TaskFinished, return it

The engine knows no terminal: it emits typed events (`memfun_git.events`) to the sink it was
given, and returns a `TaskResult` whatever happened:
- done: the gate committed the change on `memfun/<id>`;
- failed: the model, the gate or the task failed; `error` says why in one line and `attempt`
  names the ref keeping the work (`refs/memfun/attempts/<id>/<n>`); a gate refusal raises
  `GateBlocked` inside the workspace, so the attempt is kept like any failure's;
- interrupted: Ctrl-C or a stop signal; recorded, `TaskFinished` emitted, then re-raised so the
  front end exits 130/143.
What the caller must fix before a task can start (a base that is no commit, a branch that
exists, a missing sandbox, no model configured) is raised as the `MemfunError` it is (exit 2).
The user's tree, index, HEAD and branches are only ever read.
"""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git.agents.decompose import DecomposeFailed
from memfun_git.errors import (
    GateBlocked,
    LLMTruncated,
    LLMUnparseable,
    MemfunError,
    SandboxUnavailable,
    TaskFailed,
)
from memfun_git.events import (
    CommandRan,
    Event,
    Events,
    EventSink,
    FilesGathered,
    OperationDone,
    SetupRan,
    StepStarted,
    TaskFinished,
    TaskStarted,
)
from memfun_git.quality.verdicts import GateOutcome
from memfun_git.tasks import CommitInfo, Task, TaskResult, TaskStatus, UsageReport
from memfun_git.traces import TraceCollector

if TYPE_CHECKING:
    import dspy

    from memfun_git.backends.protocols import RunResult, SandboxAdapter
    from memfun_git.config import Config
    from memfun_git.edits.ops import OpResult
    from memfun_git.gitops.repo import RepoPaths
    from memfun_git.gitops.worktree import Workspace
    from memfun_git.llm.session import LMSession
    from memfun_git.memory.entries import Entry
    from memfun_git.memory.store import Recall
    from memfun_git.solvers.context_first import Solution

__all__ = ["Engine", "commit_message"]

log = logging.getLogger(__name__)

_SUBJECT_CHARS = 72
_BODY_CHARS = 4000
_GATE_TRAILER = re.compile(r"^Memfun-Gate: (.*)$", re.M)


@dataclass
class _Progress:
    """The result's parts as the task's events report them, so a task that fails half-way
    still says what it gathered, applied and ran."""

    files: tuple[str, ...] = ()
    context_bytes: int = 0
    operations: list[OpResult] = field(default_factory=list["OpResult"])
    commands: list[RunResult] = field(default_factory=list["RunResult"])
    gate: GateOutcome | None = None
    commits: tuple[CommitInfo, ...] = ()
    summary: str = ""
    base: str = ""
    attempt: str | None = None
    opened: bool = False
    """The workspace opened: what fails from here on is the task's failure, not bad input."""
    escalations: list[str] = field(default_factory=list[str])
    """Each step up the ladder, with why (shown in the summary)."""

    def __call__(self, event: Event) -> None:
        if isinstance(event, FilesGathered):
            self.files, self.context_bytes = event.paths, event.bytes
        elif isinstance(event, OperationDone):
            self.operations.append(event.result)
        elif isinstance(event, CommandRan):
            self.commands.append(event.result)


@dataclass(frozen=True, slots=True)
class _Run:
    """One task at work in its workspace: what every tier is given."""

    ws: Workspace
    paths: RepoPaths
    task: Task
    session: LMSession
    events: Events
    progress: _Progress
    remembered: Recall

    @property
    def parts(
        self,
    ) -> tuple[Workspace, RepoPaths, Task, LMSession, Events, _Progress, Recall]:
        return (self.ws, self.paths, self.task, self.session, self.events, self.progress,
                self.remembered)  # fmt: skip


class Engine:
    """Runs tasks for one configuration. `lm`: a model to use instead of the configured one
    (tests and `memfun demo` pass a scripted LM); `emit`: where events go; `confirm`: asked
    before the local sandbox runs a command outside [sandbox] allow (None: refused)."""

    def __init__(
        self,
        config: Config,
        *,
        environ: Mapping[str, str] | None = None,
        lm: dspy.LM | None = None,
        emit: EventSink | None = None,
        confirm: Callable[[list[str]], bool] | None = None,
        shared_memory: Sequence[Entry] = (),
    ) -> None:
        self.config = config
        self.environ: Mapping[str, str] = os.environ if environ is None else environ
        self.lm = lm
        self.emit = emit
        self.confirm = confirm
        self.shared_memory = tuple(shared_memory)
        """Entries the tier's knowledge base found for the request (a worker's task):
        recalled with the clone's own memory."""

    def run(self, task: Task) -> TaskResult:
        """Turn `task` into gated commits on `memfun/<id>`; see the module's docstring."""
        from memfun_git.gitops.repo import require_repo

        started = time.monotonic()
        paths = require_repo(task.repo)
        self._require_sandbox()
        progress = _Progress()
        collector = TraceCollector()
        events = Events(progress, collector, *([self.emit] if self.emit is not None else []))
        session = self._session(events.emit)
        workspace = self._workspace(paths, task)
        self._start_record(paths, task, workspace.branch)
        status: TaskStatus = "failed"
        error = ""
        try:
            try:
                with workspace as ws:
                    progress.opened = True
                    progress.base = ws.base_oid
                    self._work(ws, paths, task, session, events, progress)
                status = "done"
            finally:
                progress.attempt = workspace.attempt.ref if workspace.attempt else None
        except KeyboardInterrupt as exc:
            signum = getattr(exc, "signum", None)
            why = f"stopped by signal {signum}" if signum else "interrupted"
            result = self._result(task, workspace, "interrupted", why, progress)
            self._finish(paths, result, started, session, events, collector)
            raise
        except MemfunError as exc:
            if not progress.opened:  # bad input (a base that is no commit...): nothing to keep
                self._record(paths, task, {"status": "failed", "error": _line(str(exc))})
                raise
            error = _line(str(exc))
        except Exception as exc:
            self._record(paths, task, {"status": "failed", "error": f"internal error: {exc}"})
            raise
        result = self._result(task, workspace, status, error, progress)
        return self._finish(paths, result, started, session, events, collector)

    # -- the task's work, inside its workspace --------------------------------------------

    def _work(
        self,
        ws: Workspace,
        paths: RepoPaths,
        task: Task,
        session: LMSession,
        events: Events,
        progress: _Progress,
    ) -> None:
        from memfun_git.sandbox import close_sandbox

        events.emit(TaskStarted(task.id, task.request, ws.branch, ws.base_oid, str(ws.path)))
        if self.config.workspace.setup and not task.follow_up:
            from memfun_git.gitops.environment import run_setup

            events.emit(StepStarted("setup", self.config.workspace.setup))
            done = run_setup(
                self.config.workspace.setup,
                ws.path,
                timeout=self.config.workspace.setup_timeout_seconds,
                environ=self.environ,
            )
            log.info("setup `%s` took %.1f s:\n%s", done.command, done.seconds, done.output)
            events.emit(SetupRan(done.command, done.seconds))
        self._programs(ws, paths, task, session, events)
        run = _Run(ws, paths, task, session, events, progress, self._recall(paths, ws, task))
        if task.skill is not None:
            run = replace(run, remembered=_with_skill(run.remembered, task))
        settings = self.config.workflow
        ladder = (
            _LADDER[task.tier] if task.tier != "auto" or settings.escalate else ("context-first",)
        )
        sandbox: SandboxAdapter | None = None
        failed: list[str] = []
        try:
            for step, tier in enumerate(ladder):
                since, committed = str(ws.repo.head.target), len(ws.commits)
                try:
                    if tier == "workflow":
                        with session.usage.tier_budget("workflow", settings.max_calls):
                            self._workflow(run)
                        return
                    sandbox = sandbox or self._sandbox(ws, paths, task)
                    if tier == "context-first":
                        self._context_first(run, sandbox)
                    else:
                        earlier = "\n".join(progress.escalations)
                        self._explore(run, sandbox, earlier)
                    return
                except _ESCALATES as exc:
                    why = _line(exc.message)
                    if step + 1 == len(ladder):
                        if not failed:
                            raise
                        raise TaskFailed(
                            "; then ".join([*failed, f"the {tier} tier failed too: {why}"]),
                            exc.hint or "the attempts are kept (`memfun show` names them)",
                        ) from exc
                    after = ladder[step + 1]
                    kept = ws.keep_attempt(f"{tier} failed: {why}")
                    # What the failed tier committed (the workflow's merges) is set aside too:
                    # the next tier starts where this one did, and nothing blocked ships.
                    aside = ws.set_aside(since, committed)
                    saved = [r for r in (kept.ref if kept else None, aside) if r]
                    progress.escalations.append(
                        f"{tier} failed ({why}): the {after} tier took over"
                        + (f"; its work is kept as {' and '.join(saved)}" if saved else "")
                    )
                    events.emit(StepStarted("escalate", f"{tier} failed ({why}); {after} next"))
                    failed.append(why if not failed else f"the {tier} tier failed too: {why}")
                    _reset(ws)
        finally:
            if sandbox is not None:
                close_sandbox(sandbox)

    def _context_first(self, run: _Run, sandbox: SandboxAdapter) -> None:
        from memfun_git.solvers.context_first import files_budget, solve

        ws, _, task, session, events, progress, remembered = run.parts

        try:
            solution = solve(
                session,
                ws.path,
                task.request,
                # The one place the solver changes files: the workspace's file operations.
                apply=ws.apply,
                sandbox=sandbox,
                emit=events.emit,
                budget=files_budget(self.config.llm),
                conventions=remembered.conventions,
                boost=remembered.boost,
            )
            progress.summary = solution.summary
            changed = solution.paths
            if not set(ws.dirty_paths()) & set(changed):
                self._nothing_changed(solution)
                return
            self._gate(run, sandbox, changed)
        finally:
            progress.commits = tuple(_commit_info(ws, c.oid) for c in ws.commits)

    def _gate(self, run: _Run, sandbox: SandboxAdapter, changed: Sequence[str]) -> None:
        """Commit the tier's change through the quality gate (`progress.summary` says what it
        is); raises GateBlocked when the gate refuses it."""
        from memfun_git.quality.gate import run_gate

        ws, paths, task, session, events, progress, remembered = run.parts

        outcome = run_gate(
            ws,
            sandbox,
            session,
            self.config.gate,
            request=task.request,
            paths=list(changed),
            message=commit_message(task.request, progress.summary),
            emit=events.emit,
            trust_config_changes=task.trust_config_changes,
            conventions=remembered.conventions,
            environ=self.environ,
        )
        progress.gate = outcome
        if not outcome.passed:
            raise GateBlocked(
                outcome.reason or "the quality gate refused the change",
                "the change is kept as an attempt",
            )
        if outcome.review is not None and outcome.review.lessons:
            self._learn(paths, ws, outcome.review.lessons)

    def _workflow(self, run: _Run) -> None:
        """The workflow tier: the decomposer's DAG, specialists on their own branches, their
        work merged into the task's branch (agents/workflow.py)."""
        from memfun_git.agents.decompose import decompose
        from memfun_git.agents.workflow import Workflow, describe
        from memfun_git.solvers.context import project_files, project_map
        from memfun_git.solvers.planning import ranked_listing

        ws, paths, task, session, events, progress, remembered = run.parts
        events.emit(StepStarted("decompose"))
        cmap = project_map(ws.path)
        files = project_files(ws.path, cmap)
        project = ranked_listing(cmap, task.request, files)
        dag = decompose(
            session, task.request, project=project, conventions=remembered.conventions,
            max_nodes=self.config.workflow.max_nodes,
            lead="debugger" if task.kind == "fix" else None,
        )  # fmt: skip
        events.emit(StepStarted("workflow", f"{len(dag.nodes)} sub-tasks"))
        flow = Workflow(
            paths=paths, task_id=task.id, request=task.request, target=ws, session=session,
            config=self.config, sandbox_for=lambda w: self._sandbox(w, paths, task),
            emit=events.emit, conventions=remembered.conventions, environ=self.environ,
            recall=self._remember(paths, ws),
        )  # fmt: skip
        try:
            result = flow.run(dag)
        finally:
            progress.commits = tuple(_commit_info(ws, c.oid) for c in ws.commits)
        lines = describe(result)
        lines += [f"{node}: {report}" for node, report in result.reports.items()]
        progress.summary = "\n".join([*progress.escalations, *lines])
        if result.findings:
            raise GateBlocked(
                f"the cross-review blocks: {'; '.join(result.findings)}",
                "the merged work is kept as an attempt; the specialists' branches are kept",
            )
        if not result.ok:
            kept = "; ".join(f"{branch} ({why})" for branch, why in result.unmerged)
            raise TaskFailed(
                f"the workflow left work out of the task branch: {kept}",
                "each specialist's branch is kept: merge or drop it by hand, or ask again",
            )

    def _explore(self, run: _Run, sandbox: SandboxAdapter, earlier: str) -> None:
        """The explore tier: the RLM in a sandboxed REPL (solvers/explore.py), its change
        through the gate as the context-first tier's."""
        from memfun_git.solvers.explore import explore

        ws, paths, task, session, events, progress, remembered = run.parts
        settings = self.config.workflow
        if sandbox.name == "local" and not settings.explore_local:
            raise TaskFailed(
                "the explore tier runs model-written Python, which the local sandbox backend "
                "cannot isolate",
                "use bubblewrap, or allow it with [workflow] explore_local = true",
            )
        events.emit(StepStarted("explore", "a Python REPL in the sandbox"))
        try:
            done = explore(
                session, ws.path, task.request, apply=ws.apply, sandbox=sandbox,
                earlier=earlier, conventions=remembered.conventions,
                recall=self._remember(paths, ws), iterations=settings.explore_iterations,
                llm_calls=settings.explore_llm_calls,
                step_seconds=self.config.sandbox.timeout_seconds + 60, emit=events.emit,
            )  # fmt: skip
            progress.summary = "\n".join([*progress.escalations, done.summary])
            changed = done.work.changed
            if not set(ws.dirty_paths()) & set(changed):
                raise TaskFailed(
                    f"the explore tier changed nothing: {_line(done.summary) or 'no summary'}",
                    "say more precisely what to change, and where",
                )
            self._gate(run, sandbox, changed)
        finally:
            progress.commits = tuple(_commit_info(ws, c.oid) for c in ws.commits)

    def _remember(self, paths: RepoPaths, ws: Workspace) -> Callable[[str], str]:
        """What memory says about a query (the specialists' and the explorer's `recall`)."""

        def remember(query: str) -> str:
            from memfun_git.memory.store import recall

            if not self.config.memory.enabled:
                return ""
            found = recall(
                paths, query, base=ws.base_oid, limit=self.config.memory.max_recall,
                user_memory=self.config.memory.user_memory, environ=self.environ,
            )  # fmt: skip
            return found.conventions

        return remember

    def _programs(
        self, ws: Workspace, paths: RepoPaths, task: Task, session: LMSession, events: Events
    ) -> None:
        """The compiled programs the task's base keeps (`.memfun/programs/`), for the
        session's calls; one warning per file that does not load, and the default runs."""
        from memfun_git.optimizer.programs import load_programs

        found = load_programs(ws.path)
        for warning in found.warnings:
            log.warning("%s", warning)
            events.emit(StepStarted("warning", warning))
        session.programs.update(found.states)
        if found.files:
            try:
                self._record(paths, task, {"programs": found.files})
            except MemfunError as exc:
                log.warning("the programs used were not recorded: %s", exc.message)

    def _recall(self, paths: RepoPaths, ws: Workspace, task: Task) -> Recall:
        """What memory and the project's agent instructions say about the request; nothing
        when memory is off or its index cannot be used (a task never fails for memory)."""
        from memfun_git.memory.store import Recall, recall

        if not self.config.memory.enabled:
            return Recall((), "", ())
        try:
            return recall(
                paths,
                task.request,
                base=ws.base_oid,
                limit=self.config.memory.max_recall,
                user_memory=self.config.memory.user_memory,
                environ=self.environ,
                # The user's own MEMORY.md edits (`memory add`, the chat's /remember) apply
                # at once, committed or not, as the hook reads them.
                always=("base", "worktree"),
                extra=self.shared_memory,
            )
        except (OSError, sqlite3.Error) as exc:
            log.warning("memory was not recalled: %s", exc)
            return Recall((), "", ())

    def _learn(self, paths: RepoPaths, ws: Workspace, lessons: Sequence[tuple[str, str]]) -> None:
        """Keep what the review proposed to remember: MEMORY.md on the task's branch (its own
        commit) and the clone's index."""
        from memfun_git.memory.store import learn, open_index

        if not self.config.memory.enabled:
            return
        try:
            with open_index(paths, ws.base_oid, user_memory=False, environ=self.environ) as index:
                learn(ws, index, lessons)
        except (OSError, sqlite3.Error) as exc:
            log.warning("what the review proposed to remember was not kept: %s", exc)

    @staticmethod
    def _nothing_changed(solution: Solution) -> None:
        """A task whose operations changed no file: done when it only ran commands (their
        output is the result), failed when it did nothing at all."""
        from memfun_git.errors import TaskFailed

        if solution.commands:
            return
        said = _line(solution.summary) or "it proposed no operation"
        raise TaskFailed(
            f"the model changed nothing: {said}",
            "say more precisely what to change, and where",
        )

    # -- resources ------------------------------------------------------------------------

    def _require_sandbox(self) -> None:
        """Refuse before any work when bubblewrap is missing: a task's commands and linters
        cannot run, and finding out after the model's calls would waste them."""
        if self.config.sandbox.backend != "bubblewrap":
            return
        from memfun_git.sandbox.bubblewrap import INSTALL_HINT, find_bwrap

        if find_bwrap(self.environ) is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed", INSTALL_HINT)

    def _session(self, observer: Any) -> LMSession:
        from memfun_git.llm.session import LMSession

        if self.lm is not None:
            return LMSession(self.config.llm, self.lm, observer=observer)
        return LMSession.from_config(self.config.llm, self.environ, observer=observer)

    def _workspace(self, paths: RepoPaths, task: Task) -> Workspace:
        from memfun_git.gitops.worktree import Workspace, worktree_root

        return Workspace(
            paths,
            task.id,
            base=task.base,
            root=worktree_root(self.config.workspace.root, self.environ),
            with_changes=task.with_changes,
            resume=task.follow_up,
            environ=self.environ,
            include=self.config.workspace.include,
            link=self.config.workspace.link,
        )

    def _sandbox(self, ws: Workspace, paths: RepoPaths, task: Task) -> SandboxAdapter:
        from memfun_git.sandbox import make_sandbox

        assert paths.workdir is not None
        sandbox_config = self.config.sandbox
        # The linked folders' targets, shown read-only so the links resolve inside; and the
        # skill's folder, whose scripts run only there.
        shown = tuple(str(paths.workdir / name) for name in ws.linked)
        if task.skill is not None and task.skill.folder:
            shown += (task.skill.folder,)
        if shown:
            sandbox_config = replace(
                sandbox_config, extra_ro_paths=(*sandbox_config.extra_ro_paths, *shown)
            )
        return make_sandbox(
            sandbox_config,
            ws.path,
            user_tree=paths.workdir,
            common_dir=paths.common_dir,
            environ=self.environ,
            confirm=self.confirm,
        )

    # -- the result -----------------------------------------------------------------------

    def _result(
        self,
        task: Task,
        workspace: Workspace,
        status: TaskStatus,
        error: str,
        progress: _Progress,
    ) -> TaskResult:
        return TaskResult(
            task=task,
            status=status,
            branch=workspace.branch,
            base=progress.base,
            commits=progress.commits,
            operations=tuple(progress.operations),
            commands=tuple(progress.commands),
            gate=progress.gate,
            files_gathered=progress.files,
            context_bytes=progress.context_bytes,
            summary=progress.summary,
            attempt=progress.attempt if status != "done" else None,
            error=error,
        )

    def _finish(
        self,
        paths: RepoPaths,
        result: TaskResult,
        started: float,
        session: LMSession,
        events: Events,
        collector: TraceCollector,
    ) -> TaskResult:
        result = replace(
            result,
            usage=UsageReport.of(session.usage),
            seconds=time.monotonic() - started,
        )
        try:
            self._record(paths, result.task, result.as_dict())
        except MemfunError as exc:  # the commits exist: the task is not undone by its record
            log.warning("the result of %s was not recorded: %s", result.task.id, exc.message)
        self._trace(paths, result, collector, session)
        events.emit(TaskFinished(result))
        return result

    def _trace(
        self, paths: RepoPaths, result: TaskResult, collector: TraceCollector, session: LMSession
    ) -> None:
        """Keep the task's trace and note its summary on the branch (best effort: a task is
        never failed, nor undone, by its trace)."""
        import pygit2

        from memfun_git.records import Records
        from memfun_git.traces import build_trace, note_trace, save_trace

        trace = build_trace(result, collector.events, session.usage)
        try:
            with Records.open(self.config.backend, paths.common_dir) as store:
                save_trace(store, trace)
        except MemfunError as exc:
            log.warning("the trace of %s was not kept: %s", result.task.id, exc.message)
        try:
            repo = pygit2.Repository(str(paths.common_dir))
            try:
                note_trace(repo, trace, self.environ)
            finally:
                repo.free()
        except (pygit2.GitError, OSError, ValueError) as exc:
            log.warning("the trace of %s was not noted in git: %s", result.task.id, exc)

    def _start_record(self, paths: RepoPaths, task: Task, branch: str) -> None:
        """Record the task as running, with this process's id (a record left "running" by a
        process that is gone was interrupted). A follow-up keeps the earlier runs' results
        under "runs", oldest first."""
        from memfun_git.records import Records, clone_name

        value: dict[str, Any] = {
            "status": "running",
            "branch": branch,
            "base": task.base,
            "started": time.time(),
            "origin": task.origin,
            "pid": os.getpid(),
            "request": task.request,
            "error": "",
            "clone": clone_name(paths.common_dir),
        }
        with Records.open(self.config.backend, paths.common_dir) as store:
            previous = store.get(f"task/{task.id}")
        if previous is not None and task.follow_up:
            earlier = {k: v for k, v in previous.value.items() if k != "runs"}
            value["runs"] = [*previous.value.get("runs", []), earlier]
            value["first_request"] = previous.value.get(
                "first_request", previous.value.get("request", "")
            )
        self._record(paths, task, value)

    def _record(self, paths: RepoPaths, task: Task, value: dict[str, Any]) -> None:
        from memfun_git.records import Records

        with Records.open(self.config.backend, paths.common_dir) as store:
            previous = store.get(f"task/{task.id}")
            merged = {**(previous.value if previous else {}), **value}
            merged.setdefault("id", task.id)
            merged.setdefault("request", task.request)
            if value.get("status") != "running" and value.get("base"):
                # The commit the task's branch first started from: `memfun diff` shows the
                # whole task against it, follow-ups included.
                merged.setdefault("first_base", value["base"])
            merged["updated"] = time.time()
            store.put(f"task/{task.id}", merged)


_ESCALATES: tuple[type[MemfunError], ...] = (
    GateBlocked, TaskFailed, LLMTruncated, LLMUnparseable, DecomposeFailed,
)  # fmt: skip
"""Failures of a tier that the next one may overcome (a cut-off or unreadable answer, a change
the gate refused or the workflow could not merge, no plan, nothing changed); an unreachable
model or a spent budget is not one of them."""
_LADDER: dict[str, tuple[str, ...]] = {
    "auto": ("context-first", "workflow", "explore"),
    "context-first": ("context-first",),
    "workflow": ("workflow",),
    "explore": ("explore",),
}
"""The tiers a task's `tier` tries, in order (auto: only with [workflow] escalate)."""


def _with_skill(remembered: Recall, task: Task) -> Recall:
    """What is remembered, and the instructions of the skill the task follows after it."""
    from memfun_git.redact import redact

    assert task.skill is not None
    skill = task.skill
    scripts = f" (its scripts are in {skill.folder}/scripts, runnable in the sandbox)" if (
        Path(skill.folder, "scripts").is_dir()
    ) else ""  # fmt: skip
    block = f"Follow the skill {skill.name}{scripts}:\n{redact(skill.instructions.strip())}"
    text = f"{remembered.conventions}\n\n{block}" if remembered.conventions else block
    return replace(remembered, conventions=text)


def _reset(ws: Workspace) -> None:
    """Put the task's worktree back at its branch's tip: what a failed tier left uncommitted
    goes (ignored files, the linked and copied ones among them, stay)."""
    import pygit2

    strategy = pygit2.enums.CheckoutStrategy
    ws.repo.checkout_head(strategy=strategy.FORCE | strategy.REMOVE_UNTRACKED)
    ws.touched.clear()


def commit_message(request: str, summary: str) -> str:
    """The gate's commit message: the request's first line as the subject (at most 72
    characters), the model's own account as the body."""
    first = next((line.strip() for line in request.splitlines() if line.strip()), "memfun task")
    if len(first) > _SUBJECT_CHARS:
        first = first[: _SUBJECT_CHARS - 1].rstrip() + "…"
    subject = first[:1].upper() + first[1:]
    body = summary.strip()
    if len(body) > _BODY_CHARS:
        body = body[: _BODY_CHARS - 1].rstrip() + "…"
    return f"{subject}\n\n{body}\n" if body else f"{subject}\n"


def _commit_info(ws: Workspace, oid: str) -> CommitInfo:
    import pygit2

    commit = ws.repo[oid].peel(pygit2.Commit)
    found = _GATE_TRAILER.search(commit.message)
    result = next(c for c in ws.commits if c.oid == oid)
    return CommitInfo(
        oid=oid,
        subject=commit.message.split("\n", 1)[0],
        paths=result.paths,
        gate=found.group(1).strip() if found else "",
        signed=result.signed,
    )


def _line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0].strip() if lines else ""
