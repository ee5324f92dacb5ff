"""A local OpenAI-compatible, Anthropic Messages and Ollama stub server for end-to-end LLM tests.

Started per test on a free loopback port; it answers from a script, reports token usage the
way each API does, and records every request it got (method, path, headers, JSON body).
A scripted reply is a string (the assistant's text) or a `StubReply` (status, body, delay).

It serves exactly the real routes: `<root>/chat/completions`, `<root>/messages` (`root` is
`/v1`) and Ollama's `/api/chat`; any other path answers 404, as a real server does, so a
client that builds a wrong URL fails here too. `GET <root>/models` lists `models`. A request
after the script ran out gets a 500 *and* fails the test when the `with` block ends: an
unscripted call is a gap in the test, not an answer.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class StubScriptOverrun(AssertionError):
    """The stub server got more model requests than its script holds."""


@dataclass(frozen=True, slots=True)
class StubReply:
    text: str = ""
    status: int = 200
    error_body: dict[str, Any] | None = None
    delay: float = 0.0
    input_tokens: int = 11
    output_tokens: int = 7
    finish_reason: str = "stop"
    headers: tuple[tuple[str, str], ...] = ()
    """Extra response headers, e.g. (("Retry-After", "0.01"),)."""


@dataclass(slots=True)
class StubRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """Everything the model was shown, as one string."""
        return json.dumps(self.body, ensure_ascii=False)


class StubLLMServer:
    def __init__(
        self,
        replies: Iterable[StubReply | str] = (),
        *,
        root: str = "/v1",
        models: tuple[str, ...] = ("stub-model",),
        responder: Callable[[StubRequest], StubReply | str] | None = None,
    ) -> None:
        self.replies: list[StubReply | str] = list(replies)
        self.responder = responder
        """Answers every request instead of the script (concurrent clients, whose requests
        come in any order)."""
        self.requests: list[StubRequest] = []
        self.overruns: list[StubRequest] = []
        self.root = root
        self.models = models
        self.routes: dict[str, Callable[[dict[str, Any], StubReply], dict[str, Any]]] = {
            root + "/chat/completions": _openai,
            root + "/messages": _anthropic,
            "/api/chat": _ollama,  # Ollama's native chat, at the server's root
        }
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                stub.requests.append(StubRequest("GET", self.path, dict(self.headers.items()), {}))
                if self.path.rstrip("/") == stub.root + "/models":
                    listing = [{"id": name, "object": "model"} for name in stub.models]
                    self._send(200, {"object": "list", "data": listing})
                else:
                    self._send(404, {"detail": "Not Found"})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                request = StubRequest("POST", self.path, dict(self.headers.items()), body)
                stub.requests.append(request)
                shape = stub.routes.get(self.path.rstrip("/"))
                if shape is None:
                    self._send(404, {"detail": "Not Found"})
                    return
                reply = stub._next(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    error = reply.error_body or {"error": {"message": "stub"}}
                    self._send(reply.status, error, reply.headers)
                else:
                    self._send(200, shape(body, reply), reply.headers)

            def _send(
                self,
                status: int,
                payload: dict[str, Any],
                headers: tuple[tuple[str, str], ...] = (),
            ) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The API root (`root` included, `/v1` by default)."""
        return self.origin + self.root

    @property
    def posts(self) -> list[StubRequest]:
        """The model requests (not the models-listing probes)."""
        return [r for r in self.requests if r.method == "POST"]

    def add(self, replies: Iterable[StubReply | str]) -> None:
        with self._lock:
            self.replies.extend(replies)

    def _next(self, request: StubRequest) -> StubReply:
        if self.responder is not None:
            reply = self.responder(request)
            return StubReply(text=reply) if isinstance(reply, str) else reply
        with self._lock:
            if not self.replies:
                self.overruns.append(request)
                return StubReply(status=500, error_body={"error": {"message": "script overrun"}})
            reply = self.replies.pop(0)
        return StubReply(text=reply) if isinstance(reply, str) else reply

    def __enter__(self) -> StubLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self.overruns:
            paths = ", ".join(r.path for r in self.overruns)
            raise StubScriptOverrun(
                f"the stub server got {len(self.overruns)} model request(s) more than its "
                f"script holds ({paths}): script the reply, or the code made a call it should not"
            )


def _openai(body: dict[str, Any], reply: StubReply) -> dict[str, Any]:
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": 0,
        "model": body.get("model", "stub"),
        "choices": [
            {
                "index": 0,
                "finish_reason": reply.finish_reason,
                "message": {"role": "assistant", "content": reply.text},
            }
        ],
        "usage": {
            "prompt_tokens": reply.input_tokens,
            "completion_tokens": reply.output_tokens,
            "total_tokens": reply.input_tokens + reply.output_tokens,
        },
    }


def _ollama(body: dict[str, Any], reply: StubReply) -> dict[str, Any]:
    return {
        "model": body.get("model", "stub"),
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": reply.text},
        "done": True,
        "done_reason": reply.finish_reason,
        "prompt_eval_count": reply.input_tokens,
        "eval_count": reply.output_tokens,
    }


def _anthropic(body: dict[str, Any], reply: StubReply) -> dict[str, Any]:
    stop = {"stop": "end_turn", "length": "max_tokens"}.get(reply.finish_reason, "end_turn")
    return {
        "id": "msg_stub",
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "stub"),
        "content": [{"type": "text", "text": reply.text}],
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": reply.input_tokens, "output_tokens": reply.output_tokens},
    }
