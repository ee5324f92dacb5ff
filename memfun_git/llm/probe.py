"""One look at an endpoint that answered 404, to tell a wrong model from a wrong base URL.

A server that answers 404 on every path gets the model blamed by every provider library. So
after a 404 we ask the base URL's models listing (`GET <base>/models`) once: any answer but 404
means the path is right and the model is what is missing; a 404 there too means the base URL's
path is wrong, and the same listing one level up (`<server>/v1/models`) may show the right one.
No key is sent (a 401 already proves the path exists) and redirects are not followed.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from memfun_git.config import LLMConfig

__all__ = ["Probe", "probe_endpoint"]

MAX_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Probe:
    path_ok: bool
    """The base URL's path exists (its models listing answered with anything but 404)."""
    models: tuple[str, ...] = ()
    """Model names the listing gave, when it gave any."""
    suggestion: str = ""
    """A base URL whose models listing does answer, when the configured one does not."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def probe_endpoint(llm: LLMConfig, base: str) -> Probe:
    """Ask `<base>/models` (and, if that is missing, `<server>/v1/models`) once each."""
    timeout = min(MAX_SECONDS, llm.timeout_seconds)
    status, models = _get(base.rstrip("/") + "/models", timeout)
    if status is not None and status != 404:
        return Probe(path_ok=True, models=models)
    parts = urlsplit(base)
    other = urlunsplit((parts.scheme, parts.netloc, "/v1", "", ""))
    if other.rstrip("/") != base.rstrip("/"):
        status, _ = _get(other + "/models", timeout)
        if status is not None and status != 404:
            return Probe(path_ok=False, suggestion=other)
    return Probe(path_ok=False)


def _get(url: str, timeout: float) -> tuple[int | None, tuple[str, ...]]:
    """(HTTP status or None when nothing answered, model ids of a listing)."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with opener.open(request, timeout=timeout) as response:
            body = response.read(1_000_000)
            return response.status, _model_ids(body)
    except urllib.error.HTTPError as exc:
        return exc.code, ()
    except (OSError, ValueError):
        return None, ()


def _model_ids(body: bytes) -> tuple[str, ...]:
    """The ids of an OpenAI- or Anthropic-style listing (`{"data": [{"id": ...}]}`)."""
    try:
        data = json.loads(body).get("data")
    except (ValueError, AttributeError):
        return ()
    if not isinstance(data, list):
        return ()
    ids = (item.get("id") for item in data if isinstance(item, dict))  # pyright: ignore[reportUnknownVariableType]
    return tuple(i for i in ids if isinstance(i, str))
