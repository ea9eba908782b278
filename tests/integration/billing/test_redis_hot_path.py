"""The metered request path on Redis costs one shared round trip each way and no task per
request (issue 32): concurrent admissions go out in one pipelined write, settlements are
queued the same way off the request path, and neither makes a task of its own (a task
per admission and one per settlement once cost more CPU than the rest of the router).
Real redis-server, the real Billing service; nothing timed."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Coroutine, Generator
from typing import Any

import pytest
from redis.asyncio import Redis

from router.billing.service import Billing
from router.config.keys import KeySpec
from router.config.model import ModelRoute, Pricing, StateConfig
from router.dialects.estimate import TokenEstimate
from router.dialects.usage import Usage
from router.observability.exchange import Exchange
from router.observability.observer import Observer
from tests.support import RedisServer

pytestmark = pytest.mark.integration

C = 1_000_000
PRICE = Pricing(pre_deduct=5 * C, prompt_per_1k=1 * C, completion_per_1k=1 * C)
REQUESTS = 20


async def reads_processed(probe: Redis) -> int:
    """Read events the server has handled: a pipelined write is one (this asking too)."""
    return int((await probe.info("stats"))["total_reads_processed"])


async def settled(billing: Billing, count: int) -> int:
    """Until the ledger holds `count` entries; how many times it was read (each one read
    event on the server: the ledger is small)."""
    for asked in range(1, 501):
        if len(await billing.store.usage_records(since=0)) >= count:
            return asked
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} requests settled after 5 s")


class TaskCount:
    """Counts the tasks made on the running loop while installed, by coroutine name."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(
        self,
        loop: asyncio.AbstractEventLoop,
        coro: Generator[Any, None, Any] | Coroutine[Any, Any, Any],
        **kwargs: Any,
    ) -> asyncio.Task[Any]:
        self.names.append(getattr(coro, "__qualname__", repr(coro)))
        return asyncio.Task(coro, loop=loop, **kwargs)


async def test_concurrent_admissions_and_settlements_share_round_trips_and_make_no_task_each(
    redis_server: RedisServer,
) -> None:
    config = StateConfig(
        backend="redis", redis_url=redis_server.url, prefix=f"hot-{uuid.uuid4().hex}:"
    )
    billing = Billing(config, (), Observer(None, access_log=False))
    await billing.start()
    loop = asyncio.get_running_loop()
    tasks = TaskCount()
    probe = Redis.from_url(redis_server.url)
    try:
        key = await billing.store.create_key(KeySpec(name="team", credits=1000 * C))
        route = ModelRoute("m", (), pricing=PRICE)
        exchanges = [
            Exchange(f"r{n}", "POST", "/v1/chat/completions", None, 0.0) for n in range(REQUESTS)
        ]
        # Warm: the pipeline's connection is open (opening one is a few commands more).
        warm = Exchange("warm", "POST", "/v1/chat/completions", None, 0.0)
        warm.status, warm.node = 200, "n1"
        billing.settle_later(await billing.admit(key, warm, route), warm, Usage(100, 100))
        await settled(billing, 1)
        before = await reads_processed(probe)
        # The handlers' own tasks exist before counting starts: only billing's are counted.
        handlers = [
            asyncio.ensure_future(billing.admit(key, e, route, estimate=TokenEstimate(10, 100)))
            for e in exchanges
        ]
        loop.set_task_factory(tasks)
        admissions = await asyncio.gather(*handlers)
        for admission, exchange in zip(admissions, exchanges, strict=True):
            exchange.status, exchange.node = 200, "n1"
            billing.settle_later(admission, exchange, Usage(100, 100))
        await asyncio.sleep(0.05)  # their batch is on its way (counted if it made tasks)
        loop.set_task_factory(None)
        asked = await settled(billing, REQUESTS + 1)
        after = await reads_processed(probe) - asked

        # One write of every admission, one of every settlement (each a batch task, whose
        # write redis-py bounds in a task of its own), and the probes' own INFO: not one
        # round trip, nor a task, per request.
        assert tasks.names.count("ScriptPipeline._run_batch") == 2, tasks.names
        assert len(tasks.names) <= 4, tasks.names
        assert after - before <= 3, f"{after - before} reads for {REQUESTS} requests"
        records = await billing.store.usage_records(since=0)
        assert len(records) == REQUESTS + 1
        assert {(r.charged, r.settled_by) for r in records} == {(C // 5, "usage")}
        record = await billing.store.get_key("team")
        assert record is not None and record.spec.credits == 1000 * C - (REQUESTS + 1) * C // 5
    finally:
        loop.set_task_factory(None)
        await probe.aclose()
        await billing.stop()
