"""Turning the CLI parser's exceptions into our one-line errors.

typer's parser errors are `typer.TyperException`s (its click fork's `UsageError` family exits 2,
as click's does); they are recognised by that public base class and exit code, never by
importing typer's private modules, which change between typer releases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer

__all__ = ["click_usage_error", "is_click_abort"]

_GLOBAL = {"-C", "--repo", "-v", "--verbose", "--version"}
_USAGE_EXIT = 2


def click_usage_error(
    exc: BaseException, args: Sequence[str] = (), commands: Sequence[str] = ()
) -> tuple[str, str] | None:
    """(message, hint) for a command-line usage error in `args`, else None."""
    if not isinstance(exc, typer.TyperException) or getattr(exc, "exit_code", 0) != _USAGE_EXIT:
        return None
    ctx: Any = getattr(exc, "ctx", None)
    path = str(ctx.command_path) if ctx is not None else "memfun"
    option: str = getattr(exc, "option_name", "") or ""
    if option in _GLOBAL and option not in _options_of(ctx):
        return exc.message, f"options of memfun itself ({option}) go before the command"
    possibilities: Sequence[str] = getattr(exc, "possibilities", None) or ()
    if possibilities:
        # click lists "(Possible options: ...)"; ours reads like every other did-you-mean.
        message = f"{exc.message} (did you mean {' or '.join(sorted(possibilities))}?)"
    else:
        message = exc.format_message().rstrip(".")
    if option and any(_metavar(p).startswith("--") for p in _arguments(ctx)):
        return message, f"options of {path} go before --, the command and its own after it"
    # The parser may blame the top level for a subcommand's option: name the subcommand.
    words = [a for a in args if not a.startswith("-")]
    if path == "memfun" and words and words[0] in commands:
        path = f"memfun {words[0]}"
    return message, f"see `{path} --help`"


def is_click_abort(exc: BaseException) -> bool:
    return isinstance(exc, typer.Abort)


def _params(ctx: Any) -> list[Any]:
    return list(getattr(getattr(ctx, "command", None), "params", None) or [])


def _options_of(ctx: Any) -> set[str]:
    return {name for p in _params(ctx) if p.param_type_name == "option" for name in p.opts}


def _arguments(ctx: Any) -> list[Any]:
    return [p for p in _params(ctx) if p.param_type_name == "argument"]


def _metavar(param: Any) -> str:
    return str(param.metavar or "")
