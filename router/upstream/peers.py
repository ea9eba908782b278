"""Node decisions shared by replicas through Redis (only with `state.backend: redis`).

How this works: when this replica passively ejects a node, disables it after a 401/403,
or an operator drains or enables it through the admin API, it writes the decision to a
key (`{prefix}nodestate:{node}`; ejections expire when they end, disables after
DISABLED_TTL, drains never) and publishes it on `{prefix}nodes`. Every replica applies
what others publish within milliseconds, and re-reads the keys every CATCH_UP seconds,
so one that missed a message (or just started) still converges. Decisions are stamped
with Redis's clock (this machine's plus an offset measured at each catch-up), since loop
clocks differ between processes and wall clocks between machines. Active health checks
stay local: a network problem between one replica and a node is not shared, and a shared
ejection ends on the same schedule everywhere.

Which peer decisions apply here is not decided in this module: each message kind maps to
one event of `router.routing.health` (PEER_EVENTS), and the table there says whether the
node's current state allows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import orjson
from redis.asyncio import Redis
from redis.exceptions import RedisError

from router.config.model import StateConfig
from router.observability.observer import Observer
from router.routing.health import Changes, Event, NodeHealth, NodeState, Reason, Transition
from router.tasks import cancel_and_wait
from router.upstream.nodes import NodePool

CATCH_UP = 2.0
_OUT = frozenset({NodeState.EJECTED, NodeState.PROBING, NodeState.DISABLED})
DISABLED_TTL = 60.0


class MessageKind(StrEnum):
    """The `kind` field of a message between replicas."""

    EJECTED = "ejected"  # passively ejected; carries `until` and `count`
    DISABLED = "disabled"  # a 401/403 from the node
    DRAIN = "drain"  # operator
    ENABLE = "enable"  # operator
    RECOVERED = "recovered"  # back to healthy; overwrites the stored ejection or disable


# What each kind asks of the receiving replica's table. A recovery is judged by each
# replica's own probes and trials, so `recovered` only replaces the stored decision.
PEER_EVENTS: Mapping[MessageKind, Event | None] = MappingProxyType(
    {
        MessageKind.EJECTED: Event.PEER_EJECTED,
        MessageKind.DISABLED: Event.PEER_DISABLED,
        MessageKind.DRAIN: Event.PEER_DRAIN,
        MessageKind.ENABLE: Event.PEER_ENABLE,
        MessageKind.RECOVERED: None,
    }
)


class ClusterSync:
    """Publishes this replica's node decisions and applies the others'."""

    def __init__(
        self,
        config: StateConfig,
        pool: NodePool,
        observer: Observer,
        client: Redis,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`client` (router.billing.state's factory makes it) is owned: `stop` closes it;
        `clock` is this machine's wall clock."""
        self.pool = pool
        self.observer = observer
        self.origin = f"{os.uname().nodename}:{os.getpid()}:{os.urandom(3).hex()}"
        self.channel = f"{config.prefix}nodes"
        self.key_prefix = f"{config.prefix}nodestate:"
        self.client = client
        self.clock = clock
        self.offset = 0.0  # Redis's clock minus this machine's, measured at each catch-up
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
                node = self.pool.nodes.get(change.node)
                if node is None or change.until is None:
                    continue
                loop_now = asyncio.get_running_loop().time()
                shared_now = self.shared_now()
                until = shared_now + (change.until - loop_now)
                self._send(
                    change.node,
                    {"kind": MessageKind.EJECTED, "until": until, "count": node.health.ejections},
                    ttl=max(0.1, until - shared_now),
                )
            elif change.event is Event.AUTH_FAILED and change.reason is Reason.AUTH:
                self._send(change.node, {"kind": MessageKind.DISABLED}, ttl=DISABLED_TTL)
            elif change.new is NodeState.HEALTHY and change.old in _OUT:
                # Replace the stored ejection, or a replica starting later would adopt it.
                self._send(change.node, {"kind": MessageKind.RECOVERED}, ttl=DISABLED_TTL)

    def operator(self, node: str, kind: MessageKind) -> None:
        """An operator's drain or enable, to be applied by every replica."""
        self._send(node, {"kind": kind}, ttl=None)

    def _send(self, node: str, event: dict[str, Any], ttl: float | None) -> None:
        stamped = {**event, "node": node, "origin": self.origin, "at": self.shared_now()}
        message = orjson.dumps(stamped)
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
        node = self.pool.nodes.get(str(event.get("node")))
        if node is None:
            return
        try:
            peer_event = PEER_EVENTS[MessageKind(str(event.get("kind")))]
        except ValueError:
            return  # a kind this version does not know
        now = asyncio.get_running_loop().time()
        health = node.health
        shared_now = self.shared_now()
        decided_at = now - (shared_now - float(event.get("at", 0)))
        if peer_event is None or decided_at <= health.changed_at:
            return  # nothing to do here, or this replica has moved on since (e.g. recovered)
        self._applying = True
        try:
            self.observer.transitions(_follow(health, peer_event, event, now, shared_now))
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

    def shared_now(self) -> float:
        """Unix time by Redis's clock, as every replica reads it."""
        return self.clock() + self.offset

    async def _measure_offset(self) -> None:
        sent = self.clock()
        seconds, micros = await self.client.time()
        received = self.clock()
        self.offset = seconds + micros / 1e6 - (sent + received) / 2

    async def _catch_up(self) -> None:
        while True:
            with contextlib.suppress(RedisError, OSError):
                await self._measure_offset()
                # One MGET of this replica's nodes: a SCAN of the keyspace would walk every
                # key the state store keeps (one per request for a day), each time.
                names = list(self.pool.nodes)
                if names:
                    found = await self.client.mget([self.key_prefix + name for name in names])
                    for raw in found:
                        if raw is not None:
                            self.apply(raw)
            await asyncio.sleep(CATCH_UP)

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._catch_up())]

    async def stop(self) -> None:
        await cancel_and_wait([*self._tasks, *self._pending])
        await self.client.aclose()


def _follow(
    health: NodeHealth, peer_event: Event, message: dict[str, Any], now: float, shared_now: float
) -> Changes:
    """Hand one peer decision to the node's health record (`now`: the loop's clock;
    `shared_now`: Redis's, which the message's times are in)."""
    if peer_event is Event.PEER_EJECTED:
        until = now + (float(message.get("until", 0)) - shared_now)
        return health.adopt_ejection(until, int(message.get("count", 1)), now)
    return health.follow_peer(peer_event, now)
