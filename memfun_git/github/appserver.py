"""The App's web server: a starlette ASGI app that takes GitHub's webhooks and queues the work.

`POST /webhook`, in this order, each step before the next reads anything more:
1. the raw body (at most 25 MiB, GitHub's own cap: 413 past it);
2. its X-Hub-Signature-256, in constant time (`webhook.verify_signature`): 401 when missing or
   wrong, before any parsing;
3. X-GitHub-Event and X-GitHub-Delivery present, the body a JSON object: else 400, one line;
4. `webhook.route` on the raw JSON: ignored events (pings, bots, other events and actions)
   are answered 200 at once, with the reason, and nothing is kept;
5. start or skip: a delivery already recorded (`app/delivery/<id>` in the StateStore) is
   answered 200 with its recorded outcome and nothing queued; else the job is enqueued under
   `webhook.task_id` and the outcome recorded by compare-and-set (kept 7 days): 202.

A skip (closed or locked issue) is queued too, with `skip_reason` set: the worker, which holds
the API token, posts the comment saying why; the intake answers without calling GitHub.
Enqueue goes before the record, so a crash between them loses nothing: GitHub's redelivery
enqueues the same task id again, which the queue keeps once (and a worker finds its result).
The queued job starts the task's log (`log/<id>`, worker.append_log). `GET /healthz` answers
200 with the tier. `GET /` is the operator's read-only status page (status_page.py): with
`[github] status_token_env` set, only for `Authorization: Bearer <token>` (or `?token=`);
without it, only for clients on loopback that no proxy relayed (403 otherwise). The backend is
opened once in the lifespan and closed at shutdown; a backend error is a 503 (GitHub shows the
delivery failed; redeliver it once the backend is back).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route as Endpoint

from memfun_git.errors import BadPayload, MemfunError
from memfun_git.github.webhook import Route, Triggers, route, task_id, verify_signature
from memfun_git.worker import append_log

if TYPE_CHECKING:
    from memfun_git.backends.protocols import Backend

__all__ = ["DELIVERY_PREFIX", "MAX_BODY_BYTES", "AppSettings", "create_app"]

log = logging.getLogger(__name__)

DELIVERY_PREFIX = "app/delivery/"
MAX_BODY_BYTES = 25 * 1024 * 1024
"""GitHub caps webhook payloads at 25 MB; a larger body is not GitHub's."""
_DELIVERY = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_RESEND = "send the body GitHub signed, unchanged"
_FORWARDED = ("forwarded", "x-forwarded-for", "x-real-ip")
"""Headers a reverse proxy adds: a request carrying one came from elsewhere, whatever its
socket says (the status page then needs its token)."""

BackendFactory = Callable[[], Awaitable["Backend"]]


@dataclass(frozen=True, slots=True)
class AppSettings:
    """What the server needs, built by `memfun app serve` from `[github]` and the environment."""

    webhook_secret: bytes = field(repr=False)
    """The App's webhook secret (never shown: `repr` leaves it out)."""
    triggers: Triggers = field(default_factory=Triggers)
    delivery_ttl: float = 7 * 86_400.0
    """How long a delivery's outcome is kept against redeliveries (seconds)."""
    status_token: str = field(default="", repr=False)
    """What the status page asks for; "" lets loopback clients only."""


def create_app(settings: AppSettings, backend_factory: BackendFactory) -> Starlette:
    """The ASGI app; `backend_factory` opens the backend at start-up (e.g. `open_backend` of
    the configured tier), closed again at shutdown."""
    if not settings.webhook_secret:
        raise ValueError("create_app needs a webhook secret")
    intake = _Intake(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncGenerator[None]:
        intake.backend = await backend_factory()
        try:
            yield
        finally:
            backend, intake.backend = intake.backend, None
            await backend.close()

    return Starlette(
        routes=[
            Endpoint("/webhook", intake.webhook, methods=["POST"]),
            Endpoint("/healthz", intake.healthz, methods=["GET"]),
            Endpoint("/", intake.status, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


class _Intake:
    """The handlers, with the backend the lifespan opened."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings
        self.backend: Backend | None = None

    async def healthz(self, request: Request) -> JSONResponse:
        tier = self.backend.tier if self.backend is not None else None
        return JSONResponse({"status": "ok" if tier else "starting", "tier": tier})

    async def status(self, request: Request) -> Response:
        import hmac

        from memfun_git.github.status_page import render_status, status_tasks

        token = self.settings.status_token
        if token:
            given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
            given = given or request.query_params.get("token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return _error(401, "the status page needs its token", "send it as Bearer <token>")
        elif (
            request.client is None
            or request.client.host not in ("127.0.0.1", "::1")
            or any(h in request.headers for h in _FORWARDED)  # a proxy on loopback relays it
        ):
            return _error(
                403,
                "the status page answers loopback clients only",
                "set [github] status_token_env to a variable holding a token to open it",
            )
        backend = self.backend
        if backend is None:
            return _error(503, "the server is starting", "reload in a moment")
        live = [(a.agent_id, a.info, a.seen) for a in await backend.agents.live()]
        page = render_status(await backend.queue.depth(), live, await status_tasks(backend))
        return HTMLResponse(page)

    async def webhook(self, request: Request) -> JSONResponse:
        body = await _read_body(request)
        if body is None:
            return _error(413, f"the body is over {MAX_BODY_BYTES} bytes", _RESEND)
        if not verify_signature(
            self.settings.webhook_secret, body, request.headers.get("x-hub-signature-256")
        ):
            return _error(
                401,
                "missing or wrong X-Hub-Signature-256",
                "sign the raw body with the App's webhook secret (sha256=<hex>)",
            )
        event = request.headers.get("x-github-event", "")
        delivery = request.headers.get("x-github-delivery", "")
        if not event:
            return _error(400, "no X-GitHub-Event header", "send GitHub's headers with the body")
        if not _DELIVERY.match(delivery):
            return _error(
                400,
                "no usable X-GitHub-Delivery header",
                "send GitHub's delivery id (a GUID) with the body",
            )
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return _error(
                400, "the body is not JSON", "set the webhook's content type to application/json"
            )
        if not isinstance(payload, dict):
            return _error(400, "the body is not a JSON object", _RESEND)
        try:
            decision = route(event, delivery, payload, self.settings.triggers)
        except BadPayload as exc:
            return _error(400, exc.message, exc.hint)
        if decision.action == "ignore":
            log.debug("delivery %s (%s): ignored, %s", delivery, event, decision.reason)
            return _answer(200, {"action": "ignore", "reason": decision.reason})
        try:
            return await self._accept(delivery, event, decision)
        except MemfunError as exc:
            log.warning("delivery %s (%s) not queued: %s", delivery, event, exc)
            return _error(503, f"the backend failed: {exc.message}", "redeliver it from GitHub")

    async def _accept(self, delivery: str, event: str, decision: Route) -> JSONResponse:
        backend = self.backend
        if backend is None:
            return _error(503, "the server is starting", "redeliver it in a moment")
        key = DELIVERY_PREFIX + delivery
        recorded = await backend.state.get(key)
        if recorded is not None:
            return _answer(200, {**json.loads(recorded), "duplicate": True})
        assert decision.job is not None
        name = task_id(decision.job)
        await backend.queue.enqueue(decision.job, task_id=name)
        job = decision.job
        await append_log(backend.state, name, {
            "event": "queued", "repo": job["repo"], "number": job["number"],
            "trigger": job["trigger"], "requester": job["requester"], "delivery": delivery,
        })  # fmt: skip
        outcome = {"action": decision.action, "reason": decision.reason, "task_id": name}
        value = json.dumps(outcome).encode()
        if not await backend.state.cas(key, None, value, ttl=self.settings.delivery_ttl):
            recorded = await backend.state.get(key)
            return _answer(200, {**json.loads(recorded or value), "duplicate": True})
        log.info("delivery %s (%s): %s %s, %s", delivery, event, decision.action, name,
                 decision.reason)  # fmt: skip
        return _answer(202, outcome)


async def _read_body(request: Request) -> bytes | None:
    """The raw body, or None when it is over MAX_BODY_BYTES (said or found while reading)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(status: int, content: dict[str, Any]) -> JSONResponse:
    return JSONResponse(content, status_code=status)


def _error(status: int, message: str, hint: str) -> JSONResponse:
    return _answer(status, {"error": f"{message} — {hint}"})
