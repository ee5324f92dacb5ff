"""The Redis tier: redis-py asyncio; every key under one namespace (`memfun:<ns>:`).

- State: plain keys (`SET ... PX` for a time to live); compare-and-set is one Lua script.
- Queue: a stream with one consumer group. A new task is read with XREADGROUP; a lease whose
  worker went quiet for the visibility timeout is taken over with XAUTOCLAIM (its delivery
  count goes up). A lease's receipt is the message id and its delivery count, so a late ack
  from a worker that lost the lease changes nothing (checked against XPENDING in the same
  script). A nack acks the message and puts the task in a delay set (a sorted set by due
  time), moved back to the stream by the next lease when due; the attempts so far travel with
  it. The last failed attempt goes to a dead-letter stream. `enqueue` with a known task id is
  kept once (a marker key, removed when the task leaves).
- Events: pub/sub channels. Agents: one key each, expiring with their time to live.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from memfun_git.backends.protocols import AgentInfo, Backend, DeadLetter, Lease
from memfun_git.errors import BackendUnavailable

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = [
    "RedisAgents",
    "RedisBus",
    "RedisQueue",
    "RedisState",
    "open_redis",
]

_CAS = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
if ARGV[4] == '' then redis.call('SET', KEYS[1], ARGV[3])
else redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4]) end
return 1
"""
_OWNED = """
local pending = redis.call('XPENDING', KEYS[1], ARGV[1], ARGV[2], ARGV[2], 1)
if #pending == 0 then return 0 end
if pending[1][2] ~= ARGV[3] or tostring(pending[1][4]) ~= ARGV[4] then return 0 end
redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
redis.call('XDEL', KEYS[1], ARGV[2])
if ARGV[5] == '1' then redis.call('DEL', KEYS[2]) end
return 1
"""
_ENQUEUE = """
if redis.call('SET', KEYS[1], '1', 'NX') then
  redis.call('XADD', KEYS[2], '*', 'task', ARGV[1])
end
return 1
"""
_TAKE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[4], 'LIMIT', 0, 100)
for _, item in ipairs(due) do
  redis.call('XADD', KEYS[1], '*', 'task', item)
  redis.call('ZREM', KEYS[2], item)
end
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', 1)
for _, entry in ipairs(claimed[2]) do
  if entry and entry[2] then
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
    return {entry[1], entry[2][2], pending[1][4]}
  end
end
local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', 1,
                       'STREAMS', KEYS[1], '>')
if read and read[1] and #read[1][2] > 0 then
  local entry = read[1][2][1]
  return {entry[1], entry[2][2], 1}
end
return false
"""
_HEARTBEAT = """
local found = redis.call('GET', KEYS[1])
if not found then return 0 end
local agent = cjson.decode(found)
agent['seen'] = tonumber(ARGV[1])
redis.call('SET', KEYS[1], cjson.encode(agent), 'PX', math.floor(agent['ttl'] * 1000))
return 1
"""
_GROUP = "workers"


async def open_redis(
    url: str, *, namespace: str = "default", visibility: float = 300.0, max_attempts: int = 3
) -> Backend:
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    client: Redis = Redis.from_url(url, socket_connect_timeout=5, health_check_interval=10)
    prefix = f"memfun:{namespace}:"
    try:
        await client.ping()
        try:
            await client.xgroup_create(prefix + "queue", _GROUP, id="0", mkstream=True)
        except RedisError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
    except (RedisError, OSError) as exc:
        await client.aclose()
        raise BackendUnavailable(
            f"cannot reach Redis at {_shown(url)} ({exc})",
            "start it, or set [backend] redis_url (or tier) in memfun.toml",
        ) from None
    return Backend(
        "redis",
        RedisState(client, prefix),
        RedisQueue(client, prefix, visibility, max_attempts),
        RedisBus(client, prefix),
        RedisAgents(client, prefix),
        closers=[client.aclose],
    )


def _shown(url: str) -> str:
    """The URL without a password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}"
        netloc += f":{parts.port}" if parts.port else ""
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else str(max(1, int(seconds * 1000)))


class RedisState:
    def __init__(self, client: Redis, prefix: str) -> None:
        self.client: Any = client  # redis-py's own types are partial
        self.prefix = prefix + "kv:"

    async def get(self, key: str) -> bytes | None:
        return await self.client.get(self.prefix + key)

    async def put(self, key: str, value: bytes, *, ttl: float | None = None) -> None:
        await self.client.set(self.prefix + key, value, px=int(_ms(ttl)) if ttl else None)

    async def cas(
        self, key: str, expected: bytes | None, value: bytes, *, ttl: float | None = None
    ) -> bool:
        flag = "0" if expected is None else "1"
        done = await self.client.eval(
            _CAS, 1, self.prefix + key, flag, expected or b"", value, _ms(ttl)
        )
        return int(done) == 1

    async def delete(self, key: str) -> bool:
        return int(await self.client.delete(self.prefix + key)) == 1

    async def keys(self, prefix: str) -> list[str]:
        pattern = self.prefix + _glob_escape(prefix) + "*"
        found = [k async for k in self.client.scan_iter(match=pattern, count=500)]
        return sorted(k.decode()[len(self.prefix) :] for k in found)


def _glob_escape(text: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in text)


class RedisQueue:
    def __init__(self, client: Redis, prefix: str, visibility: float, max_attempts: int) -> None:
        self.client: Any = client  # redis-py's own types are partial
        self.stream = prefix + "queue"
        self.delayed = prefix + "delayed"
        self.dead_stream = prefix + "dead"
        self.marks = prefix + "queued:"
        self.visibility = visibility
        self.max_attempts = max_attempts

    async def enqueue(self, payload: dict[str, Any], *, task_id: str | None = None) -> str:
        task_id = task_id or uuid.uuid4().hex
        item = json.dumps({"id": task_id, "payload": payload, "attempts": 0})
        await self.client.eval(_ENQUEUE, 2, self.marks + task_id, self.stream, item)
        return task_id

    def _lease(self, message_id: bytes, item: bytes, deliveries: int, worker: str) -> Lease:
        task = json.loads(item)
        receipt = f"{message_id.decode()}|{worker}|{deliveries}"
        return Lease(task["id"], task["payload"], int(task["attempts"]) + deliveries, receipt)

    async def lease(self, worker: str, *, wait: float = 0.0) -> Lease | None:
        """One script takes a due delayed task, an expired lease or a new task; with none,
        a blocking read waits (a script cannot block)."""
        deadline = time.monotonic() + wait
        idle = str(int(self.visibility * 1000))
        while True:
            taken = await self.client.eval(
                _TAKE, 2, self.stream, self.delayed, _GROUP, worker, idle, str(time.time())
            )
            if taken:
                return self._lease(taken[0], taken[1], int(taken[2]), worker)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            block = max(1, int(min(remaining, 0.5) * 1000))
            read = await self.client.xreadgroup(
                _GROUP, worker, {self.stream: ">"}, count=1, block=block
            )
            if read and read[0][1]:
                message_id, fields = read[0][1][0]
                return self._lease(message_id, fields[b"task"], 1, worker)

    def _parts(self, lease: Lease) -> tuple[str, str, str]:
        message_id, worker, deliveries = lease.receipt.split("|")
        return message_id, worker, deliveries

    async def extend(self, lease: Lease) -> None:
        message_id, worker, _ = self._parts(lease)
        # XCLAIM with JUSTID resets the idle time without counting a delivery.
        await self.client.xclaim(
            self.stream, _GROUP, worker, min_idle_time=0, message_ids=[message_id], justid=True
        )

    async def _release(self, lease: Lease, *, unmark: bool = False) -> bool:
        """Ack the lease's message if this delivery still holds it (and drop the task id's
        marker with `unmark`), in one script."""
        message_id, worker, deliveries = self._parts(lease)
        done = await self.client.eval(
            _OWNED, 2, self.stream, self.marks + lease.task_id,
            _GROUP, message_id, worker, deliveries, "1" if unmark else "0",
        )  # fmt: skip
        return int(done) == 1

    async def ack(self, lease: Lease) -> None:
        await self._release(lease, unmark=True)

    async def nack(self, lease: Lease, error: str, *, delay: float = 0.0) -> bool:
        if not await self._release(lease):
            return True
        if lease.attempt >= self.max_attempts:
            dead = {"id": lease.task_id, "payload": lease.payload, "error": error,
                    "attempts": lease.attempt}  # fmt: skip
            await self.client.xadd(self.dead_stream, {"task": json.dumps(dead)})
            await self.client.delete(self.marks + lease.task_id)
            return False
        item = json.dumps(
            {"id": lease.task_id, "payload": lease.payload, "attempts": lease.attempt}
        )
        if delay > 0:
            await self.client.zadd(self.delayed, {item: time.time() + delay})
        else:
            await self.client.xadd(self.stream, {"task": item})
        return True

    async def depth(self) -> int:
        return int(await self.client.xlen(self.stream)) + int(await self.client.zcard(self.delayed))

    async def dead(self) -> list[DeadLetter]:
        found = await self.client.xrange(self.dead_stream)
        letters: list[DeadLetter] = []
        for _, fields in found:
            item = json.loads(fields[b"task"])
            letters.append(
                DeadLetter(item["id"], item["payload"], item["error"], int(item["attempts"]))
            )
        return letters


class _RedisSubscription:
    def __init__(self, pubsub: Any) -> None:
        self.pubsub = pubsub
        self.closed = False

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._events()

    async def _events(self) -> AsyncIterator[dict[str, Any]]:
        while not self.closed:
            message = await self.pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is not None and message.get("type") == "message":
                yield json.loads(message["data"])

    async def close(self) -> None:
        self.closed = True
        await self.pubsub.aclose()


class RedisBus:
    def __init__(self, client: Redis, prefix: str) -> None:
        self.client: Any = client  # redis-py's own types are partial
        self.prefix = prefix + "events:"

    async def publish(self, topic: str, event: dict[str, Any]) -> None:
        await self.client.publish(self.prefix + topic, json.dumps(event))

    async def subscribe(self, topic: str) -> _RedisSubscription:
        pubsub = self.client.pubsub()
        await pubsub.subscribe(self.prefix + topic)
        # The subscription is live once Redis confirmed it: events published after this count.
        await pubsub.get_message(timeout=1.0)
        return _RedisSubscription(pubsub)


class RedisAgents:
    def __init__(self, client: Redis, prefix: str) -> None:
        self.client: Any = client  # redis-py's own types are partial
        self.prefix = prefix + "agents:"

    async def register(self, agent_id: str, info: dict[str, Any], *, ttl: float) -> None:
        agent = {"info": info, "seen": time.time(), "ttl": ttl}
        await self.client.set(self.prefix + agent_id, json.dumps(agent), px=int(_ms(ttl)))

    async def heartbeat(self, agent_id: str) -> bool:
        done = await self.client.eval(_HEARTBEAT, 1, self.prefix + agent_id, str(time.time()))
        return int(done) == 1

    async def unregister(self, agent_id: str) -> None:
        await self.client.delete(self.prefix + agent_id)

    async def live(self) -> list[AgentInfo]:
        keys = sorted([k async for k in self.client.scan_iter(match=self.prefix + "*")])
        found: list[AgentInfo] = []
        for key in keys:
            text = await self.client.get(key)
            if text is not None:
                agent = json.loads(text)
                name = key.decode()[len(self.prefix) :]
                found.append(AgentInfo(name, agent["info"], float(agent["seen"])))
        return found
