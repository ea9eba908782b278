"""The Redis store keeps time by Redis's clock, and charges an admission Redis lost.

Several in-process stores share one real redis-server, each told a different `now`, as
replicas whose clocks disagree would be: the windows, the slot and reservation expiries
and the sweep must not care. Then a reservation is made to vanish as it would in a
failover to a replica that had not received it, and settling must still charge it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace

import orjson
import pytest
import redis.asyncio as aioredis

from router.billing.state import Outcome, SettledBy, SettleResult, open_store, redis_client
from router.billing.state.redis import RedisStateStore
from router.config.keys import KeySpec
from router.config.model import Ejection, HealthCheck, Pricing, StateConfig
from router.dialects.usage import Usage
from router.errors import AuthRejected
from router.routing.health import NodeHealth
from router.upstream.peers import ClusterSync, MessageKind
from tests.support import RedisServer, eventually

pytestmark = pytest.mark.integration

C = 1_000_000
PRICE = Pricing(pre_deduct=5 * C, prompt_per_1k=1 * C, completion_per_1k=2 * C)
SKEW = 30.0  # seconds a replica's clock is off


StoreMaker = Callable[..., Awaitable[RedisStateStore]]


@pytest.fixture
async def stores(redis_server: RedisServer) -> AsyncIterator[StoreMaker]:
    """Stores sharing one prefix of the module's redis-server (each test its own)."""
    prefix = f"clock-{uuid.uuid4().hex[:8]}:"
    made: list[RedisStateStore] = []

    async def make(**overrides: object) -> RedisStateStore:
        config = StateConfig(
            backend="redis", redis_url=redis_server.url, prefix=prefix, **overrides
        )  # type: ignore[arg-type]
        store = await open_store(config)
        assert isinstance(store, RedisStateStore)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


async def refused(admitting: Awaitable[object]) -> AuthRejected:
    with pytest.raises(AuthRejected) as info:
        await admitting
    return info.value


async def age(store: RedisStateStore, seconds: float) -> None:
    """Move every expiry stamp `seconds` into the past, as if Redis's clock had run on."""
    client, shift = store.client, int(seconds * 1000)
    reservations = f"{store.config.prefix}reservations"
    for rid, score in await client.zrange(reservations, 0, -1, withscores=True):
        await client.zadd(reservations, {rid: int(score) - shift})


async def test_rpm_retry_after_follows_redis_not_a_replica_clock_behind(stores) -> None:
    """Old behaviour: the replica 30 s behind stamped its admission 30 s early, so the
    window told the next client to come back after 30 s, when it was still full."""
    on_time, behind = await stores(), await stores()
    key = await on_time.create_key(KeySpec(name="a", rpm=2))
    now = time.time()
    await behind.admit(key, "m", "r1", None, now - SKEW)
    await on_time.admit(key, "m", "r2", None, now)
    for store, clock in ((on_time, now), (behind, now - SKEW)):
        err = await refused(store.admit(key, "m", f"r-{uuid.uuid4().hex}", None, clock))
        assert err.code == "too_many_requests"
        assert 58 <= (err.retry_after or 0) <= 60, err.retry_after


async def test_tpm_counts_a_replica_ahead_in_the_same_window(stores) -> None:
    """Old behaviour: a replica 30 s ahead counted its tokens in a second the others'
    window did not reach yet, so the key got 1,200 tokens under a limit of 1,000."""
    on_time, ahead = await stores(), await stores()
    key = await on_time.create_key(KeySpec(name="a", tpm=1000))
    now = time.time()
    await on_time.admit(key, "m", "r1", None, now, tokens=600)
    await ahead.admit(key, "m", "r2", None, now + SKEW, tokens=300)
    err = await refused(on_time.admit(key, "m", "r3", None, now, tokens=300))
    assert err.code == "too_many_requests" and "token-per-minute" in err.message
    assert 55 <= (err.retry_after or 0) <= 60


async def test_the_sweep_judges_expiry_by_redis_clock(stores) -> None:
    """Old behaviour: a replica 30 s ahead (or one whose reservations were stamped by a
    clock behind) swept a live reservation and charged it whole."""
    store = await stores(reservation_ttl=100.0)
    key = await store.create_key(KeySpec(name="a", credits=20 * C))
    admission = await store.admit(key, "m", "r1", PRICE, time.time() - SKEW)
    assert await store.sweep_expired(time.time() + SKEW) == 0
    assert await store.sweep_expired(time.time() + 1000) == 0
    await age(store, 100)
    assert await store.sweep_expired(time.time()) == 1
    [record] = await store.usage_records(since=0)
    assert (record.settled_by, record.charged) == ("expired", 5 * C)
    late = await store.settle(admission, Usage(prompt=1), Outcome.SUCCESS, node="n", status=200,
                              now=time.time())  # fmt: skip
    assert (late.result, late.settled_by) == (SettleResult.ALREADY_SETTLED, SettledBy.EXPIRED)


async def lose(store: RedisStateStore, rid: str, key_name: str, balance: int) -> None:
    """Undo an admission's writes, as a failover to a replica that never received it does."""
    p = store.config.prefix
    digest = await store.client.hget(f"{p}keys", key_name)
    await store.client.delete(f"{p}res:{rid}")
    await store.client.zrem(f"{p}reservations", rid)
    await store.client.hset(f"{p}key:{digest}", "credits", balance)


async def test_an_admission_redis_lost_is_charged_when_it_settles(stores) -> None:
    """Old behaviour: the settlement found no reservation, answered `unknown` and the
    request was served free, missing from the ledger."""
    store = await stores()
    key = await store.create_key(KeySpec(name="a", credits=20 * C))
    admission = await store.admit(key, "m", "lost-1", PRICE, time.time())
    assert admission.reserved == 5 * C
    await lose(store, "lost-1", "a", 20 * C)
    usage = Usage(prompt=1000, completion=1000)
    settled = await store.settle(admission, usage, Outcome.SUCCESS, node="n", status=200,
                                 now=time.time())  # fmt: skip
    assert (settled.result, settled.recovered, settled.charged) == (
        SettleResult.SETTLED,
        True,
        3 * C,
    )
    assert settled.balance == 17 * C
    again = await store.settle(admission, usage, Outcome.SUCCESS, node="n", status=200,
                               now=time.time())  # fmt: skip
    assert again.result is SettleResult.ALREADY_SETTLED
    [record] = await store.usage_records(since=0)
    assert (record.request_id, record.charged, record.settled_by) == ("lost-1", 3 * C, "usage")
    assert (await store.get_key("a")).spec.credits == 17 * C  # type: ignore[union-attr]


async def test_a_lost_admission_without_usage_pays_its_reservation_and_a_failed_one_nothing(
    stores,
) -> None:
    store = await stores()
    key = await store.create_key(KeySpec(name="a", credits=20 * C))
    kept = await store.admit(key, "m", "lost-2", PRICE, time.time())
    failed = await store.admit(key, "m", "lost-3", PRICE, time.time())
    await lose(store, "lost-2", "a", 15 * C)  # as if lost-2 alone had not replicated
    await lose(store, "lost-3", "a", 20 * C)  # and then neither
    no_usage = await store.settle(kept, None, Outcome.SUCCESS, node="n", status=200,
                                  now=time.time())  # fmt: skip
    assert (no_usage.recovered, no_usage.charged, no_usage.balance) == (True, 5 * C, 15 * C)
    refund = await store.settle(failed, None, Outcome.FAILED, node=None, status=502,
                                now=time.time())  # fmt: skip
    assert (refund.recovered, refund.charged, refund.balance) == (True, 0, 15 * C)
    ledger = {r.request_id: (r.charged, r.settled_by) for r in await store.usage_records(since=0)}
    assert ledger == {"lost-2": (5 * C, "reservation"), "lost-3": (0, "refund")}


async def test_the_sweep_never_charges_what_it_cannot_see(stores) -> None:
    """The sweep settles only reservations it read: a reservation gone meanwhile (settled
    by its router) is not charged again by the recovery rule."""
    store = await stores(reservation_ttl=100.0)
    key = await store.create_key(KeySpec(name="a", credits=20 * C))
    admission = await store.admit(key, "m", "r1", PRICE, time.time())
    await age(store, 100)
    await store.settle(admission, Usage(prompt=1000), Outcome.SUCCESS, node="n", status=200,
                       now=time.time())  # fmt: skip
    assert await store.sweep_expired(time.time()) == 0
    assert (await store.get_key("a")).spec.credits == 19 * C  # type: ignore[union-attr]


class _Observer:
    def __init__(self) -> None:
        self.seen: list[object] = []
        self.log = SimpleNamespace(warning=lambda *a, **k: None)

    def transitions(self, changes: object) -> None:
        self.seen.extend(changes)  # type: ignore[call-overload]


async def test_peer_ejections_use_redis_clock_across_skewed_replicas(redis_server) -> None:
    """A replica 30 s behind adopts another's 30 s ejection for 30 s, not 60 (old
    behaviour: each side read the message's wall-clock times with its own clock)."""
    config = StateConfig(backend="redis", redis_url=redis_server.url, prefix="skew:")
    health = NodeHealth("n", HealthCheck(unhealthy_threshold=1), Ejection())
    pool = SimpleNamespace(nodes={"n": SimpleNamespace(health=health)})
    syncs = [
        ClusterSync(config, pool, _Observer(), redis_client(config), clock=clock)  # type: ignore[arg-type]
        for clock in (time.time, lambda: time.time() - SKEW)
    ]
    for sync in syncs:
        sync.start()
    try:
        # The first catch-up of each measures its offset.
        assert await eventually(lambda: abs(syncs[1].offset) > 1, limit=5)
        on_time, behind = syncs
        assert abs(on_time.shared_now() - behind.shared_now()) < 0.5
        until = on_time.shared_now() + 30
        message = {"kind": MessageKind.EJECTED, "node": "n", "origin": "elsewhere",
                   "at": on_time.shared_now(), "until": until, "count": 1}  # fmt: skip
        behind.apply(orjson.dumps(message))
        loop_now = asyncio.get_running_loop().time()
        assert health.state.value == "ejected"
        assert health.ejected_until is not None
        assert 29 <= health.ejected_until - loop_now <= 31
    finally:
        for sync in syncs:
            await sync.stop()


async def test_a_client_through_the_factory_reads_redis_time(redis_server) -> None:
    """The factory's client is the store's: decoding replies, bounded, closable twice."""
    client = redis_client(StateConfig(backend="redis", redis_url=redis_server.url))
    try:
        seconds, _ = await client.time()
        assert abs(seconds - time.time()) < 5
    finally:
        await client.aclose()
    assert isinstance(client, aioredis.Redis)
