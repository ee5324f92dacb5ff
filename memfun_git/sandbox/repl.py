"""The explore tier's Python REPL, run through the SandboxAdapter.

DSPy's RLM needs a code interpreter. Its default (Deno and Pyodide) downloads code when it
starts, so it cannot work offline, and its `LocalInterpreter` is no sandbox: the process keeps
the user's files, environment, credentials and network. `SandboxInterpreter` keeps DSPy's
worker and its JSON protocol (the REPL's state, tools and `SUBMIT` work as DSPy documents
them) but starts the worker with `SandboxAdapter.spawn`: under bubblewrap it has no network,
none of memfun's environment (so no key), the worktree read-only and nothing else of the
user's. The model's code reads the project where it runs (the worktree is its current folder);
it changes files only through the host tools the tier gives it, which go through the
workspace's guarded operations, and runs commands only through the sandbox's `run`.

The worker's variables live in that process, between steps: the prompt shows only what the
code printed (cut by the RLM) and the variables' previews. What comes back to the host (the
printed output, errors) and what the REPL sends to a model (`llm_query`, sub-agents) are
redacted on the way.

It builds on `dspy.LocalInterpreter`'s internals (`_process`, `_receive`, `_read_responses`,
`_raise_terminal_error`, `_kill`), as pinned by the lock file; tests/sandbox/test_repl.py runs
it for real, so a DSPy that changes them fails there first.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from dspy.primitives.code_interpreter import (
    CodeExecutionError,
    CodeInterpreterError,
    FinalOutput,
)
from dspy.primitives.facade import CALL_TOOL, CONSTRUCT_TOOL
from dspy.primitives.local_interpreter import LocalInterpreter

from memfun_git.errors import MemfunError
from memfun_git.redact import redact, redact_value

if TYPE_CHECKING:
    from memfun_git.backends.protocols import SandboxAdapter
    from memfun_git.sandbox.process import Started

__all__ = ["SandboxInterpreter"]

_START_SECONDS = 30.0
_TO_A_MODEL = frozenset({"llm_query", "llm_query_batched", CONSTRUCT_TOOL, CALL_TOOL})
"""Host tools whose arguments become a model's prompt (the RLM's, and DSPy's sub-agent
bridge's)."""


def _worker_source() -> str:
    import dspy.primitives.local_interpreter as local

    return Path(local.__file__).with_name("local_interpreter_worker.py").read_text("utf-8")


class SandboxInterpreter(LocalInterpreter):
    """A persistent Python REPL in the sandbox of one worktree (see the module)."""

    execution_instructions = (
        "Code runs as Python in a persistent sandboxed process: no network, the project's "
        "files readable from the current folder (the project's root) but not writable. State, "
        "imports and functions persist between steps. Host tools and SUBMIT are global "
        "functions; call tools with keyword arguments. Change files only with the tools made "
        "for it; run commands only with the `run` tool."
    )

    def __init__(
        self,
        sandbox: SandboxAdapter,
        *,
        python: str = "python3",
        tools: dict[str, Callable[..., Any]] | None = None,
        execution_timeout: float | None = 120.0,
        on_execute: Callable[[str], None] | None = None,
    ) -> None:
        """`execution_timeout`: seconds one step may take, its tool calls included (the REPL
        and its state end when it runs out); `on_execute`: told of each step's code."""
        super().__init__(tools, execution_timeout=execution_timeout)
        self.sandbox = sandbox
        self.python = python
        self.on_execute = on_execute
        self._running: Started | None = None

    def start(self) -> None:
        if self._ended:
            raise CodeInterpreterError("the sandboxed REPL has been shut down")
        if self._process is not None:
            return
        try:
            running = self.sandbox.spawn(
                [self.python, "-I", "-c", _worker_source()], read_only=True
            )
        except MemfunError as exc:
            raise CodeInterpreterError(f"the sandboxed REPL cannot start: {exc}") from exc
        self._running = running
        process = cast("Any", running.proc)
        self._process = process
        threading.Thread(target=self._read_responses, args=(process,), daemon=True).start()
        message = self._receive(
            time.monotonic() + _START_SECONDS,
            f"the sandboxed REPL did not start within {_START_SECONDS:g} seconds",
        )
        if message.get("type") != "ready":
            self._raise_terminal_error(f"the sandboxed REPL did not start: {message!r}")

    def execute(self, code: str, variables: dict[str, Any] | None = None) -> Any:
        if self.on_execute is not None:
            self.on_execute(code)
        try:
            result = super().execute(code, variables)
        except CodeExecutionError as exc:
            raise CodeExecutionError(redact(str(exc))) from None
        if isinstance(result, FinalOutput):
            return FinalOutput(redact_value(result.output))
        return redact_value(result)

    def invoke_tool(self, tool_name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        if tool_name in _TO_A_MODEL:
            args, kwargs = redact_value(args), redact_value(kwargs)
        value = super().invoke_tool(tool_name, args, kwargs)
        return redact_value(value)

    def _kill(self) -> None:
        # The sandbox's own teardown first (the reaper or the PID namespace ends every
        # process, setsid ones too); then the parent forgets the process.
        running, self._running = self._running, None
        if running is not None:
            running.end()
        super()._kill()
