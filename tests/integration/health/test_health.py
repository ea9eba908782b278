"""Node health end to end: a real router in front of real mock nodes that crash and fail.

Each test starts its own mock nodes and router (nothing is shared: the tests kill nodes and
leave routers with ejected nodes), with health intervals and ejection times cut to fractions
of a second. What the router did is read from its JSON log, /admin/nodes and /metrics;
what the nodes saw, from their /_mock/stats.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import aiohttp
import pytest

from tests.support import FLASH, chat_body
from tests.support.load import Load, client_session, running_load
from tests.support.router_under_test import (
    FAST_HEALTH,
    config_text,
    mock_faults,
    mock_stats,
    wait_stat,
)

pytestmark = pytest.mark.integration

A, B, C = "node62", "node63", "node64"


async def post(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], bytes]:
    async with session.post(url + "/v1/chat/completions", json=chat_body(FLASH)) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def answering(session: aiohttp.ClientSession, url: str, times: int) -> set[str]:
    """The nodes that answered `times` requests in a row, each of which must succeed."""
    nodes = set()
    for _ in range(times):
        status, headers, _ = await post(session, url)
        assert status == 200
        nodes.add(headers["X-Mock-Node"])
    return nodes


# --- crash and recovery -------------------------------------------------------------------


async def test_killed_node_is_failed_over_ejected_and_back_after_restart(started):
    # The passive ejection (4 s) outlasts the outage on purpose: the restarted node can then
    # only be back within one health interval if its successful probes bring it back.
    ejection = {"consecutive_failures": 2, "base_seconds": 4, "max_seconds": 10, "max_percent": 50}
    nodes, router = started.launch(
        {A: (), B: (), C: ()},
        lambda urls: config_text(urls, health=FAST_HEALTH, ejection=ejection),
        together=False,
    )
    async with asyncio.timeout(30), client_session() as session:
        async with running_load(session, router.url, workers=4) as load:
            await asyncio.sleep(0.5)
            assert load.nodes_since(0)[A] > 0, load.nodes_since(0)
            port = nodes[A].proc.port
            killed_at = time.monotonic()
            nodes[A].proc.kill()

            ejected = await router.wait_event("node_state", node=A, new="ejected", within=3)
            assert ejected[0]["reason"] == "failures", ejected
            entry = await router.node(session, A)
            assert entry["state"] == "ejected" and entry["ejections"] == 1, entry
            await asyncio.sleep(0.5)
            assert load.nodes_since(killed_at + 0.3)[A] == 0

            await asyncio.to_thread(started.mock_node, A, port)
            restarted_after = await wait_stat(session, f"http://127.0.0.1:{port}", "requests", 8.0)
            await asyncio.sleep(0.3)
        upstream_errors = await router.metric(session, "router_upstream_errors_total", node=A)

    assert len(load.outcomes) > 200, len(load.outcomes)
    assert load.failures() == [], load.failures()[:5]
    # Ejected after its first failures: the dead node cost a handful of attempts, not one per
    # request (several were in flight on kept-alive connections when it died).
    assert 2 <= upstream_errors <= 12, upstream_errors
    interval = float(FAST_HEALTH["interval"])  # type: ignore[arg-type]
    assert restarted_after <= 1.1 * interval + 0.7, (
        f"restarted node got its first request {restarted_after:.2f}s after it was up; "
        f"expected within one health interval ({interval}s) plus slack; "
        f"node_state events: {router.events('node_state', node=A)}"
    )


async def test_node_answering_500_is_ejected_after_consecutive_failures(started):
    ejection = {"consecutive_failures": 3, "base_seconds": 5, "max_seconds": 10, "max_percent": 50}
    nodes, router = started.launch(
        {A: ("--status", "500"), B: ()}, lambda urls: config_text(urls, ejection=ejection)
    )
    async with asyncio.timeout(20), client_session() as session:
        for _ in range(20):
            status, headers, _ = await post(session, router.url)
            assert status == 200 and headers["X-Mock-Node"] == B
        stats = await mock_stats(session, nodes[A].url)
        entry = await router.node(session, A)
        ejections = await router.metric(session, "router_node_ejections_total", node=A)
        gauge = await router.metric(session, "router_node_state", node=A, state="ejected")
    assert stats["requests"] == 3 and stats["errors_injected"] == 3, stats
    assert entry["state"] == "ejected" and entry["reason"] == "failures", entry
    assert entry["ejections"] == 1 and entry["until"] > time.time() + 3, entry
    (event,) = router.events("node_state", node=A, new="ejected")
    assert event["old"] == "healthy" and event["level"] == "warning", event
    assert ejections == 1 and gauge == 1


async def test_thirty_percent_errors_are_retried_around(started):
    # Ten failures in a row would take ~6e-6 at 30%: the node stays in rotation throughout.
    ejection = {"consecutive_failures": 10, "base_seconds": 5, "max_seconds": 10}
    budget = {"percent": 50, "min_concurrent": 3}
    nodes, router = started.launch(
        {A: ("--status", "500", "--error-rate", "0.3", "--seed", "7"), B: ()},
        lambda urls: config_text(urls, ejection=ejection, retry_budget=budget),
    )
    async with asyncio.timeout(30), client_session() as session:
        load = Load(session, router.url)
        await load.run(200, concurrency=8)
        stats_a = await mock_stats(session, nodes[A].url)
        failovers = await router.metric(session, "router_failovers_total", model=FLASH)
        entry = await router.node(session, A)
    assert len(load.outcomes) == 200
    assert load.failures() == [], load.failures()[:5]
    answered = load.nodes_since(0)
    assert stats_a["errors_injected"] >= 15, stats_a
    assert stats_a["requests"] == stats_a["errors_injected"] + answered[A], (stats_a, answered)
    assert failovers == stats_a["errors_injected"]
    assert entry["state"] == "healthy", entry


async def test_ejection_time_grows_with_each_ejection_and_caps_at_max_seconds(started):
    ejection = {"consecutive_failures": 1, "base_seconds": 0.5, "max_seconds": 1.5}
    nodes, router = started.launch(
        {A: ("--status", "500"), B: ()}, lambda urls: config_text(urls, ejection=ejection)
    )
    async with asyncio.timeout(20), client_session() as session:
        async with running_load(session, router.url, workers=1, pause=0.02) as load:
            events = await router.wait_event("node_state", node=A, new="ejected", count=4, within=8)
        stats = await mock_stats(session, nodes[A].url)
        entry = await router.node(session, A)
        ejections = await router.metric(session, "router_node_ejections_total", node=A)
    assert load.failures() == []
    # Each ejection's length as the router decided it (base x count, capped): exact. The
    # times between the events also hold a trial request each, and scheduling on a busy
    # machine: they are only at least as long.
    lengths = [e["seconds"] for e in events[:4]]
    assert lengths == [0.5, 1.0, 1.5, 1.5], events
    until = [e["until"] for e in events[:4]]
    gaps = [later - earlier for earlier, later in itertools.pairwise(until)]
    assert all(gap >= length for gap, length in zip(gaps, lengths[1:], strict=True)), events
    # One request per ejection: the first failure, then one failed trial per expiry.
    assert stats["requests"] == 4, stats
    assert entry["ejections"] >= 4 and ejections >= 4, (entry, ejections)
    probing = router.events("node_state", node=A, new="probing")
    assert len(probing) >= 3, probing


def with_a_wrong_key(started: Any) -> tuple[Any, Any]:
    """Nodes A (expecting "right-key", configured with "wrong-key") and B, checks on."""
    extra = {A: {"api_key": "wrong-key"}}
    return started.launch(
        {A: ("--api-key", "right-key"), B: ()},
        lambda urls: config_text(urls, node_extra=extra, health=FAST_HEALTH),
        together=False,
    )


# --- wrong keys ------------------------------------------------------------------------------


async def test_401_disables_node_until_reload_fixes_its_key(started):
    nodes, router = with_a_wrong_key(started)
    async with asyncio.timeout(20), client_session() as session:
        assert await answering(session, router.url, 4) == {B}
        (event,) = await router.wait_event("node_state", node=A, new="disabled")
        assert event["level"] == "error" and event["reason"] == "auth", event
        assert (await mock_stats(session, nodes[A].url))["unauthorized"] >= 1

        right = {A: {"api_key": "right-key"}}
        urls = {name: nodes[name].url for name in (A, B)}
        router.write_config(config_text(urls, node_extra=right, health=FAST_HEALTH))
        status, body = await router.admin(session, "POST", "/admin/reload")
        assert status == 200, body
        await router.wait_node(session, A, lambda e: e["state"] == "healthy", within=2)
        async with running_load(session, router.url, workers=2) as load:
            await wait_stat(session, nodes[A].url, "completed", 3.0)
    assert load.failures() == []


async def test_node_disabled_by_401_stays_out_while_its_key_is_wrong(started):
    _, router = with_a_wrong_key(started)
    async with asyncio.timeout(20), client_session() as session:
        async with running_load(session, router.url, workers=1, pause=0.05) as load:
            await router.wait_event("node_state", node=A, new="disabled")
            await asyncio.sleep(1.5)  # five probe intervals
        entry = await router.node(session, A)
    assert load.failures() == []
    tried_a = [
        attempt
        for line in router.events("access")
        for attempt in line["attempts"]
        if attempt["node"] == A
    ]
    assert len(tried_a) == 1 and tried_a[0]["status"] == 401, (
        f"{len(tried_a)} requests were sent to the node with the wrong key; it went back to "
        f"healthy between them: {router.events('node_state', node=A)}"
    )
    assert entry["state"] == "disabled" and entry["reason"] == "auth", entry


async def test_a_per_request_403_fails_over_but_does_not_disable_the_node(started):
    # Providers refuse one model or region with 403 while the node's key is fine: that
    # request fails over, and the node keeps serving everyone else.
    nodes, router = started.launch({A: ("--status", "403"), B: ()}, config_text)
    async with asyncio.timeout(20), client_session() as session:
        assert await answering(session, router.url, 4) == {B}
        entry = await router.node(session, A)
        assert entry["state"] == "healthy" and entry["reason"] is None, entry
        assert not router.events("node_state", node=A, new="disabled")
        await mock_faults(session, nodes[A].url, reset=True)
        answered = await answering(session, router.url, 4)  # at once: no probe or enable
    assert answered == {A, B}


async def test_a_403_on_the_probe_disables_the_node(started):
    # The probe carries the node's own key: a 403 there is a key problem.
    nodes, router = started.launch(
        {A: (), B: ()}, lambda urls: config_text(urls, health=FAST_HEALTH)
    )
    async with asyncio.timeout(20), client_session() as session:
        await router.wait_node(session, A, lambda e: e["state"] == "healthy", within=5)
        await mock_faults(session, nodes[A].url, health_status=403)
        entry = await router.wait_node(session, A, lambda e: e["state"] == "disabled", within=5)
    assert entry["reason"] == "auth", entry


async def test_node_disabled_by_401_comes_back_when_enabled(started):
    nodes, router = started.launch({A: ("--status", "401"), B: ()}, config_text)
    async with asyncio.timeout(20), client_session() as session:
        assert await answering(session, router.url, 4) == {B}
        entry = await router.node(session, A)
        assert entry["state"] == "disabled" and entry["reason"] == "auth", entry
        (event,) = router.events("node_state", node=A, new="disabled")
        assert event["level"] == "error", event

        await mock_faults(session, nodes[A].url, reset=True)
        status, body = await router.admin(session, "POST", f"/admin/nodes/{A}/enable")
        assert status == 200 and body["state"] == "healthy", body
        answered = await answering(session, router.url, 4)
    assert answered == {A, B}
    assert router.events("node_state", node=A, new="healthy", trigger="enable")


# --- everything down -----------------------------------------------------------------------


async def test_panic_mode_tries_ejected_nodes_when_all_are_down(started):
    ejection = {
        "consecutive_failures": 1,
        "base_seconds": 10,
        "max_seconds": 20,
        "max_percent": 100,
    }
    nodes, router = started.launch(
        {A: ("--status", "500"), B: ("--status", "500")},
        lambda urls: config_text(urls, ejection=ejection),
    )
    async with asyncio.timeout(20), client_session() as session:
        status, _, _ = await post(session, router.url)
        assert status == 502
        for name in (A, B):
            assert (await router.node(session, name))["state"] == "ejected"

        status, _, body = await post(session, router.url)  # panic: both tried anyway, both fail
        assert status == 502, body
        await router.wait_event("panic_mode", model=FLASH)
        await mock_faults(session, nodes[B].url, reset=True)
        status, headers, _ = await post(session, router.url)
        assert status == 200 and headers["X-Mock-Node"] == B
        status, admin = await router.admin(session, "GET", "/admin/nodes")
    assert FLASH in admin["panic_mode"], admin
    # The answer came through panic mode: B is still ejected until its time is up.
    assert admin["nodes"][B]["state"] == "ejected", admin


async def test_retry_budget_caps_retries_when_every_node_fails(started):
    # Slow failures: the retries of concurrent clients overlap, as in a real storm.
    spec = ("--status", "500", "--first-byte-delay", "0.05")
    budget = {"percent": 10, "min_concurrent": 1}
    nodes, router = started.launch(
        {A: spec, B: spec, C: spec},
        lambda urls: config_text(urls, retries=2, retry_budget=budget),
    )
    async with asyncio.timeout(30), client_session() as session:
        load = Load(session, router.url)
        await load.run(300, concurrency=8)
        node_requests = 0
        for name in (A, B, C):
            node_requests += (await mock_stats(session, nodes[name].url))["requests"]
        exhausted = await router.metric(session, "router_retry_budget_exhausted_total", model=FLASH)
    clients = len(load.outcomes)
    assert {o.status for o in load.outcomes} == {502}
    retries = node_requests - clients
    # Without a budget every request would retry twice (600). The budget allows 10% (30)
    # plus one retry in flight at a time beyond that: far fewer than "every request retries".
    assert retries <= 0.4 * clients, (
        f"{retries} retries for {clients} requests ({retries / clients:.0%}); budget 10%"
    )
    assert exhausted > 0
    assert router.events("retry_budget_exhausted", model=FLASH)


# --- capacity -------------------------------------------------------------------------------


async def test_full_node_is_skipped_and_all_full_is_503(started):
    backends = [{"node": A, "priority": 0}, {"node": B, "priority": 1}]
    extra = {A: {"max_inflight": 1}, B: {"max_inflight": 1}}
    nodes, router = started.launch(
        {A: (), B: ()}, lambda urls: config_text(urls, backends=backends, node_extra=extra)
    )
    async with asyncio.timeout(20), client_session() as session:
        await mock_faults(session, nodes[A].url, first_byte_delay=1.5)
        held_a = asyncio.create_task(post(session, router.url))
        await wait_stat(session, nodes[A].url, "inflight")
        began = time.monotonic()
        status, headers, _ = await post(session, router.url)
        assert status == 200 and headers["X-Mock-Node"] == B  # A is full: skipped, not queued
        assert time.monotonic() - began < 1.0

        await mock_faults(session, nodes[B].url, first_byte_delay=1.5)
        held_b = asyncio.create_task(post(session, router.url))
        await wait_stat(session, nodes[B].url, "inflight")
        began = time.monotonic()
        async with session.post(router.url + "/v1/chat/completions", json=chat_body(FLASH)) as r:
            status, retry_after, body = r.status, r.headers.get("Retry-After"), await r.json()
        assert time.monotonic() - began < 1.0
        assert status == 503 and body["error"]["code"] == "no_available_node", body
        assert retry_after is not None and int(retry_after) >= 1

        for task, name in ((held_a, A), (held_b, B)):
            status, headers, _ = await task
            assert status == 200 and headers["X-Mock-Node"] == name
        stats_a = await mock_stats(session, nodes[A].url)
    assert stats_a["requests"] == 1, stats_a
