"""A fake GitHub for the Action's tests: a git server, a REST API, event files, a runner.

- `GitServer`: dulwich's smart-HTTP server on loopback serving bare repositories at
  `/<owner>/<repo>.git`, answering 401 unless the request carries GitHub's token auth
  (`Basic x-access-token:<token>`); it receives pushes.
- `upstream`: a repository with a base branch and a pull request's head, pushed to the server
  as `refs/heads/<base>` and `refs/pull/<n>/head`, as GitHub keeps them.
- `FakeApi`: the REST API under a non-default base URL (as on GitHub Enterprise Server),
  mocked with respx, recording what was posted; `forbid` answers 403 where GitHub would for a
  fork's read-only token.
- `event_file`: a real webhook payload (tests/fixtures/github-webhooks) adapted to the case.
- `runner_env`: the variables a runner sets for a step, with a fresh HOME each run.
"""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import threading
from collections.abc import Generator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import respx

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "github-webhooks"
OWNER, REPO = "Codertocat", "Hello-World"
NUMBER = 2
BASE_REF = "master"
TOKEN = "ghs_memfunActionTestToken0123456789abcd"
API_URL = "https://ghe.example.test/api/v3"
# A division that fails on 0, the model's fix of it (one edit) and a clean review of it.
CALC = "def mean(total, count):\n    return total / count\n"
FIXED = "def mean(total, count):\n    return total / max(count, 1)\n"
SOLVE = """I guard the division.

src/calc.py
<<<<<<< SEARCH
    return total / count
=======
    return total / max(count, 1)
>>>>>>> REPLACE
"""
CLEAN = "SUMMARY: guards the division as asked."


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


class GitServer:
    """dulwich's smart-HTTP git server with GitHub's token auth, on a free loopback port."""

    def __init__(self, root: Path, token: str = TOKEN) -> None:
        from dulwich.repo import Repo
        from dulwich.server import DictBackend
        from dulwich.web import (
            WSGIRequestHandlerLogger,
            WSGIServerLogger,
            make_server,
            make_wsgi_chain,
        )

        self.bare = root / "server" / f"{REPO}.git"
        self.bare.parent.mkdir(parents=True)
        subprocess.run(["git", "init", "-q", "--bare", str(self.bare)], check=True)
        self._repo = Repo(str(self.bare))
        app = make_wsgi_chain(DictBackend({f"/{OWNER}/{REPO}.git": self._repo}))
        wanted = "basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
        self.refused = 0

        def auth(environ: dict[str, Any], start_response: Any) -> Any:
            if environ.get("HTTP_AUTHORIZATION", "").lower() != wanted.lower():
                self.refused += 1
                start_response(
                    "401 Unauthorized",
                    [("WWW-Authenticate", 'Basic realm="git"'), ("Content-Length", "0")],
                )
                return [b""]
            return app(environ, start_response)

        self._server = make_server(
            "127.0.0.1",
            0,
            auth,
            handler_class=WSGIRequestHandlerLogger,
            server_class=WSGIServerLogger,
        )
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._repo.close()


@dataclass
class Upstream:
    work: Path
    base: str
    head: str


def upstream(
    root: Path, server: GitServer, base_files: dict[str, str], head_files: dict[str, str]
) -> Upstream:
    """The base branch holding `base_files`, the pull request's head adding `head_files` on
    top, both pushed to `server` where GitHub keeps them."""
    work = root / "upstream"
    work.mkdir()
    git(work, "init", "-q", "-b", BASE_REF)
    for rel, text in base_files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git(work, "add", "-A")
    git(work, "-c", "user.name=Base", "-c", "user.email=b@example.com", "commit", "-qm", "base")
    base = git(work, "rev-parse", "HEAD")
    git(work, "checkout", "-qb", "changes")
    for rel, text in head_files.items():
        (work / rel).parent.mkdir(parents=True, exist_ok=True)
        (work / rel).write_text(text)
    git(work, "add", "-A")
    git(work, "-c", "user.name=Head", "-c", "user.email=h@example.com", "commit", "-qm", "head")
    head = git(work, "rev-parse", "HEAD")
    git(work, "push", "-q", str(server.bare), f"{BASE_REF}:refs/heads/{BASE_REF}",
        f"changes:refs/pull/{NUMBER}/head", "changes:refs/heads/changes")  # fmt: skip
    return Upstream(work, base, head)


def event_file(folder: Path, event: str, action: str, up: Upstream, **pull: Any) -> Path:
    """The real `<event>/<action>` payload adapted: the upstream's commits, `pull` keys
    (draft, head repository...) set on its pull request."""
    name = f"{action}.payload.json"
    payload = json.loads((FIXTURES / event / name).read_text())
    payload = copy.deepcopy(payload)
    if "pull_request" in payload:
        pr = payload["pull_request"]
        pr["head"]["sha"] = up.head
        pr["base"]["sha"] = up.base
        pr["base"]["ref"] = BASE_REF
        for key, value in pull.items():
            if key == "fork":
                pr["head"]["repo"]["full_name"] = "someone/Hello-World"
                pr["head"]["repo"]["fork"] = True
            else:
                pr[key] = value
    path = folder / f"{event}-{action}.json"
    path.write_text(json.dumps(payload))
    return path


def runner_env(
    root: Path, event: str, event_path: Path, server: GitServer, **inputs: str
) -> dict[str, str]:
    """A step's environment as a runner sets it: a fresh HOME, its files, the inputs."""
    home = root / f"home-{len(list(root.glob('home-*')))}"
    home.mkdir()
    (home / "output").write_text("")
    (home / "summary").write_text("")
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "TMPDIR")}
    env = keep | {
        "HOME": str(home),
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_EVENT_PATH": str(event_path),
        "GITHUB_REPOSITORY": f"{OWNER}/{REPO}",
        "GITHUB_API_URL": API_URL,
        "GITHUB_SERVER_URL": server.url,
        "GITHUB_OUTPUT": str(home / "output"),
        "GITHUB_STEP_SUMMARY": str(home / "summary"),
        "RUNNER_TEMP": str(home / "runner-temp"),
        "INPUT_GITHUB-TOKEN": TOKEN,
    }
    return env | {f"INPUT_{k.upper().replace('_', '-')}": v for k, v in inputs.items()}


def outputs(env: dict[str, str]) -> dict[str, str]:
    """GITHUB_OUTPUT read back: name -> value (heredoc blocks)."""
    lines = Path(env["GITHUB_OUTPUT"]).read_text().splitlines()
    found: dict[str, str] = {}
    i = 0
    while i < len(lines):
        name, delimiter = lines[i].split("<<", 1)
        end = lines.index(delimiter, i + 1)
        found[name] = "\n".join(lines[i + 1 : end])
        i = end + 1
    return found


@dataclass
class FakeApi:
    existing: list[str] = field(default_factory=list[str])
    """Bodies of comments already on the pull request."""
    review_status: int = 200
    forbid: bool = False
    permission: str = "write"
    """What the API says of the commenter's permission."""
    issue_existing: list[dict[str, Any]] = field(default_factory=list[dict[str, Any]])
    """Issue comments already on the pull request ({"id", "body"})."""
    pull: dict[str, Any] = field(default_factory=dict[str, Any])
    """What GET /pulls/<n> answers (`pull_json`)."""
    calls: list[tuple[str, dict[str, Any] | None]] = field(default_factory=list)
    """(route name, JSON body or None) of every request, in order."""

    def posted(self, route: str) -> list[dict[str, Any]]:
        return [body or {} for name, body in self.calls if name == route]


@contextmanager
def fake_api(**options: Any) -> Generator[FakeApi]:
    api = FakeApi(**options)
    prefix = f"/repos/{OWNER}/{REPO}"

    def answer(request: httpx.Request, name: str) -> httpx.Response:
        body = json.loads(request.content) if request.content else None
        api.calls.append((name, body))
        writes = name in ("check_create", "review", "comment", "check_update", "edit_comment")
        if api.forbid and writes:
            return httpx.Response(403, json={"message": "Resource not accessible by integration"})
        if name == "check_create":
            return httpx.Response(201, json={"id": 77, "status": "in_progress"})
        if name == "review" and api.review_status == 422:
            return httpx.Response(
                422,
                json={"message": "Unprocessable Entity", "errors": ["Line could not be resolved"]},
            )
        if name == "review_comments":
            return httpx.Response(
                200, json=[{"id": i, "body": b} for i, b in enumerate(api.existing)]
            )
        if name == "issue_comments":
            return httpx.Response(200, json=api.issue_existing)
        if name == "reviews":
            return httpx.Response(200, json=[])
        if name == "permission":
            role = api.permission
            return httpx.Response(200, json={"permission": role, "role_name": role})
        if name == "pull":
            return httpx.Response(200, json=api.pull)
        return httpx.Response(201 if name == "comment" else 200, json={"id": 1})

    routes = {
        "check_create": ("POST", f"{prefix}/check-runs"),
        "check_update": ("PATCH", f"{prefix}/check-runs/77"),
        "review": ("POST", f"{prefix}/pulls/{NUMBER}/reviews"),
        "comment": ("POST", f"{prefix}/issues/{NUMBER}/comments"),
        "review_comments": ("GET", f"{prefix}/pulls/{NUMBER}/comments"),
        "reviews": ("GET", f"{prefix}/pulls/{NUMBER}/reviews"),
        "issue_comments": ("GET", f"{prefix}/issues/{NUMBER}/comments"),
        "permission": ("GET", f"{prefix}/collaborators/Codertocat/permission"),
        "pull": ("GET", f"{prefix}/pulls/{NUMBER}"),
    }
    with respx.mock(base_url=API_URL, assert_all_called=False) as router:
        for name, (method, path) in routes.items():
            router.route(method=method, path=path, name=name).mock(
                side_effect=lambda request, name=name: answer(request, name)
            )
        router.route(
            method="PATCH", path__regex=rf"{prefix}/issues/comments/\d+$", name="edit_comment"
        ).mock(side_effect=lambda request: answer(request, "edit_comment"))
        yield api


def pull_json(up: Upstream, *, fork: bool = False) -> dict[str, Any]:
    """GET /repos/<owner>/<repo>/pulls/<n> for the upstream's pull request (the fields read)."""
    head_repo = f"someone/{REPO}" if fork else f"{OWNER}/{REPO}"
    return {
        "number": NUMBER,
        "state": "open",
        "head": {"ref": "changes", "sha": up.head, "repo": {"full_name": head_repo}},
        "base": {"ref": BASE_REF, "sha": up.base, "repo": {"full_name": f"{OWNER}/{REPO}"}},
    }


def comment_event(folder: Path, body: str) -> Path:
    """The real issue_comment.created payload, on pull request NUMBER, saying `body`."""
    payload = json.loads((FIXTURES / "issue_comment" / "created.payload.json").read_text())
    payload["issue"]["number"] = NUMBER
    payload["issue"]["pull_request"] = {
        "url": f"{API_URL}/repos/{OWNER}/{REPO}/pulls/{NUMBER}",
        "html_url": f"https://github.com/{OWNER}/{REPO}/pull/{NUMBER}",
    }
    payload["comment"]["body"] = body
    path = folder / "issue_comment-created.json"
    path.write_text(json.dumps(payload))
    return path
