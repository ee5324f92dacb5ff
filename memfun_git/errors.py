"""The one exception tree of memfun-git.

Every error a user can cause or meet is a `MemfunError`: a message saying what is wrong and a
hint saying what to do. Front ends print it as one line, `memfun: <message> — <hint>`, and exit
with the error's `exit_code`. Anything else reaching a front end is a bug (exit 3).

    MemfunError                      exit 2 unless noted
     ├── UsageError                  bad arguments or input on the command line
     │    ├── ProgramNotFound        a command to run does not exist (exit 127)
     │    ├── ProgramNotExecutable   a command to run cannot be executed (exit 126)
     │    └── BadPayload             a webhook's body is not the payload its event promises
     ├── ConfigError                 memfun.toml / ~/.memfun/config.toml / MEMFUN_* / flags
     ├── RepoError                   not a repository, bare, no commits, unsafe state
     ├── BackendUnavailable          the configured backend's service cannot be reached
     ├── SandboxUnavailable          no usable sandbox for an untrusted command
     ├── LLMError                    the model endpoint failed
     │    ├── LLMNotConfigured       no model or no key configured
     │    ├── LLMAuthError           the key was refused
     │    ├── LLMRateLimited         the provider asked us to slow down (exit 1)
     │    ├── LLMTimeout             no answer within [llm] timeout_seconds (exit 1)
     │    ├── LLMUnreachable         nothing answered at the endpoint
     │    ├── LLMEndpointNotFound    the server answers, but not at the base URL's path
     │    ├── LLMUnknownModel        the endpoint does not know the model
     │    ├── LLMInvalidRequest      the endpoint refused the request as sent
     │    ├── LLMContextTooLarge     the prompt exceeds the model's context window (exit 1)
     │    ├── LLMServerError         the endpoint failed on its side (exit 1)
     │    └── LLMBadResponse         an answer we could not use (exit 1)
     │         ├── LLMTruncated      cut off at max_tokens; keeps the partial text (exit 1)
     │         └── LLMUnparseable    not in the form asked for; keeps the text (exit 1)
     ├── BudgetExceeded              an [llm] cap stopped a runaway task (exit 1)
     ├── EditError                   a file operation of the model was refused (exit 1)
     ├── OperationFormatError        the model's answer breaks the operation format (exit 1)
     ├── TaskFailed                  the task ran but did not succeed (exit 1)
     │    ├── GateBlocked            the quality gate refused the change (exit 1)
     │    └── TierBudgetSpent        a tier used its model calls; the next may go on (exit 1)
     └── FindingsOverThreshold       a review found problems over the threshold (exit 1)
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from memfun_git.edits.results import Refusal

__all__ = [
    "BackendUnavailable",
    "BadPayload",
    "BudgetExceeded",
    "ConfigError",
    "EditError",
    "ExitCode",
    "FindingsOverThreshold",
    "GateBlocked",
    "LLMAuthError",
    "LLMBadResponse",
    "LLMContextTooLarge",
    "LLMEndpointNotFound",
    "LLMError",
    "LLMInvalidRequest",
    "LLMNotConfigured",
    "LLMRateLimited",
    "LLMServerError",
    "LLMTimeout",
    "LLMTruncated",
    "LLMUnknownModel",
    "LLMUnparseable",
    "LLMUnreachable",
    "MemfunError",
    "OperationFormatError",
    "ProgramNotExecutable",
    "ProgramNotFound",
    "RepoError",
    "SandboxUnavailable",
    "TaskFailed",
    "TierBudgetSpent",
    "UsageError",
]


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1
    BAD_INPUT = 2
    INTERNAL = 3
    PROGRAM_NOT_EXECUTABLE = 126
    PROGRAM_NOT_FOUND = 127
    INTERRUPTED = 130


class MemfunError(Exception):
    """An expected error: what is wrong (`message`) and what to do about it (`hint`)."""

    exit_code: ExitCode = ExitCode.BAD_INPUT

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} — {self.hint}" if self.hint else self.message


class UsageError(MemfunError):
    """Bad arguments or input."""


class ProgramNotFound(UsageError):
    """The command to run does not exist (exit 127, as a shell says)."""

    exit_code = ExitCode.PROGRAM_NOT_FOUND


class ProgramNotExecutable(UsageError):
    """The command to run is not executable (exit 126, as a shell says)."""

    exit_code = ExitCode.PROGRAM_NOT_EXECUTABLE


class BadPayload(UsageError):
    """A webhook's JSON lacks what its event and action promise (the App answers 400)."""


class ConfigError(MemfunError):
    """A configuration file, environment variable or flag holds something we cannot use."""


class RepoError(MemfunError):
    """The repository cannot be used as asked."""


class BackendUnavailable(MemfunError):
    """The configured backend's service does not answer."""


class SandboxUnavailable(MemfunError):
    """No sandbox is available to run an untrusted command."""


class LLMError(MemfunError):
    """The model endpoint failed; the message names the endpoint, never the key."""


class LLMNotConfigured(LLMError):
    """No model, or no key for it, is configured."""


class LLMAuthError(LLMError):
    """The endpoint refused the key."""


class LLMRateLimited(LLMError):
    """The provider asked us to slow down (retried with backoff before this is raised)."""

    exit_code = ExitCode.FAILED


class LLMTimeout(LLMError):
    """No answer within [llm] timeout_seconds (not retried: it would multiply the wait)."""

    exit_code = ExitCode.FAILED


class LLMUnreachable(LLMError):
    """Nothing answered at the endpoint."""


class LLMEndpointNotFound(LLMError):
    """The server answers, but nothing is at the base URL's path (404 there and on its models
    listing): the base URL is wrong, not the model."""


class LLMUnknownModel(LLMError):
    """The endpoint does not serve the model."""


class LLMInvalidRequest(LLMError):
    """The endpoint refused the request as sent (a parameter, a limit, a feature)."""


class LLMContextTooLarge(LLMError):
    """The prompt exceeds the model's context window: the caller may shrink the context."""

    exit_code = ExitCode.FAILED


class LLMServerError(LLMError):
    """The endpoint answered with a server error (5xx)."""

    exit_code = ExitCode.FAILED


class LLMBadResponse(LLMError):
    """An answer arrived and was billed, but it cannot be used; `raw` is its text."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, hint: str = "", *, raw: str = "", step: str = "") -> None:
        super().__init__(message, hint)
        self.raw = raw
        self.step = step


class LLMTruncated(LLMBadResponse):
    """The answer was cut off at [llm] max_tokens; `partial` is what arrived. Checked before
    parsing, so a truncated answer is never reported as unparseable."""

    @property
    def partial(self) -> str:
        return self.raw


class LLMUnparseable(LLMBadResponse):
    """The answer is not in the form asked for; `raw` holds it, byte for byte, so the caller
    can retry with feedback."""


class BudgetExceeded(MemfunError):
    """A per-task cap in [llm] was reached."""

    exit_code = ExitCode.FAILED


class EditError(MemfunError):
    """A file operation of the model was refused: the message (and hint) is for the model,
    `refusal` says why as data (reason, path, places found, closest candidate).

    Not a `TaskFailed`: the engine hands each refusal back to the model, which tries again,
    and the task may still succeed. One that reaches a user means the task failed (exit 1).
    """

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, hint: str = "", *, refusal: Refusal) -> None:
        super().__init__(message, hint)
        self.refusal = refusal


class OperationFormatError(MemfunError):
    """An answer breaks the operation format (operations/): `line` is where (1-based), and the
    message, which names it, is short enough to hand back to the model. Not an `LLMError`:
    the parser reads any text (a recorded answer too); the engine, which asked the model,
    retries once and then reports the answer as `LLMUnparseable`."""

    exit_code = ExitCode.FAILED

    def __init__(self, message: str, hint: str = "", *, line: int) -> None:
        super().__init__(message, hint)
        self.line = line


class TaskFailed(MemfunError):
    exit_code = ExitCode.FAILED


class GateBlocked(TaskFailed):
    """The quality gate refused to commit the change."""


class TierBudgetSpent(TaskFailed):
    """A tier of the ladder used the model calls it was given (`Usage.tier_budget`); the next
    tier may still take the task on."""


class FindingsOverThreshold(MemfunError):
    exit_code = ExitCode.FAILED
