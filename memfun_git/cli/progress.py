"""A spinner on stderr while model calls run, and a line for each retry (rich).

It is an `LMObserver` (llm/observe.py): the session reports calls, this draws them. On a
terminal it shows `⠋ ask · claude-sonnet-4-5 at https://api.anthropic.com/v1 · 3 s` while a
call waits, and prints `rate-limited by … — retrying in 2 s (attempt 2 of 3)` as retries
happen. When stderr is not a terminal (pipes, CI logs, tests), or TERM is dumb, it draws
nothing: the log file has the same facts.

Between calls a longer job (`memfun run`) shows what it is doing with `status(text)` (the
spinner stays, with that text and its own seconds) and prints lines above the spinner with
`line(text)`.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, TextIO

from memfun_git.llm.observe import CallRetrying, CallStarted, LMEvent

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live
    from rich.spinner import Spinner

__all__ = ["CallSpinner"]


class CallSpinner:
    """Draws the calls of a session on stderr; use as a context manager around the calls."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        terminal: bool | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        out = sys.stderr if stream is None else stream
        env = os.environ if environ is None else environ
        tty = out.isatty() if terminal is None else terminal
        self.enabled = tty and env.get("TERM", "").lower() not in ("dumb", "unknown")
        self._stream = out
        self._environ = env
        self._running: dict[int, tuple[CallStarted, float]] = {}
        self._status: tuple[str, float] | None = None
        self._lock = threading.Lock()
        """Guards `_running`; rich's refresh thread takes it to draw."""
        self._live_lock = threading.Lock()
        """Guards starting and stopping the display (never held by the refresh thread)."""
        self._console: Console | None = None
        self._live: Live | None = None
        self._spinner: Spinner | None = None

    def __enter__(self) -> CallSpinner:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._live_lock:
            with self._lock:
                self._running.clear()
                self._status = None
            self._stop()

    def __call__(self, event: LMEvent) -> None:
        if not self.enabled:
            return
        if isinstance(event, CallRetrying):
            self._console_().print(event.describe(), style="yellow", highlight=False)
            return
        with self._live_lock:
            with self._lock:
                if isinstance(event, CallStarted):
                    self._running[event.call_id] = (event, time.monotonic())
                else:
                    self._running.pop(event.call_id, None)
            self._show()

    def status(self, text: str | None) -> None:
        """Show `text` (and the seconds since) while no call runs; None: nothing."""
        if not self.enabled:
            return
        with self._live_lock:
            with self._lock:
                self._status = (text, time.monotonic()) if text else None
            self._show()

    def line(self, text: str, style: str | None = None) -> None:
        """Print a line above the spinner (on a terminal only)."""
        if self.enabled:
            from rich.text import Text

            # A Text with its own style: a plain string's style bleeds into the spinner's line.
            self._console_().print(Text(text, style=style or ""), highlight=False)

    def _show(self) -> None:
        with self._lock:
            busy = bool(self._running) or self._status is not None
        if busy:
            self._start()
        else:
            self._stop()

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        with self._lock:
            running = sorted(self._running.values(), key=lambda item: item[1])
            status = self._status
        if self._spinner is not None and running:
            started, since = running[0]
            more = f" (+{len(running) - 1} more)" if len(running) > 1 else ""
            self._spinner.update(
                text=f"{started.step} · {started.model} at {started.endpoint} · "
                f"{time.monotonic() - since:.0f} s{more}"
            )
            yield self._spinner
        elif self._spinner is not None and status is not None:
            self._spinner.update(text=f"{status[0]} · {time.monotonic() - status[1]:.0f} s")
            yield self._spinner

    def _console_(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(
                file=self._stream,
                force_terminal=True,
                highlight=False,
                _environ=dict(self._environ),
            )
        return self._console

    def _start(self) -> None:
        if self._live is not None:
            return
        from rich.live import Live
        from rich.spinner import Spinner

        self._spinner = Spinner("dots", style="cyan")
        self._live = Live(
            self,
            console=self._console_(),
            refresh_per_second=8,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        # The first frame is drawn now; rich's thread redraws it (and the elapsed time).
        self._live.start(refresh=True)

    def _stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
