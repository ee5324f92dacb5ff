"""What a local Ollama has: where it listens and which models it has pulled.

`memfun init` looks for one to suggest, and `memfun doctor` checks that the configured model is
there. Both ask Ollama's own listing (`GET /api/tags`): no model is called, no token spent.
"""

from __future__ import annotations

import http.client
import json
import urllib.request
from collections.abc import Iterable, Mapping
from typing import Any, cast
from urllib.parse import urlsplit

__all__ = ["OLLAMA_URL", "has_model", "ollama_root", "probe_ollama", "root_of"]

OLLAMA_URL = "http://127.0.0.1:11434"


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


def root_of(base_url: str) -> str:
    """Ollama's root from an OpenAI-compatible base URL (`http://host:11434/v1`)."""
    return base_url.rstrip("/").removesuffix("/v1")


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


def has_model(models: Iterable[str], model: str) -> bool:
    """Whether `model` is among Ollama's `models`; a name without a tag means `:latest`."""
    names = set(models)
    return model in names or (":" not in model and f"{model}:latest" in names)
