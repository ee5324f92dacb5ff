"""Turning the CLI parser's exceptions into our one-line errors."""

from __future__ import annotations

from typer._click.exceptions import UsageError  # typer vendors click
from typer.exceptions import Abort


def click_usage_error(exc: BaseException) -> tuple[str, str] | None:
    """(message, hint) for a command-line usage error, else None."""
    if not isinstance(exc, UsageError):
        return None
    ctx = exc.ctx
    path = ctx.command_path if ctx is not None else "memfun"
    return exc.format_message().rstrip("."), f"see `{path} --help`"


def is_click_abort(exc: BaseException) -> bool:
    return isinstance(exc, Abort)
