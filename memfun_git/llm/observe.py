"""What a session reports while it talks to the model: a call started, is retried, finished.

An observer is any callable taking one `LMEvent`; it is called on the thread making the call.
llm/ never prints: the CLI draws these events (`cli/progress.py`), and the engine will turn
them into events of its own for the App and the Action.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CallFinished", "CallRetrying", "CallStarted", "LMEvent", "LMObserver"]


@dataclass(frozen=True, slots=True)
class CallStarted:
    call_id: int
    """Unique within the session; pairs a start with its finish when calls overlap."""
    step: str
    endpoint: str
    model: str
    attempt: int
    """1 for the first try; retries count up to `attempts`."""
    attempts: int


@dataclass(frozen=True, slots=True)
class CallRetrying:
    call_id: int
    step: str
    endpoint: str
    reason: str
    """Why the last try failed, e.g. 'rate-limited' or 'server error'."""
    delay: float
    """Seconds waited before the next try."""
    attempt: int
    """The try about to be made."""
    attempts: int

    def describe(self) -> str:
        """'rate-limited by <endpoint> — retrying in 2 s (attempt 2 of 3)'."""
        by = "by" if self.reason == "rate-limited" else "at"
        return (
            f"{self.reason} {by} {self.endpoint} — retrying in {self.delay:g} s "
            f"(attempt {self.attempt} of {self.attempts})"
        )


@dataclass(frozen=True, slots=True)
class CallFinished:
    call_id: int
    step: str
    endpoint: str
    seconds: float
    input_tokens: int = 0
    output_tokens: int = 0
    finish_reason: str | None = None
    failure: str | None = None
    """The failure's kind (our error class name) when the try brought no usable answer."""


LMEvent = CallStarted | CallRetrying | CallFinished
LMObserver = Callable[[LMEvent], None]
