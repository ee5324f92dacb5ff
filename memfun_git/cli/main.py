"""The `memfun` command: argument parsing, the error handler, and lazy dispatch.

Each command is a thin function that imports its implementation on use, so `memfun --help` and
`memfun --version` load no heavy library. Help is rendered plainly (typer's rich help costs
~0.25 s of start-up; see docs/DESIGN.md). memfun's own options (`-C`, `-v`) are read by the
parser, before the subcommand only: a sandboxed command's `-v` after `--` is never memfun's.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from memfun_git import __version__
from memfun_git.cli.handler import Terminated, handle_errors, log_dir, logging_handler
from memfun_git.errors import ExitCode, UsageError
from memfun_git.redact import register_environ

__all__ = [
    "action",
    "agent_list",
    "analyze",
    "app",
    "app_serve",
    "app_worker",
    "ask",
    "config_show",
    "demo",
    "diff",
    "doctor",
    "fix",
    "gc",
    "hook_install",
    "hook_review",
    "hook_uninstall",
    "init",
    "list_tasks",
    "main",
    "mcp",
    "memory_add",
    "memory_forget",
    "memory_list",
    "memory_search",
    "merge",
    "optimize",
    "review",
    "run",
    "run_request",
    "sandbox_run",
    "show",
    "skill_list",
    "skill_new",
    "skill_run",
    "skill_show",
    "status",
    "submit",
    "traces_list",
    "traces_show",
    "undo",
    "worker",
]


class _Command(TyperCommand):
    """A command whose help names each argument by its metavar alone (`QUESTION...`), instead
    of typer's `{QUESTION}...` in the usage line and `<list[str]>` beside it."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        return pieces + [_metavar(p) for p in self.get_params(ctx) if _is_argument(p)]

    def format_options(self, ctx: Any, formatter: Any) -> None:
        params = self.get_params(ctx)
        arguments = [
            (_metavar(p), getattr(p, "help", None) or "") for p in params if _is_argument(p)
        ]
        options = [r for p in params if not _is_argument(p) and (r := p.get_help_record(ctx))]
        for title, rows in (("Arguments", arguments), ("Options", options)):
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)


def _is_argument(param: Any) -> bool:
    return param.param_type_name == "argument"


def _metavar(param: Any) -> str:
    return str(param.metavar or param.name.upper())


def _group(help_text: str) -> typer.Typer:
    return typer.Typer(
        help=help_text,
        rich_markup_mode=None,
        add_completion=False,
        pretty_exceptions_enable=False,
        invoke_without_command=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def _help_when_bare(ctx: typer.Context) -> None:
    """A group called without a subcommand (`memfun`, `memfun config`) prints its help."""
    if ctx.invoked_subcommand is None:
        print(ctx.get_help())
        raise typer.Exit(0)


app = _group("memfun-git: an autonomous coding agent that works through git.")
config_app = _group("Show the configuration.")
app.add_typer(config_app, name="config")
sandbox_app = _group("Run commands the way a task's commands run.")
app.add_typer(sandbox_app, name="sandbox")
memory_app = _group("What memfun remembers: .memfun/MEMORY.md and its index.")
app.add_typer(memory_app, name="memory")
hook_app = _group("Review each commit's staged change before it is made.")
app.add_typer(hook_app, name="hook")
github_app = _group("The GitHub App: issues labelled or asked /memfun become tasks.")
app.add_typer(github_app, name="app")
traces_app = _group("Each task's trace: its model calls, prompts, answers and events.")
app.add_typer(traces_app, name="traces")
agent_app = _group("The agents of the workflow tier: nine specialists, as data.")
app.add_typer(agent_app, name="agent")
skill_app = _group("Agent Skills: list, show, follow or draft one.")
app.add_typer(skill_app, name="skill")

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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
MaxTasksOpt = Annotated[
    int | None, typer.Option("--max-tasks", help="Stop after this many tasks.", metavar="N")
]
IdleExitOpt = Annotated[
    float | None,
    typer.Option(
        "--idle-exit", help="Stop when the queue stays empty this long.", metavar="SECONDS"
    ),
]


class _Globals:
    """Options of the `memfun` command itself, before the subcommand."""

    repo: Path | None = None


_GLOBALS = _Globals()


def _version(value: bool) -> None:
    if value:
        print(f"memfun {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    ctx: typer.Context,
    repo: RepoOpt = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Log more on stderr.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """memfun-git: an autonomous coding agent that works through git.

    A request in plain language becomes reviewed, lint-clean commits on a branch of its own,
    made in a git worktree that never touches your files. With no command, at a terminal:
    the interactive chat.
    """
    _GLOBALS.repo = repo
    del verbose  # read by run() from the parsed context, to set up logging before the command
    if ctx.invoked_subcommand is None and sys.stdin.isatty() and sys.stdout.isatty():
        from memfun_git.cli.chat import run_chat

        raise typer.Exit(run_chat(_start()))  # `memfun` at a terminal: the chat
    _help_when_bare(ctx)


@config_app.callback()
def _config(ctx: typer.Context) -> None:
    _help_when_bare(ctx)


@sandbox_app.callback()
def _sandbox(ctx: typer.Context) -> None:
    _help_when_bare(ctx)


@memory_app.callback()
def _memory(ctx: typer.Context) -> None:
    _help_when_bare(ctx)


@hook_app.callback()
def _hook(ctx: typer.Context) -> None:
    _help_when_bare(ctx)


@github_app.callback()
def _github_app(ctx: typer.Context) -> None:
    _help_when_bare(ctx)


def _start() -> Path:
    return _GLOBALS.repo if _GLOBALS.repo is not None else Path.cwd()


def _llm_overrides(
    provider: str | None, model: str | None, base_url: str | None, engine: str | None
) -> dict[str, str | None]:
    """The [llm] values the model options set (None: not given)."""
    return {
        "llm.provider": provider,
        "llm.model": model,
        "llm.base_url": base_url,
        "llm.engine": engine,
    }


@app.command(cls=_Command)
def ask(
    question: Annotated[
        list[str],
        typer.Argument(help="What you want to know about the project.", metavar="QUESTION..."),
    ],
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    engine: EngineOpt = None,
    json_out: JsonOpt = False,
) -> int:
    """Ask a question about the project (one model call)."""
    from memfun_git.cli.ask import run_ask

    overrides = _llm_overrides(provider, model, base_url, engine)
    return run_ask(_start(), " ".join(question), overrides, json_out=json_out)


BaseOpt = Annotated[
    str | None,
    typer.Option(
        "--base", help="Start the branch from this commit (default: HEAD).", metavar="REF"
    ),
]
WithChangesOpt = Annotated[
    bool, typer.Option("--with-changes", help="Start from your uncommitted changes too.")
]
TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust-config-changes", help="Lint with the linter configuration the task itself changed."
    ),
]
MergeOpt = Annotated[
    bool, typer.Option("--merge", help="When done, merge the branch into the current one.")
]
TierOpt = Annotated[
    str,
    typer.Option(
        "--tier",
        help="auto (context-first; with [workflow] escalate, the workflow after it, then "
        "explore), context-first, workflow (specialists on branches of their own), or "
        "explore (a model-driven Python REPL in the sandbox).",
        metavar="TIER",
    ),
]


@app.command("run", cls=_Command, short_help="Turn a request into reviewed commits on a branch.")
def run_request(
    request: Annotated[
        list[str],
        typer.Argument(help="The change you want, in plain words.", metavar="REQUEST..."),
    ],
    base: BaseOpt = None,
    with_changes: WithChangesOpt = False,
    trust_config_changes: TrustOpt = False,
    task: Annotated[
        str | None,
        typer.Option(
            "--task", help="Continue this task's branch (a follow-up request).", metavar="ID"
        ),
    ] = None,
    merge: MergeOpt = False,
    tier: TierOpt = "auto",
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    engine: EngineOpt = None,
    json_out: JsonOpt = False,
) -> int:
    """Turn a request into reviewed, lint-clean commits on a branch of its own.

    The work happens in a worktree of its own; your files, index and branches are only read
    (with --merge, the branch is then merged as git would allow: see `memfun merge`).
    """
    return _run_task(
        request, (provider, model, base_url, engine), base=base, json_out=json_out,
        trust_config_changes=trust_config_changes, with_changes=with_changes, follow_up=task,
        merge=merge, tier=tier,
    )  # fmt: skip


def _run_task(words: list[str], llm: tuple[str | None, ...], **options: Any) -> int:
    """`memfun run` and `memfun fix`: the request's words, the --provider/--model/--base-url/
    --engine given, and the rest of `cli.run.run_request`'s options."""
    from memfun_git.cli.run import run_request as run_it

    provider, model, base_url, engine = llm
    overrides = _llm_overrides(provider, model, base_url, engine)
    return run_it(_start(), " ".join(words), overrides, **options)


@app.command(cls=_Command, short_help="Fix a bug from its report: a task, the debugger's.")
def fix(
    bug: Annotated[
        list[str],
        typer.Argument(help="What goes wrong, in plain words.", metavar="BUG..."),
    ],
    base: BaseOpt = None,
    with_changes: WithChangesOpt = False,
    trust_config_changes: TrustOpt = False,
    merge: MergeOpt = False,
    tier: TierOpt = "auto",
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    engine: EngineOpt = None,
    json_out: JsonOpt = False,
) -> int:
    """Fix a bug: a task whose request is the bug report (find the cause, fix it, add a test
    that fails without the fix); in the workflow tier the debugger specialist makes the fix.
    Like `memfun run`, on a branch of its own; your files are only read."""
    return _run_task(
        bug, (provider, model, base_url, engine), base=base, json_out=json_out,
        trust_config_changes=trust_config_changes, with_changes=with_changes, merge=merge,
        tier=tier, kind="fix",
    )  # fmt: skip


@app.command("list", cls=_Command, short_help="List the tasks: status, branch, delivered, age.")
def list_tasks(json_out: JsonOpt = False) -> int:
    """List the tasks of this repository, newest first."""
    from memfun_git.cli.tasks import run_list

    return run_list(_start(), json_out=json_out)


TaskArg = Annotated[str, typer.Argument(help="The task's id (or its unique start).", metavar="ID")]
OptionalTaskArg = Annotated[
    str | None,
    typer.Argument(help="The task's id (default: the latest done task).", metavar="ID"),
]


@app.command(cls=_Command, short_help="Show a task: request, operations, gate, usage, commits.")
def show(task: TaskArg, json_out: JsonOpt = False) -> int:
    """Show what a task did: its request, operations, verdicts, usage, commits and attempts."""
    from memfun_git.cli.tasks import run_show

    return run_show(_start(), task, json_out=json_out)


@app.command(cls=_Command, short_help="Show a task's changes against its base (git diff).")
def diff(
    task: TaskArg,
    stat: Annotated[bool, typer.Option("--stat", help="Only the files and counts.")] = False,
) -> int:
    """Show a task's changes against the commit it started from, as git diff shows them."""
    from memfun_git.cli.tasks import run_diff

    return run_diff(_start(), task, stat=stat)


@app.command(cls=_Command, short_help="Merge a task's branch into the current branch.")
def merge(task: OptionalTaskArg = None, json_out: JsonOpt = False) -> int:
    """Merge a task's branch into the current branch, only as git would allow.

    A fast-forward when possible, else a merge commit when your tracked files are clean and
    nothing conflicts; otherwise nothing changes and the reason is said.
    """
    from memfun_git.cli.tasks import run_merge

    return run_merge(_start(), task, json_out=json_out)


@app.command(cls=_Command, short_help="Undo a task: revert it, or delete its branch.")
def undo(
    task: OptionalTaskArg = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Delete an undelivered branch without asking.")
    ] = False,
    json_out: JsonOpt = False,
) -> int:
    """Undo a task: a revert commit when it is in the current branch; its branch deleted
    (tip kept as an attempt) when it was delivered nowhere."""
    from memfun_git.cli.tasks import run_undo

    return run_undo(_start(), task, yes=yes, json_out=json_out)


@app.command(cls=_Command, short_help="See a whole task happen: a sample, recorded answers.")
def demo(
    folder: Annotated[
        Path | None,
        typer.Option(
            "--dir",
            help="Where to put the sample (default: a new temporary folder).",
            metavar="DIR",
        ),
    ] = None,
) -> int:
    """Run one real task on a small sample project, with recorded model answers.

    A worktree, real edits, ruff in the sandbox (one lint error fixed), real commits; no model
    is called and nothing leaves this machine.
    """
    from memfun_git.cli.demo import run_demo

    return run_demo(folder)


@app.command(cls=_Command, short_help="Show the code map: what each file defines.")
def analyze(
    path: Annotated[
        str | None,
        typer.Argument(help="A file or folder to map (default: the repository).", metavar="PATH"),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Build cold, without the cache.")
    ] = False,
    budget: Annotated[
        int | None,
        typer.Option("--budget", help="Render the map within N tokens.", metavar="N"),
    ] = None,
    query: Annotated[
        str | None,
        typer.Option("--query", help="Rank files for this request.", metavar="REQUEST"),
    ] = None,
    json_out: JsonOpt = False,
) -> int:
    """Show the code map: each file with its classes, functions and methods.

    With --query, files are ranked for the request and rendered as the planner sees them.
    """
    from memfun_git.cli.analyze import run_analyze

    return run_analyze(
        _start(), path, json_out=json_out, no_cache=no_cache, budget=budget, query=query
    )


@app.command(cls=_Command, short_help="Set up memfun here: memfun.toml and .gitattributes.")
def init(
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    api_key_env: Annotated[
        str | None,
        typer.Option(
            "--api-key-env",
            help="Name of the variable holding the key (not the key).",
            metavar="NAME",
        ),
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


@config_app.command("show", cls=_Command, short_help="The configuration in force, and its sources.")
def config_show(
    json_out: JsonOpt = False,
) -> int:
    """Print the configuration in force, with where each value came from (secrets masked)."""
    from memfun_git.cli.admin import run_config_show

    return run_config_show(_start(), json_out=json_out)


@app.command(cls=_Command, short_help="Check what a task needs; say how to fix each.")
def doctor(
    online: Annotated[
        bool, typer.Option("--online", help="Also send one real request to the model endpoint.")
    ] = False,
) -> int:
    """Check git, the model endpoint, the sandbox, linters and the backend; say how to fix each."""
    from memfun_git.cli.admin import run_doctor

    return run_doctor(_start(), online=online)


@app.command(cls=_Command, short_help="Remove memfun's finished worktrees and branches.")
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


@app.command(cls=_Command, short_help="Review a change: staged, uncommitted, or commits.")
def review(
    target: Annotated[
        str | None,
        typer.Argument(
            help="A path (its uncommitted changes) or a commit, A..B or A...B; "
            "none: every uncommitted change.",
            metavar="[PATH|REF]",
        ),
    ] = None,
    staged: Annotated[
        bool, typer.Option("--staged", help="Review what is staged, as the hook does.")
    ] = False,
    threshold: Annotated[
        str | None,
        typer.Option(
            "--threshold",
            help="info | warning | error: findings this severe exit 1 (default: [hook] threshold).",
            metavar="SEVERITY",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> int:
    """Review a change with the program the pre-commit hook and the GitHub Action use; a
    finding at or over the threshold exits 1. Nothing is changed."""
    from memfun_git.cli.review import run_review

    return run_review(_start(), target, staged_only=staged, threshold=threshold, json_out=json_out)


SkillArg = Annotated[str, typer.Argument(help="The skill's name.", metavar="NAME")]


@skill_app.command("list", cls=_Command, short_help="The skills found, and where from.")
def skill_list(json_out: JsonOpt = False) -> int:
    """List the skills memfun finds (later places override earlier ones by name): built in,
    the project's .memfun/skills, ~/.memfun/skills, the project's .claude/skills."""
    from memfun_git.cli.skills import run_skill_list

    return run_skill_list(_start(), json_out=json_out)


@skill_app.command("show", cls=_Command, short_help="A skill's description and instructions.")
def skill_show(name: SkillArg, json_out: JsonOpt = False) -> int:
    """Show a skill: where it comes from, its mode, its scripts and its instructions."""
    from memfun_git.cli.skills import run_skill_show

    return run_skill_show(_start(), name, json_out=json_out)


@skill_app.command("new", cls=_Command, short_help="Draft a skill from the traces of past tasks.")
def skill_new(
    name: SkillArg,
    from_traces: Annotated[
        bool,
        typer.Option(
            "--from-traces", help="Draft it from the traces of similar tasks that went well."
        ),
    ] = False,
    about: Annotated[
        str,
        typer.Option("--about", help="What the skill is for (default: its name).", metavar="TEXT"),
    ] = "",
    most: Annotated[
        int, typer.Option("--most", help="Tasks to learn from, at most.", metavar="N")
    ] = 5,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    engine: EngineOpt = None,
) -> int:
    """Draft .memfun/skills/NAME/SKILL.md from the traces of tasks like it that went well
    (one model call); review it, then commit it."""
    from memfun_git.cli.skills import run_skill_new

    overrides = _llm_overrides(provider, model, base_url, engine)
    return run_skill_new(_start(), name, overrides, from_traces=from_traces, about=about, most=most)


@skill_app.command("run", cls=_Command, short_help="Follow a skill: a task or an answer.")
def skill_run(
    name: SkillArg,
    request: Annotated[
        list[str], typer.Argument(help="What to do with it, in plain words.", metavar="REQUEST...")
    ],
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    engine: EngineOpt = None,
    json_out: JsonOpt = False,
) -> int:
    """Follow a skill: a task (reviewed commits on a branch of its own, the skill's scripts
    run only in the sandbox) when it changes files, else an answer."""
    from memfun_git.cli.skills import run_skill

    overrides = _llm_overrides(provider, model, base_url, engine)
    return run_skill(_start(), name, " ".join(request), overrides, json_out=json_out)


@app.command(cls=_Command, short_help="Compile the plan, solve and review programs from traces.")
def optimize(
    steps: Annotated[
        str,
        typer.Option(
            "--steps", help="The programs to compile: plan, solve, review.", metavar="LIST"
        ),
    ] = "plan,solve,review",
    max_calls: Annotated[
        int, typer.Option("--max-calls", help="Model calls to spend, at most.", metavar="N")
    ] = 60,
    max_cost: Annotated[
        float | None,
        typer.Option(
            "--max-cost",
            help="US dollars to spend, at most ([llm] max_cost_per_task).",
            metavar="USD",
        ),
    ] = None,
    threads: Annotated[
        int, typer.Option("--threads", help="Runs of a program at once.", metavar="N")
    ] = 4,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Spend the budget without asking.")
    ] = False,
    provider: ProviderOpt = None,
    model: ModelOpt = None,
    base_url: BaseUrlOpt = None,
    engine: EngineOpt = None,
) -> int:
    """Compile the programs of the plan, solve and review steps with GEPA from this project's
    traces, scored by what its gates and reviews accepted; the budget is printed and confirmed
    first. Saved to .memfun/programs/ for you to commit: tasks use them from then on."""
    from memfun_git.cli.optimize import run_optimize

    overrides = _llm_overrides(provider, model, base_url, engine)
    return run_optimize(
        _start(), overrides, steps=steps, max_calls=max_calls, max_cost=max_cost,
        threads=threads, yes=yes,
    )  # fmt: skip


@app.command(cls=_Command, short_help="Serve memfun's tools to other agents (MCP).")
def mcp(
    http: Annotated[
        bool, typer.Option("--http", help="Serve streamable HTTP on 127.0.0.1, not stdio.")
    ] = False,
    port: Annotated[
        int, typer.Option("--port", help="The HTTP port (with --http).", metavar="PORT")
    ] = 8765,
) -> int:
    """Serve this repository's tools over MCP (stdio by default): read_file, search_code,
    code_map, git_log, git_diff, recall, remember, and run_task (gated commits on a branch of
    its own, never edits in place)."""
    from memfun_git.tools.server import build_server

    server = build_server(_start())
    if http:
        server.run(transport="http", host="127.0.0.1", port=port, show_banner=False)
    else:
        server.run(show_banner=False)
    return 0


@agent_app.command("list", cls=_Command, short_help="The agent definitions: the specialists.")
def agent_list(json_out: JsonOpt = False) -> int:
    """List the specialists the workflow tier's decomposer gives sub-tasks to: each one's
    steps cap, whether it writes files, its tools and its role."""
    from memfun_git.cli.agents import run_agent_list

    return run_agent_list(json_out=json_out)


@traces_app.command("list", cls=_Command, short_help="The traced tasks, newest first.")
def traces_list(json_out: JsonOpt = False) -> int:
    """List the tasks whose trace is kept here: status, model calls, tokens, cost, time."""
    from memfun_git.cli.traces import run_traces_list

    return run_traces_list(_start(), json_out=json_out)


@traces_app.command("show", cls=_Command, short_help="A task's trace: events, calls, prompts.")
def traces_show(
    task: Annotated[str, typer.Argument(help="The task's id (or its start).", metavar="ID")],
    full: Annotated[
        bool, typer.Option("--full", help="Print each prompt and answer whole.")
    ] = False,
    json_out: JsonOpt = False,
) -> int:
    """Show a task's trace: its usage per step, its events, then each model call with its
    prompt and answer (redacted)."""
    from memfun_git.cli.traces import run_traces_show

    return run_traces_show(_start(), task, json_out=json_out, full=full)


@memory_app.command("list", cls=_Command, short_help="Every entry memfun remembers here.")
def memory_list(json_out: JsonOpt = False) -> int:
    """List what memfun remembers in this repository (and ~/.memfun/MEMORY.md)."""
    from memfun_git.cli.memory import run_memory_list

    return run_memory_list(_start(), json_out=json_out)


@memory_app.command("add", cls=_Command, short_help="Remember something (edits MEMORY.md).")
def memory_add(
    text: Annotated[list[str], typer.Argument(help="What to remember.", metavar="TEXT...")],
    kind: Annotated[
        str,
        typer.Option("--kind", help="preference, fact, convention or decision.", metavar="KIND"),
    ] = "fact",
    json_out: JsonOpt = False,
) -> int:
    """Remember something: a line in .memfun/MEMORY.md (yours to commit) and the index."""
    from memfun_git.cli.memory import run_memory_add

    return run_memory_add(_start(), " ".join(text), kind, json_out=json_out)


@memory_app.command("forget", cls=_Command, short_help="Forget an entry by its id.")
def memory_forget(
    entry: Annotated[str, typer.Argument(help="The entry's id (or its start).", metavar="ID")],
    json_out: JsonOpt = False,
) -> int:
    """Forget an entry: out of .memfun/MEMORY.md, and never recalled again here."""
    from memfun_git.cli.memory import run_memory_forget

    return run_memory_forget(_start(), entry, json_out=json_out)


@memory_app.command("search", cls=_Command, short_help="The entries a request would recall.")
def memory_search(
    query: Annotated[list[str], typer.Argument(help="A request or words.", metavar="QUERY...")],
    json_out: JsonOpt = False,
) -> int:
    """Show the entries a request would recall, best first."""
    from memfun_git.cli.memory import run_memory_search

    return run_memory_search(_start(), " ".join(query), json_out=json_out)


@app.command(cls=_Command, short_help="Queue a request for the workers ([backend] tier).")
def submit(
    request: Annotated[
        list[str], typer.Argument(help="What to change, in plain words.", metavar="REQUEST...")
    ],
    base: Annotated[
        str, typer.Option("--base", help="The commit to start from (default HEAD).", metavar="REF")
    ] = "HEAD",
    json_out: JsonOpt = False,
) -> int:
    """Queue a request: a worker (`memfun worker`, on this or another clone) runs it and pushes
    its branch memfun/ID to the remote. The base must be on the remote."""
    from memfun_git.cli.workers import run_submit

    return run_submit(_start(), " ".join(request), base=base, json_out=json_out)


@app.command(cls=_Command, short_help="Run queued tasks and push their branches.")
def worker(
    remote: Annotated[
        str,
        typer.Option("--remote", help="Where to fetch bases and push branches.", metavar="NAME"),
    ] = "origin",
    max_tasks: MaxTasksOpt = None,
    idle_exit: IdleExitOpt = None,
) -> int:
    """Lease tasks from the queue of [backend] tier, run each through the engine in this clone,
    and push its branch to the remote (several workers, on several machines, share a queue)."""
    from memfun_git.cli.workers import run_worker_command

    return run_worker_command(_start(), remote=remote, max_tasks=max_tasks, idle_exit=idle_exit)


@app.command(cls=_Command, short_help="The queue: depth, live workers, running and failed tasks.")
def status(json_out: JsonOpt = False) -> int:
    """Show the task queue of [backend] tier: tasks waiting, live workers, running, done and
    failed (dead-lettered) tasks."""
    from memfun_git.cli.workers import run_status

    return run_status(_start(), json_out=json_out)


@app.command(cls=_Command, short_help="Run as a GitHub Action step (see action.yml).")
def action() -> int:
    """Run as a step of a GitHub Actions job: review the pull request the event names.

    Reads GITHUB_EVENT_NAME, GITHUB_EVENT_PATH, GITHUB_REPOSITORY, GITHUB_API_URL and the
    step's inputs (INPUT_GITHUB-TOKEN, INPUT_MODEL...); writes the job summary and outputs.
    """
    from memfun_git.github.action import run_action

    return run_action()


@github_app.command("serve", cls=_Command, short_help="Serve the App's webhook (POST /webhook).")
def app_serve(
    host: Annotated[
        str, typer.Option("--host", help="The address to listen on.", metavar="ADDRESS")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="The port to listen on (0: any free one).", metavar="N")
    ] = 8080,
) -> int:
    """Serve the GitHub App's webhook: signed deliveries become tasks on the [backend] tier's
    queue, for `memfun app worker` processes to take.

    Needs the App's webhook secret in $MEMFUN_WEBHOOK_SECRET (or the variable [github]
    webhook_secret_env names). POST /webhook, GET /healthz, GET / (the status page).
    """
    from memfun_git.cli.appserve import run_app_serve

    return run_app_serve(_start(), host=host, port=port)


@github_app.command("worker", cls=_Command, short_help="Turn the App's queued issues into PRs.")
def app_worker(
    max_tasks: MaxTasksOpt = None,
    idle_exit: IdleExitOpt = None,
) -> int:
    """Lease the App's jobs from the [backend] tier's queue (where `memfun app serve` puts
    them), run each through the engine and open a draft pull request.

    Runs in the App's home folder (its memfun.toml; repositories are kept in repos/). Needs the
    App's id and private key in $MEMFUN_APP_ID and $MEMFUN_APP_PRIVATE_KEY (or the variables
    [github] names, or [github] private_key_file).
    """
    from memfun_git.cli.appworker import run_app_worker

    return run_app_worker(_start(), max_tasks=max_tasks, idle_exit=idle_exit)


@hook_app.command("review", cls=_Command, short_help="Review the staged change (exit 1: blocked).")
def hook_review(
    threshold: Annotated[
        str | None,
        typer.Option(
            "--threshold",
            help="info | warning | error: findings this severe block (default: [hook] threshold).",
            metavar="SEVERITY",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> int:
    """Review what is staged for the next commit; a finding at or over the threshold blocks.

    What the pre-commit framework's memfun-review hook and `memfun hook install`'s git hook
    run. It never changes a file; the same staged content is answered from a cache.
    """
    from memfun_git.cli.hook import run_hook_review

    return run_hook_review(_start(), threshold=threshold, json_out=json_out)


@hook_app.command("install", cls=_Command, short_help="Install the review as a git hook.")
def hook_install() -> int:
    """Write a git pre-commit hook that runs `memfun hook review` (without the pre-commit
    framework). A hook already there is kept and runs first."""
    from memfun_git.cli.hook import run_hook_install

    return run_hook_install(_start())


@hook_app.command("uninstall", cls=_Command, short_help="Remove memfun's git hook.")
def hook_uninstall() -> int:
    """Remove the git hook `memfun hook install` wrote, putting back the one it chained to."""
    from memfun_git.cli.hook import run_hook_uninstall

    return run_hook_uninstall(_start())


@sandbox_app.command(
    "run",
    cls=_Command,
    short_help="Run a command exactly as a task would.",
    # The command's own options follow it (`-- pytest -q`); an unknown option before the
    # command is a usage error, not a program to run.
    context_settings={"allow_interspersed_args": False},
)
def sandbox_run(
    command: Annotated[
        list[str],
        typer.Argument(help="The command and its arguments, after --.", metavar="-- COMMAND..."),
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
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    args = list(sys.argv[1:] if argv is None else argv)
    register_environ()
    with _stop_signals_unwind(), handle_errors(_crash_dir) as result:
        result[0] = _dispatch(args)
    return result[0]


def _dispatch(args: list[str]) -> int:
    from memfun_git.cli.errors_click import click_usage_error, is_click_abort

    command = typer.main.get_command(app)
    try:
        # Not command.main(): typer turns Ctrl-C into a silent exit 130 there.
        with command.make_context("memfun", args) as ctx:
            # The parser has read memfun's own options (before the subcommand only); logging
            # is set up from them before the subcommand's arguments are parsed and it runs.
            repo: Path | None = ctx.params.get("repo")
            with logging_handler(log_dir(repo), verbose=bool(ctx.params.get("verbose"))):
                rv = command.invoke(ctx)
    except typer.Exit as exc:
        rv = exc.exit_code
    except Exception as exc:
        usage = click_usage_error(exc, args, _command_names(command))
        if usage is not None:
            raise UsageError(*usage) from None
        if is_click_abort(exc):
            raise KeyboardInterrupt from None
        raise
    return int(rv) if isinstance(rv, int) else int(ExitCode.OK)


def _command_names(command: object) -> list[str]:
    return sorted(getattr(command, "commands", {}))


# Stop signals that unwind like Ctrl-C: SIGTERM (workers, CI, `kill`) and SIGHUP (the terminal
# was closed). Looked up by name: Windows has no SIGHUP.
_STOP_SIGNALS = ("SIGTERM", "SIGHUP")


@contextlib.contextmanager
def _stop_signals_unwind() -> Generator[None]:
    """SIGTERM and SIGHUP unwind like Ctrl-C (exit 128 + N), so workspaces clean up and keep
    attempts. A signal memfun was started with ignored (`nohup`) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Terminated(signum)

    previous: dict[int, Any] = {}
    for name in _STOP_SIGNALS:
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, stop)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


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
