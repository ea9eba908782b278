"""A replica catches up with decisions it missed on the channel by reading its nodes'
stored states (router.upstream.peers), without walking the keyspace (real Redis)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import orjson
import pytest

from router.billing.state import redis_client
from router.config.model import Ejection, HealthCheck, StateConfig
from router.routing.health import NodeHealth
from router.upstream.peers import ClusterSync, MessageKind
from tests.support import RedisServer, eventually

pytestmark = pytest.mark.integration


class _Observer:
    def __init__(self) -> None:
        self.log = SimpleNamespace(warning=lambda *a, **k: None)

    def transitions(self, changes: object) -> None:
        return None


async def test_a_missed_ejection_is_read_from_its_key_with_no_scan(redis_server: RedisServer):
    config = StateConfig(backend="redis", redis_url=redis_server.url, prefix="catch:")
    client = redis_client(config)
    # What the state store keeps (a done: key per request for a day) is none of its business.
    await client.mset({f"catch:done:r{n}": "usage" for n in range(5000)})
    stored = {"kind": MessageKind.EJECTED, "node": "n", "origin": "elsewhere",
              "at": time.time(), "until": time.time() + 60, "count": 1}  # fmt: skip
    await client.set("catch:nodestate:n", orjson.dumps(stored))
    await client.config_resetstat()
    health = NodeHealth("n", HealthCheck(unhealthy_threshold=1), Ejection())
    pool = SimpleNamespace(nodes={"n": SimpleNamespace(health=health)})
    sync = ClusterSync(config, pool, _Observer(), redis_client(config))  # type: ignore[arg-type]
    sync.start()
    try:
        assert await eventually(lambda: health.state.value == "ejected", limit=5)
        commands = await client.info("commandstats")
        assert "cmdstat_mget" in commands
        assert "cmdstat_scan" not in commands  # was: a SCAN of all 5,000 keys every 2 s
    finally:
        await sync.stop()
        await client.aclose()
