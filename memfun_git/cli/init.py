"""`memfun init`: write memfun.toml and the .gitattributes line for MEMORY.md; secrets never.

Each answer comes from its flag, else (at a terminal, without --yes) a rich prompt, else what is
detected: a provider's key variable in the environment, a local Ollama. Existing files keep
their content: memfun.toml is edited with tomlkit (sections, keys and comments kept), checked
with `config.load` and only then put in place; .gitattributes gets one line appended when it
lacks it. The key's variable is recorded by name; its value is never read into a file.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, cast
from urllib.parse import urlsplit

import tomlkit
from rich.console import Console
from rich.prompt import Confirm, Prompt
from rich.text import TextType
from tomlkit.exceptions import TOMLKitError

from memfun_git import config
from memfun_git.errors import ConfigError, UsageError
from memfun_git.gitops.repo import require_repo
from memfun_git.redact import redact, register_secret, secret_names

__all__ = [
    "ATTRIBUTES_LINE",
    "DEFAULT_MODELS",
    "OLLAMA_URL",
    "Answers",
    "Detected",
    "ensure_attributes",
    "ollama_root",
    "probe_ollama",
    "run_init",
]

PROVIDERS = ("anthropic", "openai", "ollama", "custom")
DEFAULT_MODELS = {"anthropic": "claude-sonnet-4-5", "openai": "gpt-4.1", "ollama": "llama3.1"}
OLLAMA_URL = "http://127.0.0.1:11434"
ATTRIBUTES_LINE = ".memfun/MEMORY.md merge=union"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_HEADER = (
    "memfun configuration (`memfun config show` prints what is in force).",
    "No secrets here: [llm] api_key_env names the environment variable that holds the key.",
)


def _line(console: Console, prompt: TextType, password: bool, stream: TextIO | None) -> str:
    # rich keeps the newline of a line read from a stream, so an empty answer would not take
    # the default as it does at a terminal.
    return console.input(prompt, password=password, stream=stream).rstrip("\r\n")


class _Prompt(Prompt):
    @classmethod
    def get_input(
        cls, console: Console, prompt: TextType, password: bool, stream: TextIO | None = None
    ) -> str:
        return _line(console, prompt, password, stream)


class _Confirm(Confirm):
    @classmethod
    def get_input(
        cls, console: Console, prompt: TextType, password: bool, stream: TextIO | None = None
    ) -> str:
        return _line(console, prompt, password, stream)


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
    ollama_models: tuple[str, ...]


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

    Prompts only when `interactive` (default: stdin is a terminal) and not `yes`; `ollama_url`
    is where a local Ollama is looked for (default: $OLLAMA_HOST, else 127.0.0.1:11434).
    """
    env = os.environ if environ is None else environ
    out = console or Console(markup=False, highlight=False, soft_wrap=True, emoji=False)
    root = require_repo(start).workdir
    assert root is not None  # require_repo refuses bare repositories
    if provider is not None and provider not in PROVIDERS:
        raise UsageError(f"--provider {provider!r} is not known", "use " + " | ".join(PROVIDERS))
    if api_key_env:
        _check_key_env(api_key_env, env)
    reader = sys.stdin if stdin is None else stdin
    asking = not yes and (reader.isatty() if interactive is None else interactive)

    def ask(question: str, default: str, flag: str | None, choices: list[str] | None = None) -> str:
        if flag is not None or not asking:
            return default if flag is None else flag
        answer = _Prompt.ask(question, console=out, default=default, choices=choices, stream=stdin)
        return str(answer).strip() or default

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
    found = _detect(out, env, provider, base_url, ollama_url)
    old = _llm_table(doc)
    suggested = str(old.get("provider", "")) or next(iter(found.providers), "")
    chosen = ask("Provider", suggested or ("anthropic" if asking else ""), provider, [*PROVIDERS])
    if chosen not in PROVIDERS:
        raise UsageError(
            "no --provider given and none detected (no provider key set, no local Ollama)",
            "pass --provider anthropic | openai | ollama | custom, or export ANTHROPIC_API_KEY",
        )
    defaults = _defaults(chosen, old, found)
    url = base_url if base_url is not None else defaults.base_url
    if chosen == "custom":
        url = ask("Base URL (the server's OpenAI-compatible root)", defaults.base_url, base_url)
        if not url:
            raise UsageError(
                "--provider custom needs --base-url",
                "pass the server's OpenAI-compatible root, e.g. --base-url http://host:8000/v1",
            )
    chosen_model = ask("Model", defaults.model, model)
    if not chosen_model:
        raise UsageError(f"--provider {chosen} needs --model", "pass the model's name with --model")
    key_env = api_key_env if api_key_env is not None else defaults.api_key_env
    if chosen != "ollama":
        key_env = ask("Variable holding the API key (its name)", defaults.api_key_env, api_key_env)
    if key_env:
        _check_key_env(key_env, env)
    if urlsplit(url).password:
        raise UsageError(
            "the base URL holds a password, and memfun.toml holds no secrets",
            "pass the URL without user:password@ and put the key in the variable of --api-key-env",
        )
    answers = Answers(chosen, chosen_model, key_env, url)

    _apply(doc, answers, root.name)
    text = tomlkit.dumps(doc)
    _validate(text, env)
    question = f"Write {toml_path.name} and .gitattributes in {root}?"
    if asking and not _Confirm.ask(question, console=out, default=True, stream=stdin):
        _say(out, "Nothing written.")
        return 0
    if text == old_text:
        _say(out, f"{toml_path.name} already says this: left as it was.")
    else:
        _write_atomic(toml_path, text.encode("utf-8"))
        verb = "Updated" if old_text else "Created"
        _say(out, f"{verb} {toml_path}:\n" + _summary(answers))
    attributes = root / ".gitattributes"
    if ensure_attributes(attributes):
        _say(out, f"Added `{ATTRIBUTES_LINE}` to {attributes}.")
    else:
        _say(out, f"{attributes} already sets the merge driver of .memfun/MEMORY.md.")
    _next_steps(out, answers, env)
    return 0


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
        root = base_url.rstrip("/").removesuffix("/v1")
    models: tuple[str, ...] = ()
    if provider in (None, "ollama"):
        listed = probe_ollama(root)
        if listed is not None:
            _say(out, f"Found Ollama at {root} ({', '.join(listed[:5]) or 'no models yet'}).")
            found.append("ollama")
            models = listed
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


def ollama_root(environ: Mapping[str, str]) -> str:
    """Where Ollama listens: $OLLAMA_HOST read the way Ollama reads it, else the default."""
    host = environ.get("OLLAMA_HOST", "").strip()
    if not host:
        return OLLAMA_URL
    parts = urlsplit(host if "://" in host else "http://" + host)
    name = parts.hostname or "127.0.0.1"
    name = "127.0.0.1" if name in ("0.0.0.0", "::") else name
    name = f"[{name}]" if ":" in name else name
    try:
        port = parts.port or 11434
    except ValueError:
        port = 11434
    return f"{parts.scheme}://{name}:{port}"


def probe_ollama(root: str, timeout: float = 0.5) -> tuple[str, ...] | None:
    """The models of the Ollama at `root` (its /api/tags), or None when none answers there."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(root.rstrip("/") + "/api/tags", timeout=timeout) as response:
            data: Any = json.loads(response.read(2_000_000))
    except (OSError, ValueError, http.client.HTTPException):
        return None
    if not isinstance(data, dict):
        return None
    models: Any = cast(dict[str, Any], data).get("models")
    if not isinstance(models, list):
        return None
    names = [
        cast(dict[str, Any], m).get("name") for m in cast(list[Any], models) if isinstance(m, dict)
    ]
    return tuple(n for n in names if isinstance(n, str) and n)


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
    _write_atomic(path, data + ATTRIBUTES_LINE.encode() + eol)
    return True


def _check_key_env(name: str, environ: Mapping[str, str]) -> None:
    secrets_here = {
        environ[k].strip()
        for k in secret_names(environ)
        if k != name and not k.startswith("MEMFUN_")
    }
    looks_like_key = (
        not _ENV_NAME.fullmatch(name)
        or name.lower().startswith(("sk-", "sk_"))
        or redact(name) != name
        or name in secrets_here
        or (len(name) >= 24 and any(c.islower() for c in name) and any(c.isdigit() for c in name))
    )
    if looks_like_key:
        register_secret(name)
        raise UsageError(
            "--api-key-env takes the name of an environment variable, not a key",
            "export the key, e.g. export MY_LLM_KEY=<your key>, and pass --api-key-env MY_LLM_KEY",
        )


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
        config.load(Path(folder), environ=environ)


def _write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to a new file beside `path`, then rename it over `path` (mode kept)."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if path.exists():
            shutil.copymode(path, temp)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _summary(answers: Answers) -> str:
    rows = [f'  [llm] provider = "{answers.provider}"', f'  [llm] model = "{answers.model}"']
    if answers.api_key_env:
        rows.append(f'  [llm] api_key_env = "{answers.api_key_env}"')
    if answers.base_url:
        rows.append(f'  [llm] base_url = "{answers.base_url}"')
    return "\n".join(rows)


def _say(out: Console, text: str) -> None:
    out.print(redact(text), markup=False, highlight=False, emoji=False)


def _next_steps(out: Console, answers: Answers, environ: Mapping[str, str]) -> None:
    name = answers.api_key_env
    if name and not environ.get(name, "").strip():
        _say(out, f"${name} is not set: export {name}=<your key> before asking the model.")
    _say(out, "Commit memfun.toml and .gitattributes to share the setup with your team.")
    _say(out, 'Next: `memfun doctor` (add --online to call the model), then `memfun ask "..."`.')
