"""Turning the CLI parser's exceptions into our one-line errors."""

from __future__ import annotations

from collections.abc import Sequence

from typer._click.exceptions import NoArgsIsHelpError, UsageError  # typer vendors click
from typer.exceptions import Abort

__all__ = ["click_usage_error", "is_click_abort", "wants_help"]

_GLOBAL = {"-C", "--repo", "-v", "--verbose"}


def wants_help(exc: BaseException) -> str | None:
    """The help text when a command was called bare (`memfun`, `memfun config`), else None."""
    if isinstance(exc, NoArgsIsHelpError):
        return exc.ctx.get_help()
    return None


def click_usage_error(
    exc: BaseException, args: Sequence[str] = (), commands: Sequence[str] = ()
) -> tuple[str, str] | None:
    """(message, hint) for a command-line usage error, else None."""
    if not isinstance(exc, UsageError):
        return None
    message = exc.format_message().rstrip(".")
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "memfun"
    # The parser may blame the top level for a subcommand's option: name the subcommand.
    words = [a for a in args if not a.startswith("-")]
    if path == "memfun" and words and words[0] in commands:
        path = f"memfun {words[0]}"
    bad = next((a for a in args if a in _GLOBAL), None)
    if bad is not None and "No such option" in message and bad in message:
        return message, f"options of memfun itself ({bad}) go before the command"
    return message, f"see `{path} --help`"


def is_click_abort(exc: BaseException) -> bool:
    return isinstance(exc, Abort)
