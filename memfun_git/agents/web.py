"""The web-search and web-fetch specialists' clients, run by memfun itself (never in the
sandbox, which has no network), over httpx.

Search backends, as `[web] search_backend` says: duckduckgo (its HTML endpoint, no key),
brave (`X-Subscription-Token`), tavily (`Authorization: Bearer`), searxng (`[web]
searxng_url`, its JSON format). Keys come from the variable `[web] api_key_env` names
(default BRAVE_API_KEY / TAVILY_API_KEY), never from a file. Fetch takes http(s) URLs only,
follows redirects, reads at most `_FETCH_BYTES`, and turns HTML into its visible text.

Offline, a refused connection or a time-out (`[web] fetch_timeout_seconds`) is `WebUnreachable`:
the loop shows "the web is unreachable" and the task goes on. What comes back is redacted,
and the loop fences it as text written by others.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qs, urlsplit

from memfun_git.errors import MemfunError
from memfun_git.redact import redact

if TYPE_CHECKING:
    import httpx

    from memfun_git.config import WebConfig

__all__ = ["SearchHit", "Web", "WebUnreachable"]

_FETCH_BYTES = 2_000_000
_TEXT_CHARS = 20_000
_DEFAULT_KEYS = {"brave": "BRAVE_API_KEY", "tavily": "TAVILY_API_KEY"}
_AGENT = "memfun-git (+https://github.com/memfun/memfun-git)"


class WebUnreachable(MemfunError):
    """The web (or the configured search service) did not answer."""


@dataclass(frozen=True, slots=True)
class SearchHit:
    title: str
    url: str
    snippet: str


class Web:
    def __init__(
        self,
        config: WebConfig,
        environ: Mapping[str, str],
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.config = config
        self.environ = environ
        self.transport = transport

    def _client(self) -> httpx.Client:
        import httpx

        return httpx.Client(
            timeout=self.config.fetch_timeout_seconds, follow_redirects=True,
            headers={"User-Agent": _AGENT}, transport=self.transport,
        )  # fmt: skip

    def _key(self) -> str:
        backend = self.config.search_backend
        name = self.config.api_key_env or _DEFAULT_KEYS.get(backend, "")
        key = self.environ.get(name, "").strip() if name else ""
        if not key:
            raise WebUnreachable(
                f"web search with {backend} needs a key in ${name}",
                f'export {name}, or set [web] search_backend = "duckduckgo"',
            )
        return key

    def search(self, query: str) -> list[SearchHit]:
        import httpx

        backend = self.config.search_backend
        limit = self.config.max_results
        try:
            with self._client() as client:
                if backend == "brave":
                    response = client.get(
                        "https://api.search.brave.com/res/v1/web/search",
                        params={"q": query, "count": limit},
                        headers={"X-Subscription-Token": self._key(), "Accept": "application/json"},
                    )
                    response.raise_for_status()
                    web = cast(dict[str, Any], response.json().get("web") or {})
                    return _hits(web.get("results"), "description", limit)
                if backend == "tavily":
                    response = client.post(
                        "https://api.tavily.com/search",
                        json={"query": query, "max_results": limit},
                        headers={"Authorization": f"Bearer {self._key()}"},
                    )
                    response.raise_for_status()
                    return _hits(response.json().get("results"), "content", limit)
                if backend == "searxng":
                    base = self.config.searxng_url.rstrip("/")
                    if not base:
                        raise WebUnreachable(
                            "[web] searxng_url is not set", "set it to your SearXNG's address"
                        )
                    response = client.get(f"{base}/search", params={"q": query, "format": "json"})
                    response.raise_for_status()
                    return _hits(response.json().get("results"), "content", limit)
                response = client.post("https://html.duckduckgo.com/html/", data={"q": query})
                response.raise_for_status()
                return _duckduckgo(response.text, limit)
        except httpx.HTTPStatusError as exc:
            raise WebUnreachable(
                f"{backend} answered {exc.response.status_code} to the search", ""
            ) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise WebUnreachable(f"the web is unreachable ({redact(str(exc))})", "") from None

    def fetch(self, url: str) -> str:
        """The page's visible text (HTML) or the text as it is, at most `_TEXT_CHARS`."""
        import httpx

        if urlsplit(url).scheme not in ("http", "https"):
            raise WebUnreachable(f"only http(s) pages are fetched, not {url!r}", "")
        try:
            with self._client() as client, client.stream("GET", url) as response:
                response.raise_for_status()
                kind = response.headers.get("content-type", "")
                data = b""
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) >= _FETCH_BYTES:
                        break
        except httpx.HTTPStatusError as exc:
            raise WebUnreachable(f"{url} answered {exc.response.status_code}", "") from None
        except httpx.HTTPError as exc:
            raise WebUnreachable(f"the web is unreachable ({redact(str(exc))})", "") from None
        if "html" in kind or data.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")):
            text = _visible_text(data)
        elif kind.startswith(("text/", "application/json")) or not kind:
            text = data.decode("utf-8", errors="replace")
        else:
            return f"({kind}: not text)"
        return redact(text[:_TEXT_CHARS])


def _hits(items: object, snippet: str, limit: int) -> list[SearchHit]:
    if not isinstance(items, list):
        return []
    found: list[SearchHit] = []
    for item in cast(list[object], items)[:limit]:
        if isinstance(item, dict):
            data = cast(dict[str, Any], item)
            found.append(
                SearchHit(
                    str(data.get("title") or ""),
                    str(data.get("url") or ""),
                    redact(str(data.get(snippet) or "")),
                )
            )
    return found


def _duckduckgo(html: str, limit: int) -> list[SearchHit]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    found: list[SearchHit] = []
    for result in soup.select(".result"):
        link = result.select_one("a.result__a")
        if link is None:
            continue
        href = str(link.get("href") or "")
        target = parse_qs(urlsplit(href).query).get("uddg")  # DuckDuckGo's redirect link
        snippet = result.select_one(".result__snippet")
        found.append(
            SearchHit(
                link.get_text(" ", strip=True),
                target[0] if target else href,
                redact(snippet.get_text(" ", strip=True) if snippet else ""),
            )
        )
        if len(found) >= limit:
            break
    return found


def _visible_text(data: bytes) -> str:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(data, "html.parser")
    for hidden in soup(["script", "style", "noscript", "template", "head"]):
        hidden.decompose()
    lines = (line.strip() for line in soup.get_text("\n").splitlines())
    return "\n".join(line for line in lines if line)
