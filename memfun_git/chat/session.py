"""The chat's engine side, with no terminal in it: what `memfun` with no arguments does with
each line (cli/chat.py reads the lines and draws the replies).

- A message is routed (`route`): plainly a task (it starts with a verb such as add, fix,
  refactor) or plainly something to remember ("always …", "I prefer …", "remember …") without
  a model call; anything else by one cheap call (step "triage", signature `Triage`): task,
  project (a question about the project, answered as `memfun ask` answers), answer (a general
  question), web (a web search, then an answer from what it found, fenced as written by
  others), remember.
- A task runs through `Engine.run`, its events to the front end's renderer and to the
  session's `WorkflowView` (/agents, /workflow). The next task message continues the last
  done task's branch (a follow-up, as `memfun run --task`) until /clear starts afresh. After
  a task, the entries its branch added to MEMORY.md are returned as what it remembered.
- Slash commands (`command`): /help /remember /memory /forget /context /traces /agents
  /workflow /model /clear; each returns (text, style) lines. /remember, /memory and /forget
  call the memory functions `memory add|list|forget` call.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git import config
from memfun_git.cli.views import WorkflowView
from memfun_git.errors import UsageError
from memfun_git.gitops.repo import require_repo
from memfun_git.redact import redact

if TYPE_CHECKING:
    from memfun_git.events import Event
    from memfun_git.llm.observe import LMObserver
    from memfun_git.llm.session import LMSession
    from memfun_git.memory.entries import Entry
    from memfun_git.skills.catalog import Catalog, Skill
    from memfun_git.tasks import TaskResult

__all__ = ["COMMANDS", "ROUTES", "ChatSession", "Line", "TaskTurn"]

Line = tuple[str, str | None]
ROUTES = ("task", "project", "answer", "web", "remember")
COMMANDS = {
    "/help": "Show the commands",
    "/remember": "/remember <text>: keep a preference or project fact (MEMORY.md)",
    "/memory": "What is remembered here",
    "/forget": "/forget <id>: remove a memory entry",
    "/context": "Rescan the project's files (the code map)",
    "/traces": "The recent tasks' traces (memfun traces show <id> for one)",
    "/agents": "The specialists of the running (or last) workflow",
    "/workflow": "The workflow's plan and state, and the ladder's climbs",
    "/model": "/model [name]: show the model, or switch it for this session",
    "/clear": "Clear the conversation; the next request starts a new task",
}
_REMEMBER = ("remember ", "remember:", "always ", "never ", "i always ", "i never ",
             "i prefer ", "we always ", "we never ", "we prefer ", "from now on")  # fmt: skip
_PREFERENCE = ("always ", "never ", "i always ", "i never ", "i prefer ", "we always ",
               "we never ", "we prefer ", "from now on")  # fmt: skip
_RECENT_CHARS = 6_000


@dataclass
class TaskTurn:
    result: TaskResult
    learned: list[Entry] = field(default_factory=list["Entry"])


class ChatSession:
    """One chat in the repository holding `start` (see the module)."""

    def __init__(
        self, start: Path, environ: Mapping[str, str] | None = None, *, lm: Any = None
    ) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self.paths = require_repo(start)
        if self.paths.workdir is None:
            raise UsageError("the chat needs a working tree", "start it in a checkout")
        self.workdir: Path = self.paths.workdir
        self.overrides: dict[str, Any] = {}
        self.config = config.load(self.workdir, environ=self.environ)
        self.lm = lm
        """A DSPy LM to use instead of the configured one (tests)."""
        self.task_id: str | None = None
        """The task the next task message continues (None: a new one)."""
        self.recent: list[tuple[str, str]] = []
        self.view = WorkflowView()
        self._catalog: Catalog | None = None

    # -- messages ----------------------------------------------------------------------------

    def route(self, message: str, observer: LMObserver | None = None) -> str:
        """Where `message` goes: one of ROUTES (see the module)."""
        from memfun_git.tasks import plainly_a_task

        lower = " ".join(message.lower().split())
        if plainly_a_task(lower):
            return "task"
        if lower.startswith(_REMEMBER):
            return "remember"
        from memfun_git.llm.signatures import Triage

        listed = "\n".join(f"{s.name}: {s.description}" for s in self.catalog.skills.values())
        said = self._session(observer).text(
            "triage", Triage, message=redact(message), recent=self._recent(),
            skills=listed or "(none)",
        )  # fmt: skip
        words = [w.strip("`'\".,:").lower() for w in said.split()[:2]]
        if len(words) == 2 and words[0] == "skill" and words[1] in self.catalog.skills:
            return f"skill:{words[1]}"
        return words[0] if words and words[0] in ROUTES else "project"

    def answer(
        self,
        message: str,
        route: str,
        observer: LMObserver | None = None,
        skill: Skill | None = None,
    ) -> str:
        """The answer to a question (route project, answer or web; a question-mode skill's
        answer, its instructions in the question, as project), in Markdown."""
        session = self._session(observer)
        if route == "project" or skill is not None:
            from memfun_git.cli.skills import skill_question
            from memfun_git.solvers.direct import answer_question

            name = self.config.project.name or self.workdir.name
            question = skill_question(skill, message) if skill is not None else message
            text = answer_question(session, self.workdir, question, name).answer
        else:
            from memfun_git.llm.signatures import ChatAnswer

            found = self._web(redact(message)) if route == "web" else "(no search was made)"
            text = str(
                session.predict(
                    "chat", ChatAnswer, message=redact(message), recent=self._recent(),
                    found=found,
                ).answer
            )  # fmt: skip
        text = redact(text)
        self._said(message, text)
        return text

    def _web(self, query: str) -> str:
        from memfun_git.agents.web import Web, WebUnreachable
        from memfun_git.github.webhook import sanitize_untrusted

        try:
            hits = Web(self.config.web, self.environ).search(query)
        except WebUnreachable as exc:
            return f"(the web is not reachable: {exc.message}; answer without it, and say so)"
        listed = "\n".join(f"{n}. {h.title} — {h.url}\n   {h.snippet}" for n, h in
                           enumerate(hits, 1)) or "no result"  # fmt: skip
        return f"<untrusted>\n{sanitize_untrusted(listed)}\n</untrusted>"

    def remember(self, text: str) -> Entry:
        """Keep `text` in the working tree's MEMORY.md and the index (as `memory add`)."""
        from memfun_git.memory.store import add_entry

        clean = text.strip()
        for prefix in ("remember that ", "remember: ", "remember:", "remember "):
            if clean.lower().startswith(prefix):
                clean = clean[len(prefix) :].strip()
                break
        if not clean:
            raise UsageError("there is nothing to remember", "/remember <text>")
        kind = "preference" if text.strip().lower().startswith(_PREFERENCE) else "fact"
        entry = add_entry(self.paths, clean, kind, environ=self.environ)
        self._said(text, f"Remembered: {entry.text}")
        return entry

    def run_task(
        self,
        message: str,
        emit: Callable[[Event], None],
        confirm: Callable[[list[str]], bool] | None = None,
        skill: Skill | None = None,
    ) -> TaskTurn:
        """Run `message` as a task (a follow-up of the last done one, when there is one),
        following `skill` when given."""
        from memfun_git.engine import Engine
        from memfun_git.events import Events
        from memfun_git.tasks import SkillUse, Task

        use = SkillUse(skill.name, skill.instructions, str(skill.folder)) if skill else None
        if self.task_id is not None:
            task = Task(self.task_id, message, self.workdir, origin="chat", follow_up=True,
                        skill=use)  # fmt: skip
        else:
            task = Task.create(message, self.workdir, origin="chat", skill=use)
        self.view = WorkflowView()
        events = Events(self.view, emit)
        engine = Engine(self.config, environ=self.environ, lm=self.lm, emit=events.emit,
                        confirm=confirm)  # fmt: skip
        try:
            result = engine.run(task)
        finally:
            self.recent.append(("you", message))
        if result.ok:
            self.task_id = task.id
        self.recent.append(("memfun", result.summary if result.ok else f"failed: {result.error}"))
        return TaskTurn(result, self._learned(result))

    def _learned(self, result: TaskResult) -> list[Entry]:
        from memfun_git.memory.store import branch_entries

        if not result.ok or not result.commits or not self.config.memory.enabled:
            return []
        first = result.commits[0].oid
        try:
            import pygit2

            repo = pygit2.Repository(str(self.paths.common_dir))
            try:
                before = repo[first].peel(pygit2.Commit).parents
                start = str(before[0].id) if before else result.base
            finally:
                repo.free()
            return branch_entries(self.paths, start, result.branch)
        except Exception:  # what a turn learned is news, never a failure
            return []

    @property
    def catalog(self) -> Catalog:
        """The skills found for this repository (read once per chat)."""
        if self._catalog is None:
            from memfun_git.skills.catalog import discover

            self._catalog = discover(self.workdir, self.environ)
        return self._catalog

    def skill(self, line: str) -> tuple[Skill, str] | None:
        """(the skill, the request) when `line` is `/<skill name> <request>`."""
        name, _, rest = line.strip().partition(" ")
        found = self.catalog.get(name.removeprefix("/")) if name.startswith("/") else None
        return (found, rest.strip()) if found is not None else None

    # -- slash commands ----------------------------------------------------------------------

    def command(self, line: str) -> list[Line]:
        name, _, arg = line.strip().partition(" ")
        arg = arg.strip()
        handlers: dict[str, Callable[[str], list[Line]]] = {
            "/help": self._help, "/remember": self._remember, "/memory": self._memory,
            "/forget": self._forget, "/context": self._context, "/traces": self._traces,
            "/agents": lambda _a: self.view.agents(), "/workflow": lambda _a: self.view.workflow(),
            "/model": self._model, "/clear": self._clear,
        }  # fmt: skip
        handler = handlers.get(name.lower())
        if handler is None:
            return [(f"{name} is not a command: /help lists them", "red")]
        return handler(arg)

    def _help(self, _arg: str) -> list[Line]:
        lines: list[Line] = [("Commands:", "bold")]
        lines += [(f"  {name:<10} {what}", None) for name, what in COMMANDS.items()]
        if self.catalog.skills:
            names = ", ".join(sorted(self.catalog.skills))
            lines.append((f"Skills, as /<name> <request>: {names}", None))
        lines.append(("Anything else is a request: a change becomes a task (commits on its "
                      "own branch), a question gets an answer. Ctrl-C stops a task; Ctrl-D "
                      "leaves.", "dim"))  # fmt: skip
        return lines

    def _remember(self, arg: str) -> list[Line]:
        entry = self.remember(arg)
        return [(f"Remembered {entry.id}: {entry.text} (in .memfun/MEMORY.md: commit it to "
                 "share it)", "green")]  # fmt: skip

    def _memory(self, _arg: str) -> list[Line]:
        from memfun_git.memory.store import open_index

        with open_index(self.paths, user_memory=self.config.memory.user_memory) as index:
            entries = index.all()
        if not entries:
            return [("Nothing remembered yet: /remember <text>.", None)]
        return [(redact(f"{e.id}  {e.text}" + (f"  ({e.section})" if e.section else "")), None)
                for e in entries]  # fmt: skip

    def _forget(self, arg: str) -> list[Line]:
        from memfun_git.memory.store import forget_entry

        if not arg:
            raise UsageError("name the entry to forget", "/memory shows the ids: /forget <id>")
        removed = forget_entry(self.paths, arg)
        return [(f"Forgot {removed.id if removed else arg}: it is not recalled here again.",
                 "green")]  # fmt: skip

    def _context(self, _arg: str) -> list[Line]:
        from memfun_git.codemap import build

        began = time.monotonic()
        cmap = build(self.workdir)
        files = len(cmap.files)
        names = sum(len(f.symbols) for f in cmap.files)
        seconds = time.monotonic() - began
        return [(f"Rescanned the project: {files} files, {names} definitions "
                 f"({seconds:.1f} s)", "green")]  # fmt: skip

    def _traces(self, _arg: str) -> list[Line]:
        from memfun_git.records import Records, clone_name
        from memfun_git.traces import traced_tasks

        with Records.open(self.config.backend, self.paths.common_dir) as store:
            tasks = traced_tasks(store, clone_name(self.paths.common_dir))[:10]
        if not tasks:
            return [("No traces yet: each task keeps one.", None)]
        lines: list[Line] = []
        for t in tasks:
            usage = t.get("usage") or {}
            lines.append((redact(
                f"{t.get('id')}  {t.get('status')}  {usage.get('calls', 0)} calls  "
                f"{float(t.get('seconds') or 0):.1f} s  {str(t.get('request', ''))[:60]}"
            ), None))  # fmt: skip
        lines.append(("memfun traces show <id> shows one whole.", "dim"))
        return lines

    def _model(self, arg: str) -> list[Line]:
        if arg:
            self.overrides["llm.model"] = arg
            self.config = config.load(self.workdir, environ=self.environ, overrides=self.overrides)
        llm = self.config.llm
        said = "Model for this session" if arg else "Model"
        return [(f"{said}: {llm.provider or '(no provider)'} / {llm.model or '(none)'}", None)]

    def _clear(self, _arg: str) -> list[Line]:
        self.recent.clear()
        self.task_id = None
        self.view = WorkflowView()
        return [("Conversation cleared: the next request starts a new task.", "green")]

    # -- helpers -------------------------------------------------------------------------

    def _session(self, observer: LMObserver | None) -> LMSession:
        from memfun_git.llm.session import LMSession

        if self.lm is not None:
            return LMSession(self.config.llm, self.lm, observer=observer)
        return LMSession.from_config(self.config.llm, self.environ, observer=observer)

    def _said(self, message: str, reply: str) -> None:
        self.recent += [("you", message), ("memfun", reply)]

    def _recent(self) -> str:
        lines = [f"{who}: {text}" for who, text in self.recent]
        shown = "\n".join(lines)[-_RECENT_CHARS:]
        return redact(shown) or "(this is the first message)"
