"""A node without a health endpoint, end to end: served at once, and one log line with the fix.

With active checks on, a node starts unproven. One whose health path answers 404 never
becomes proven, so it is served through panic mode from the first request (rather than
refused until its probes eject it), /admin/nodes and /metrics say `unproven`, and the
router logs `health_path_not_found` once, naming `health.path` and `health: false`.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.support import chat_body
from tests.support.load import client_session
from tests.support.router_under_test import FAST_HEALTH, FLASH, config_text

pytestmark = pytest.mark.integration

A = "node62"
NO_HEALTH_ENDPOINT = ("--health-status", "404")  # the mock's GET /health answers 404
# Probe often, and never eject by health check during the test: the node stays unproven.
CHECKED = {**FAST_HEALTH, "unhealthy_threshold": 1000}


async def post(session: aiohttp.ClientSession, url: str) -> tuple[int, str | None]:
    async with session.post(url + "/v1/chat/completions", json=chat_body(FLASH)) as resp:
        await resp.read()
        return resp.status, resp.headers.get("X-Mock-Node")


async def readyz(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url + "/readyz") as resp:
        return resp.status


async def test_unproven_only_node_is_served_at_once_and_the_fix_is_logged_once(started):
    nodes, router = started.launch(
        {A: NO_HEALTH_ENDPOINT},
        lambda urls: config_text(urls, health=CHECKED),
        together=False,
        ready=None,  # /readyz stays 503: no node is proven
    )
    urls = {A: nodes[A].url}
    async with asyncio.timeout(30), client_session() as session:
        assert await post(session, router.url) == (200, A)
        (panic,) = await router.wait_event("panic_mode", node=A)
        assert panic["model"] == FLASH, panic
        status, body = await router.admin(session, "GET", "/admin/nodes")
        assert status == 200 and FLASH in body["panic_mode"], body
        entry = body["nodes"][A]
        assert entry["state"] == "unproven" and entry["awaiting_first_probe"] is True, entry
        assert await router.metric(session, "router_node_state", node=A, state="unproven") == 1
        assert await router.metric(session, "router_node_state", node=A, state="healthy") == 0
        assert await readyz(session, router.url) == 503

        await asyncio.sleep(6 * float(CHECKED["interval"]))  # type: ignore[arg-type]
        # Every one of those probes answered 404; the fix is logged once, not per probe.
        (line,) = router.events("health_path_not_found")
        assert (line["node"], line["path"], line["level"]) == (A, "/health", "warning"), line
        assert "health.path" in line["detail"] and "health: false" in line["detail"], line
        assert (await router.node(session, A))["state"] == "unproven"
        assert await post(session, router.url) == (200, A)

        # The fix: no active checks. The node is healthy at once and served normally.
        router.write_config(config_text(urls, health=False, tag="checks off"))
        await router.wait_event("config_reloaded", within=5)
        (moved,) = router.events("node_state", node=A)
        assert (moved["old"], moved["new"], moved["trigger"]) == (
            "unproven",
            "healthy",
            "checks_disabled",
        ), moved
        panics = len(router.events("panic_mode"))
        assert await post(session, router.url) == (200, A)
        assert await readyz(session, router.url) == 200
        assert (await router.node(session, A))["awaiting_first_probe"] is False
    assert len(router.events("panic_mode")) == panics
    assert len(router.events("health_path_not_found")) == 1


async def test_node_without_health_endpoint_serves_normally_with_checks_off(started):
    _, router = started.launch(
        {A: NO_HEALTH_ENDPOINT}, lambda urls: config_text(urls, health=False)
    )
    async with asyncio.timeout(20), client_session() as session:
        for _ in range(3):
            assert await post(session, router.url) == (200, A)
        entry = await router.node(session, A)
        assert await router.metric(session, "router_node_state", node=A, state="healthy") == 1
    assert entry["state"] == "healthy" and entry["awaiting_first_probe"] is False, entry
    assert router.events("panic_mode") == []
    assert router.events("health_path_not_found") == []
    assert router.events("node_state", node=A) == []
