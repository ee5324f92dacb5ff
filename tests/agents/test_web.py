"""The web specialists' clients against HTTP mocked with respx (never the internet): each
search backend read, pages turned into their visible text, secrets redacted, and an
unreachable web said in one line for the task to go on."""

from __future__ import annotations

import httpx
import pytest
import respx

from memfun_git.agents.web import Web, WebUnreachable
from memfun_git.config import WebConfig

DDG_HTML = """<html><body>
<div class="result"><a class="result__a"
  href="//duckduckgo.com/l/?uddg=https%3A%2F%2Fdocs.python.org%2F3%2Flibrary%2Fsqlite3.html&amp;rut=x">
  sqlite3 — DB-API 2.0 interface</a>
  <a class="result__snippet">The sqlite3 module provides a SQL interface.</a></div>
<div class="result"><a class="result__a" href="https://example.org/wal">WAL mode</a>
  <a class="result__snippet">Write-ahead logging.</a></div>
</body></html>"""
TOKEN = "ghp_" + "a" * 36


def _web(backend: str = "duckduckgo", **env: str) -> Web:
    config = WebConfig(search_backend=backend, searxng_url="http://searx.test", max_results=2)  # type: ignore[arg-type]
    return Web(config, env)


def test_duckduckgo_results_are_read_from_its_html_page() -> None:
    with respx.mock(assert_all_called=True) as router:
        router.post("https://html.duckduckgo.com/html/").respond(200, text=DDG_HTML)
        hits = _web().search("sqlite wal")
    assert [(h.title, h.url, h.snippet) for h in hits] == [
        ("sqlite3 — DB-API 2.0 interface", "https://docs.python.org/3/library/sqlite3.html",
         "The sqlite3 module provides a SQL interface."),
        ("WAL mode", "https://example.org/wal", "Write-ahead logging."),
    ]  # fmt: skip


@pytest.mark.parametrize("backend", ["brave", "tavily", "searxng"])
def test_the_api_backends_send_their_key_and_read_their_results(backend: str) -> None:
    with respx.mock(assert_all_called=False) as router:
        brave = router.get("https://api.search.brave.com/res/v1/web/search").respond(
            200, json={"web": {"results": [{"title": "B", "url": "https://b.test",
                                            "description": f"key {TOKEN}"}]}},
        )  # fmt: skip
        tavily = router.post("https://api.tavily.com/search").respond(
            200, json={"results": [{"title": "T", "url": "https://t.test", "content": "t"}]}
        )
        searx = router.get("http://searx.test/search").respond(
            200, json={"results": [{"title": "S", "url": "https://s.test", "content": "s"}]}
        )
        for route, name in ((brave, "brave"), (tavily, "tavily"), (searx, "searxng")):
            if name != backend:
                route.mock(side_effect=AssertionError("not this backend"))
        web = _web(backend, BRAVE_API_KEY="brave-key", TAVILY_API_KEY="tavily-key")
        (hit,) = web.search("pool size")
    if backend == "brave":
        assert brave.calls.last.request.headers["X-Subscription-Token"] == "brave-key"
        assert brave.calls.last.request.url.params["q"] == "pool size"
        assert TOKEN not in hit.snippet  # redacted
    elif backend == "tavily":
        assert tavily.calls.last.request.headers["Authorization"] == "Bearer tavily-key"
    else:
        assert searx.calls.last.request.url.params["format"] == "json"
    assert hit.url.startswith("https://")


def test_a_page_is_its_visible_text_without_scripts() -> None:
    page = (
        "<html><head><title>t</title><script>steal()</script></head><body><h1>Pooling</h1>"
        f"<style>p{{}}</style><p>Use pool_size=10.</p><p>token {TOKEN}</p></body></html>"
    )
    with respx.mock() as router:
        router.get("https://docs.test/pool").respond(
            200, text=page, headers={"content-type": "text/html"}
        )
        text = _web().fetch("https://docs.test/pool")
    assert text.splitlines()[:2] == ["Pooling", "Use pool_size=10."]
    assert "steal()" not in text
    assert TOKEN not in text


def test_an_unreachable_web_or_a_missing_key_is_one_line() -> None:
    with respx.mock() as router:
        router.post("https://html.duckduckgo.com/html/").mock(
            side_effect=httpx.ConnectError("no route to host")
        )
        router.get("https://docs.test/x").respond(503)
        with pytest.raises(WebUnreachable, match="the web is unreachable"):
            _web().search("anything")
        with pytest.raises(WebUnreachable, match="answered 503"):
            _web().fetch("https://docs.test/x")
    with pytest.raises(WebUnreachable, match=r"needs a key in \$BRAVE_API_KEY"):
        _web("brave").search("x")
    with pytest.raises(WebUnreachable, match="only http"):
        _web().fetch("file:///etc/passwd")
