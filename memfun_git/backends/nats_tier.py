"""The NATS JetStream tier: nats-py; every stream, bucket and subject named by one namespace.

- State: a KV bucket. Keys are base64url-encoded (KV keys allow few characters); a value
  carries its expiry time in front (the server's TTL is per bucket, and NATS 2.9 has no
  per-key TTL), so an expired value reads as absent and is replaced by compare-and-set against
  its revision. `create` and `update(last=revision)` are the server's own compare-and-set.
- Queue: a work-queue stream and one durable pull consumer whose ack wait is the visibility
  timeout; a lease is a fetched message (`num_delivered` is the attempt), extend is
  `in_progress`, ack is `ack`, a nack is `nak(delay)`, and the last failed attempt is termed
  and published to a dead-letter stream (as is a task delivered more than the attempts allow,
  whose workers kept dying). A task id is kept once by a KV marker made with `create`.
  The message of a lease lives in this process (a receipt names it); a late ack of a lease
  that was delivered again is dropped here.
- Events: core NATS subjects. Agents: a KV bucket of their last heartbeats.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import struct
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from memfun_git.backends.protocols import AgentInfo, Backend, DeadLetter, Lease
from memfun_git.errors import BackendUnavailable

__all__ = [
    "NatsAgents",
    "NatsBus",
    "NatsQueue",
    "NatsState",
    "drop_namespace",
    "open_nats",
]

logger = logging.getLogger(__name__)

_NONE = 0.0


def _names(namespace: str) -> dict[str, str]:
    token = "".join(c if c.isalnum() or c in "-_" else "_" for c in namespace)
    upper = token.upper().replace("-", "_")
    return {
        "kv": f"memfun_{token}_state",
        "agents": f"memfun_{token}_agents",
        "stream": f"MEMFUN_{upper}_TASKS",
        "subject": f"memfun.{token}.tasks",
        "dead_stream": f"MEMFUN_{upper}_DEAD",
        "dead_subject": f"memfun.{token}.dead",
        "events": f"memfun.{token}.events.",
    }


async def _connect(url: str) -> Any:
    """A connection that reconnects for ever once made; a server that does not answer at
    first is one clear error at once (nats-py would retry the first connect for ever too)."""
    import nats

    await _reachable(url)
    try:
        return await nats.connect(
            url,
            name="memfun",
            connect_timeout=5,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=_connection_trouble,
        )
    except Exception as exc:  # nats raises its own errors and OSError
        raise BackendUnavailable(
            f"cannot reach NATS at {url} ({exc or type(exc).__name__})",
            "start it with JetStream (nats-server -js), or set [backend] nats_url (or tier)",
        ) from None


async def _connection_trouble(exc: Exception) -> None:
    """nats-py's report of a lost connection or a failed reconnect: a line in the log, not a
    traceback on the user's terminal per attempt (the client reconnects on its own; a call
    that cannot wait for it is the caller's one clear error)."""
    logger.info("NATS connection: %s", str(exc) or type(exc).__name__)


async def _reachable(url: str) -> None:
    from urllib.parse import urlsplit

    parts = urlsplit(url if "://" in url else f"nats://{url}")
    host, port = parts.hostname or "127.0.0.1", parts.port or 4222
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=5)
    except (OSError, TimeoutError) as exc:
        raise BackendUnavailable(
            f"cannot reach NATS at {url} ({exc or type(exc).__name__})",
            "start it with JetStream (nats-server -js), or set [backend] nats_url (or tier)",
        ) from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()


async def open_nats(
    url: str, *, namespace: str = "default", visibility: float = 300.0, max_attempts: int = 3
) -> Backend:
    from nats.js.api import AckPolicy, ConsumerConfig, RetentionPolicy, StreamConfig

    nc = await _connect(url)
    names = _names(namespace)
    try:
        js = nc.jetstream()
        kv = await js.create_key_value(bucket=names["kv"], history=1)
        agents = await js.create_key_value(bucket=names["agents"], history=1)
        await _ensure_stream(
            js,
            StreamConfig(
                name=names["stream"],
                subjects=[names["subject"]],
                retention=RetentionPolicy.WORK_QUEUE,
                duplicate_window=86_400,
            ),
        )
        await _ensure_stream(
            js, StreamConfig(name=names["dead_stream"], subjects=[names["dead_subject"]])
        )
        pull = await js.pull_subscribe(
            names["subject"],
            durable="workers",
            stream=names["stream"],
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT, ack_wait=visibility, max_deliver=-1
            ),
        )
    except Exception as exc:
        await nc.close()
        raise BackendUnavailable(
            f"NATS at {url} has no usable JetStream ({exc or type(exc).__name__})",
            "start nats-server with -js",
        ) from None
    state = NatsState(kv)
    return Backend(
        "nats",
        state,
        NatsQueue(js, pull, state, names, max_attempts),
        NatsBus(nc, names["events"]),
        NatsAgents(agents),
        closers=[nc.close],
    )


async def _ensure_stream(js: Any, config: Any) -> None:
    """Make the stream, or bring one an older memfun made up to this configuration."""
    from nats.js.errors import BadRequestError

    try:
        await js.add_stream(config)
    except BadRequestError as exc:
        if getattr(exc, "err_code", None) != 10058:  # "name already in use", other settings
            raise
        await js.update_stream(config)


async def drop_namespace(url: str, namespace: str) -> None:
    """Delete the namespace's streams and buckets (tests)."""
    nc = await _connect(url)
    try:
        js = nc.jetstream()
        names = _names(namespace)
        for stream in (names["stream"], names["dead_stream"]):
            with contextlib.suppress(Exception):  # already gone
                await js.delete_stream(stream)
        for bucket in (names["kv"], names["agents"]):
            with contextlib.suppress(Exception):  # already gone
                await js.delete_key_value(bucket)
    finally:
        await nc.close()


def _key(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def _unkey(encoded: str) -> str:
    return base64.urlsafe_b64decode(encoded.encode()).decode()


def _pack(value: bytes, ttl: float | None) -> bytes:
    return struct.pack(">d", time.time() + ttl if ttl is not None else _NONE) + value


def _unpack(data: bytes) -> bytes | None:
    (expires,) = struct.unpack(">d", data[:8])
    if expires != _NONE and expires <= time.time():
        return None
    return data[8:]


class NatsState:
    def __init__(self, kv: Any) -> None:
        self.kv = kv

    async def _entry(self, key: str) -> tuple[bytes | None, int | None]:
        """(the live value or None, the revision of whatever is stored or None)."""
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self.kv.get(_key(key))
        except KeyNotFoundError:
            return None, None
        if entry.value is None or entry.operation in ("DEL", "PURGE"):
            return None, entry.revision
        return _unpack(entry.value), entry.revision

    async def get(self, key: str) -> bytes | None:
        return (await self._entry(key))[0]

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self.kv.put(_key(key), _pack(value, ttl))

    async def cas(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        from nats.js.errors import KeyWrongLastSequenceError

        current, revision = await self._entry(key)
        if current != expected:
            return False
        try:
            if revision is None:
                await self.kv.create(_key(key), _pack(value, ttl))
            else:
                await self.kv.update(_key(key), _pack(value, ttl), last=revision)
        except KeyWrongLastSequenceError:
            return False
        return True

    async def delete(self, key: str) -> bool:
        present = await self.get(key) is not None
        if present:
            await self.kv.delete(_key(key))
        return present

    async def keys(self, prefix: str) -> list[str]:
        from nats.js.errors import NoKeysError

        try:
            encoded = await self.kv.keys()
        except NoKeysError:
            return []
        names = [_unkey(k) for k in encoded]
        wanted = [k for k in names if k.startswith(prefix)]
        return sorted([k for k in wanted if await self.get(k) is not None])


class NatsQueue:
    def __init__(
        self, js: Any, pull: Any, state: NatsState, names: dict[str, str], max_attempts: int
    ) -> None:
        self.js = js
        self.pull = pull
        self.state = state
        self.names = names
        self.max_attempts = max_attempts
        self._held: dict[str, Any] = {}
        """receipt -> the fetched message."""
        self._current: dict[str, str] = {}
        """task id -> the receipt of its latest delivery here."""

    async def enqueue(self, payload: dict[str, Any], *, task_id: str | None = None) -> str:
        """One publish; the stream drops a task id seen within its duplicate window (a day),
        and completion is idempotent besides (the worker's compare-and-set of the result)."""
        task_id = task_id or uuid.uuid4().hex
        body = json.dumps({"id": task_id, "payload": payload}).encode()
        await self.js.publish(self.names["subject"], body, headers={"Nats-Msg-Id": task_id})
        return task_id

    async def lease(self, worker: str, *, wait: float = 0.0) -> Lease | None:
        import nats.errors

        deadline = time.monotonic() + wait
        while True:
            timeout = max(0.05, min(deadline - time.monotonic(), 1.0))
            try:
                messages = await self.pull.fetch(batch=1, timeout=timeout)
            except nats.errors.TimeoutError:
                messages = []
            for message in messages:
                item = json.loads(message.data)
                attempt = int(message.metadata.num_delivered)
                if attempt > self.max_attempts:
                    await self._bury(
                        message, item, "its workers stopped before finishing", attempt - 1
                    )
                    continue
                receipt = f"{worker}:{uuid.uuid4().hex}"
                self._held[receipt] = message
                stale = self._current.get(item["id"])
                if stale is not None:
                    self._held.pop(stale, None)
                self._current[item["id"]] = receipt
                return Lease(item["id"], item["payload"], attempt, receipt)
            if time.monotonic() >= deadline:
                return None

    def _release(self, lease: Lease) -> Any:
        message = self._held.pop(lease.receipt, None)
        if message is not None and self._current.get(lease.task_id) == lease.receipt:
            del self._current[lease.task_id]
        return message

    async def extend(self, lease: Lease) -> None:
        message = self._held.get(lease.receipt)
        if message is not None:
            await message.in_progress()

    async def ack(self, lease: Lease) -> None:
        message = self._release(lease)
        if message is not None:
            await message.ack_sync()  # confirmed: depth and redelivery agree at once

    async def nack(self, lease: Lease, error: str, *, delay: float = 0.0) -> bool:
        message = self._release(lease)
        if message is None:
            return True
        if lease.attempt >= self.max_attempts:
            item = {"id": lease.task_id, "payload": lease.payload}
            await self._bury(message, item, error, lease.attempt)
            return False
        await message.nak(delay=delay if delay > 0 else None)
        return True

    async def _bury(self, message: Any, item: dict[str, Any], error: str, attempts: int) -> None:
        dead = {"id": item["id"], "payload": item["payload"], "error": error, "attempts": attempts}
        await self.js.publish(self.names["dead_subject"], json.dumps(dead).encode())
        await message.term()
        # The work-queue stream drops a termed message a moment later; deleting it now makes
        # depth and dead exact at once (a message already gone is fine).
        with contextlib.suppress(Exception):
            await self.js.delete_msg(self.names["stream"], message.metadata.sequence.stream)

    async def depth(self) -> int:
        info = await self.js.stream_info(self.names["stream"])
        return int(info.state.messages)

    async def dead(self) -> list[DeadLetter]:
        info = await self.js.stream_info(self.names["dead_stream"])
        letters: list[DeadLetter] = []
        for sequence in range(int(info.state.first_seq), int(info.state.last_seq) + 1):
            if not info.state.messages:
                break
            message = await self.js.get_msg(self.names["dead_stream"], sequence)
            item = json.loads(message.data)
            letters.append(
                DeadLetter(item["id"], item["payload"], item["error"], int(item["attempts"]))
            )
        return letters


class _NatsSubscription:
    def __init__(self, subscription: Any) -> None:
        self.subscription = subscription
        self.closed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        import nats.errors

        while not self.closed:
            try:
                message = await self.subscription.next_msg(timeout=0.2)
            except nats.errors.TimeoutError:
                continue
            yield json.loads(message.data)

    async def close(self) -> None:
        self.closed = True
        await self.subscription.unsubscribe()


class NatsBus:
    def __init__(self, nc: Any, prefix: str) -> None:
        self.nc = nc
        self.prefix = prefix

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        await self.nc.publish(self.prefix + topic, json.dumps(event).encode())

    async def subscribe(self, topic: str) -> _NatsSubscription:
        subscription = await self.nc.subscribe(self.prefix + topic)
        await self.nc.flush()
        return _NatsSubscription(subscription)


class NatsAgents:
    def __init__(self, kv: Any) -> None:
        self.kv = kv

    async def register(self, agent_id: str, info: dict[str, Any], *, ttl: float) -> None:
        agent = {"info": info, "seen": time.time(), "ttl": ttl}
        await self.kv.put(_key(agent_id), json.dumps(agent).encode())

    async def heartbeat(self, agent_id: str) -> bool:
        from nats.js.errors import KeyNotFoundError, KeyWrongLastSequenceError

        try:
            entry = await self.kv.get(_key(agent_id))
        except KeyNotFoundError:
            return False
        if entry.value is None:
            return False
        agent = json.loads(entry.value)
        now = time.time()
        if agent["seen"] + agent["ttl"] <= now:
            return False
        agent["seen"] = now
        try:
            await self.kv.update(_key(agent_id), json.dumps(agent).encode(), last=entry.revision)
        except KeyWrongLastSequenceError:
            return await self.heartbeat(agent_id)
        return True

    async def unregister(self, agent_id: str) -> None:
        await self.kv.delete(_key(agent_id))

    async def live(self) -> list[AgentInfo]:
        from nats.js.errors import KeyNotFoundError, NoKeysError

        try:
            encoded = await self.kv.keys()
        except NoKeysError:
            return []
        found: list[AgentInfo] = []
        now = time.time()
        for key in encoded:
            try:
                entry = await self.kv.get(key)
            except KeyNotFoundError:
                continue
            if entry.value is None:
                continue
            agent = json.loads(entry.value)
            if agent["seen"] + agent["ttl"] > now:
                found.append(AgentInfo(_unkey(key), agent["info"], float(agent["seen"])))
        return sorted(found, key=lambda a: a.agent_id)
