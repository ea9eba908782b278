"""Issue 27 item 2: a request the router refused is never charged, whatever Redis did
meanwhile. A real redis-server is stopped (SIGSTOP) for a few seconds under traffic: the
router gives up on the admissions it sent (503), Redis runs them when it resumes, and
each is withdrawn (refunded, or refused when it lands after the withdrawal). Afterwards
every 503 is free, no reservation is left for the sweep to charge, and the ledger
equals the balance."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from tests.support import Proc, RedisServer, chat_body, eventually, start_mock_node
from tests.support.billing import MICRO, RedisView, billing_config, key_hash, start_routers

pytestmark = pytest.mark.integration

KEY = f"sk-stall-{secrets.token_hex(8)}"
CREDITS = 1000
WORKERS = 8
BEFORE, STALL, AFTER = 1.0, 3.0, 1.5  # seconds of traffic around the stall


@pytest.fixture
def redis_alone(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone (it is stopped and resumed)."""
    server = RedisServer(tmp_path / "redis")
    (tmp_path / "redis").mkdir()
    server.start()
    try:
        yield server
    finally:
        if server.proc is not None:
            os.kill(server.proc.pid, signal.SIGCONT)
        server.stop()


@pytest.fixture
def stack(tmp_path: Path, redis_alone: RedisServer) -> Iterator[tuple[Proc, RedisView]]:
    node = start_mock_node("a", log_dir=tmp_path)
    prefix = f"stall-{uuid.uuid4().hex[:8]}:"
    config = billing_config(
        nodes={"a": {"url": node.base_url}},
        models={
            "m": {
                "backends": [{"node": "a"}],
                "pricing": {"pre_deduct": 1, "prompt_per_1k": 0.3, "completion_per_1k": 2.5},
            }
        },
        # A short deadline: the router gives up on Redis after about 0.85 s.
        state={"backend": "redis", "redis_url": redis_alone.url, "prefix": prefix, "timeout": 0.2},
        keys=[{"name": "team", "hash": key_hash(KEY), "credits": CREDITS}],
    )
    path = tmp_path / "routes.yaml"
    path.write_text(config, encoding="utf-8")
    [router] = start_routers([path], log_dir=tmp_path)
    try:
        yield router, RedisView(redis_alone.url, prefix)
    finally:
        router.stop()
        node.stop()


async def _traffic(url: str, statuses: dict[str, int], stop: asyncio.Event) -> None:
    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def worker() -> None:
            while not stop.is_set():
                rid = uuid.uuid4().hex
                headers = {"Authorization": f"Bearer {KEY}", "X-Request-ID": rid}
                async with session.post(url, json=chat_body("m"), headers=headers) as reply:
                    await reply.read()
                    statuses[rid] = reply.status

        await asyncio.gather(*(worker() for _ in range(WORKERS)))


async def test_every_request_refused_during_a_redis_stall_is_free(
    stack: tuple[Proc, RedisView], redis_alone: RedisServer
) -> None:
    router, view = stack
    assert redis_alone.proc is not None
    statuses: dict[str, int] = {}
    stop = asyncio.Event()
    traffic = asyncio.create_task(
        _traffic(router.base_url + "/v1/chat/completions", statuses, stop)
    )
    await asyncio.sleep(BEFORE)
    os.kill(redis_alone.proc.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(STALL)
    finally:
        os.kill(redis_alone.proc.pid, signal.SIGCONT)
    await asyncio.sleep(AFTER)
    stop.set()
    await traffic

    refused = {rid for rid, status in statuses.items() if status == 503}
    served = {rid for rid, status in statuses.items() if status == 200}
    assert len(refused) >= WORKERS, f"the stall refused too few: {len(refused)}"
    assert served and set(statuses.values()) <= {200, 503}, set(statuses.values())

    # Every admission sent landed or was refused; every one the router gave up on is
    # settled (refunded) or never took effect: nothing is left for the expiry sweep.
    def settled() -> bool:
        return view.reservations_left() == [] and len(_by_request(view)) >= len(served)

    await eventually(settled, limit=20)
    await asyncio.sleep(0.5)  # a late admission or a second settlement would show by now
    assert view.reservations_left() == []
    ledger = _by_request(view)
    charged_refused = {rid: ledger[rid] for rid in refused if any(ledger.get(rid, [0]))}
    assert charged_refused == {}, f"refused requests charged: {charged_refused}"
    assert all(ledger[rid] and all(c > 0 for c in ledger[rid]) for rid in served)
    total = sum(sum(charges) for charges in ledger.values())
    assert view.balance("team") == CREDITS * MICRO - total


def _by_request(view: RedisView) -> dict[str, list[int]]:
    """Ledger charges by the client's request id (the ledger id is `rid:suffix`)."""
    out: dict[str, list[int]] = {}
    for record in view.records():
        out.setdefault(record["request_id"].rpartition(":")[0], []).append(record["charged"])
    return out
