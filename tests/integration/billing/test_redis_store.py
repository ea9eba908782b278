"""The Redis state store alone: exact limits across three replicas, a restart, a flushed
script cache, Redis down or hung."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from router.billing.state import open_store
from router.billing.state.redis import RedisStateStore
from router.billing.state.redis_io import redis_client
from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.model import StateConfig
from router.errors import (
    AuthRejected,
    StateUnavailable,
)
from tests.support import RedisServer
from tests.support.store import PRICE, T0, C, ids, rejected, settle

pytestmark = pytest.mark.integration


@contextlib.asynccontextmanager
async def three_replicas(redis_url: str, prefix: str) -> AsyncIterator[list[RedisStateStore]]:
    """Three routers' stores on one Redis (one client each, as three processes have)."""
    config = StateConfig(backend="redis", redis_url=redis_url, prefix=prefix)
    replicas = [RedisStateStore(config, redis_client(config)) for _ in range(3)]
    try:
        yield replicas
    finally:
        for store in replicas:
            await store.close()


async def admitted(
    replicas: list[RedisStateStore],
    count: int,
    admit: Callable[[RedisStateStore, int], Awaitable[object]],
    refusal: str,
) -> int:
    """How many of `count` admissions at once, spread over the replicas, got through; every
    other one was refused with `refusal`."""

    async def attempt(n: int) -> bool:
        try:
            await admit(replicas[n % 3], n)
        except AuthRejected as err:
            assert err.code == refusal
            assert refusal != "too_many_requests" or err.retry_after is not None
            return False
        return True

    return sum(await asyncio.gather(*(attempt(n) for n in range(count))))


async def test_credit_reservations_are_exact_across_three_replicas(redis_server):
    """50 admissions at once over three replicas on 100 credits, each reserving 7: exactly
    14 fit, one admission script each, and the balance is what they left."""
    async with three_replicas(redis_server.url, "res3:") as replicas:
        key = await replicas[0].create_key(KeySpec(name="a", credits=100 * C))

        def admit(store: RedisStateStore, n: int) -> Awaitable[object]:
            return store.admit(key, "m", f"res-{n}", PRICE, T0, reserve=7 * C)

        assert await admitted(replicas, 50, admit, "insufficient_quota") == 14
        assert (await replicas[1].get_key("a")).spec.credits == 2 * C


async def test_rpm_is_exact_across_three_replicas(redis_server):
    async with three_replicas(redis_server.url, "rpm3:") as replicas:
        key = await replicas[0].create_key(KeySpec(name="a", rpm=60))

        def admit(store: RedisStateStore, n: int) -> Awaitable[object]:
            return store.admit(key, "m", f"rpm-{n}", None, T0 + n / 1000)

        assert await admitted(replicas, 180, admit, "too_many_requests") == 60


async def test_tpm_is_exact_across_three_replicas(redis_server):
    async with three_replicas(redis_server.url, "tpm3:") as replicas:
        key = await replicas[0].create_key(KeySpec(name="a", tpm=7000))

        def admit(store: RedisStateStore, n: int) -> Awaitable[object]:
            return store.admit(key, "m", f"tpm-{n}", None, T0 + n / 1000, tokens=100)

        assert await admitted(replicas, 150, admit, "too_many_requests") == 70


async def test_static_key_balance_survives_restart_and_rotation(redis_server):
    config = StateConfig(backend="redis", redis_url=redis_server.url, prefix="static:")
    first = KeyRecord(KeySpec(name="ops", credits=10 * C), hash_key("old"), is_static=True)
    gone = KeyRecord(KeySpec(name="gone"), hash_key("gone"), is_static=True)
    store = await open_store(config, [first, gone])
    await store.add_credits("ops", -4 * C)
    await store.close()
    # Restart with the key rotated and `gone` removed from routes.yaml.
    rotated = KeyRecord(KeySpec(name="ops", credits=10 * C), hash_key("new"), is_static=True)
    store = await open_store(config, [rotated])
    try:
        assert (await store.get_key("ops")).spec.credits == 6 * C  # not refilled
        assert [k.name for k in await store.list_keys()] == ["ops"]
        err = await rejected(store.admit("old", "m", next(ids), None, T0))
        assert err.code == "invalid_token"
        # Redis flushed under us: the static key is seeded again when presented.
        await store.client.flushdb()
        assert (await store.admit("new", "m", next(ids), None, T0)).key_name == "ops"
    finally:
        await store.close()


async def test_script_cache_flush_is_survived(redis_server):
    config = StateConfig(backend="redis", redis_url=redis_server.url, prefix="flush:")
    store = await open_store(config)
    try:
        key = await store.create_key(KeySpec(name="a"))
        await store.admit(key, "m", next(ids), None, T0)
        await store.client.script_flush()
        await store.admit(key, "m", next(ids), None, T0)
    finally:
        await store.close()


async def test_redis_down_raises_quickly_then_recovers(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    config = StateConfig(backend="redis", redis_url=server.url, prefix="down:")
    store = await open_store(config)
    try:
        key = await store.create_key(KeySpec(name="a", credits=10 * C))
        admission = await store.admit(key, "m", "r1", PRICE, T0)
        server.stop()
        for call in (
            lambda: store.admit(key, "m", "r2", PRICE, T0),
            lambda: settle(store, admission),
            store.ping,
            store.list_keys,
        ):
            started = time.monotonic()
            with pytest.raises(StateUnavailable) as info:
                await call()
            assert time.monotonic() - started < 1.0
            assert info.value.status == 503
            assert isinstance(info.value.__cause__, aioredis.RedisError | OSError)
        server.start()
        await store.ping()
        # Nothing was persisted: auth is off until keys exist again, then enforced.
        assert not (await store.admit(key, "m", "r3", None, T0)).is_metered
        key = await store.create_key(KeySpec(name="a"))
        assert (await store.admit(key, "m", "r4", None, T0)).key_name == "a"
    finally:
        await store.close()
        server.stop()


async def test_hung_redis_times_out_instead_of_hanging(tmp_path):
    server = RedisServer(tmp_path)
    server.start()
    store = await open_store(StateConfig(backend="redis", redis_url=server.url, prefix="hung:"))
    try:
        key = await store.create_key(KeySpec(name="a"))
        server.proc.send_signal(signal.SIGSTOP)  # accepts nothing, answers nothing
        try:
            started = time.monotonic()
            with pytest.raises(StateUnavailable):
                await store.admit(key, "m", next(ids), None, T0)
            assert time.monotonic() - started < 1.5
        finally:
            server.proc.send_signal(signal.SIGCONT)
        assert (await store.admit(key, "m", next(ids), None, T0)).key_name == "a"
    finally:
        await store.close()
        server.stop()
