"""The Protocols every backend member satisfies (ARCHITECTURE.md "Backends").

Built so far: SandboxAdapter (members: sandbox/bubblewrap.py, sandbox/local.py). The storage
Protocols (EventBus, StateStore, TaskQueue, AgentRegistry, SessionManager, KnowledgeBase,
ToolRegistry) join this module with their tiers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from memfun_git.sandbox.process import OutputSink

__all__ = ["RunResult", "SandboxAdapter"]


@dataclass(frozen=True, slots=True)
class RunResult:
    argv: tuple[str, ...]
    exit_code: int
    """The command's exit status as a shell reports it: 128 + N when signal N ended it, 124
    when the time ran out."""
    stdout: str
    stderr: str
    seconds: float
    timed_out: bool = False
    truncated: bool = False
    """Output beyond [sandbox] max_output_bytes was dropped."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out


class SandboxAdapter(Protocol):
    """Runs untrusted commands (model-proposed ones, linters, tests) for one worktree."""

    name: str
    """"bubblewrap" or "local"."""

    def which(self, program: str, cwd: str = ".") -> str:
        """The path `program` runs from, as `run` finds it (to tell the user which one ran).
        Raises as `run` does when it cannot be run."""
        ...

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str = ".",
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        on_output: OutputSink | None = None,
    ) -> RunResult:
        """Run `argv` with `cwd` relative to the worktree; never raises for a failing command.

        The whole command (every process it starts) ends when `timeout` (default:
        [sandbox] timeout_seconds) runs out; output is captured and capped. `env` adds
        variables to the allowlisted environment; `on_output` receives the output as it arrives
        (within the same cap) as well. Raises SandboxUnavailable or UsageError
        when the command cannot be run at all (no sandbox, unresolvable program, refused).
        """
        ...
