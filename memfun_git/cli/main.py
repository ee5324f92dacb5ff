"""The `memfun` command: argument parsing, the error handler, and lazy dispatch.

Each command is a thin function that imports its implementation on use, so `memfun --help` and
`memfun --version` load no heavy library. Help is rendered plainly (typer's rich help costs
~0.25 s of start-up; see docs/DESIGN.md).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Annotated

import typer

from memfun_git import __version__
from memfun_git.cli.handler import Terminated, handle_errors, logging_handler
from memfun_git.errors import ExitCode, UsageError
from memfun_git.redact import register_environ

app = typer.Typer(
    name="memfun",
    help="memfun-git: an autonomous coding agent that works through git.",
    rich_markup_mode=None,
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
config_app = typer.Typer(
    help="Show the configuration.", rich_markup_mode=None, no_args_is_help=True
)
app.add_typer(config_app, name="config")
sandbox_app = typer.Typer(
    help="Run commands the way a task's commands run.", rich_markup_mode=None, no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")

RepoOpt = Annotated[
    Path | None,
    typer.Option(
        "-C",
        "--repo",
        help="Run as if memfun was started in this folder.",
        show_default=False,
        metavar="DIR",
    ),
]
ProviderOpt = Annotated[
    str | None,
    typer.Option("--provider", help="anthropic | openai | ollama | custom", metavar="NAME"),
]
ModelOpt = Annotated[str | None, typer.Option("--model", help="The model to use.", metavar="MODEL")]
BaseUrlOpt = Annotated[
    str | None, typer.Option("--base-url", help="The endpoint root.", metavar="URL")
]
EngineOpt = Annotated[str | None, typer.Option("--engine", help="auto | litellm", metavar="NAME")]


class Globals:
    """Options of the `memfun` command itself, before the subcommand."""

    repo: Path | None = None


GLOBALS = Globals()


def _version(value: bool) -> None:
    if value:
        print(f"memfun {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    repo: RepoOpt = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Log more on stderr.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """memfun-git: an autonomous coding agent that works through git.

    A request in plain language becomes reviewed, lint-clean commits on a branch of its own,
    made in a git worktree that never touches your files.
    """
    GLOBALS.repo = repo
    del verbose  # read from argv by run(), so that logging is set up before parsing


def _start() -> Path:
    return GLOBALS.repo if GLOBALS.repo is not None else Path.cwd()


@app.command()
def ask(
    question: Annotated[
        list[str],
        typer.Argument(help="What you want to know about the project.", metavar="QUESTION..."),
    ],
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    engine: EngineOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> int:
    """Ask a question about the project (one model call)."""
    from memfun_git.cli.ask import run_ask

    overrides = {
        "llm.provider": provider,
        "llm.model": model,
        "llm.base_url": base_url,
        "llm.engine": engine,
    }
    return run_ask(_start(), " ".join(question), overrides, json_out=json_out)


@app.command()
def init(
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", help="Name of the variable holding the key (not the key)."),
    ] = None,
    base_url: BaseUrlOpt = None,
    yes: Annotated[
        bool, typer.Option("-y", "--yes", help="Ask nothing; take flags, then detected defaults.")
    ] = False,
) -> int:
    """Set up memfun in this repository: write memfun.toml and .gitattributes."""
    from memfun_git.cli.init import run_init

    return run_init(
        _start(),
        provider=provider,
        model=model,
        api_key_env=api_key_env,
        base_url=base_url,
        yes=yes,
    )


@config_app.command("show")
def config_show(
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> int:
    """Print the configuration in force, with where each value came from (secrets masked)."""
    from memfun_git.cli.admin import run_config_show

    return run_config_show(_start(), json_out=json_out)


@app.command()
def doctor(
    online: Annotated[
        bool, typer.Option("--online", help="Also send one real request to the model endpoint.")
    ] = False,
) -> int:
    """Check git, the model endpoint, the sandbox, linters and the backend; say how to fix each."""
    from memfun_git.cli.admin import run_doctor

    return run_doctor(_start(), online=online)


@app.command()
def gc(
    dry_run: Annotated[
        bool, typer.Option("-n", "--dry-run", help="Only say what would be removed.")
    ] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also remove what holds work (undelivered branches' tips are kept as attempts).",
        ),
    ] = False,
) -> int:
    """Remove memfun's finished worktrees, delivered branches and expired attempts."""
    from memfun_git.cli.admin_gc import run_gc

    return run_gc(_start(), dry_run=dry_run, force=force)


@sandbox_app.command(
    "run", context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True}
)
def sandbox_run(
    command: Annotated[
        list[str], typer.Argument(help="The command, after --.", metavar="-- COMMAND...")
    ],
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            help="A task's worktree to run in (default: a throwaway one of HEAD).",
            metavar="DIR",
        ),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Seconds before the command is stopped.", metavar="SECONDS"),
    ] = None,
    with_changes: Annotated[
        bool,
        typer.Option(
            "--with-changes",
            help="Copy your uncommitted changes into the throwaway worktree (default: HEAD only).",
        ),
    ] = False,
) -> int:
    """Run a command exactly as a task would (see what the agent can and cannot do).

    It runs in a throwaway worktree of HEAD (your uncommitted changes only with
    --with-changes), in the subfolder you are in, with no network and no secrets.
    """
    from memfun_git.cli.sandbox import run_sandbox

    return run_sandbox(
        _start(), command, workspace=workspace, timeout=timeout, with_changes=with_changes
    )


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI with `argv` (default: sys.argv[1:]) and return the exit code."""
    from memfun_git.cli.errors_click import click_usage_error, is_click_abort, wants_help

    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    command = typer.main.get_command(app)
    args = list(sys.argv[1:] if argv is None else argv)
    verbose = "-v" in args or "--verbose" in args
    register_environ()
    with (
        _sigterm_as_interrupt(),
        handle_errors(_crash_dir) as result,
        logging_handler(_log_dir(args), verbose=verbose),
    ):
        try:
            # Not command.main(): typer turns Ctrl-C into a silent exit 130 there.
            with command.make_context("memfun", args) as ctx:
                rv = command.invoke(ctx)
        except typer.Exit as exc:
            rv = exc.exit_code
        except Exception as exc:
            text = wants_help(exc)
            if text is not None:
                print(text)
                return int(ExitCode.OK)
            usage = click_usage_error(exc, args, _command_names(command))
            if usage is not None:
                raise UsageError(*usage) from None
            if is_click_abort(exc):
                raise KeyboardInterrupt from None
            raise
        result[0] = int(rv) if isinstance(rv, int) else int(ExitCode.OK)
    return result[0]


def _command_names(command: object) -> list[str]:
    return sorted(getattr(command, "commands", {}))


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Generator[None]:
    """SIGTERM unwinds like Ctrl-C (exit 143), so workspaces clean up and keep attempts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Terminated(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _log_dir(args: list[str]) -> Path:
    """`<git-common-dir>/memfun/logs`, found without loading pygit2, else the user's."""
    from memfun_git.gitops.repo import common_dir_fast, user_state_dir

    start = Path.cwd()
    for flag in ("-C", "--repo"):
        if flag in args[:-1]:
            start = Path(args[args.index(flag) + 1])
    common = common_dir_fast(start) if start.exists() else None
    return common / "memfun" / "logs" if common is not None else user_state_dir() / "logs"


def _crash_dir() -> Path:
    from memfun_git.gitops.repo import discover, state_dir, user_state_dir

    try:
        paths = discover(_start())
    except Exception:
        paths = None
    if paths is not None:
        return state_dir(paths) / "logs"
    return user_state_dir() / "logs"


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
