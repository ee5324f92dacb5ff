"""A local OpenAI-compatible and Anthropic Messages stub server for end-to-end LLM tests.

Started per test on a free loopback port; it answers from a script, reports token usage the
way each API does, and records every request it got (path, headers, JSON body).
A scripted reply is a string (the assistant's text) or a `StubReply` (status, body, delay).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True, slots=True)
class StubReply:
    text: str = ""
    status: int = 200
    error_body: dict[str, Any] | None = None
    delay: float = 0.0
    input_tokens: int = 11
    output_tokens: int = 7
    finish_reason: str = "stop"


@dataclass(slots=True)
class StubRequest:
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """Everything the model was shown, as one string."""
        return json.dumps(self.body, ensure_ascii=False)


@dataclass
class StubLLMServer:
    replies: list[StubReply | str] = field(default_factory=list)
    requests: list[StubRequest] = field(default_factory=list)

    def __post_init__(self) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                stub.requests.append(StubRequest(self.path, dict(self.headers.items()), body))
                reply = stub._next()
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status != 200:
                    self._send(reply.status, reply.error_body or {"error": {"message": "stub"}})
                    return
                if self.path.rstrip("/").endswith("/messages"):
                    self._send(200, _anthropic(body, reply))
                else:
                    self._send(200, _openai(body, reply))

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
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
    def url(self) -> str:
        """The OpenAI-compatible root, `/v1` included."""
        return f"http://127.0.0.1:{self.port}/v1"

    def add(self, replies: Iterable[StubReply | str]) -> None:
        with self._lock:
            self.replies.extend(replies)

    def _next(self) -> StubReply:
        with self._lock:
            reply = self.replies.pop(0) if self.replies else StubReply(status=500)
        return StubReply(text=reply) if isinstance(reply, str) else reply

    def __enter__(self) -> StubLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


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
