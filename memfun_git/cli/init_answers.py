"""The questions `memfun init` asks, and the check each answer passes when it is given.

A value comes from its flag, else from a prompt, else is the default; every one is checked by
a `AnswerCheck`, which names the value's source in its error. At a terminal a wrong answer is
explained in one line and asked again (earlier answers are kept). Without a terminal, a pipe or
a file on standard input is read as the answers, one line each, echoed for a readable
transcript; an empty line or the end of the input takes the default, and a wrong answer stops
init, as a wrong flag does.
"""

from __future__ import annotations

import io
import os
import re
import stat
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO
from urllib.parse import urlsplit

from rich.console import Console
from rich.prompt import Confirm, InvalidResponse, Prompt
from rich.text import TextType

from memfun_git import config
from memfun_git.errors import MemfunError, UsageError
from memfun_git.redact import redact, register_secret, secret_names

__all__ = [
    "ANSWER",
    "PROVIDERS",
    "Asker",
    "check_custom_url",
    "check_key_env",
    "check_provider",
    "check_url",
    "needs_model",
]

PROVIDERS = ("anthropic", "openai", "ollama", "custom")
ANSWER = "answer"
"""The source of a value typed at a prompt (others: a flag such as `--model`, or a file)."""
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

AnswerCheck = Callable[[str, str], str]
"""(value, its source) -> the value to keep; raises a MemfunError naming the source."""


@dataclass(frozen=True, slots=True)
class Asker:
    """Where answers come from for one run of init."""

    console: Console
    asking: bool
    """False with --yes, or when there is neither a terminal nor a pipe to read answers from."""
    terminal: bool
    """A person answers: a wrong answer is asked again."""
    stream: TextIO | None
    """What answers are read from (None: the terminal, through `input()`)."""

    @classmethod
    def over(
        cls, console: Console, stdin: TextIO | None, *, yes: bool, interactive: bool | None
    ) -> Asker:
        """Questions are asked unless `yes`: at a terminal when `interactive` (default: stdin
        is one), else from stdin line by line when it is a pipe or a file."""
        reader = sys.stdin if stdin is None else stdin
        terminal = _is_terminal(reader) if interactive is None else interactive
        piped = not terminal and interactive is None and _is_readable_file(reader)
        return cls(
            console, not yes and (terminal or piped), terminal, stdin if terminal else reader
        )

    def ask(
        self,
        question: str,
        default: str,
        flag: tuple[str, str | None],
        check: AnswerCheck,
        choices: list[str] | None = None,
    ) -> str:
        """The flag's value, else the answer to `question`, else `default`, each checked."""
        name, value = flag
        if value is not None:
            return check(value, name)
        if not self.asking:
            return check(default, config.CONFIG_FILE)
        if not _passes(check, default):
            default = ""  # never offer a default that would be refused
        prompt = _Question(
            question,
            lambda answer: check(answer, ANSWER),
            again=self.terminal,
            console=self.console,
            choices=choices,
        )
        stream = self.stream
        return str(prompt(default=default, stream=stream) if default else prompt(stream=stream))

    def confirm(self, question: str) -> bool:
        """Yes, unless asked and answered no."""
        if not self.asking:
            return True
        return _Confirm.ask(question, console=self.console, default=True, stream=self.stream)


def _line(console: Console, prompt: TextType, password: bool, stream: TextIO | None) -> str:
    # rich keeps the newline of a line read from a stream, so an empty answer would not take
    # the default as it does at a terminal.
    return console.input(prompt, password=password, stream=stream).rstrip("\r\n")


class _Question(Prompt):
    """A prompt whose answer is checked as soon as it is given: at a terminal a wrong answer is
    explained and asked again; read from a pipe, it stops init with that error."""

    def __init__(
        self, question: str, check: Callable[[str], str], *, again: bool, **kwargs: Any
    ) -> None:
        super().__init__(question, **kwargs)
        self._check = check
        self._again = again

    @classmethod
    def get_input(
        cls, console: Console, prompt: TextType, password: bool, stream: TextIO | None = None
    ) -> str:
        answer = _line(console, prompt, password, stream)
        if stream is not None and not _is_terminal(stream):
            # A readable transcript; a key given by mistake is masked like any secret.
            console.print(redact(answer), markup=False, highlight=False)
        return answer

    def process_response(self, value: str) -> str:
        try:
            return self._check(value.strip())
        except MemfunError as exc:
            if not self._again:
                raise
            raise InvalidResponse(f"memfun: {redact(str(exc))}") from None


class _Confirm(Confirm):
    @classmethod
    def get_input(
        cls, console: Console, prompt: TextType, password: bool, stream: TextIO | None = None
    ) -> str:
        return _Question.get_input(console, prompt, password, stream)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


def _is_readable_file(stream: TextIO) -> bool:
    """Whether `stream` is a pipe or a file that answers can be read from (not /dev/null)."""
    try:
        mode = os.fstat(stream.fileno()).st_mode
    except (OSError, ValueError, io.UnsupportedOperation):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def _passes(check: AnswerCheck, value: str) -> bool:
    try:
        check(value, ANSWER)
    except MemfunError:
        return False
    return True


def _subject(value: str, source: str) -> str:
    """How an error names a value: by its flag, as the answer just given, or by its file."""
    if source.startswith("--"):
        return f"{source} {value!r}"
    return repr(value) if source == ANSWER else f"{value!r} (from {source})"


def check_provider(value: str, source: str) -> str:
    name = value.strip().lower()
    if name in PROVIDERS:
        return name
    if not value:
        raise UsageError(
            "no --provider given and none detected (no provider key set, no local Ollama)",
            "pass --provider anthropic | openai | ollama | custom, or export ANTHROPIC_API_KEY",
        )
    raise UsageError(f"{_subject(value, source)} is not known", "use " + " | ".join(PROVIDERS))


def check_url(url: str, source: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise UsageError(
            f"{_subject(url, source)} is not an http(s) URL",
            'use a URL such as "http://localhost:11434/v1"',
        )
    if urlsplit(url).password:
        raise UsageError(
            "the base URL holds a password, and memfun.toml holds no secrets",
            "pass the URL without user:password@ and put the key in the variable of --api-key-env",
        )
    return url


def check_custom_url(url: str, source: str) -> str:
    if not url and source == ANSWER:
        raise UsageError(
            "a custom provider needs its base URL",
            "give the server's OpenAI-compatible root, e.g. http://host:8000/v1",
        )
    if not url:
        raise UsageError(
            "--provider custom needs --base-url",
            "pass the server's OpenAI-compatible root, e.g. --base-url http://host:8000/v1",
        )
    return check_url(url, source)


def needs_model(provider: str) -> AnswerCheck:
    def check(model: str, source: str) -> str:
        if not model and source == ANSWER:
            raise UsageError("a model is needed", f"give the name of a {provider} model")
        if not model:
            raise UsageError(
                f"--provider {provider} needs --model", "pass the model's name with --model"
            )
        return model

    return check


def check_key_env(name: str, environ: Mapping[str, str], source: str) -> str:
    """`name` when it can name an environment variable; a key given instead is refused."""
    secrets_here = {
        environ[k].strip()
        for k in secret_names(environ)
        if k != name and not k.startswith("MEMFUN_")
    }
    looks_like_key = (
        (name and not _ENV_NAME.fullmatch(name))
        or name.lower().startswith(("sk-", "sk_"))
        or redact(name) != name
        or name in secrets_here
        or (len(name) >= 24 and any(c.islower() for c in name) and any(c.isdigit() for c in name))
    )
    if looks_like_key:
        register_secret(name)
        flag = source.startswith("--")
        raise UsageError(
            ("--api-key-env takes" if flag else "this question takes")
            + " the name of an environment variable, not a key",
            "export the key, e.g. export MY_LLM_KEY=<your key>, and "
            + ("pass --api-key-env MY_LLM_KEY" if flag else "answer MY_LLM_KEY"),
        )
    return name
