"""`memfun init`: write memfun.toml and the .gitattributes line for MEMORY.md; secrets never.

Each answer comes from its flag, else (without --yes) a prompt, else what is detected: a
provider's key variable in the environment, a local Ollama (init_answers.py asks and checks).
Existing files keep their content: memfun.toml is edited with tomlkit (sections, keys and
comments kept), checked with `config.load` and only then put in place; .gitattributes gets one
line appended when it lacks it. The key's variable is recorded by name; its value is never
read into a file.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast

import tomlkit
from rich.console import Console
from tomlkit.exceptions import TOMLKitError

from memfun_git import config
from memfun_git.atomic import write_atomic
from memfun_git.cli.init_answers import (
    PROVIDERS,
    Asker,
    check_custom_url,
    check_key_env,
    check_provider,
    check_url,
    needs_model,
)
from memfun_git.errors import ConfigError, UsageError
from memfun_git.gitops.repo import require_repo
from memfun_git.ollama import OLLAMA_URL, has_model, ollama_root, probe_ollama, root_of
from memfun_git.redact import redact

__all__ = [
    "ATTRIBUTES_LINE",
    "DEFAULT_MODELS",
    "Answers",
    "Detected",
    "ensure_attributes",
    "run_init",
]

DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1", "ollama": "llama3.1"}
ATTRIBUTES_LINE = ".memfun/MEMORY.md merge=union"
_HEADER = (
    "memfun configuration (`memfun config show` prints what is in force).",
    "No secrets here: [llm] api_key_env names the environment variable that holds the key.",
)


@dataclass(frozen=True, slots=True)
class Answers:
    provider: str
    model: str
    api_key_env: str
    base_url: str


@dataclass(frozen=True, slots=True)
class Detected:
    providers: tuple[str, ...]
    """Providers found usable: a usual key variable set, a local Ollama answering."""
    ollama_root: str
    ollama_models: tuple[str, ...] | None
    """The models of the Ollama at `ollama_root`; None when it was not asked or did not answer."""


def run_init(
    start: Path,
    *,
    provider: str | None,
    model: str | None,
    api_key_env: str | None,
    base_url: str | None,
    yes: bool,
    environ: Mapping[str, str] | None = None,
    console: Console | None = None,
    stdin: TextIO | None = None,
    interactive: bool | None = None,
    ollama_url: str | None = None,
) -> int:
    """Set up memfun in the repository containing `start`; return the exit code.

    Unless `yes`, questions are asked: at a terminal when `interactive` (default: stdin is one),
    else from `stdin` line by line when it is a pipe or a file. `ollama_url` is where a local
    Ollama is looked for (default: $OLLAMA_HOST, else 127.0.0.1:11434).
    """
    env = os.environ if environ is None else environ
    out = console or Console(markup=False, highlight=False, soft_wrap=True, emoji=False)
    root = require_repo(start).workdir
    assert root is not None  # require_repo refuses bare repositories
    asker = Asker.over(out, stdin, yes=yes, interactive=interactive)
    ask = asker.ask
    if api_key_env:
        check_key_env(api_key_env, env, "--api-key-env")
    toml_path = root / config.CONFIG_FILE
    for existing in (toml_path, root / ".gitattributes"):
        _plain_file_or_none(existing)
    try:
        old_text = toml_path.read_text(encoding="utf-8") if toml_path.exists() else ""
    except UnicodeDecodeError:
        raise ConfigError(
            f"{config.CONFIG_FILE}: not UTF-8 text", f"save {config.CONFIG_FILE} as UTF-8"
        ) from None
    doc = _parse(old_text)
    chosen_flag = provider.lower() if provider is not None else None
    found = _detect(out, env, chosen_flag, base_url, ollama_url)
    old = _llm_table(doc)
    suggested = str(old.get("provider", "")) or next(iter(found.providers), "")
    chosen = ask(
        "Provider",
        suggested or ("anthropic" if asker.asking else ""),
        ("--provider", provider),
        check_provider,
        [*PROVIDERS],
    )
    defaults = _defaults(chosen, old, found)
    url = base_url if base_url is not None else defaults.base_url
    if chosen == "custom":
        url = ask(
            "Base URL (the server's OpenAI-compatible root)",
            defaults.base_url,
            ("--base-url", base_url),
            check_custom_url,
        )
    elif url:
        url = check_url(url, "--base-url" if base_url is not None else config.CONFIG_FILE)
    chosen_model = ask("Model", defaults.model, ("--model", model), needs_model(chosen))
    key_env = api_key_env if api_key_env is not None else defaults.api_key_env
    if chosen != "ollama":
        key_env = ask(
            "Variable holding the API key (its name)",
            defaults.api_key_env,
            ("--api-key-env", api_key_env),
            lambda name, source: check_key_env(name, env, source),
        )
    answers = Answers(chosen, chosen_model, key_env, url)

    _apply(doc, answers, root.name)
    text = tomlkit.dumps(doc)
    _validate(text, env)
    if not asker.confirm(f"Write {toml_path.name} and .gitattributes in {root}?"):
        _say(out, "Nothing written.")
        return 0
    if text == old_text:
        _say(out, f"{toml_path.name} already says this: left as it was.")
    else:
        write_atomic(toml_path, text.encode("utf-8"))
        verb = "Updated" if old_text else "Created"
        _say(out, f"{verb} {toml_path}:\n" + _summary(answers))
    attributes = root / ".gitattributes"
    if ensure_attributes(attributes):
        _say(out, f"Added `{ATTRIBUTES_LINE}` to {attributes}.")
    else:
        _say(out, f"{attributes} already sets the merge driver of .memfun/MEMORY.md.")
    _workspace_hint(out, root)
    _next_steps(out, answers, env, found)
    return 0


def _workspace_hint(out: Console, root: Path) -> None:
    """What this project's worktrees would likely want: said, never written unasked."""
    from memfun_git.gitops.environment import suggested, toml_list

    include, link = suggested(root)
    if not include and not link:
        return
    lines = [f"  link = {toml_list(link)}"] * bool(link)
    lines += [f"  include = {toml_list(include)}"] * bool(include)
    _say(
        out,
        "Task worktrees hold only tracked files. This project keeps ignored things tasks may "
        "need; to give them to every worktree (read-only), add to [workspace] in "
        f"{config.CONFIG_FILE}:\n" + "\n".join(lines),
    )


def _detect(
    out: Console,
    environ: Mapping[str, str],
    provider: str | None,
    base_url: str | None,
    ollama_url: str | None,
) -> Detected:
    found = [
        p for p in ("anthropic", "openai") if environ.get(config.DEFAULT_KEY_ENV[p], "").strip()
    ]
    for name in found:
        _say(out, f"Found ${config.DEFAULT_KEY_ENV[name]} in the environment: {name} can be used.")
    root = ollama_url or ollama_root(environ)
    if provider == "ollama" and base_url:
        root = root_of(base_url)
    models: tuple[str, ...] | None = None
    if provider in (None, "ollama"):
        models = probe_ollama(root)
        if models is not None:
            _say(out, f"Found Ollama at {root} ({', '.join(models[:5]) or 'no models yet'}).")
            found.append("ollama")
    return Detected(tuple(found), root, models)


def _defaults(provider: str, old: Mapping[str, Any], found: Detected) -> Answers:
    """What an unanswered question takes: the file's value (same provider), else what was found."""
    if provider == old.get("provider"):
        return Answers(
            provider,
            str(old.get("model", "")) or DEFAULT_MODELS.get(provider, ""),
            str(old.get("api_key_env", "")),
            str(old.get("base_url", "")),
        )
    if provider != "ollama":
        return Answers(
            provider, DEFAULT_MODELS.get(provider, ""), config.DEFAULT_KEY_ENV[provider], ""
        )
    model = found.ollama_models[0] if found.ollama_models else DEFAULT_MODELS["ollama"]
    url = found.ollama_root + "/v1" if found.ollama_root != OLLAMA_URL else ""
    return Answers(provider, model, "", url)


def _plain_file_or_none(path: Path) -> None:
    """init writes memfun.toml and .gitattributes in place: a link or a folder is refused."""
    if path.is_symlink():
        raise UsageError(
            f"{path.name} is a symbolic link; memfun init would replace it with a file",
            "edit the file it points to yourself, or replace the link with a copy",
        )
    if path.exists() and not path.is_file():
        raise UsageError(f"{path.name} is not a file", "move it away, then run memfun init again")


def ensure_attributes(path: Path) -> bool:
    """Append ATTRIBUTES_LINE to `path` unless it already sets MEMORY.md's merge; True if added."""
    data = path.read_bytes() if path.exists() else b""
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        parts = line.split()
        if (
            parts
            and parts[0] in (".memfun/MEMORY.md", "/.memfun/MEMORY.md")
            and any(a.lstrip("-!").startswith("merge") for a in parts[1:])
        ):
            return False
    eol = b"\r\n" if b"\r\n" in data else b"\n"
    if data and not data.endswith(b"\n"):
        data += eol
    write_atomic(path, data + ATTRIBUTES_LINE.encode() + eol)
    return True


def _parse(text: str) -> tomlkit.TOMLDocument:
    if not text:
        doc = tomlkit.document()
        for line in _HEADER:
            doc.add(tomlkit.comment(line))
        doc.add(tomlkit.nl())
        return doc
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(
            f"{config.CONFIG_FILE}: not valid TOML ({exc})",
            f"fix the syntax in {config.CONFIG_FILE}, then run `memfun init` again",
        ) from None


def _table(doc: tomlkit.TOMLDocument, name: str) -> dict[str, Any]:
    if name not in doc:
        doc.add(name, tomlkit.table())
    table: Any = doc[name]
    if not isinstance(table, dict):
        raise ConfigError(
            f"{config.CONFIG_FILE}: {name} is not a table", f"write it as a [{name}] section"
        )
    return cast(dict[str, Any], table)


def _llm_table(doc: tomlkit.TOMLDocument) -> dict[str, Any]:
    table: Any = cast(Mapping[str, Any], doc).get("llm")
    return dict(cast(dict[str, Any], table)) if isinstance(table, dict) else {}


def _apply(doc: tomlkit.TOMLDocument, answers: Answers, project_name: str) -> None:
    """Set [project] name when absent and the [llm] keys answered; touch nothing else."""
    project = _table(doc, "project")
    if "name" not in project:
        project["name"] = project_name
    llm = _table(doc, "llm")
    for key in ("provider", "model", "api_key_env", "base_url"):
        value: str = getattr(answers, key)
        if value:
            llm[key] = value
        elif key in llm:
            del llm[key]


def _validate(text: str, environ: Mapping[str, str]) -> None:
    with tempfile.TemporaryDirectory(prefix="memfun-init-") as folder:
        (Path(folder) / config.CONFIG_FILE).write_text(text, encoding="utf-8")
        config.load(Path(folder), environ=environ).check()


def _summary(answers: Answers) -> str:
    rows = [f'  [llm] provider = "{answers.provider}"', f'  [llm] model = "{answers.model}"']
    if answers.api_key_env:
        rows.append(f'  [llm] api_key_env = "{answers.api_key_env}"')
    if answers.base_url:
        rows.append(f'  [llm] base_url = "{answers.base_url}"')
    return "\n".join(rows)


def _say(out: Console, text: str) -> None:
    out.print(redact(text), markup=False, highlight=False, emoji=False)


def _next_steps(
    out: Console, answers: Answers, environ: Mapping[str, str], found: Detected
) -> None:
    # The variable a call will read: the one written, else the provider's usual one (a file
    # kept from an earlier run may rely on it without naming it).
    name = answers.api_key_env or config.DEFAULT_KEY_ENV.get(answers.provider, "")
    if name and not environ.get(name, "").strip():
        _say(out, f"${name} is not set: export {name}=<your key> before asking the model.")
    if answers.provider == "ollama":
        _ollama_warning(out, answers, found)
    _say(out, "Commit memfun.toml and .gitattributes to share the setup with your team.")
    _say(out, 'Next: `memfun doctor` (add --online to call the model), then `memfun ask "..."`.')


def _ollama_warning(out: Console, answers: Answers, found: Detected) -> None:
    """Say when the Ollama model written could not be found: nothing answered, or not pulled."""
    model = answers.model
    if found.ollama_models is None:
        _say(
            out,
            f"Warning: no Ollama answered at {found.ollama_root}, so {model} is written unchecked"
            f" — start Ollama (ollama serve), then ollama pull {model} and memfun doctor.",
        )
    elif not has_model(found.ollama_models, model):
        _say(
            out,
            f"Warning: the Ollama at {found.ollama_root} has no model {model}"
            f" — ollama pull {model}, then memfun doctor.",
        )
