"""The Redis broker: several Switchboard processes, one set of rooms.

``Hub(broker=RedisBroker("redis://127.0.0.1:6379/0"))`` (or ``Hub(broker="redis://...")``)
and every node sharing that Redis sees the same rooms, history and presence:

* **Fan-out**: a publication is one ``PUBLISH`` on the channel of its target (a room,
  a user, a session, everyone); each node subscribes, on one pub/sub connection, to
  the channels it has local members of, and frames what it receives once for all of
  them. A room emit is one Redis round trip whatever the number of receivers.
* **History**: one Lua script numbers a room publication (``INCR``), appends it to
  the room's stream (``XADD`` with ``MAXLEN``, the publication's offset as its id),
  and publishes it, atomically: offsets and epochs are global, and publication order
  is offset order on every node. The stream expires ``history_ttl`` after the last
  publication; its epoch and offset live a day longer. A Redis that lost its data
  gives every room a new epoch, so clients are told ``recovered: false``.
* **Presence**: a hash per room, ``user -> {node: connections}``; each node renews its
  lease in a sorted set every ``node_ttl / 3`` seconds. When a node's lease runs out
  (it was killed), the first node to notice removes its entries and publishes the
  leave diffs: its members disappear within ``node_ttl`` (10 s by default).
* **Healing**: the pub/sub connection is watched. When it drops (Redis restarted,
  ``CLIENT KILL``, an output-buffer limit), or when a probe published on the node's
  own channel does not come back within ``probe_timeout`` (a deaf subscription), it
  reconnects with exponential backoff (reset after success) and resubscribes. Its
  state is in :meth:`status` (``/healthz``, ``/metrics``) and in the log. While
  Redis is unreachable, publications fail fast with
  :class:`~switchboard.realtime.Unavailable` (an ``unavailable`` error ack): no
  unbounded buffer, no silent drop.

Needs the ``redis`` extra (redis-py's asyncio API) and Redis 6.2 or newer
(``GETDEL``); Redis 7 is what the tests run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from typing import TYPE_CHECKING, Any

from ..history import new_epoch
from ..wire import dumps
from .base import (
    Broker,
    Deliver,
    HistoryPolicy,
    Outcome,
    Position,
    Recovery,
    Resync,
    Run,
)

if TYPE_CHECKING:
    import redis.asyncio as aioredis

__all__ = ["RedisBroker"]

logger = logging.getLogger("switchboard.realtime.redis")

_META_TTL_MS = 24 * 3600 * 1000  # a room's epoch and offset outlive its history by a day

# KEYS: offset, epoch, stream. ARGV: event json, room json, data json, history size,
# history ttl (ms), channel, skip, epoch if new. The frame is wire.event_frame's.
_PUBLISH_EVENT = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[8]
  redis.call('SET', KEYS[2], epoch)
  redis.call('DEL', KEYS[1], KEYS[3])
end
local offset = redis.call('INCR', KEYS[1])
local frame = '{"t":"event","event":' .. ARGV[1] .. ',"room":' .. ARGV[2] .. ',"offset":'
  .. offset .. ',"epoch":"' .. epoch .. '","data":' .. ARGV[3] .. '}'
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('XADD', KEYS[3], 'MAXLEN', ARGV[4], '0-' .. offset, 'f', frame, 's', ARGV[7], 't', ms)
redis.call('PEXPIRE', KEYS[3], ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[9])
redis.call('PEXPIRE', KEYS[2], ARGV[9])
redis.call('PUBLISH', ARGV[6], ARGV[7] .. '\\n' .. offset .. '\\n' .. frame)
return {offset, epoch}
"""

# KEYS: offset, epoch, stream. ARGV: since offset (-1: none), since epoch, epoch if new,
# meta ttl (ms). Returns {offset, epoch, now ms, entries...}.
_RECOVER = """
local epoch = redis.call('GET', KEYS[2])
if not epoch then
  epoch = ARGV[3]
  redis.call('SET', KEYS[2], epoch, 'PX', ARGV[4])
  redis.call('DEL', KEYS[1], KEYS[3])
end
local offset = tonumber(redis.call('GET', KEYS[1]) or '0')
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local since = tonumber(ARGV[1])
if since < 0 or ARGV[2] ~= epoch or since >= offset then
  return {offset, epoch, ms}
end
return {offset, epoch, ms, redis.call('XRANGE', KEYS[3], '0-' .. (since + 1), '+')}
"""

# KEYS: counts hash, info hash, the node's room set. ARGV: user, node, connections,
# info json, room. Returns a PresenceChange value.
_PRESENCE_SET = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local nodes = raw and cjson.decode(raw) or {}
local before = next(nodes) ~= nil
local n = tonumber(ARGV[3])
if n > 0 then nodes[ARGV[2]] = n else nodes[ARGV[2]] = nil end
local after = next(nodes) ~= nil
if after then
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(nodes))
  redis.call('HSET', KEYS[2], ARGV[1], ARGV[4])
  redis.call('SADD', KEYS[3], ARGV[5])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
end
if after and not before then return 1 end
if before and not after then return 2 end
return 0
"""

# KEYS: counts hash, info hash. ARGV: a dead node. Returns {user, info, ...} of the
# users who had no other node.
_REAP = """
local gone = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  local nodes = cjson.decode(all[i + 1])
  if nodes[ARGV[1]] then
    nodes[ARGV[1]] = nil
    if next(nodes) == nil then
      table.insert(gone, all[i])
      table.insert(gone, redis.call('HGET', KEYS[2], all[i]) or '{}')
      redis.call('HDEL', KEYS[1], all[i])
      redis.call('HDEL', KEYS[2], all[i])
    else
      redis.call('HSET', KEYS[1], all[i], cjson.encode(nodes))
    end
  end
end
return gone
"""


class RedisBroker(Broker):
    """Rooms, history and presence shared by every hub on one Redis.

    ``url``: ``redis://host:port/db`` (``rediss://`` for TLS, ``unix://`` too).
    ``prefix`` namespaces every key and channel. ``node``: this process's name
    (random by default). ``node_ttl`` (10 s): how long a silent node's members stay
    in presence. ``probe_interval`` (2 s) and ``probe_timeout`` (5 s): how often the
    subscription is checked, and how long a probe may take before it is declared
    deaf. ``backoff``: reconnection delays, ``(first, most)`` seconds.
    ``command_timeout`` (2 s): how long a Redis command may take (or wait for one
    of the ``max_connections``, 64, pooled connections) before it fails.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        prefix: str = "switchboard",
        node: str | None = None,
        node_ttl: float = 10.0,
        probe_interval: float = 2.0,
        probe_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.1, 2.0),
        command_timeout: float = 2.0,
        max_connections: int = 64,
    ) -> None:
        try:
            import redis.asyncio as aioredis  # noqa: F401 (checked here, used in start)
        except ImportError:  # pragma: no cover (the redis extra is installed in tests)
            raise ImportError(
                "the Redis broker needs redis-py: pip install 'switchboard-ws[redis]'"
            ) from None
        scheme = url.partition("://")[0]
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(
                f"not a Redis URL: {url!r} (redis://host:port/db, rediss://..., unix://path)"
            )
        self.url = url
        self.prefix = prefix
        self.node = node or secrets.token_hex(6)
        self.node_ttl = node_ttl
        self.probe_interval = probe_interval
        self.probe_timeout = probe_timeout
        self.backoff = backoff
        self.command_timeout = command_timeout
        self.max_connections = max_connections
        self._redis: aioredis.Redis | None = None
        self._deliver: Deliver | None = None
        self._resync: Resync | None = None
        self._resyncing: asyncio.Future[None] | None = None
        self._ever_subscribed = False
        self._channels: set[str] = set()  # what this node wants to hear
        self._confirmed: dict[str, asyncio.Future[None]] = {}  # subscriptions in flight
        self._pubsub: Any = None  # the live redis-py PubSub, while connected
        self._active: set[str] = set()  # channels confirmed on the current connection
        self._up = asyncio.Event()  # set while subscribed
        self._pubsub_task: asyncio.Task[None] | None = None
        self._lease_task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None  # ends the pub/sub connection early
        self._scripts: dict[str, Any] = {}
        self._probe_sent = 0.0
        self._probing: asyncio.Future[None] | None = None
        self._probe_channel = self._key("c", f"probe:{self.node}")
        # State, for status() and the metrics.
        self.connected = False
        self.subscribed = False
        self.reconnects = 0
        self.publish_failures = 0
        self.deaf_detections = 0
        self.last_message = 0.0
        self.lag = 0.0  # the last probe's round trip, seconds

    # -- keys -----------------------------------------------------------------

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}:{kind}:{name}"

    def _room_keys(self, room: str) -> list[str]:
        tag = "{" + room + "}"  # one hash slot per room, for Redis Cluster
        return [self._key("o", tag), self._key("e", tag), self._key("h", tag)]

    # -- lifecycle --------------------------------------------------------------

    async def start(self, deliver: Deliver, resync: Resync) -> None:
        import redis.asyncio as aioredis

        self._deliver = deliver
        self._resync = resync
        # A bounded pool whose callers wait for a connection (redis-py's default
        # pool refuses the 101st concurrent command: joins in a burst failed).
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url,
            max_connections=self.max_connections,
            timeout=self.command_timeout,
            socket_timeout=self.command_timeout,
            socket_connect_timeout=self.command_timeout,
            decode_responses=True,
            health_check_interval=0,
        )
        self._redis = aioredis.Redis(connection_pool=pool)
        for name, source in (
            ("publish_event", _PUBLISH_EVENT),
            ("recover", _RECOVER),
            ("presence_set", _PRESENCE_SET),
            ("reap", _REAP),
        ):
            self._scripts[name] = self._redis.register_script(source)
        self._wake = asyncio.Event()
        self._up = asyncio.Event()
        self._channels.add(self._probe_channel)
        self._pubsub_task = asyncio.ensure_future(self._listen())
        self._lease_task = asyncio.ensure_future(self._lease())

    async def close(self) -> None:
        for task in (self._pubsub_task, self._lease_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._redis is not None:
            with contextlib.suppress(Exception):  # Redis down: our lease runs out by itself
                await self._redis.zrem(self._key("nodes", "all"), self.node)
            await self._redis.aclose()
        self._deliver = None

    def status(self) -> dict[str, Any]:
        ok = self.connected and self.subscribed
        return {
            "ok": ok,
            "broker": "redis",
            "node": self.node,
            "connected": self.connected,
            "subscribed": self.subscribed,
            "channels": len(self._channels),
            "reconnects": self.reconnects,
            "publish_failures": self.publish_failures,
            "deaf_detections": self.deaf_detections,
            "last_message_age": round(time.monotonic() - self.last_message, 3)
            if self.last_message
            else None,
            "lag": round(self.lag, 6),
        }

    # -- subscriptions ----------------------------------------------------------

    async def subscribe(self, channel: str) -> None:
        name = self._key("c", channel)
        waiter = self._confirmed.get(name)
        if name in self._channels:
            if waiter is not None and not waiter.done():  # another caller asked: wait too
                await asyncio.wait_for(asyncio.shield(waiter), self.command_timeout * 2)
            return
        self._channels.add(name)
        waiter = self._confirmed.get(name)
        if waiter is None:
            waiter = self._confirmed[name] = asyncio.get_running_loop().create_future()
        if not self.subscribed:  # connecting (at start) or reconnecting: wait a little
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._up.wait(), self.command_timeout)
        pubsub = self._pubsub
        if pubsub is None or not self.subscribed:
            # Wanted still: subscribed with the others once the connection is back.
            raise ConnectionError("the Redis subscription is down")
        if waiter.done() or name in self._active:
            return  # it was in the list the new connection subscribed to
        try:
            await pubsub.subscribe(name)
        except Exception as exc:
            self._reset(f"subscribe failed: {exc}")
        # Publications after this point reach us: the hub reads history only then.
        await asyncio.wait_for(asyncio.shield(waiter), self.command_timeout * 2)

    async def unsubscribe(self, channel: str) -> None:
        name = self._key("c", channel)
        if name not in self._channels:
            return
        self._channels.discard(name)
        self._confirmed.pop(name, None)
        self._active.discard(name)  # a later subscribe must SUBSCRIBE again
        pubsub = self._pubsub
        if pubsub is not None and self.subscribed:
            try:
                await pubsub.unsubscribe(name)
            except Exception as exc:
                self._reset(f"unsubscribe failed: {exc}")

    async def _listen(self) -> None:
        """Keep one pub/sub connection subscribed to every wanted channel; heal it."""
        assert self._redis is not None and self._wake is not None
        delay = self.backoff[0]
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=False)
            try:
                await pubsub.subscribe(*sorted(self._channels))
                self._pubsub = pubsub
                await self._read(pubsub)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.connected or self.subscribed:
                    logger.warning("redis pub/sub connection lost: %s", exc)
            finally:
                self._pubsub = None
                self._up.clear()
                self._active = set()
                was_up = self.subscribed
                self.subscribed = False
                self.connected = False
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
            if was_up:
                delay = self.backoff[0]  # it worked: start the backoff again
            self.reconnects += 1
            await asyncio.sleep(delay)
            delay = min(self.backoff[1], delay * 2)
            logger.info("redis: reconnecting (attempt %d)", self.reconnects)

    async def _read(self, pubsub: Any) -> None:
        assert self._wake is not None
        self._wake.clear()
        pending_subscriptions = set(self._channels)
        subscribed_now: set[str] = set()
        self._probe_sent = 0.0
        next_probe = time.monotonic()
        while not self._wake.is_set():
            message = await pubsub.get_message(timeout=min(self.probe_interval, 1.0))
            now = time.monotonic()
            if message is not None:
                self.last_message = now
                kind = message["type"]
                channel = message["channel"]
                if kind == "message":
                    if channel == self._probe_channel:
                        self.lag = now - float(message["data"])
                        self._probe_sent = 0.0
                    else:
                        self._dispatch(channel, message["data"])
                elif kind == "subscribe":
                    pending_subscriptions.discard(channel)
                    if not pending_subscriptions and not self.subscribed:
                        self.connected = self.subscribed = True
                        self._up.set()
                        logger.info("redis: subscribed to %d channels", len(self._channels))
                        late = self._channels - subscribed_now - {channel}
                        if late:  # wanted while this connection was being made
                            await pubsub.subscribe(*sorted(late))
                        if self._ever_subscribed and self._resync is not None:
                            # Redis may have lost its data (a restart): presence is
                            # registered again from what the nodes know.
                            self._resyncing = asyncio.ensure_future(self._after_loss())
                        self._ever_subscribed = True
                    subscribed_now.add(channel)
                    self._active = subscribed_now
                    waiter = self._confirmed.get(channel)
                    if waiter is not None and not waiter.done():
                        waiter.set_result(None)
            if self._probe_sent and now - self._probe_sent > self.probe_timeout:
                self.deaf_detections += 1
                logger.warning(
                    "redis: no probe back within %s s: the subscription is deaf; reconnecting",
                    self.probe_timeout,
                )
                return
            if self.subscribed and not self._probe_sent and now >= next_probe:
                next_probe = now + self.probe_interval
                self._probe_sent = now
                self._probing = asyncio.ensure_future(self._probe(now))

    async def _after_loss(self) -> None:
        """Back after losing Redis: renew our lease at once, then let the hub register
        its members again (Redis may have restarted empty)."""
        assert self._redis is not None
        with contextlib.suppress(Exception):  # idle connections to the old server: drop
            await self._redis.connection_pool.disconnect(inuse_connections=False)
        for attempt in range(10):
            try:
                await self._renew()
                break
            except Exception as exc:
                logger.debug("redis: lease renewal failed (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(0.05 * (attempt + 1))
        else:
            return  # lost again: the next reconnection tries again
        if self._resync is not None:
            await self._resync()

    async def _renew(self) -> None:
        assert self._redis is not None
        lease = int(time.time() * 1000) + int(self.node_ttl * 1000)
        await self._redis.zadd(self._key("nodes", "all"), {self.node: lease})

    async def _probe(self, sent: float) -> None:
        assert self._redis is not None
        try:
            await self._redis.publish(self._probe_channel, repr(sent))
        except Exception as exc:
            # A command connection failed, not the subscription: try again next time
            # (only a probe that was sent and never came back means deafness).
            logger.debug("redis: probe not sent: %s", exc)
            self.publish_failures += 1
            self._probe_sent = 0.0

    def _reset(self, why: str) -> None:
        """Drop the pub/sub connection; :meth:`_listen` reconnects."""
        if self._wake is not None and not self._wake.is_set():
            logger.warning("redis: %s", why)
            self._wake.set()

    def _dispatch(self, channel: str, payload: str) -> None:
        skip, _, rest = payload.partition("\n")
        offset, _, frame = rest.partition("\n")
        if self._deliver is not None:
            name = channel[len(self.prefix) + 3 :]  # after "<prefix>:c:"
            self._deliver(name, frame, skip or None, int(offset or 0))

    # -- publishing -------------------------------------------------------------

    async def _call(self, coro: Any) -> Any:
        try:
            result = await coro
        except Exception:
            self.publish_failures += 1
            raise
        self.connected = True
        return result

    async def publish(self, channel: str, frame: str, *, skip: str | None = None) -> None:
        assert self._redis is not None
        payload = f"{skip or ''}\n0\n{frame}"
        await self._call(self._redis.publish(self._key("c", channel), payload))

    async def publish_event(
        self,
        room: str,
        event: str,
        data_json: str,
        policy: HistoryPolicy,
        *,
        skip: str | None = None,
    ) -> Position:
        keys = self._room_keys(room)
        args = [
            dumps(event),
            dumps(room),
            data_json,
            policy.size,
            int(policy.ttl * 1000),
            self._key("c", f"room:{room}"),
            skip or "",
            new_epoch(),
            max(_META_TTL_MS, int(policy.ttl * 1000)),
        ]
        offset, epoch = await self._call(self._scripts["publish_event"](keys=keys, args=args))
        return Position(int(offset), str(epoch))

    async def recover(self, room: str, since: Position | None, policy: HistoryPolicy) -> Recovery:
        keys = self._room_keys(room)
        args = [
            -1 if since is None else since.offset,
            "" if since is None else since.epoch,
            new_epoch(),
            max(_META_TTL_MS, int(policy.ttl * 1000)),
        ]
        reply = await self._call(self._scripts["recover"](keys=keys, args=args))
        offset, epoch, now_ms = int(reply[0]), str(reply[1]), int(reply[2])
        position = Position(offset, epoch)
        if since is None:
            return Recovery(position, None)
        if since.epoch != epoch or since.offset > offset:
            return Recovery(position, False)
        if since.offset == offset:
            return Recovery(position, True)
        frames: list[tuple[int, str, str | None]] = []
        oldest = now_ms - policy.ttl * 1000
        expected = since.offset + 1
        for entry_id, fields in reply[3] if len(reply) > 3 else ():
            values = dict(zip(fields[::2], fields[1::2], strict=True))
            entry_offset = int(entry_id.partition("-")[2])
            if entry_offset != expected or int(values["t"]) < oldest:
                return Recovery(position, False)  # trimmed, or too old
            frames.append((entry_offset, values["f"], values["s"] or None))
            expected += 1
        if expected != offset + 1:
            return Recovery(position, False)
        return Recovery(position, True, frames)

    # -- presence ---------------------------------------------------------------

    def _presence_keys(self, room: str) -> list[str]:
        tag = "{" + room + "}"
        return [self._key("p", tag), self._key("pi", tag)]

    async def presence_set(
        self, room: str, user: str, info: dict[str, Any], connections: int
    ) -> int:
        keys = [*self._presence_keys(room), self._key("nr", self.node)]
        args = [user, self.node, connections, dumps(info), room]
        change = await self._call(self._scripts["presence_set"](keys=keys, args=args))
        return int(change)

    async def presence(self, room: str) -> dict[str, tuple[dict[str, Any], int]]:
        assert self._redis is not None
        counts_key, info_key = self._presence_keys(room)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(counts_key)
            pipe.hgetall(info_key)
            pipe.zrangebyscore(self._key("nodes", "all"), int(time.time() * 1000), "+inf")
            counts, infos, alive_nodes = await self._call(pipe.execute())
        alive = set(alive_nodes) | {self.node}
        members: dict[str, tuple[dict[str, Any], int]] = {}
        for user, raw in counts.items():
            nodes = json.loads(raw)
            total = sum(n for node, n in nodes.items() if node in alive) if nodes else 0
            if total > 0:
                members[user] = (json.loads(infos.get(user, "{}")), total)
        return members

    async def _lease(self) -> None:
        """Renew this node's lease; reap the nodes whose lease ran out."""
        assert self._redis is not None
        nodes = self._key("nodes", "all")
        while True:
            try:
                now_ms = int(time.time() * 1000)
                await self._renew()
                for dead in await self._redis.zrangebyscore(nodes, "-inf", now_ms):
                    await self._reap(str(dead))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.debug("redis: lease renewal failed: %s", exc)
            await asyncio.sleep(self.node_ttl / 3)

    async def _reap(self, dead: str) -> None:
        """Remove a dead node's members from presence (once, whoever notices first)."""
        assert self._redis is not None
        claimed = await self._redis.set(
            self._key("reap", dead), self.node, nx=True, px=int(self.node_ttl * 1000)
        )
        if not claimed:
            return
        rooms = [str(room) for room in await self._redis.smembers(self._key("nr", dead))]
        for room in rooms:
            gone = await self._scripts["reap"](keys=self._presence_keys(room), args=[dead])
            leaves = {gone[i]: {"info": json.loads(gone[i + 1])} for i in range(0, len(gone), 2)}
            if leaves:
                frame = dumps({"t": "presence", "room": room, "joins": {}, "leaves": leaves})
                await self.publish(f"room:{room}", frame)
        await self._redis.delete(self._key("nr", dead))
        await self._redis.zrem(self._key("nodes", "all"), dead)
        logger.info("redis: node %s is gone: %d rooms cleaned", dead, len(rooms))

    # -- sessions and idempotency -----------------------------------------------

    async def park_session(
        self, session: str, token: str, user: str, rooms: list[str], ttl: float
    ) -> None:
        assert self._redis is not None
        record = dumps({"token": token, "user": user, "rooms": rooms})
        await self._call(self._redis.set(self._key("s", session), record, px=int(ttl * 1000)))

    async def resume_session(self, session: str, token: str, user: str) -> list[str] | None:
        assert self._redis is not None
        raw = await self._call(self._redis.getdel(self._key("s", session)))
        if raw is None:
            return None
        record = json.loads(raw)
        if not secrets.compare_digest(record["token"], token) or record["user"] != user:
            return None
        return list(record["rooms"])

    async def idempotent(self, user: str, key: str, window: float, limit: int, run: Run) -> Outcome:
        assert self._redis is not None
        name = self._key("k", f"{user}\n{key}")
        ttl = int(window * 1000)
        if await self._call(self._redis.set(name, "", nx=True, px=ttl)):
            keep = False
            try:
                outcome, keep = await run()
                if keep:
                    await self._redis.set(name, dumps(list(outcome)), px=ttl)
                return outcome
            finally:
                if not keep:
                    await self._redis.delete(name)
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:  # the first run is still going: wait for it
            raw = await self._call(self._redis.get(name))
            if raw is None:  # it failed and was forgotten: run again
                return await self.idempotent(user, key, window, limit, run)
            if raw:
                kind, value = json.loads(raw)
                return str(kind), value
            await asyncio.sleep(0.05)
        return "error", {"code": "internal", "message": "the first attempt did not finish"}
