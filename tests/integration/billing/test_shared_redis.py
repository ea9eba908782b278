"""Billing with Redis shared by several routers: exact rpm, shared credits, outages, the CLI.

Real redis-servers, real router processes and a real mock node on loopback. The outage
tests stop and restart a redis-server of their own (same port) so the shared one stays up.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis

from tests.support import (
    CHAT,
    REPO_ROOT,
    MockNodes,
    Proc,
    RedisServer,
    eventually,
    http_request,
    stop_all,
)
from tests.support.billing import (
    FLOW_PRICING,
    MICRO,
    OVERSHOOT_PRICING,
    RedisView,
    StateView,
    assert_error_shape,
    auto_reservation,
    billing_config,
    chat,
    client_session,
    expected_cost,
    key_hash,
    micro,
    new_request_id,
    post,
    scrape,
    start_routers,
    trace_of,
)

pytestmark = pytest.mark.integration

COST = expected_cost(FLOW_PRICING, "hello")


MOCK_NODES = {
    "good": (),
    "flaky": ("--status", "500", "--error-rate", "0.3"),
    "slow": ("--chunk-delay", "0.2"),
    # Answers after 3 s: 100 admissions are all made before any settles.
    "late": ("--first-byte-delay", "3"),
}


def _config(mock_nodes: MockNodes, state: dict[str, Any], keys: list[dict[str, Any]]) -> str:
    return billing_config(
        nodes={name: {"url": mock_nodes[name].url} for name in ("good", "flaky", "slow", "late")},
        models={
            "gemini-slow": {"backends": [{"node": "slow"}], "pricing": FLOW_PRICING},
            "gemini-ok": {"backends": [{"node": "good"}], "pricing": FLOW_PRICING},
            "gemini-late": {"backends": [{"node": "late"}], "pricing": FLOW_PRICING},
            "gemini-flaky": {
                "backends": [{"node": "flaky"}, {"node": "good"}],
                "pricing": FLOW_PRICING,
            },
            # No pre_deduct: each request reserves its worst case (issue 17 item 3).
            "ovr-late": {
                "backends": [{"node": "late"}],
                "pricing": OVERSHOOT_PRICING,
                "limits": {"output_tokens": 64},
            },
        },
        state=state,
        keys=keys,
    )


def _write(folder: Path, text: str) -> Path:
    path = folder / "routes.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- three routers, one Redis --------------------------------------------------------------

SHARED_KEYS = {
    name: f"sk-bt-{name}-{secrets.token_hex(12)}" for name in ("rpm", "pool", "tpm", "small")
}
TPM_BODY = chat("gemini-late", max_tokens=100)
# The router's estimate of TPM_BODY (router.dialects.estimate): a token per 4 bytes of the
# body aiohttp sends (json.dumps), plus max_tokens. The limit fits 37 and a half of them.
TPM_ESTIMATE = -(-len(json.dumps(TPM_BODY).encode()) // 4) + 100
TPM_ADMITTED = 37
POOL_CREDITS = 200
SMALL_CREDITS = 100


@dataclass(slots=True)
class Cluster:
    routers: list[Proc]
    view: RedisView


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    mock_nodes: MockNodes,
    redis_server: RedisServer,
) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("cluster")
    prefix = f"btc-{secrets.token_hex(4)}:"
    state = {"backend": "redis", "redis_url": redis_server.url, "prefix": prefix}
    keys = [
        {"name": "rpm", "hash": key_hash(SHARED_KEYS["rpm"]), "rpm": 30},
        {"name": "pool", "hash": key_hash(SHARED_KEYS["pool"]), "credits": POOL_CREDITS},
        {"name": "small", "hash": key_hash(SHARED_KEYS["small"]), "credits": SMALL_CREDITS},
        {
            "name": "tpm",
            "hash": key_hash(SHARED_KEYS["tpm"]),
            "tpm": TPM_ADMITTED * TPM_ESTIMATE + TPM_ESTIMATE // 2,
        },
    ]
    path = _write(folder, _config(mock_nodes, state, keys))
    routers = start_routers([path, path, path], log_dir=folder)
    try:
        yield Cluster(routers, RedisView(redis_server.url, prefix))
    finally:
        stop_all(routers)


async def test_rpm_is_exact_across_three_routers(cluster: Cluster) -> None:
    urls = [router.base_url + CHAT for router in cluster.routers]
    async with client_session(limit=100) as session:
        replies = await asyncio.gather(
            *(
                post(session, urls[i % 3], chat("gemini-ok"), key=SHARED_KEYS["rpm"])
                for i in range(90)
            )
        )
    statuses = collections.Counter(reply.status for reply in replies)
    assert statuses == {200: 30, 429: 60}, statuses
    for reply in replies:
        if reply.status == 429:
            assert_error_shape(reply, 429, "too_many_requests")
            assert 1 <= int(reply.headers["Retry-After"]) <= 60
    # 30 in all, not 30 per router: the window is shared, not per process.
    admitted = await eventually(
        lambda: len([r for r in cluster.view.records() if r["key"] == "rpm"]) >= 30
    )
    assert admitted
    assert len([r for r in cluster.view.records() if r["key"] == "rpm"]) == 30


async def test_tpm_is_exact_across_three_routers(cluster: Cluster) -> None:
    """100 concurrent requests on three routers: the in-flight estimates of exactly
    TPM_ADMITTED fit the key's tpm, shared through Redis; the rest get 429 + Retry-After."""
    urls = [router.base_url + CHAT for router in cluster.routers]
    async with client_session(limit=100) as session:
        replies = await asyncio.gather(
            *(post(session, urls[i % 3], TPM_BODY, key=SHARED_KEYS["tpm"]) for i in range(100))
        )
    statuses = collections.Counter(reply.status for reply in replies)
    assert statuses == {200: TPM_ADMITTED, 429: 100 - TPM_ADMITTED}, statuses
    for reply in replies:
        if reply.status == 429:
            document = assert_error_shape(reply, 429, "too_many_requests")
            assert "token-per-minute" in document["error"]["message"]
            assert 1 <= int(reply.headers["Retry-After"]) <= 60
    settled = await eventually(
        lambda: len([r for r in cluster.view.records() if r["key"] == "tpm"]) >= TPM_ADMITTED
    )
    assert settled


async def test_credits_shared_by_three_routers_add_up(cluster: Cluster) -> None:
    """120 requests over three routers on 200 credits: 40 reservations fit at once."""
    view = cluster.view
    sent: dict[str, int] = {}
    urls = [router.base_url + CHAT for router in cluster.routers]
    async with client_session(limit=150) as session:

        async def one(i: int) -> None:
            rid = new_request_id()
            model = "gemini-flaky" if i % 2 else "gemini-ok"
            body = chat(model, stream=i % 3 == 0)
            reply = await post(session, urls[i % 3], body, key=SHARED_KEYS["pool"], request_id=rid)
            if reply.status == 429:
                assert_error_shape(reply, 429, "insufficient_quota")
            else:
                assert reply.status == 200, reply.raw[:300]
            sent[rid] = reply.status

        await asyncio.gather(*(one(i) for i in range(120)))
    admitted = {rid for rid, status in sent.items() if status == 200}
    assert len(admitted) < 120, "200 credits paid for 120 reservations of 5"

    def records() -> list[dict[str, Any]]:
        return [r for r in view.records() if r["key"] == "pool"]

    await eventually(lambda: len(records()) >= len(admitted))
    await asyncio.sleep(0.3)
    found = records()
    assert len({r["request_id"] for r in found}) == len(found), "a ledger id repeats"
    ids = collections.Counter(trace_of(r) for r in found)
    assert max(ids.values()) == 1, "a request id was charged twice"
    assert set(ids) == admitted
    assert all(r["charged"] == COST for r in found)
    assert view.balance("pool") == POOL_CREDITS * MICRO - COST * len(admitted)
    assert view.reservations_left() == []


async def test_50_concurrent_requests_on_three_routers_cannot_overspend(cluster: Cluster) -> None:
    """Issue 17 item 3 across replicas: 50 requests at once over three routers on a
    100-credit key, the node answering after 3 s. Each reserves its worst case in the one
    admission script, so exactly as many are let in as the balance covers, whichever
    router they reach; none overspends (with nothing reserved, all 50 were let in)."""
    body = chat("ovr-late", max_tokens=36)  # the mock writes 36 output tokens
    reserve = auto_reservation(body, OVERSHOOT_PRICING, 36)
    cost = expected_cost(OVERSHOOT_PRICING, "hello")
    fits = SMALL_CREDITS * MICRO // reserve
    urls = [router.base_url + CHAT for router in cluster.routers]
    rids = [new_request_id() for _ in range(50)]
    async with client_session(limit=100) as session:
        replies = await asyncio.gather(
            *(
                post(session, urls[i % 3], body, key=SHARED_KEYS["small"], request_id=rid)
                for i, rid in enumerate(rids)
            )
        )
    statuses = collections.Counter(reply.status for reply in replies)
    assert statuses == {200: fits, 429: 50 - fits}, (statuses, reserve)
    for reply in replies:
        if reply.status == 429:
            assert_error_shape(reply, 429, "insufficient_quota")

    def records() -> list[dict[str, Any]]:
        return [r for r in cluster.view.records() if r["key"] == "small"]

    await eventually(lambda: len(records()) >= fits)
    await asyncio.sleep(0.3)
    charged = sum(r["charged"] for r in records())
    assert charged == fits * cost <= SMALL_CREDITS * MICRO
    assert cluster.view.balance("small") == SMALL_CREDITS * MICRO - charged >= 0
    assert cluster.view.reservations_left() == []


# --- Redis going away -----------------------------------------------------------------------

OUTAGE_KEY = f"sk-bt-outage-{secrets.token_hex(12)}"
BURST_KEY = f"sk-bt-burst-{secrets.token_hex(12)}"
SINGLE_KEY = f"sk-bt-single-{secrets.token_hex(12)}"
OUTAGE_CREDITS = 100


@dataclass(slots=True)
class Outage:
    """A router and a redis-server of its own, so one test's restart cannot touch another."""

    redis: RedisServer
    router: Proc
    view: RedisView


# name -> the router's `state:` besides its redis_url
OUTAGE_MODES: dict[str, dict[str, Any]] = {
    "closed": {"on_error": "closed"},
    "restart": {"on_error": "closed"},
    "open": {"on_error": "open"},
    "stall": {"on_error": "closed", "timeout": 0.3},
}


@pytest.fixture(scope="module")
def outages(
    tmp_path_factory: pytest.TempPathFactory, mock_nodes: MockNodes
) -> Iterator[dict[str, Outage]]:
    folder = tmp_path_factory.mktemp("outage")
    servers: list[RedisServer] = []
    routers: list[Proc] = []
    try:
        keys: list[dict[str, Any]] = [
            {"name": "outage", "hash": key_hash(OUTAGE_KEY), "credits": OUTAGE_CREDITS},
            {"name": "burst", "hash": key_hash(BURST_KEY)},
            {"name": "single", "hash": key_hash(SINGLE_KEY), "max_concurrent": 1},
        ]
        paths = []
        for name, extra in OUTAGE_MODES.items():
            sub = folder / name
            sub.mkdir()
            server = RedisServer(sub)
            server.start()
            servers.append(server)
            state = {"backend": "redis", "redis_url": server.url, **extra}
            paths.append(_write(sub, _config(mock_nodes, state, keys)))
        routers = start_routers(paths, log_dir=folder)
        yield {
            name: Outage(server, router, RedisView(server.url, "router:"))
            for name, server, router in zip(OUTAGE_MODES, servers, routers, strict=True)
        }
    finally:
        stop_all(routers)
        for server in servers:
            server.stop()


async def _charged_in_full(session: aiohttp.ClientSession, url: str, view: StateView) -> None:
    """One request with the outage key while Redis is up: answered and charged in full."""
    rid = new_request_id()
    reply = await post(session, url, chat("gemini-ok"), key=OUTAGE_KEY, request_id=rid)
    assert reply.status == 200, reply.raw[:300]
    assert (await view.settled(rid))["charged"] == COST


@contextlib.asynccontextmanager
async def _redis_down(outage: Outage) -> AsyncIterator[tuple[aiohttp.ClientSession, str]]:
    """A session and the chat URL, once one request was charged in full and Redis then
    stopped; Redis is started again (same port, nothing kept) when the block ends."""
    url = outage.router.base_url + CHAT
    async with client_session() as session:
        await _charged_in_full(session, url, outage.view)
        outage.redis.stop()
        try:
            yield session, url
        finally:
            outage.redis.start()


def _readyz(router: Proc) -> int:
    status, _, _ = http_request("GET", router.base_url + "/readyz", timeout=5.0)
    return status


async def test_redis_down_with_on_error_closed_refuses_fast_then_recovers(
    outages: dict[str, Outage],
) -> None:
    outage = outages["closed"]
    router, view = outage.router, outage.view
    async with _redis_down(outage) as (session, url):
        started = time.monotonic()
        refused = await post(session, url, chat("gemini-ok"), key=OUTAGE_KEY, within=15)
        elapsed = time.monotonic() - started
        assert_error_shape(refused, 503, "service_unavailable")
        assert elapsed < 4.0, f"a request waited {elapsed:.1f}s for a dead Redis"
        assert "Retry-After" in refused.headers
        assert await eventually(lambda: _readyz(router) == 503, limit=8)
        assert scrape(router.base_url, "router_state_backend_up") == 0
    async with client_session() as session:
        assert await eventually(lambda: _readyz(router) == 200, limit=10)
        rid = new_request_id()
        reply = await post(session, url, chat("gemini-ok"), key=OUTAGE_KEY, request_id=rid)
        assert reply.status == 200, reply.raw[:300]
    record = await view.settled(rid)
    assert (record["charged"], record["settled_by"]) == (COST, "usage")
    assert scrape(router.base_url, "router_state_backend_up") == 1
    # The restarted Redis kept nothing: the static key was seeded again from routes.yaml.
    assert view.balance("outage") == OUTAGE_CREDITS * MICRO - COST


async def test_a_redis_restart_costs_no_request(outages: dict[str, Outage]) -> None:
    """Pooled connections die with the server: the client's one reconnect must cover that.

    A burst leaves several connections in the router's pool; Redis restarts (a fraction of
    a second); once the router itself says it is ready again, the same burst must pass
    and be settled.
    """
    outage = outages["restart"]
    router, view = outage.router, outage.view
    url = router.base_url + CHAT
    async with client_session(limit=50) as session:
        burst = await asyncio.gather(
            *(post(session, url, chat("gemini-ok"), key=BURST_KEY) for _ in range(30))
        )
        assert [r.status for r in burst] == [200] * 30
        outage.redis.stop()
        outage.redis.start()
        assert await eventually(lambda: _readyz(router) == 200, limit=10)
        await asyncio.sleep(2.5)  # and one more backend check, to be sure
        rids = [new_request_id() for _ in range(30)]
        after = await asyncio.gather(
            *(post(session, url, chat("gemini-ok"), key=BURST_KEY, request_id=rid) for rid in rids)
        )
    statuses = collections.Counter(r.status for r in after)
    assert statuses == {200: 30}, f"requests refused after Redis came back: {statuses}"
    for rid in rids:
        assert (await view.settled(rid))["charged"] == COST
    assert view.reservations_left() == []


async def test_redis_down_with_on_error_open_lets_requests_through_unmetered(
    outages: dict[str, Outage],
) -> None:
    outage = outages["open"]
    router, view = outage.router, outage.view
    async with _redis_down(outage) as (session, url):
        unmetered = new_request_id()
        started = time.monotonic()
        reply = await post(
            session, url, chat("gemini-ok"), key=OUTAGE_KEY, request_id=unmetered, within=15
        )
        assert reply.status == 200, reply.raw[:300]
        assert time.monotonic() - started < 4.0
        await asyncio.sleep(2.5)  # past one backend check
        assert _readyz(router) == 200
    async with client_session() as session:
        metered = new_request_id()
        reply = await post(session, url, chat("gemini-ok"), key=OUTAGE_KEY, request_id=metered)
        assert reply.status == 200
    found = await eventually(lambda: view.records_for(metered), limit=5)
    assert found, "the first request after Redis came back went through unmetered"
    record = await view.settled(metered)
    assert (record["charged"], record["settled_by"]) == (COST, "usage")
    assert view.records_for(unmetered) == []
    assert scrape(router.base_url, "router_unmetered_requests_total", model="gemini-ok") == 1
    assert await eventually(lambda: scrape(router.base_url, "router_state_backend_up") == 1)


async def test_a_settlement_that_meets_a_redis_stall_still_settles(
    outages: dict[str, Outage],
) -> None:
    """Redis refuses writes for 3 s just as a stream ends (state.timeout is 0.3 s here).

    Settling is idempotent per request id, so a settlement that could not reach Redis can
    be tried again: the request must still be charged its usage and its concurrency slot
    (max_concurrent 1) freed soon after Redis answers, not left until the reservation
    expires (reservation_ttl, 960 s with the default timeouts).
    """
    outage = outages["stall"]
    router, view = outage.router, outage.view
    url = router.base_url + CHAT
    rid = new_request_id()
    async with client_session() as session:
        streaming = asyncio.create_task(
            post(session, url, chat("gemini-slow", stream=True), key=SINGLE_KEY, request_id=rid)
        )
        await asyncio.sleep(0.6)  # admitted, and the stream runs for about two seconds
        assert not streaming.done()
        with redis.Redis.from_url(outage.redis.url, socket_timeout=5) as client:
            client.execute_command("CLIENT", "PAUSE", "3000", "WRITE")
        assert (await streaming).status == 200
        await asyncio.sleep(2.0)  # the pause is over by now
        found = await eventually(lambda: view.records_for(rid), limit=6)
        assert found, "a settlement that met a Redis stall was dropped, not retried"
        assert found[0]["charged"] == COST
        reply = await post(session, url, chat("gemini-ok"), key=SINGLE_KEY)
        assert reply.status == 200, f"the concurrency slot is still taken: {reply.raw[:200]!r}"


# --- the CLI --------------------------------------------------------------------------------


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "router", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=30,
        check=False,
    )


def _chat_once(router: Proc, key: str) -> int:
    body = json.dumps(chat("gemini-ok")).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    status, _, _ = http_request("POST", router.base_url + CHAT, body, headers, timeout=10)
    return status


def test_keys_and_usage_commands_against_redis(
    tmp_path: Path,
    mock_nodes: MockNodes,
    redis_server: RedisServer,
) -> None:
    prefix = f"btk-{secrets.token_hex(4)}:"
    state = {"backend": "redis", "redis_url": redis_server.url, "prefix": prefix}
    config = _write(tmp_path, _config(mock_nodes, state, []))
    view = RedisView(redis_server.url, prefix)

    created = _cli(
        config, "keys", "create", "--name", "team-a", "--credits", "10000", "--rpm", "600",
        "--tpm", "90000", "--models", "gemini-*",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("sk-") and "\n" not in key
    assert "cannot be shown again" in created.stderr
    again = _cli(config, "keys", "create", "--name", "team-a")
    assert again.returncode == 1 and "already exists" in again.stderr

    listing = _cli(config, "keys", "list")
    assert listing.returncode == 0, listing.stderr
    row = next(line.split() for line in listing.stdout.splitlines() if line.startswith("team-a"))
    assert row[:6] == ["team-a", "10000", "600", "90000", "-", "gemini-*"], listing.stdout
    listed = json.loads(_cli(config, "keys", "list", "--json").stdout)
    assert [k["name"] for k in listed] == ["team-a"]

    (router,) = start_routers([config], log_dir=tmp_path)
    try:
        assert [_chat_once(router, key) for _ in range(2)] == [200, 200]
        assert _chat_once(router, "sk-not-a-key") == 401

        def settled() -> bool:
            return len([r for r in view.records() if r["key"] == "team-a"]) == 2

        deadline = time.monotonic() + 10
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.05)
        shown = _cli(config, "keys", "show", "team-a")
        assert shown.returncode == 0, shown.stderr
        record = json.loads(shown.stdout)
        assert record == {
            "name": "team-a",
            "models": ["gemini-*"],
            "rpm": 600,
            "tpm": 90000,
            "max_concurrent": None,
            "credits": record["credits"],
            "disabled": False,
            "static": False,
        }
        assert micro(record["credits"]) == 10_000 * MICRO - 2 * COST
        for output in (shown.stdout, listing.stdout, json.dumps(listed)):
            assert key not in output and key_hash(key) not in output

        credited = _cli(config, "keys", "credit", "team-a", "+5000")
        assert credited.returncode == 0, credited.stderr
        assert micro(json.loads(credited.stdout)["credits"]) == 15_000 * MICRO - 2 * COST
        debited = _cli(config, "keys", "credit", "team-a", "-250.5")
        assert micro(json.loads(debited.stdout)["credits"]) == 14_749_500_000 - 2 * COST
        assert view.balance("team-a") == 14_749_500_000 - 2 * COST

        usage = _cli(config, "usage", "--key", "team-a", "--since", "1h")
        assert usage.returncode == 0, usage.stderr
        summary = json.loads(usage.stdout)
        assert summary["key"] == "team-a"
        assert summary["requests"] == 2
        assert summary["charged_micro"] == 2 * COST
        assert micro(summary["credits"]) == 2 * COST
        assert summary["tokens"] == {"prompt": 4, "completion": 40, "reasoning": 32}
        assert summary["settled_by"] == {"usage": 2}
        nobody = json.loads(_cli(config, "usage", "--key", "team-b", "--since", "1h").stdout)
        assert (nobody["requests"], nobody["charged_micro"]) == (0, 0)

        disabled = _cli(config, "keys", "disable", "team-a")
        assert disabled.returncode == 0, disabled.stderr
        assert _chat_once(router, key) == 401
        assert json.loads(_cli(config, "keys", "show", "team-a").stdout)["disabled"] is True
        missing = _cli(config, "keys", "credit", "team-z", "+1")
        assert missing.returncode == 1 and "no key named" in missing.stderr
    finally:
        code = router.stop()
    assert code == 0, router.output()[-2000:]

    (tmp_path / "memory").mkdir()
    memory = _write(tmp_path / "memory", _config(mock_nodes, {"backend": "memory"}, []))
    refused = _cli(memory, "keys", "credit", "team-m", "+5")
    assert refused.returncode == 2 and "redis" in refused.stderr
    # create on the memory backend prints the key and the routes.yaml entry to paste
    made = _cli(memory, "keys", "create", "--name", "team-m")
    assert made.returncode == 0 and "keys:" in made.stderr, made.stderr
