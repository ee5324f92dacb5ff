"""The one secret redactor, applied wherever text is logged, kept or sent.

It knows two things: the values of the secrets configured for this process (the variables named
by `[llm] api_key_env`, GitHub tokens, and any environment variable whose name says it holds a
key, token, secret or password), and the well-known shapes of credentials (provider keys, GitHub
tokens, AWS access keys, PEM private keys, passwords in URLs, bearer tokens). Either becomes
`[REDACTED]`. Entry points register the configured values with `register_secret` and install
`RedactingFilter` on their log handlers; renderers and everything that builds prompts, notes,
commit messages or comment bodies call `redact`.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast

__all__ = [
    "MARKER",
    "RedactingFilter",
    "Redactor",
    "redact",
    "redact_value",
    "register_environ",
    "register_secret",
    "secret_names",
]

MARKER = "[REDACTED]"
_MIN_SECRET_LEN = 8

# Each pattern matches a credential by its shape alone; group "keep" (when present) survives.
_SHAPES: tuple[re.Pattern[str], ...] = tuple(
    re.compile(p, re.DOTALL)
    for p in (
        r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----.*?"
        r"(?:-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|\Z)",
        r"\bsk-ant-[A-Za-z0-9_\-]{16,}",
        r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}",
        r"\bgh[pousr]_[A-Za-z0-9]{30,}",
        r"\bgithub_pat_[A-Za-z0-9_]{22,}",
        r"\b(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b",
        r"\bAIza[0-9A-Za-z_\-]{35}",
        r"\bxox[abposr]-[A-Za-z0-9\-]{10,}",
        r"(?i)(?P<keep>aws_secret_access_key\s*[=:]\s*[\"']?)[A-Za-z0-9/+=]{40}",
        r"(?i)(?P<keep>\bauthorization\s*[:=]\s*[\"']?(?:bearer|token|basic)\s+)[A-Za-z0-9._~+/=\-]{8,}",
        r"(?i)(?P<keep>\b[a-z][a-z0-9+.\-]*://[^\s/:@\"'<>]*:)[^\s/@\"'<>]+(?=@)",
        r"(?i)(?P<keep>[?&](?:api[_-]?key|key|token|access[_-]?token|secret|password|sig)=)"
        r"[^&\s\"'<>#]{6,}",
    )
)

_SECRET_NAME = re.compile(
    r"(?:^|_)(?:API_?KEY|TOKEN|SECRET|SECRET_KEY|PASSWORD|PASSWD|ACCESS_KEY|PRIVATE_KEY)(?:$|_)"
)


def secret_names(environ: Mapping[str, str]) -> list[str]:
    """Names of environment variables that, by their name, hold a credential."""
    return [name for name in environ if _SECRET_NAME.search(name.upper())]


class Redactor:
    """Replaces known secret values and credential shapes in text with `MARKER`."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: frozenset[str] = frozenset()
        self._until: dict[str, float] = {}
        """Values that expire (short-lived tokens): when each may be forgotten."""
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *values: str | None, lifetime: float | None = None) -> None:
        """Remember secret values; short or empty values are ignored (they would mask words).

        With `lifetime` (seconds), a value is forgotten once that long has passed (when a
        later value is added): a long-running App mints a token per task, each dead within
        the hour, and would otherwise match every text against all of them forever."""
        new = {v.strip() for v in values if v and len(v.strip()) >= _MIN_SECRET_LEN}
        now = time.monotonic()
        with self._lock:
            expired = {v for v, until in self._until.items() if until <= now}
            for value in expired:
                del self._until[value]
            if lifetime is not None:
                for value in new - (self._values - self._until.keys() - expired):
                    self._until[value] = max(self._until.get(value, 0.0), now + lifetime)
            else:
                for value in new:
                    self._until.pop(value, None)
            values_now = (self._values - expired) | new
            if values_now == self._values:
                return
            self._values = frozenset(values_now)
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def __call__(self, text: str) -> str:
        """Every secret value and credential shape found in `text`, replaced: spans are found
        first and overlapping ones merged, so that replacing one (a registered value inside a
        token) never breaks the match of another and leaves a piece of it. Shapes are looked
        for in the text as it is and with the values masked (a value ends a word, so a token
        written right after one still matches its shape's `\\b`)."""
        if not text:
            return text
        spans: list[tuple[int, int]] = []
        if self._pattern is not None:
            spans += [m.span() for m in self._pattern.finditer(text)]
        texts = [text]
        if spans:  # shapes also where a value ended a word: a token written right after one
            masked = list(text)
            for start, end in spans:
                masked[start:end] = "\x00" * (end - start)
            texts.append("".join(masked))
        for shape in _SHAPES:
            for seen in texts:
                for m in shape.finditer(seen):
                    start = m.end("keep") if m.groupdict().get("keep") is not None else m.start()
                    if m.end() > start:
                        spans.append((start, m.end()))
        if not spans:
            return text
        spans.sort()
        merged = [list(spans[0])]
        for start, end in spans[1:]:
            if start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        parts: list[str] = []
        at = 0
        for start, end in merged:
            parts += [text[at:start], MARKER]
            at = end
        parts.append(text[at:])
        return "".join(parts)


# The process's redactor: secrets are facts of the process (its environment, its config), and
# every boundary that lets text out must see all of them, whichever front end registered them.
_ACTIVE = Redactor()


def redact(text: str) -> str:
    """Return `text` with every known secret and credential shape replaced by `MARKER`."""
    return _ACTIVE(text)


def redact_value(value: Any) -> Any:
    """`value` (JSON-like: strings, lists, tuples, dicts) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in cast("list[Any]", value)]
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in cast("dict[Any, Any]", value).items()}
    return value


def register_secret(*values: str | None, lifetime: float | None = None) -> None:
    """Add secret values (an API key, a token) to the process's redactor; with `lifetime`,
    for that many seconds (see `Redactor.add`)."""
    _ACTIVE.add(*values, lifetime=lifetime)


def register_environ(environ: Mapping[str, str] | None = None, names: Iterable[str] = ()) -> None:
    """Register the values of `names` and of every variable whose name says it is a secret."""
    env = os.environ if environ is None else environ
    wanted = set(names) | set(secret_names(env))
    register_secret(*(env.get(name) for name in wanted))


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the message, its arguments and any traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
