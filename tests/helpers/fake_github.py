"""A fake GitHub REST API for the App's tests: the calls the App makes, with GitHub's rules.

One `FakeGitHub` holds the state (issues, comments, pull requests, permissions, the tokens
given out) and answers `handle(method, path, body, headers)`. Two transports serve it: respx
(`mocked`, in this process, as githubkit's calls go through httpx) and a real HTTP server on
loopback (`served`, for worker processes started by a test).

The App's JWT is checked as GitHub checks it: RS256 with the App's public key, `iss` the App's
id; an installation token is given out narrowed to the repositories asked for, and every
repository call must carry it.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import respx

APP_ID = "424242"
INSTALLATION = 9000
INSTALLATION_TOKEN = "ghs_memfunActionTestToken0123456789abcd"  # the GitServer's token


def app_key() -> tuple[str, str]:
    """A fresh RSA key pair as PEM: (private, public)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


@dataclass
class FakeGitHub:
    owner: str
    name: str
    public_key: str
    permissions: dict[str, str] = field(default_factory=dict[str, str])
    """login -> role; anyone else is not a collaborator (404)."""
    issues: dict[int, dict[str, Any]] = field(default_factory=dict[int, dict[str, Any]])
    comments: dict[int, dict[str, Any]] = field(default_factory=dict[int, dict[str, Any]])
    pulls: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    reviewers: dict[int, list[str]] = field(default_factory=dict[int, list[str]])
    token_requests: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    calls: list[tuple[str, str]] = field(default_factory=list[tuple[str, str]])
    lock: threading.Lock = field(default_factory=threading.Lock)
    hold_pulls: threading.Event | None = None
    """A slow GitHub: a request to open a pull request waits until this event is set (then
    opens it, whether or not its caller is still there); `held` counts the requests held."""
    held: int = 0

    @property
    def repo(self) -> str:
        return f"/repos/{self.owner}/{self.name}"

    def comment_bodies(self, number: int) -> list[str]:
        return [c["body"] for c in self.comments.values() if c["issue"] == number]

    def handle(
        self, method: str, path: str, body: dict[str, Any] | None, headers: dict[str, str]
    ) -> tuple[int, Any]:
        hold = self.hold_pulls
        if hold is not None and method == "POST" and path.split("?", 1)[0].endswith("/pulls"):
            with self.lock:
                self.held += 1
            hold.wait(timeout=120)
        with self.lock:
            self.calls.append((method, path))
            return self._handle(method, path.split("?", 1)[0], body or {}, headers)

    def _handle(
        self, method: str, path: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[int, Any]:
        auth = headers.get("authorization", "")
        found = re.fullmatch(r"/app/installations/(\d+)/access_tokens", path)
        if found and method == "POST":
            return self._token(int(found.group(1)), auth, body)
        if auth != f"token {INSTALLATION_TOKEN}":
            return 401, {"message": "Bad credentials"}
        if not path.startswith(self.repo + "/"):
            return 404, {"message": "Not Found"}
        rest = path[len(self.repo) :]
        if found := re.fullmatch(r"/collaborators/([^/]+)/permission", rest):
            role = self.permissions.get(found.group(1))
            if role is None:
                return 404, {"message": "is not a user"}
            return 200, {"permission": role, "role_name": role}
        if found := re.fullmatch(r"/issues/(\d+)", rest):
            issue = self.issues.get(int(found.group(1)))
            return (200, issue) if issue else (404, {"message": "Not Found"})
        if found := re.fullmatch(r"/issues/(\d+)/comments", rest):
            number = int(found.group(1))
            if method == "GET":
                return 200, [c for c in self.comments.values() if c["issue"] == number]
            comment_id = 1000 + len(self.comments)
            self.comments[comment_id] = {"id": comment_id, "issue": number, "body": body["body"]}
            return 201, self.comments[comment_id]
        if found := re.fullmatch(r"/issues/comments/(\d+)", rest):
            comment = self.comments.get(int(found.group(1)))
            if comment is None:
                return 404, {"message": "Not Found"}
            comment["body"] = body["body"]
            return 200, comment
        if rest == "/pulls" and method == "GET":
            return 200, [p for p in self.pulls if p["state"] == "open"]
        if rest == "/pulls" and method == "POST":
            return self._new_pull(body)
        if found := re.fullmatch(r"/pulls/(\d+)/requested_reviewers", rest):
            self.reviewers.setdefault(int(found.group(1)), []).extend(body["reviewers"])
            return 201, {"number": int(found.group(1))}
        return 404, {"message": f"no route {method} {path}"}

    def _token(self, installation: int, auth: str, body: dict[str, Any]) -> tuple[int, Any]:
        import jwt

        try:
            claims = jwt.decode(auth.removeprefix("Bearer "), self.public_key, algorithms=["RS256"])
        except jwt.PyJWTError as exc:
            return 401, {"message": f"A JSON web token could not be decoded ({exc})"}
        if str(claims.get("iss")) != APP_ID or installation != INSTALLATION:
            return 404, {"message": "Not Found"}
        self.token_requests.append(body)
        return 201, {"token": INSTALLATION_TOKEN, "expires_at": "2099-01-01T00:00:00Z"}

    def _new_pull(self, body: dict[str, Any]) -> tuple[int, Any]:
        head = str(body["head"])
        if any(p["head"]["ref"] == head and p["state"] == "open" for p in self.pulls):
            return 422, {"message": f"A pull request already exists for {self.owner}:{head}."}
        number = 100 + len(self.pulls)
        pull = {
            "number": number,
            "state": "open",
            "draft": bool(body.get("draft")),
            "title": body["title"],
            "body": body.get("body") or "",
            "head": {"ref": head},
            "base": {"ref": body["base"]},
            "html_url": f"https://github.test/{self.owner}/{self.name}/pull/{number}",
        }
        self.pulls.append(pull)
        return 201, pull


@contextmanager
def mocked(fake: FakeGitHub, api_url: str) -> Generator[FakeGitHub]:
    """`fake` answering every call to `api_url` in this process (respx)."""
    prefix = httpx.URL(api_url).path.rstrip("/")

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        path = request.url.path.removeprefix(prefix)
        headers = {k.lower(): v for k, v in request.headers.items()}
        status, data = fake.handle(request.method, path, body, headers)
        return httpx.Response(status, json=data)

    with respx.mock(assert_all_called=False) as router:
        router.route(url__startswith=api_url).mock(side_effect=answer)
        yield fake


@contextmanager
def served(fake: FakeGitHub) -> Generator[str]:
    """`fake` on a real HTTP server on loopback; yields its API URL."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, data = fake.handle(
                self.command, self.path.removeprefix("/api/v3"), body, headers
            )
            out = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PATCH = _answer

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/api/v3"
    finally:
        server.shutdown()
        server.server_close()
