"""`memfun` with no arguments, at a terminal: the interactive chat (its logic: chat/session.py).

- The seed's banner, or one plain line where NO_COLOR, TERM=dumb or a terminal narrower than
  the banner asks for it; then the repository, the model and how to get help or leave.
- Input with prompt_toolkit: the history kept per repository (`<git-common-dir>/memfun/
  chat-history`, machine-local), Enter sends, Esc then Enter (or Alt-Enter) starts a new line
  for a multi-line message. Ctrl-C at the prompt clears the line; Ctrl-C during a task or an
  answer stops it (the task is recorded as interrupted, its work kept as an attempt, your
  tree untouched) and the chat goes on; Ctrl-D leaves.
- A task shows `memfun run`'s live progress and summary, then what its branch remembered. An
  answer prints as Markdown (plain text for NO_COLOR), then its calls, tokens and cost. Every
  error is the one line `memfun run` would print; the chat goes on.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memfun_git.errors import MemfunError
from memfun_git.redact import redact, register_environ

if TYPE_CHECKING:
    from memfun_git.chat.session import ChatSession, Line
    from memfun_git.skills.catalog import Skill

__all__ = ["BANNER", "run_chat"]

BANNER = r"""
 ███╗   ███╗███████╗███╗   ███╗███████╗██╗   ██╗███╗   ██╗
 ████╗ ████║██╔════╝████╗ ████║██╔════╝██║   ██║████╗  ██║
 ██╔████╔██║█████╗  ██╔████╔██║█████╗  ██║   ██║██╔██╗ ██║
 ██║╚██╔╝██║██╔══╝  ██║╚██╔╝██║██╔══╝  ██║   ██║██║╚██╗██║
 ██║ ╚═╝ ██║███████╗██║ ╚═╝ ██║██║     ╚██████╔╝██║ ╚████║
 ╚═╝     ╚═╝╚══════╝╚═╝     ╚═╝╚═╝      ╚═════╝ ╚═╝  ╚═══╝
"""
_BANNER_WIDTH = 60


def run_chat(start: Path, *, environ: Mapping[str, str] | None = None, lm: Any = None) -> int:
    from rich.console import Console

    from memfun_git.chat.session import ChatSession

    env = dict(os.environ if environ is None else environ)
    register_environ(env)
    session = ChatSession(start, env, lm=lm)
    console = Console(highlight=False, soft_wrap=True, _environ=env)
    plain = console.no_color or console.is_dumb_terminal or console.width < _BANNER_WIDTH
    llm = session.config.llm
    if not plain:
        console.print(BANNER, style="bold cyan", highlight=False)
    console.print(
        f"memfun-git in {session.workdir} · {llm.provider or 'no provider'}/"
        f"{llm.model or 'no model'} · /help for commands, Ctrl-D to leave",
        style=None if plain else "dim",
    )
    prompt = _prompt(session, plain)
    while True:
        try:
            text = prompt.prompt("memfun > ")
        except KeyboardInterrupt:
            continue
        except EOFError:
            console.print("Bye.")
            return 0
        if not text.strip():
            continue
        try:
            _turn(session, text, console, env)
        except KeyboardInterrupt:
            console.print("Stopped. The chat goes on (Ctrl-D leaves).", style="yellow")
        except MemfunError as exc:
            hint = f" — {exc.hint}" if exc.hint else ""
            console.print(redact(f"memfun: {exc.message}{hint}"), style="red", markup=False)


def _prompt(session: ChatSession, plain: bool) -> Any:
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings

    folder = session.paths.common_dir / "memfun"
    folder.mkdir(parents=True, exist_ok=True)
    keys = KeyBindings()

    @keys.add("escape", "enter")
    def _newline(event: Any) -> None:  # pyright: ignore[reportUnusedFunction]
        event.current_buffer.insert_text("\n")

    class _Redacted(FileHistory):
        """The history file never keeps a secret typed or pasted at the prompt."""

        def store_string(self, string: str) -> None:
            super().store_string(redact(string))

    return PromptSession(
        history=_Redacted(str(folder / "chat-history")),
        key_bindings=keys,
        color_depth=None if not plain else _mono(),
    )


def _mono() -> Any:
    from prompt_toolkit.output import ColorDepth

    return ColorDepth.MONOCHROME


def _turn(session: ChatSession, text: str, console: Any, env: Mapping[str, str]) -> None:
    from memfun_git.cli.progress import CallSpinner
    from memfun_git.tasks import plainly_a_task

    skill: Skill | None = None
    named = session.skill(text)
    if named is not None:
        skill, text = named
        route = skill.mode or ("task" if plainly_a_task(text) else "project")
    elif text.strip().startswith("/"):
        _lines(console, session.command(text))
        return
    else:
        with CallSpinner(environ=env) as spinner:
            route = session.route(text, observer=spinner)
        if route.startswith("skill:"):
            skill = session.catalog.skills[route.removeprefix("skill:")]
            route = skill.mode or ("task" if plainly_a_task(text) else "project")
    if skill is not None:
        console.print(f"(following the skill {skill.name})", style="dim")
    if route == "task":
        _task(session, text, console, env, skill)
    elif route == "remember":
        entry = session.remember(text)
        console.print(f"Remembered: {entry.text}", style="green", markup=False)
    else:
        from rich.markdown import Markdown

        with CallSpinner(environ=env) as spinner:
            answer = session.answer(text, route, observer=spinner, skill=skill)
        console.print(Markdown(answer))  # plain text where NO_COLOR or TERM=dumb


def _task(
    session: ChatSession, text: str, console: Any, env: Mapping[str, str], skill: Skill | None
) -> None:
    from memfun_git.cli.progress import CallSpinner
    from memfun_git.cli.render import TaskProgress, print_summary

    if session.task_id is not None:
        console.print(f"(a follow-up on memfun/{session.task_id}; /clear starts a new task)",
                      style="dim")  # fmt: skip
    with CallSpinner(environ=env) as spinner:
        progress = TaskProgress(spinner)
        try:
            turn = session.run_task(text, progress, confirm=progress.confirm, skill=skill)
        except KeyboardInterrupt:
            kept = progress.result.attempt if progress.result is not None else None
            spinner.status(None)
            where = f"; its work so far is kept under {kept}" if kept else ""
            console.print(f"Task stopped{where}. Your files are untouched.", style="yellow")
            return
    print_summary(turn.result, sys.stdout, env)
    if not turn.result.ok:
        console.print(redact(f"memfun: {turn.result.error}"), style="red", markup=False)
    for entry in turn.learned:
        console.print(redact(f"Remembered: {entry.text}"), style="green", markup=False)


def _lines(console: Any, lines: list[Line]) -> None:
    for text, style in lines:
        console.print(text, style=style, markup=False, highlight=False)
