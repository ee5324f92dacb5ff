"""Configuration: one frozen, typed tree built once by `load()` and passed down.

Sources, later ones winning: built-in defaults < `~/.memfun/config.toml` (the user's defaults)
< `memfun.toml` at the repository root < `MEMFUN_<SECTION>_<KEY>` environment variables <
command-line flags. Every wrong key, type or value is a `ConfigError` naming the source, the
key, what was found and what is allowed. Secrets are never stored here: `[llm] api_key_env`
names the variable that holds the key, and `[github] *_env` those of the App's secrets (which
are never read as MEMFUN_<SECTION>_<KEY>, whatever their names).

Everything is checked by `load()`, but a fault inside a section is raised when that section is
read: a command fails only on the configuration it uses (`memfun gc` needs no [llm]). Faults
that concern the whole file (TOML syntax, an unknown section, a key outside any section) are
raised by `load()` itself, and `Config.check()` raises the first fault of any section, for the
commands that report on all of it (`doctor`, `config show`, `init`).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Generic,
    Literal,
    TypeVar,
    Union,
    cast,
    get_args,
    get_origin,
    get_type_hints,
    overload,
)

from memfun_git.errors import ConfigError

__all__ = [
    "CONFIG_FILE",
    "SECTIONS",
    "BackendConfig",
    "Config",
    "GateConfig",
    "GitHubConfig",
    "HookConfig",
    "LLMConfig",
    "MemoryConfig",
    "ProjectConfig",
    "SandboxConfig",
    "WebConfig",
    "WorkflowConfig",
    "WorkspaceConfig",
    "load",
    "user_config_path",
]

CONFIG_FILE = "memfun.toml"
_T = TypeVar("_T")

Provider = Literal["anthropic", "openai", "ollama", "custom"]
Severity = Literal["info", "warning", "error"]

DEFAULT_KEY_ENV: dict[str, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "ollama": "",
    "custom": "",
}


@dataclass(frozen=True, slots=True)
class ProjectConfig:
    name: str = ""
    """The project's name; defaults to the repository folder's name."""


@dataclass(frozen=True, slots=True)
class LLMConfig:
    provider: Provider | None = None
    """anthropic | openai | ollama | custom (any OpenAI-compatible server at base_url)."""
    model: str = ""
    """The provider's model name, e.g. claude-sonnet-4-5 or gpt-4.1."""
    api_key_env: str = ""
    """Name of the environment variable holding the key (never the key itself)."""
    base_url: str = ""
    """Endpoint root for ollama, custom servers and proxies, e.g. http://localhost:11434/v1."""
    engine: Literal["auto", "litellm"] = "auto"
    """DSPy's request engine: its native one (fast start) or litellm (more providers)."""
    temperature: float = 0.0
    max_tokens: int = 16000
    """Largest answer of one call, in tokens."""
    timeout_seconds: float = 120.0
    """Time allowed for one call before it fails (a time-out is not retried)."""
    num_retries: int = 2
    """Retries of a call after a rate limit or server error, with backoff."""
    cache: bool = False
    """DSPy's response cache on disk; off so that a changed repository is never answered stale."""
    max_calls_per_task: int = 60
    """Cap: model calls per task (0 = no cap)."""
    max_tokens_per_task: int = 2_000_000
    """Cap: input + output tokens per task (0 = no cap)."""
    max_cost_per_task: float = 10.0
    """Cap: US dollars per task where the price is known (0 = no cap)."""

    @property
    def key_env(self) -> str:
        """The variable holding the key: the configured one, else the provider's usual one."""
        return self.api_key_env or DEFAULT_KEY_ENV.get(self.provider or "", "")


@dataclass(frozen=True, slots=True)
class BackendConfig:
    tier: Literal["in-process", "sqlite", "redis", "nats"] = "sqlite"
    """Where shared state, the task queue, events and workers live: in-process (one process),
    sqlite (one machine), redis or nats (JetStream; many machines)."""
    sqlite_path: str = ""
    """SQLite file; defaults to <git-common-dir>/memfun/memfun.db."""
    redis_url: str = "redis://127.0.0.1:6379/0"
    nats_url: str = "nats://127.0.0.1:4222"
    namespace: str = "default"
    """Separates memfun's keys, streams and subjects on a shared server (one per project)."""
    visibility_timeout_seconds: float = 900.0
    """A leased task whose worker is silent this long is leased again (workers extend it)."""
    max_attempts: int = 3
    """A task that failed this many times goes to the dead letter."""
    retry_delay_seconds: float = 5.0
    """A failed task waits this long before its next attempt (doubled each time)."""


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    backend: Literal["bubblewrap", "local"] = "bubblewrap"
    """bubblewrap isolates model-proposed commands; local runs them unisolated (opt-in)."""
    timeout_seconds: float = 300.0
    """Time limit of one sandboxed command; the whole sandbox ends when it runs out."""
    max_output_bytes: int = 1_000_000
    """Output kept of one command; the rest is cut."""
    max_memory_mb: int = 8192
    """Memory one command may use, all its processes together where a memory cgroup can be
    made, else each process (its data size); 0: no limit."""
    allow: tuple[str, ...] = ()
    """Commands the local backend runs without asking (program names)."""
    extra_ro_paths: tuple[str, ...] = ()
    """More paths bound read-only into the sandbox, e.g. a toolchain cache."""
    extra_env: tuple[str, ...] = ()
    """Names of more environment variables passed into the sandbox."""


@dataclass(frozen=True, slots=True)
class WebConfig:
    search_backend: Literal["duckduckgo", "brave", "tavily", "searxng"] = "duckduckgo"
    searxng_url: str = ""
    max_results: int = 5
    fetch_timeout_seconds: float = 20.0
    api_key_env: str = ""
    """Name of the variable holding the search service's key (default BRAVE_API_KEY or
    TAVILY_API_KEY; duckduckgo and searxng need none)."""


@dataclass(frozen=True, slots=True)
class GateConfig:
    linters: tuple[str, ...] = ()
    """Linters to run; empty means detect them from the project's files."""
    fix_rounds: int = 2
    """Lint-fix rounds before the gate gives up."""
    review: Literal["block", "warn", "off"] = "block"
    """Whether the consistency review can block a commit."""
    severity_threshold: Severity = "error"
    """Review findings at or over this severity block."""
    polish: bool = True


@dataclass(frozen=True, slots=True)
class MemoryConfig:
    enabled: bool = True
    user_memory: bool = True
    """Also recall ~/.memfun/MEMORY.md."""
    max_recall: int = 8
    """Entries injected into one request."""


@dataclass(frozen=True, slots=True)
class HookConfig:
    threshold: Severity = "error"
    """Findings at or over this severity block the commit."""
    max_diff_bytes: int = 200_000
    """Staged diffs larger than this are reviewed in part, and say so."""
    block_on_llm_error: bool = False
    """When the model cannot be reached: block the commit (true) or let it pass with a warning."""
    timeout_seconds: float = 60.0
    """How long a commit waits for the model's review (then [hook] block_on_llm_error decides)."""


@dataclass(frozen=True, slots=True)
class WorkspaceConfig:
    root: str = ""
    """Where worktrees live; defaults to $XDG_CACHE_HOME/memfun/worktrees."""
    keep_attempts_days: int = 30
    """Failed attempts older than this are dropped by `memfun gc`."""
    include: tuple[str, ...] = ()
    """Ignored files copied into every new worktree (gitignore patterns, e.g. ".env"); a
    `.worktreeinclude` file at the repository root adds its own. Never committed."""
    link: tuple[str, ...] = ()
    """Ignored folders of your tree linked into every worktree (e.g. "node_modules", ".venv"):
    tools run without a fresh install; tasks and sandboxed commands can only read them."""
    setup: str = ""
    """A command of your own run in every new task worktree before the model is asked (e.g.
    "npm ci"); a failure or time-out fails the task first."""
    setup_timeout_seconds: float = 600.0


@dataclass(frozen=True, slots=True)
class GitHubConfig:
    webhook_secret_env: str = "MEMFUN_WEBHOOK_SECRET"
    """Name of the variable holding the App's webhook secret; `memfun app serve` refuses to
    start without it."""
    app_id_env: str = "MEMFUN_APP_ID"
    """Name of the variable holding the App's id."""
    private_key_env: str = "MEMFUN_APP_PRIVATE_KEY"
    """Name of the variable holding the App's private key (PEM), or use private_key_file."""
    private_key_file: str = ""
    """A file holding the App's private key (PEM), instead of private_key_env."""
    app_slug: str = ""
    """The App's slug (its URL name): its own events come from <slug>[bot], and assigning an
    issue to <slug>[bot] hands it to memfun."""
    label: str = "memfun"
    """The label that hands an issue to memfun (any case)."""
    api_url: str = "https://api.github.com"
    """The REST API root; https://HOST/api/v3 for GitHub Enterprise Server."""
    status_token_env: str = "MEMFUN_STATUS_TOKEN"
    """Name of the variable holding the token that opens the App's status page."""


@dataclass(frozen=True, slots=True)
class WorkflowConfig:
    max_parallel: int = 4
    """Specialists working at once (each in its own worktree)."""
    max_nodes: int = 9
    """Sub-tasks one decomposition may hold."""
    revision_rounds: int = 2
    """Rounds the cross-agent reviewer may send back a conflict or a finding."""
    escalate: bool = True
    """A task climbs the ladder (the seed's automatic escalation): when the context-first
    tier fails or is cut off, the workflow takes over (more model calls: a decomposition and
    each specialist's, at most `max_calls`), and when that fails too, the explore tier.
    False: the context-first tier alone, unless `memfun run --tier` names another."""
    max_calls: int = 40
    """Model calls the workflow tier may make (its decomposition, specialists, merges and
    cross-review together); past them it fails and the ladder goes on. 0: only [llm]'s caps."""
    explore_iterations: int = 20
    """Steps (model calls, each running its code in the sandboxed REPL) of the explore tier."""
    explore_llm_calls: int = 30
    """Sub-questions the explore tier's code may ask the model (`llm_query`)."""
    explore_local: bool = False
    """Let the explore tier run with `[sandbox] backend = "local"`: its model-written Python
    then runs unisolated, as you (network, your files, memfun's environment)."""


_SECTIONS: dict[str, type[Any]] = {
    "project": ProjectConfig,
    "llm": LLMConfig,
    "backend": BackendConfig,
    "sandbox": SandboxConfig,
    "web": WebConfig,
    "gate": GateConfig,
    "memory": MemoryConfig,
    "hook": HookConfig,
    "workspace": WorkspaceConfig,
    "github": GitHubConfig,
    "workflow": WorkflowConfig,
}
SECTIONS = tuple(_SECTIONS)
"""The sections of memfun's configuration, in the order they are shown."""


class _Section(Generic[_T]):
    """A section of `Config`, read through `Config._section` (which raises its fault)."""

    def __init__(self, kind: type[_T]) -> None:
        self.kind = kind
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> _Section[_T]: ...
    @overload
    def __get__(self, obj: Config, owner: type) -> _T: ...
    def __get__(self, obj: Config | None, owner: type) -> _T | _Section[_T]:
        return self if obj is None else obj._section(self.name)  # pyright: ignore[reportPrivateUsage]


@dataclass(frozen=True, slots=True)
class Config:
    """The configuration in force: one attribute per section (`cfg.llm`, `cfg.sandbox`…).

    Reading a section whose values were wrong raises that section's first `ConfigError`."""

    repo_root: Path | None = None
    """The repository's working tree, when there is one."""
    sources: tuple[str, ...] = ()
    """Where values came from, in the order applied (files, environment, flags)."""
    origins: tuple[tuple[str, str], ...] = ()
    """("section.key", source) for every value that is not a built-in default."""
    built: Mapping[str, Any] = field(default_factory=dict[str, Any], repr=False)
    """The sections that passed their checks, by name (the others are in `faults`)."""
    faults: tuple[tuple[str, ConfigError], ...] = ()
    """(section, its first fault), in the order found."""

    def origin_of(self, section: str, key: str) -> str:
        """The source that set `[section] key`, or "default"."""
        return dict(self.origins).get(f"{section}.{key}", "default")

    def check(self) -> None:
        """Raise the first fault of any section (for commands that report on all of them)."""
        if self.faults:
            raise self.faults[0][1]

    def fault_of(self, section: str) -> ConfigError | None:
        """The first fault of `section`, or None when it is sound."""
        return next((fault for name, fault in self.faults if name == section), None)

    def _section(self, name: str) -> Any:
        fault = self.fault_of(name)
        if fault is not None:
            raise fault
        return self.built.get(name) or _SECTIONS[name]()

    project = _Section(ProjectConfig)
    llm = _Section(LLMConfig)
    backend = _Section(BackendConfig)
    sandbox = _Section(SandboxConfig)
    web = _Section(WebConfig)
    gate = _Section(GateConfig)
    memory = _Section(MemoryConfig)
    hook = _Section(HookConfig)
    workspace = _Section(WorkspaceConfig)
    github = _Section(GitHubConfig)
    workflow = _Section(WorkflowConfig)


# Values a user may know from the product description but that are not built yet: refused by
# name, never replaced silently by another.
_NOT_BUILT: dict[tuple[str, str], dict[str, str]] = {
    ("sandbox", "backend"): {
        "docker": "the docker sandbox",
        "modal": "the modal sandbox",
        "sandbox-exec": "the macOS sandbox-exec sandbox",
    },
}

_SECRET_HINT = (
    "memfun's configuration holds no secrets: put the key in an environment variable and set "
    '[llm] api_key_env to its name, e.g. api_key_env = "ANTHROPIC_API_KEY"'
)
# Time limits: 0 would stop everything at once, and an endless one is no limit.
_POSITIVE = {
    ("llm", "timeout_seconds"),
    ("sandbox", "timeout_seconds"),
    ("web", "fetch_timeout_seconds"),
    ("workspace", "setup_timeout_seconds"),
    ("hook", "timeout_seconds"),
    ("backend", "visibility_timeout_seconds"),
}
_MAX_SECONDS = 86_400
_AT_LEAST_ONE = {("workflow", "max_parallel"), ("workflow", "max_nodes")}
# MEMFUN_* variables that are not configuration: the test suite's switches, and the App's
# secrets under their default names ([github] *_env).
_NOT_CONFIG = {
    "MEMFUN_REQUIRE_SERVICES",
    "MEMFUN_REQUIRE_TOOLS",
    *(
        str(f.default)
        for f in dataclasses.fields(GitHubConfig)
        if f.name.endswith("_env") and str(f.default).startswith("MEMFUN_")
    ),
}
_GITHUB_SECRETS = {
    "webhook_secret": "webhook_secret_env",
    "secret": "webhook_secret_env",
    "private_key": "private_key_env",
    "token": "status_token_env",
    "status_token": "status_token_env",
}
_GITHUB_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".memfun" / "config.toml"


def load(
    repo_root: Path | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Config:
    """Build the configuration tree from every source and check all of it.

    Raises ConfigError for a fault of a whole file or variable name; a fault inside a section
    is raised when the section is read (or by `Config.check()`). `overrides` holds command-line
    flags as `{"section.key": value}`; None values are unset flags.
    """
    env = os.environ if environ is None else environ
    merged: dict[str, dict[str, Any]] = {name: {} for name in _SECTIONS}
    origin: dict[tuple[str, str], str] = {}
    faults: dict[str, ConfigError] = {}
    sources: list[str] = []

    def put(label: str, section: str, key: str, value: Any, *, text: bool = False) -> None:
        """Check one value (an environment variable's `text` is read as the key's type)."""
        try:
            _known_key(label, section, key)
            if text:
                value = _from_text(label, section, key, value)
            merged[section][key] = _check(label, section, key, value)
        except ConfigError as fault:
            faults.setdefault(section, fault)
        origin[(section, key)] = label

    files = [user_config_path(env)]
    if repo_root is not None:
        files.append(repo_root / CONFIG_FILE)
    for path in files:
        if not path.is_file():
            continue
        label = _label(path, repo_root)
        for section, values in _read_toml(path, label).items():
            if not isinstance(values, dict):
                faults.setdefault(section, _not_a_table(label, section, values))
                continue
            for key, value in cast(dict[str, Any], values).items():
                put(label, section, key, value)
        sources.append(label)

    secret_vars = _secret_variables(merged["github"], env)
    for name, raw in sorted(env.items()):
        if name in secret_vars:
            continue
        parsed = _env_key(name)
        if parsed is None:
            continue
        section, key = parsed
        put(name, section, key, raw, text=True)
        sources.append(name)

    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        section, _, key = dotted.partition(".")
        label = "--" + key.replace("_", "-")
        _known_section(label, section)
        put(label, section, key, value)
        sources.append(label)

    built = {name: cls(**merged[name]) for name, cls in _SECTIONS.items() if name not in faults}
    for name, check in (("llm", _check_llm), ("github", _check_github)):
        if name in built:
            try:
                check(built[name], origin)
            except ConfigError as fault:
                faults[name] = fault
                del built[name]
    order = {name: i for i, name in enumerate(faults)}
    return Config(
        repo_root=repo_root,
        sources=tuple(sources),
        origins=tuple((f"{s}.{k}", where) for (s, k), where in origin.items()),
        built=built,
        faults=tuple(sorted(faults.items(), key=lambda item: order[item[0]])),
    )


def _label(path: Path, repo_root: Path | None) -> str:
    if repo_root is not None and path.parent == repo_root:
        return path.name
    home = Path(os.path.expanduser("~"))
    try:
        return "~/" + str(path.relative_to(home))
    except ValueError:
        return str(path)


def _read_toml(path: Path, label: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{label}: not valid TOML ({exc})", f"fix the syntax in {label}"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text", f"save {label} as UTF-8") from None
    except OSError as exc:
        raise ConfigError(
            f"{label}: cannot be read ({exc.strerror})", "check its permissions"
        ) from None
    for section, values in data.items():
        if section not in _SECTIONS and not isinstance(values, dict):
            raise _outside_any_section(label, section, values)
        _known_section(label, section)
    return data


def _not_a_table(label: str, section: str, value: Any) -> ConfigError:
    return ConfigError(
        f"{label}: {section} = {_show(value)} is not a table", f"write it as a [{section}] section"
    )


def _outside_any_section(label: str, key: str, value: Any) -> ConfigError:
    """A `key = value` line above every [section] header: say where such a key belongs."""
    homes = [name for name, cls in _SECTIONS.items() if key in _keys(cls)]
    if homes:
        where = " or ".join(f"[{name}]" for name in homes)
        return ConfigError(
            f"{label}: {key} = {_show(value)} is a key outside any [section]"
            f" (it belongs in {where})",
            f"move it under {where.split(' or ')[0]}: keys above the first [section] line"
            " belong to no section",
        )
    every = sorted({k for cls in _SECTIONS.values() for k in _keys(cls)})
    close = difflib.get_close_matches(key, every, n=1, cutoff=0.6)
    guess = ""
    if close:
        home = next(name for name, cls in _SECTIONS.items() if close[0] in _keys(cls))
        guess = f' (did you mean "{close[0]}" in [{home}]?)'
    return ConfigError(
        f"{label}: {key} = {_show(value)} is a key outside any [section]{guess}",
        "put keys under their section, e.g. [llm] then model = ...; sections are "
        + ", ".join(f"[{s}]" for s in _SECTIONS),
    )


def _keys(section: type[Any]) -> list[str]:
    return [f.name for f in dataclasses.fields(section)]


def _known_section(label: str, section: str) -> None:
    if section in _SECTIONS:
        return
    raise ConfigError(
        f"{label}: unknown section [{section}]{_did_you_mean(section, _SECTIONS)}",
        "sections are " + ", ".join(f"[{s}]" for s in _SECTIONS),
    )


def _known_key(label: str, section: str, key: str) -> None:
    names = _keys(_SECTIONS[section])
    if key in names:
        return
    if section == "llm" and key in ("api_key", "key", "token", "secret"):
        raise ConfigError(f"{label}: [llm] {key} is not allowed", _SECRET_HINT)
    if section == "github" and key in _GITHUB_SECRETS:
        env_key = _GITHUB_SECRETS[key]
        raise ConfigError(
            f"{label}: [github] {key} is not allowed",
            "memfun's configuration holds no secrets: put it in an environment variable and set"
            f" [github] {env_key} to its name (default {_default('github', env_key)})",
        )
    raise ConfigError(
        f"{label}: unknown key [{section}] {key}{_did_you_mean(key, names)}",
        f"keys of [{section}] are " + ", ".join(names),
    )


def _did_you_mean(word: str, choices: Mapping[str, Any] | list[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f' (did you mean "{close[0]}"?)' if close else ""


def _env_key(name: str) -> tuple[str, str] | None:
    """`MEMFUN_LLM_MODEL` -> ("llm", "model"); a misspelt section is an error, not ignored."""
    if not name.startswith("MEMFUN_") or name in _NOT_CONFIG:
        return None
    section, _, key = name[len("MEMFUN_") :].lower().partition("_")
    if section not in _SECTIONS:
        raise ConfigError(
            f"{name}: unknown section [{section}]{_did_you_mean(section, _SECTIONS)}",
            "memfun reads MEMFUN_<SECTION>_<KEY>; sections are "
            + ", ".join(s.upper() for s in _SECTIONS),
        )
    if not key:
        raise ConfigError(f"{name}: no key named", f"use MEMFUN_{section.upper()}_<KEY>")
    return section, key


def _field_type(section: str, key: str) -> Any:
    return get_type_hints(_SECTIONS[section])[key]


def _from_text(label: str, section: str, key: str, raw: str) -> Any:
    """Read an environment variable's text as the field's type (TOML-ish)."""
    kind = _field_type(section, key)
    base = _strip_optional(kind)
    text = raw.strip()
    if base is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        return raw
    if base is int:
        try:
            return int(text)
        except ValueError:
            return raw
    if base is float:
        try:
            return float(text)
        except ValueError:
            return raw
    if get_origin(base) is tuple:
        return [part.strip() for part in text.split(",") if part.strip()]
    if text == "" and kind is not base:
        return None
    return raw


def _strip_optional(kind: Any) -> Any:
    if get_origin(kind) in (Union, types.UnionType):
        args = [a for a in get_args(kind) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return kind


def _check(label: str, section: str, key: str, value: Any) -> Any:
    """Return `value` if it fits the field's type, else raise a ConfigError that names it."""
    kind = _field_type(section, key)
    where = f"{label}: [{section}] {key} = {_show(value)}"
    optional = _strip_optional(kind) is not kind
    if value is None and optional:
        return None
    base = _strip_optional(kind)
    if get_origin(base) is Literal:
        allowed = [str(a) for a in get_args(base)]
        if isinstance(value, str) and value in allowed:
            return value
        unbuilt = _NOT_BUILT.get((section, key), {})
        if isinstance(value, str) and value in unbuilt:
            raise ConfigError(
                f"{where}: {unbuilt[value]} is not built yet",
                "use " + " or ".join(f'"{a}"' for a in allowed),
            )
        raise ConfigError(
            f"{where} is not allowed{_did_you_mean(str(value), allowed)}",
            "use one of " + ", ".join(f'"{a}"' for a in allowed),
        )
    if base is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where} is {_kind(value)}", "use true or false")
    if base is int:
        if isinstance(value, int) and not isinstance(value, bool):
            if value < 0:
                raise ConfigError(f"{where} is negative", "use a whole number, 0 or more")
            if (section, key) in _AT_LEAST_ONE and value < 1:
                raise ConfigError(f"{where} is 0", "use a whole number, 1 or more")
            return value
        raise ConfigError(f"{where} is {_kind(value)}", "use a whole number, e.g. 3")
    if base is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise ConfigError(f"{where} is not a finite number", "use a number, e.g. 1.5")
            if value < 0:
                raise ConfigError(f"{where} is negative", "use a number, 0 or more")
            if (section, key) in _POSITIVE and not 0 < value <= _MAX_SECONDS:
                raise ConfigError(
                    f"{where} is out of range",
                    f"use a number of seconds over 0, at most {_MAX_SECONDS:,}",
                )
            return float(value)
        raise ConfigError(f"{where} is {_kind(value)}", "use a number, e.g. 1.5")
    if base is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where} is {_kind(value)}", 'use a quoted string, e.g. "text"')
    if get_origin(base) is tuple:
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):  # pyright: ignore[reportUnknownVariableType]
            return tuple(value)  # pyright: ignore[reportUnknownArgumentType]
        raise ConfigError(f"{where} is {_kind(value)}", 'use a list of strings, e.g. ["a", "b"]')
    raise AssertionError(f"unhandled config type {kind!r}")  # pragma: no cover


def _check_llm(llm: LLMConfig, origin: Mapping[tuple[str, str], str]) -> None:
    """Rules across the keys of [llm]."""
    if llm.provider == "custom" and llm.model and not llm.base_url:
        where = origin.get(("llm", "provider"), CONFIG_FILE)
        raise ConfigError(
            f'{where}: [llm] provider = "custom" needs base_url',
            'set [llm] base_url to the server\'s OpenAI-compatible root, e.g. "http://host:8000/v1"',
        )
    if llm.api_key_env and not _ENV_NAME.match(llm.api_key_env):
        where = origin.get(("llm", "api_key_env"), CONFIG_FILE)
        raise ConfigError(
            f"{where}: [llm] api_key_env is not a variable name",
            "give the NAME of the variable holding the key (e.g. ANTHROPIC_API_KEY), never the key",
        )
    if llm.base_url and not llm.base_url.startswith(("http://", "https://")):
        where = origin.get(("llm", "base_url"), CONFIG_FILE)
        raise ConfigError(
            f"{where}: [llm] base_url = {_show(llm.base_url)} is not an http(s) URL",
            'use a URL such as "http://localhost:11434/v1"',
        )


def _check_github(github: GitHubConfig, origin: Mapping[tuple[str, str], str]) -> None:
    """Rules across the keys of [github]."""
    for key in ("webhook_secret_env", "app_id_env", "private_key_env", "status_token_env"):
        name = getattr(github, key)
        if name == "" and key == "webhook_secret_env":
            where = origin.get(("github", key), CONFIG_FILE)
            raise ConfigError(
                f'{where}: [github] {key} = "" names no variable',
                f"give the NAME of the variable holding the webhook secret, e.g. "
                f'"{_default("github", key)}"',
            )
        if name and not _ENV_NAME.match(name):
            where = origin.get(("github", key), CONFIG_FILE)
            raise ConfigError(
                f"{where}: [github] {key} is not a variable name",
                "give the NAME of the variable holding the value (letters, digits and _), "
                "never the value",
            )
    if github.app_slug and not _GITHUB_SLUG.match(github.app_slug):
        where = origin.get(("github", "app_slug"), CONFIG_FILE)
        raise ConfigError(
            f"{where}: [github] app_slug = {_show(github.app_slug)} is not an App's slug",
            'use the App\'s URL name alone, lower case, e.g. "my-memfun" (no [bot], no URL)',
        )
    if not github.label.strip():
        where = origin.get(("github", "label"), CONFIG_FILE)
        raise ConfigError(
            f"{where}: [github] label = {_show(github.label)} is empty",
            'name the label that hands an issue to memfun, e.g. "memfun"',
        )
    if not github.api_url.startswith(("http://", "https://")):
        where = origin.get(("github", "api_url"), CONFIG_FILE)
        raise ConfigError(
            f"{where}: [github] api_url = {_show(github.api_url)} is not an http(s) URL",
            'use "https://api.github.com", or "https://HOST/api/v3" for GitHub Enterprise',
        )


def _secret_variables(github: Mapping[str, Any], environ: Mapping[str, str]) -> set[str]:
    """Variables that hold the App's secrets rather than configuration: never read as
    MEMFUN_<SECTION>_<KEY>, whatever their name (the defaults, and the names configured)."""
    named = set(_NOT_CONFIG)
    for key in ("webhook_secret_env", "app_id_env", "private_key_env", "status_token_env"):
        value = environ.get(f"MEMFUN_GITHUB_{key.upper()}", github.get(key))
        if isinstance(value, str) and value:
            named.add(value.strip())
    return named


def _default(section: str, key: str) -> str:
    return str(getattr(_SECTIONS[section](), key))


def _show(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return repr(value)


def _kind(value: Any) -> str:
    return {
        bool: "a boolean",
        int: "a whole number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a table",
    }.get(type(value), f"a {type(value).__name__}")
