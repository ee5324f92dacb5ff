"""One error handler and one logging setup for every entry point.

Expected errors print one line `memfun: <what is wrong> — <what to do>` on stderr and exit by
cause; Ctrl-C exits 130; anything unexpected prints one line naming a log file that holds the
traceback and versions, and exits 3. Log records are redacted before any handler sees them.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import logging.handlers
import os
import platform
import sys
import traceback
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any, TextIO

from memfun_git import __version__
from memfun_git.errors import ExitCode, MemfunError
from memfun_git.redact import RedactingFilter, redact
from memfun_git.terminal import strip_controls

__all__ = [
    "Terminated",
    "crash_report",
    "error_line",
    "handle_errors",
    "log_dir",
    "logging_handler",
]


class Terminated(KeyboardInterrupt):
    """SIGTERM (or another stop signal): unwinds like Ctrl-C, so cleanup runs."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def error_line(message: str, stream: TextIO | None = None) -> None:
    """Print one redacted `memfun: ...` line on stderr, without terminal control sequences
    (a message may quote a program name or path a model wrote)."""
    out = sys.stderr if stream is None else stream
    first = strip_controls(redact(message)).strip().splitlines() or [""]
    # stderr may be gone (the terminal was closed: SIGHUP): the exit status still tells.
    with contextlib.suppress(OSError):
        print(f"memfun: {first[0]}", file=out, flush=True)


def crash_report(exc: BaseException, log_dir: Path) -> Path | None:
    """Write the traceback and versions to a new file under `log_dir`; return its path."""
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S-%f")
    text = "".join(traceback.format_exception(exc))
    body = (
        f"memfun {__version__}\npython {platform.python_version()} ({sys.executable})\n"
        f"platform {platform.platform()}\nargv {sys.argv!r}\n\n{text}"
    )
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        path = log_dir / f"crash-{stamp}.log"
        path.write_text(redact(body), encoding="utf-8")
    except OSError:
        return None
    return path


_BROKEN_PIPE = 141
"""128 + SIGPIPE: the exit status of a program whose output pipe was closed."""


@contextlib.contextmanager
def handle_errors(
    log_dir: Callable[[], Path], stream: TextIO | None = None
) -> Generator[list[int]]:
    """Run a command; on failure print one line and record the exit code in the yielded list."""
    result = [int(ExitCode.OK)]
    try:
        yield result
    except MemfunError as exc:
        error_line(str(exc), stream)
        result[0] = int(exc.exit_code)
    except Terminated as exc:
        error_line(f"stopped by signal {exc.signum} — nothing of yours was changed", stream)
        result[0] = 128 + exc.signum
    except KeyboardInterrupt:
        error_line("interrupted — nothing of yours was changed", stream)
        result[0] = int(ExitCode.INTERRUPTED)
    except BrokenPipeError:
        # The reader went away (`memfun show ID | head`): stop quietly, as git does, and keep
        # Python from complaining again when it flushes stdout at exit.
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        result[0] = _BROKEN_PIPE
    except EOFError:
        error_line(
            "the input ended before an answer — run with --yes and flags to answer nothing",
            stream,
        )
        result[0] = int(ExitCode.BAD_INPUT)
    except Exception as exc:
        path = crash_report(exc, log_dir())
        where = f"details in {path}" if path else "no log file could be written"
        error_line(
            f"internal error: {type(exc).__name__}: {exc} — {where}; please report it", stream
        )
        result[0] = int(ExitCode.INTERNAL)


@contextlib.contextmanager
def logging_handler(log_dir: Path | None, *, verbose: bool = False) -> Generator[None]:
    """Send memfun's log records, redacted, to stderr (warnings) and to `<log_dir>/memfun.log`."""
    root = logging.getLogger("memfun_git")
    handlers: list[logging.Handler] = []
    console = logging.StreamHandler(sys.stderr)
    console.setLevel(logging.DEBUG if verbose else logging.WARNING)
    console.setFormatter(logging.Formatter("memfun: %(message)s"))
    handlers.append(console)
    if log_dir is not None:
        file_handler = _LazyFileHandler(log_dir / "memfun.log")
        file_handler.setLevel(logging.DEBUG)
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        handlers.append(file_handler)
    redacting = RedactingFilter()
    for handler in handlers:
        handler.addFilter(redacting)
        root.addHandler(handler)
    # dspy and litellm print to stderr through handlers of their own: for the command's
    # lifetime their records go to our log file (and to stderr only with -v).
    libraries: list[tuple[logging.Logger, list[logging.Handler], bool]] = []
    for name in _LIBRARIES:
        library = logging.getLogger(name)
        libraries.append((library, list(library.handlers), library.propagate))
        library.handlers = [h for h in handlers if h is not console or verbose]
        library.propagate = False
    old_level = root.level
    root.setLevel(logging.DEBUG)
    # Libraries (dspy, litellm) log through handlers of their own: redact every record where
    # it is made, whichever logger and handler it goes to.
    old_factory = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = old_factory(*args, **kwargs)
        redacting.filter(record)
        return record

    logging.setLogRecordFactory(factory)
    try:
        yield
    finally:
        logging.setLogRecordFactory(old_factory)
        for library, own, propagate in libraries:
            library.handlers = own
            library.propagate = propagate
        for handler in handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(old_level)


_LIBRARIES = ("dspy", "LiteLLM", "litellm", "httpx")


class _LazyFileHandler(logging.handlers.RotatingFileHandler):
    """A log file made only when the first record arrives (commands that log nothing leave
    no file), in a folder created then; a folder that cannot be made drops the records."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, maxBytes=2_000_000, backupCount=2, encoding="utf-8", delay=True)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            Path(self.baseFilename).parent.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        super().emit(record)


def log_dir(repo: Path | None) -> Path:
    """`<git-common-dir>/memfun/logs`, found without loading pygit2, else the user's."""
    from memfun_git.gitops.repo import common_dir_fast, user_state_dir

    start = Path.cwd() if repo is None else repo
    common = common_dir_fast(start) if start.exists() else None
    return common / "memfun" / "logs" if common is not None else user_state_dir() / "logs"
