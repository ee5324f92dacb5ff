"""The gate's linters: which ones a change calls for, and running each in the sandbox.

One table entry per linter (`LINTERS`): its program, the files it checks, the files that say a
project uses it, the folder it runs in, its arguments and its output's parser. A linter is
detected when a file that says so sits at the root of the base commit or the worktree
(`pyproject.toml`, `package.json`, `go.mod`, `Cargo.toml`, a ruff or eslint config), or in
a folder above a changed file of its kind (a `go.mod` in `backend/`); ruff needs no project
file (a changed `.py` file is enough: ruff runs without configuration). `[gate] linters`
replaces detection; a name memfun does not know is a `ConfigError`.

Each linter runs once per folder it runs in, on the changed files only (go vet on their
packages, cargo check on their package), inside the sandbox: its binary is the one the
sandbox finds (the user's main tree's `.venv/bin`, `venv/bin`, `node_modules/.bin`, the active
virtualenv, then PATH; never the worktree) and the verdict names it. Flags keep caches out of
the worktree and ask for output our parsers read (`lintparse.py`), in forms old versions
accept too (eslint 8 with an `.eslintrc` as well as eslint 9). Outcomes: exit 0 passes
(warnings kept as findings); a non-zero exit with findings fails; one without findings, or a
time-out, is the linter breaking (`error`, fails the gate, its own output shown). A program
that cannot be found is `missing` when configured (fails, saying where it was looked for) and
`skipped` when only detected (a note, no failure).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from memfun_git.errors import ConfigError, MemfunError, ProgramNotFound
from memfun_git.quality.lintparse import (
    clean_text,
    parse_cargo,
    parse_eslint,
    parse_go_vet,
    parse_pre_commit,
    parse_ruff,
    pre_commit_fixers,
    pre_commit_unavailable,
)
from memfun_git.quality.verdicts import Finding, LintStatus, LintVerdict
from memfun_git.sandbox.precommit import CONFIG as PRE_COMMIT_CONFIG

if TYPE_CHECKING:
    from memfun_git.backends.protocols import RunResult, SandboxAdapter

__all__ = [
    "ESLINT_CONFIGS",
    "LINTERS",
    "Linter",
    "detect",
    "linter_named",
    "looked_in",
    "run_linter",
]

MAX_OUTPUT = 20_000
"""Characters of a linter's output kept in a verdict (the rest is counted, not shown)."""

ESLINT_CONFIGS = tuple(
    f"eslint.config.{ext}" for ext in ("js", "mjs", "cjs", "ts", "mts", "cts")
) + tuple(f".eslintrc{ext}" for ext in ("", ".js", ".cjs", ".json", ".yml", ".yaml"))

MEMFUN_HOOKS = ("memfun-review",)
"""memfun's own pre-commit hooks, skipped when the gate runs the project's hooks (the gate
reviews the change itself)."""

ENVIRONMENT_BINS = (".venv/bin", "venv/bin", "node_modules/.bin")
"""Folders of the user's main tree searched before the active virtualenv and PATH."""

Parser = Callable[[str, str, Path, str], tuple[Finding, ...]]
"""(stdout, stderr, worktree, folder it ran in) -> findings."""


@dataclass(frozen=True, slots=True)
class Linter:
    name: str
    """The name `[gate] linters` and the `Memfun-Gate` trailer use."""
    program: str
    extensions: tuple[str, ...]
    """The changed files it checks."""
    markers: tuple[str, ...]
    """Files that say a project uses it (at the root, or above a changed file)."""
    args: Callable[[Sequence[str]], list[str]]
    """Its arguments, given the targets (paths relative to the folder it runs in)."""
    parse: Parser
    run_in: tuple[str, ...] = ()
    """It runs in the nearest folder above a changed file that holds one of these (go.mod);
    empty: at the worktree's root."""
    run_in_only: bool = False
    """True: a changed file with no `run_in` file above it is not checked (go vet and cargo
    check need their module or package)."""
    needs_project: bool = True
    """False: a changed file of its kind is enough to run it (ruff needs no config)."""
    packages: bool = False
    """Targets are the changed files' folders as packages (`./pkg`), not the files."""
    env: Mapping[str, str] = field(default_factory=dict[str, str])
    unavailable: Callable[[str, str], str | None] | None = None
    """(stdout, stderr) -> why the linter's own tools are not there (pre-commit's hooks not
    installed): the verdict is `missing`, saying so."""
    fixers: Callable[[str], tuple[str, ...]] | None = None
    """stdout -> what changed the checked files (pre-commit's fixing hooks): when something
    did, the linter runs once more and that run is the verdict."""


def _ruff_args(targets: Sequence[str]) -> list[str]:
    # --force-exclude: the project's `exclude` applies to files named on the command line too.
    return ["check", "--no-cache", "--output-format=json", "--force-exclude", "--", *targets]


def _eslint_args(targets: Sequence[str]) -> list[str]:
    # Not --no-warn-ignored: eslint 8 refuses it; its "File ignored" warning is dropped instead.
    return ["--format", "json", "--", *targets]


def _go_args(targets: Sequence[str]) -> list[str]:
    return ["vet", *targets]


def _cargo_args(targets: Sequence[str]) -> list[str]:
    return ["check", "--message-format=json", "--quiet", "--offline", "--all-targets"]


def _pre_commit_args(targets: Sequence[str]) -> list[str]:
    return ["run", "--color=never", "--files", *targets]


LINTERS: tuple[Linter, ...] = (
    Linter(
        "ruff",
        "ruff",
        (".py", ".pyi"),
        ("pyproject.toml", "setup.py", "setup.cfg", "ruff.toml", ".ruff.toml"),
        _ruff_args,
        lambda out, err, tree, cwd: parse_ruff(out, tree, cwd),
        needs_project=False,
    ),
    Linter(
        "eslint",
        "eslint",
        (".js", ".jsx", ".mjs", ".cjs", ".ts", ".tsx", ".mts", ".cts"),
        ("package.json", *ESLINT_CONFIGS),
        _eslint_args,
        lambda out, err, tree, cwd: parse_eslint(out, tree, cwd),
        run_in=ESLINT_CONFIGS[:6],
    ),
    Linter(
        "go",
        "go",
        (".go",),
        ("go.mod",),
        _go_args,
        lambda out, err, tree, cwd: parse_go_vet(err, tree, cwd),
        run_in=("go.mod",),
        run_in_only=True,
        packages=True,
        env={"GOPROXY": "off", "GOTOOLCHAIN": "local", "GOTELEMETRY": "off"},
    ),
    Linter(
        "cargo",
        "cargo",
        (".rs",),
        ("Cargo.toml",),
        _cargo_args,
        lambda out, err, tree, cwd: parse_cargo(out, tree, cwd),
        run_in=("Cargo.toml",),
        run_in_only=True,
        env={"CARGO_NET_OFFLINE": "true", "CARGO_TERM_COLOR": "never"},
    ),
    Linter(
        "pre-commit",
        "pre-commit",
        ("",),  # every changed file: the hooks' own `files`/`types` choose
        (PRE_COMMIT_CONFIG,),
        _pre_commit_args,
        lambda out, err, tree, cwd: parse_pre_commit(out, tree, cwd),
        env={"SKIP": ",".join(MEMFUN_HOOKS)},
        unavailable=pre_commit_unavailable,
        fixers=pre_commit_fixers,
    ),
)


def linter_named(name: str) -> Linter:
    """The table's entry for a `[gate] linters` name, or the ConfigError naming the choices."""
    for linter in LINTERS:
        if linter.name == name:
            return linter
    known = ", ".join(linter.name for linter in LINTERS)
    raise ConfigError(
        f"[gate] linters names {name!r}, which memfun cannot run", f"use some of: {known}"
    )


def _has(exists: Callable[[str], bool], folder: PurePosixPath, names: Iterable[str]) -> bool:
    return any(exists((folder / name).as_posix()) for name in names)


def _folders_up(path: str) -> list[PurePosixPath]:
    """The folders above `path`, nearest first, ending with the root ('.')."""
    return list(PurePosixPath(path).parents)


def _run_folder(linter: Linter, path: str, exists: Callable[[str], bool]) -> str | None:
    """Where `linter` runs for the changed file `path`: the nearest folder holding one of its
    `run_in` files, the root when it has none; None when it needs one and there is none."""
    if not linter.run_in:
        return "."
    for folder in _folders_up(path):
        if _has(exists, folder, linter.run_in):
            return folder.as_posix()
    return None if linter.run_in_only else "."


def detect(
    changed: Sequence[str], exists: Callable[[str], bool], configured: Sequence[str] = ()
) -> tuple[Linter, ...]:
    """The linters to run: `configured` ([gate] linters) when given, else those detected.

    `exists(rel)` says whether a file is at `rel` in the base commit or the worktree."""
    if configured:
        return tuple(linter_named(name) for name in dict.fromkeys(configured))
    found: list[Linter] = []
    for linter in LINTERS:
        if _has(exists, PurePosixPath("."), linter.markers):
            found.append(linter)
            continue
        mine = [p for p in changed if p.endswith(linter.extensions)]
        if any(
            not linter.needs_project
            or any(_has(exists, folder, linter.markers) for folder in _folders_up(p))
            for p in mine
        ):
            found.append(linter)
    return tuple(found)


def looked_in(user_tree: Path, environ: Mapping[str, str]) -> tuple[str, ...]:
    """Where programs are looked for, in order: the user's main tree's environments, the
    active virtualenv, then PATH's absolute folders (what the sandbox's resolver searches)."""
    places = [str(user_tree / sub) for sub in ENVIRONMENT_BINS]
    active = environ.get("VIRTUAL_ENV", "")
    if os.path.isabs(active):
        places.append(str(Path(active) / "bin"))
    path = environ.get("PATH", os.defpath).split(os.pathsep)
    return tuple(dict.fromkeys([*places, *(p for p in path if os.path.isabs(p))]))


@dataclass(frozen=True, slots=True)
class _Run:
    folder: str
    targets: tuple[str, ...]


def _runs(linter: Linter, files: Sequence[str], exists: Callable[[str], bool]) -> list[_Run]:
    """The runs `linter` needs for the changed `files`: one per folder it runs in."""
    groups: dict[str, list[str]] = {}
    for path in files:
        if not path.endswith(linter.extensions):
            continue
        folder = _run_folder(linter, path, exists)
        if folder is None:
            continue
        rel = PurePosixPath(os.path.relpath(path, folder)).as_posix()
        if linter.packages:
            parent = PurePosixPath(rel).parent.as_posix()
            rel = "." if parent == "." else f"./{parent}"
        groups.setdefault(folder, [])
        if rel not in groups[folder]:
            groups[folder].append(rel)
    return [_Run(folder, tuple(targets)) for folder, targets in sorted(groups.items())]


def run_linter(
    linter: Linter,
    sandbox: SandboxAdapter,
    files: Sequence[str],
    worktree: Path,
    *,
    exists: Callable[[str], bool],
    configured: bool,
    places: Sequence[str],
    timeout: float | None = None,
) -> LintVerdict:
    """Run `linter` on the changed `files` (relative to the worktree) in the sandbox."""
    runs = _runs(linter, files, exists)
    if not runs:
        return LintVerdict(linter.name, "skipped", output="no changed files it checks")
    try:
        program = sandbox.which(linter.program, runs[0].folder)
    except ProgramNotFound:
        status: LintStatus = "missing" if configured else "skipped"
        why = "is configured in [gate] linters but" if configured else "was detected but"
        return LintVerdict(
            linter.name,
            status,
            output=f"{linter.program} {why} is not installed (looked in {', '.join(places)})",
            looked_in=tuple(places),
        )
    except MemfunError as exc:
        return LintVerdict(linter.name, "error", output=clean_text(str(exc)))
    started = time.monotonic()
    statuses: list[LintStatus] = []
    findings: list[Finding] = []
    texts: list[str] = []
    for run in runs:

        def once(run: _Run = run) -> RunResult:
            argv = [linter.program, *linter.args(run.targets)]
            return sandbox.run(argv, cwd=run.folder, timeout=timeout, env=dict(linter.env))

        result = once()
        fixed = linter.fixers(result.stdout) if linter.fixers and result.exit_code else ()
        if fixed:
            result = once()
            texts.append(f"fixed by {', '.join(fixed)} (the changes are kept)")
        why = linter.unavailable(result.stdout, result.stderr) if linter.unavailable else None
        if why is not None and result.exit_code != 0:
            statuses.append("missing")
            texts.append(why)
            continue
        found = linter.parse(result.stdout, result.stderr, worktree, run.folder)
        findings.extend(found)
        status = _status(result, found)
        statuses.append(status)
        texts.append(_output(result, found, status))
    seconds = time.monotonic() - started
    worst = max(statuses, key=("pass", "fail", "missing", "error").index)
    return LintVerdict(
        linter.name,
        worst,
        program=program,
        output=_cap("\n".join(t for t in texts if t)),
        findings=tuple(dict.fromkeys(findings)),  # cargo reports a file once per target
        seconds=seconds,
    )


def _status(result: RunResult, found: tuple[Finding, ...]) -> LintStatus:
    if result.timed_out:
        return "error"
    if result.exit_code == 0:
        return "pass"
    return "fail" if found else "error"


def _output(result: RunResult, found: tuple[Finding, ...], status: LintStatus) -> str:
    """What the user and the model are shown of one run: the findings, one a line, and what
    the linter said besides; all it printed when it broke."""
    if result.timed_out:
        return f"timed out after {result.seconds:.0f} s\n{clean_text(result.stderr)}".strip()
    if status == "error":
        return clean_text(f"exit {result.exit_code}\n{result.stdout}\n{result.stderr}").strip()
    lines = [f.render() for f in found]
    return "\n".join(lines)


def _cap(text: str) -> str:
    if len(text) <= MAX_OUTPUT:
        return text
    cut = text[:MAX_OUTPUT].rsplit("\n", 1)[0]
    return f"{cut}\n… {text.count(chr(10)) - cut.count(chr(10))} more lines"
