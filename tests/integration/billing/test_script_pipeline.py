"""router.billing.state.pipeline: one loop turn's script calls share one write (real Redis)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import ResponseError

from router.billing.state import Outcome, SettleResult, open_store
from router.billing.state.pipeline import HOLD_SECONDS, ScriptPipeline
from router.billing.state.redis_io import redis_client
from router.config.keys import KeyRecord, KeySpec, hash_key
from router.config.model import StateConfig
from router.dialects.usage import Usage
from tests.support import RedisServer
from tests.support.store import PRICE, T0, C

pytestmark = pytest.mark.integration

# Echoes its key and argument, or answers an error reply when asked to.
ECHO = """
if ARGV[1] == 'fail' then return redis.error_reply('ERR asked to fail') end
redis.call('INCR', KEYS[1])
return {KEYS[1], ARGV[1]}
"""


@pytest.fixture
async def client(redis_server: RedisServer) -> Redis:
    client = redis_client(StateConfig(backend="redis", redis_url=redis_server.url))
    yield client
    await client.aclose()


@pytest.fixture
async def echo(client: Redis) -> AsyncIterator[tuple[ScriptPipeline, AsyncScript]]:
    """A pipeline on `client` and the ECHO script (loaded on the server)."""
    pipeline = ScriptPipeline(client, read_timeout=1.0, deadline=2.0)
    await client.script_load(ECHO)
    yield pipeline, client.register_script(ECHO)
    await pipeline.close()


async def connections(redis_server: RedisServer) -> int:
    """Clients connected to the server, not counting the one asking."""
    probe = Redis.from_url(redis_server.url)
    try:
        return int((await probe.info("clients"))["connected_clients"]) - 1
    finally:
        await probe.aclose()


async def test_calls_of_one_turn_share_one_connection_and_keep_their_replies(
    client: Redis,
    echo: tuple[ScriptPipeline, AsyncScript],
    redis_server: RedisServer,
) -> None:
    pipeline, script = echo
    calls = [pipeline.call(script, [f"pipe:{n}"], [f"arg{n}"]) for n in range(20)]
    replies = await asyncio.gather(*calls)
    assert replies == [[f"pipe:{n}", f"arg{n}"] for n in range(20)]
    # redis-py alone would have opened a connection per concurrent call.
    assert await connections(redis_server) == 1
    assert [await client.get(f"pipe:{n}") for n in range(20)] == ["1"] * 20


async def test_an_error_reply_fails_only_its_own_call(
    echo: tuple[ScriptPipeline, AsyncScript],
) -> None:
    pipeline, script = echo
    results = await asyncio.gather(
        pipeline.call(script, ["err:a"], ["ok"]),
        pipeline.call(script, ["err:b"], ["fail"]),
        pipeline.call(script, ["err:c"], ["ok"]),
        return_exceptions=True,
    )
    assert results[0] == ["err:a", "ok"] and results[2] == ["err:c", "ok"]
    assert isinstance(results[1], ResponseError) and "asked to fail" in str(results[1])
    # The connection is still in step: the next batch reads its own replies.
    assert await pipeline.call(script, ["err:d"], ["after"]) == ["err:d", "after"]


async def test_scripts_the_server_lost_are_loaded_again(client: Redis) -> None:
    pipeline = ScriptPipeline(client, read_timeout=1.0, deadline=2.0)
    script = client.register_script(ECHO)
    await client.script_flush()
    replies = await asyncio.gather(*(pipeline.call(script, [f"lost:{n}"], ["x"]) for n in range(3)))
    assert replies == [[f"lost:{n}", "x"] for n in range(3)]
    assert [await client.get(f"lost:{n}") for n in range(3)] == ["1"] * 3  # each ran once
    await pipeline.close()


async def test_a_dropped_connection_is_retried_once(
    echo: tuple[ScriptPipeline, AsyncScript],
    redis_server: RedisServer,
) -> None:
    pipeline, script = echo
    assert await pipeline.call(script, ["drop:a"], ["1"]) == ["drop:a", "1"]
    probe = Redis.from_url(redis_server.url)
    try:
        await probe.client_kill_filter(skipme=True)  # every pooled connection, server side
    finally:
        await probe.aclose()
    assert await pipeline.call(script, ["drop:b"], ["2"]) == ["drop:b", "2"]


async def test_a_connection_kept_between_batches_goes_back_to_the_pool(
    client: Redis,
    echo: tuple[ScriptPipeline, AsyncScript],
    redis_server: RedisServer,
) -> None:
    """Batches reuse their connection without asking the pool, but only for HOLD_SECONDS:
    then it is the pool's again (whose Sentinel flavour drops one on a demoted master)."""
    pipeline, script = echo
    for n in range(3):  # one batch after another: one connection
        assert await pipeline.call(script, [f"keep:{n}"], ["x"]) == [f"keep:{n}", "x"]
    assert await connections(redis_server) == 1
    await asyncio.sleep(HOLD_SECONDS * 3)
    assert await client.get("keep:0") == "1"  # through the pool: the same connection
    assert await connections(redis_server) == 1


async def test_the_stores_concurrent_admissions_and_settlements_are_pipelined(
    redis_server: RedisServer,
) -> None:
    """The request path of RedisStateStore goes through the pipeline: 40 requests admitted
    and settled concurrently, the way a loaded router does, use one connection, not 40."""
    key = "sk-pipelined"
    config = StateConfig(backend="redis", redis_url=redis_server.url, prefix="piped:")
    store = await open_store(config, [KeyRecord(KeySpec("team", credits=1000 * C), hash_key(key))])
    try:
        base = await connections(redis_server)  # the key sync's connection, kept pooled
        admitted = await asyncio.gather(
            *(store.admit(key, "m", f"p{n}", PRICE, T0) for n in range(40))
        )
        settled = await asyncio.gather(
            *(
                store.settle(a, Usage(1, 1), Outcome.SUCCESS, node="n", status=200, now=T0)
                for a in admitted
            )
        )
        assert all(s.result is SettleResult.SETTLED for s in settled)
        assert await connections(redis_server) == max(base, 1)
    finally:
        await store.close()
