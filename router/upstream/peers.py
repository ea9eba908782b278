"""Node decisions shared by replicas through Redis (only with `state.backend: redis`).

How this works: when this replica passively ejects a node, disables it after a 401/403,
or an operator drains or enables it through the admin API, it writes the decision to a
key (`{prefix}nodestate:{node}`; ejections expire when they end, disables after
DISABLED_TTL, drains never) and publishes it on `{prefix}nodes`. Every replica applies
what others publish within milliseconds, and re-reads the keys every CATCH_UP seconds,
so one that missed a message (or just started) still converges. Decisions are stamped
with wall-clock times, since loop clocks differ between processes. Active health checks
stay local: a network problem between one replica and a node is not shared, and a shared
ejection ends on the same schedule everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Sequence
from typing import Any

import orjson
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from router.config.model import StateConfig
from router.observability.observer import Observer
from router.proxy.table import RouteTable
from router.routing.health import Event, NodeState, Reason, Transition
from router.tasks import cancel_and_wait

CATCH_UP = 2.0
_OUT = frozenset({NodeState.EJECTED, NodeState.PROBING, NodeState.DISABLED})
DISABLED_TTL = 60.0


class ClusterSync:
    """Publishes this replica's node decisions and applies the others'."""

    def __init__(self, config: StateConfig, table: RouteTable, observer: Observer) -> None:
        self.table = table
        self.observer = observer
        self.origin = f"{os.uname().nodename}:{os.getpid()}:{os.urandom(3).hex()}"
        self.channel = f"{config.prefix}nodes"
        self.key_prefix = f"{config.prefix}nodestate:"
        self.client = aioredis.from_url(
            config.redis_url, socket_timeout=config.timeout, socket_connect_timeout=config.timeout
        )
        self._applying = False
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: set[asyncio.Task[None]] = set()

    # -- outgoing -----------------------------------------------------------------------

    def on_transitions(self, changes: Sequence[Transition]) -> None:
        """Share this replica's passive ejections and 401 disables (not peers' echoes)."""
        if self._applying:
            return
        for change in changes:
            if change.event is Event.REQUEST_FAILED and change.new is NodeState.EJECTED:
                node = self.table.pool.nodes.get(change.node)
                if node is None or change.until is None:
                    continue
                loop_now = asyncio.get_running_loop().time()
                until = time.time() + (change.until - loop_now)
                self._send(
                    change.node,
                    {"kind": "ejected", "until": until, "count": node.health.ejections},
                    ttl=max(0.1, until - time.time()),
                )
            elif change.event is Event.AUTH_FAILED and change.reason is Reason.AUTH:
                self._send(change.node, {"kind": "disabled"}, ttl=DISABLED_TTL)
            elif change.new is NodeState.HEALTHY and change.old in _OUT:
                # Replace the stored ejection, or a replica starting later would adopt it.
                self._send(change.node, {"kind": "recovered"}, ttl=DISABLED_TTL)

    def operator(self, node: str, action: str) -> None:
        """An operator's drain or enable, to be applied by every replica."""
        self._send(node, {"kind": action}, ttl=None)

    def _send(self, node: str, event: dict[str, Any], ttl: float | None) -> None:
        message = orjson.dumps({**event, "node": node, "origin": self.origin, "at": time.time()})
        task = asyncio.get_running_loop().create_task(self._publish(node, message, ttl))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _publish(self, node: str, message: bytes, ttl: float | None) -> None:
        key = self.key_prefix + node
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                if ttl is None:
                    pipe.set(key, message)
                else:
                    pipe.set(key, message, px=int(ttl * 1000))
                pipe.publish(self.channel, message)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            self.observer.log.warning("cluster_publish_failed", node=node, error=type(exc).__name__)

    # -- incoming -----------------------------------------------------------------------

    def apply(self, raw: bytes | str) -> None:
        """Apply one decision published by another replica."""
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        if not isinstance(event, dict) or event.get("origin") == self.origin:
            return
        node = self.table.pool.nodes.get(str(event.get("node")))
        if node is None:
            return
        now = asyncio.get_running_loop().time()
        health = node.health
        kind = event.get("kind")
        decided_at = now - (time.time() - float(event.get("at", 0)))
        if decided_at <= health.changed_at:
            return  # this replica has moved on since (e.g. the node recovered here)
        self._applying = True
        try:
            if kind == "ejected":
                until = now + (float(event.get("until", 0)) - time.time())
                changes = health.adopt_ejection(until, int(event.get("count", 1)), now)
            elif kind == "disabled":
                changes = health.record_auth_failure(now)
            elif kind == "drain" and health.state is not NodeState.DRAINING:
                changes = health.drain(now)
            elif kind == "enable" and health.state is NodeState.DRAINING:
                changes = health.enable(now)
            else:
                return
            self.observer.transitions(changes)
        finally:
            self._applying = False

    async def _listen(self) -> None:
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.apply(message["data"])
            except (RedisError, OSError):
                await asyncio.sleep(1.0)  # Redis away: the catch-up covers what was missed

    async def _catch_up(self) -> None:
        while True:
            with contextlib.suppress(RedisError, OSError):
                async for key in self.client.scan_iter(match=self.key_prefix + "*", count=100):
                    raw = await self.client.get(key)
                    if raw is not None:
                        self.apply(raw)
            await asyncio.sleep(CATCH_UP)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._catch_up())]

    async def stop(self) -> None:
        await cancel_and_wait([*self._tasks, *self._pending])
        await self.client.aclose()
