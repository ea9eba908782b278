"""Shared state: API keys, rate and concurrency limits, credits and the usage ledger.

`open_store` builds the configured backend; `sweep_periodically` is the background task
that charges reservations left behind by routers that died mid-request; `redis_client` is
the one factory of Redis clients (`state.redis_url` or `state.redis_sentinel`), for the
store and for anything else that shares the same Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence

from router.billing.state.base import (
    Admission,
    Admit,
    AdmitNow,
    InlineSettle,
    QueuedSettle,
    Settlement,
    StateStore,
)
from router.billing.state.ledger import LedgerRecord
from router.billing.state.outcomes import Outcome, SettledBy, SettleResult
from router.billing.state.redis_io import redis_client
from router.config.keys import KeyRecord
from router.config.model import StateConfig
from router.errors import StateUnavailable

__all__ = [
    "Admission",
    "Admit",
    "AdmitNow",
    "InlineSettle",
    "LedgerRecord",
    "Outcome",
    "QueuedSettle",
    "SettleResult",
    "SettledBy",
    "Settlement",
    "StateStore",
    "open_store",
    "redis_client",
    "sweep_periodically",
]


async def open_store(config: StateConfig, static_keys: Sequence[KeyRecord] = ()) -> StateStore:
    """The configured store, with routes.yaml's keys loaded (seeded into Redis if reachable)."""
    if config.backend == "memory":
        from router.billing.state.memory import MemoryStateStore

        return MemoryStateStore(config, tuple(static_keys), loop=asyncio.get_running_loop())
    from router.billing.state.redis import RedisStateStore

    store = RedisStateStore(config, redis_client(config), static_keys)
    # Start even when Redis is down (on_error decides what requests see): a static key
    # missing from Redis is seeded the first time it is presented.
    with contextlib.suppress(StateUnavailable):
        await store.sync_static_keys()
    return store


async def sweep_periodically(
    store: StateStore, *, interval: float = 30.0, clock: Callable[[], float] = time.time
) -> None:
    """Run `sweep_expired` forever (cancel to stop); an unreachable backend is retried later."""
    while True:
        with contextlib.suppress(StateUnavailable):
            await store.sweep_expired(clock())
        await asyncio.sleep(interval)
