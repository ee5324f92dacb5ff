"""One lint of a task's change: detect, swap in the base configuration, run, name what changed.

`Linting` holds what stays the same across the gate's lint runs (the base, the sandbox, the
linters asked for, whether the task's configuration is trusted, the paths that may hold
configuration) and `run(paths)` lints the changed files among `paths` once. Verdicts carry
their linter's configuration changes and the new suppressions in its files; `LintRun` keeps
all of them, memfun.toml's included.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from memfun_git.quality.changes import Change
from memfun_git.quality.configs import (
    CONFIG_NAMES,
    ConfigChange,
    Suppression,
    base_configuration,
    config_changes,
    new_suppressions,
)
from memfun_git.quality.linters import detect, run_linter
from memfun_git.quality.verdicts import LintVerdict

if TYPE_CHECKING:
    from memfun_git.backends.protocols import SandboxAdapter

__all__ = ["LintRun", "Linting"]


@dataclass(frozen=True, slots=True)
class LintRun:
    verdicts: tuple[LintVerdict, ...]
    config_changes: tuple[ConfigChange, ...]
    suppressions: tuple[Suppression, ...]
    files: tuple[str, ...]
    """The changed files the linters were given."""

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)

    @property
    def fixable(self) -> bool:
        """True when a fix round can help: something failed, and no linter is missing or
        broken (no edit of the code mends those)."""
        statuses = {v.status for v in self.verdicts}
        return "fail" in statuses and not statuses & {"missing", "error"}


@dataclass
class Linting:
    change: Change
    sandbox: SandboxAdapter
    places: Sequence[str]
    """Where programs are looked for (named when a configured linter is missing)."""
    configured: Sequence[str] = ()
    """[gate] linters; empty: detect."""
    trusted: bool = False
    """Lint with the task's own configuration (--trust-config-changes)."""
    candidates: Iterable[str] = ()
    """Worktree paths that may hold configuration besides the ones linted (what commands
    left: the workspace's dirty paths)."""
    timeout: float | None = None

    def __post_init__(self) -> None:
        self._base = frozenset(self.change.base_paths(CONFIG_NAMES))
        self._extra = frozenset(self.candidates)

    def run(self, paths: Iterable[str]) -> LintRun:
        """Lint the files among `paths` that the task changed."""
        paths = tuple(dict.fromkeys(paths))
        change = self.change
        changes = config_changes(change, sorted(self._base | self._extra | set(paths)))
        swapped = () if self.trusted else tuple(c for c in changes if c.owner != "memfun")
        skip = {c.path for c in swapped}
        files = tuple(
            p for p in paths if p not in skip and change.task(p) is not None and change.changed(p)
        )
        suppressions = new_suppressions(change, files)
        # A configuration the task added and that is not used is not there while linting: it
        # does not call for its linter (pre-commit without a configuration fails).
        gone = {c.path for c in swapped if c.kind == "added"}

        def exists(path: str) -> bool:
            return path not in gone and change.exists(path)

        linters = detect(files, exists, self.configured)
        verdicts: list[LintVerdict] = []
        with base_configuration(change, swapped):
            for linter in linters:
                verdict = run_linter(
                    linter,
                    self.sandbox,
                    files,
                    change.worktree,
                    exists=exists,
                    configured=bool(self.configured),
                    places=self.places,
                    timeout=self.timeout,
                )
                verdicts.append(
                    replace(
                        verdict,
                        config_changes=tuple(
                            c.render(self.trusted) for c in changes if c.owner == linter.name
                        ),
                        suppressions=tuple(
                            s.render() for s in suppressions if s.family == linter.name
                        ),
                    )
                )
        return LintRun(tuple(verdicts), changes, suppressions, files)
