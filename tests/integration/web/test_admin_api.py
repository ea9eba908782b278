"""The admin API of a running router: its auth, the node table, drain/enable and the config.

The API exists only with `server.admin_token` set (404 otherwise) and answers 401 to a
missing or wrong Bearer token. Drain is checked the way an operator relies on it: requests
already on the node finish, and no new one is sent there.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from tests.support import FLASH, chat_body
from tests.support.load import client_session
from tests.support.router_under_test import (
    ADMIN_TOKEN,
    config_text,
    mock_faults,
    mock_stats,
    wait_stat,
)

pytestmark = pytest.mark.integration

A, B = "node62", "node63"
NODE_KEY = "node63-secret-key-value"
ENDPOINTS = (
    ("GET", "/admin/nodes"),
    ("POST", f"/admin/nodes/{A}/drain"),
    ("POST", f"/admin/nodes/{A}/enable"),
    ("POST", "/admin/reload"),
    ("GET", "/admin/config"),
)


async def post(session: aiohttp.ClientSession, url: str) -> tuple[int, str | None, bytes]:
    async with session.post(url + "/v1/chat/completions", json=chat_body(FLASH)) as resp:
        return resp.status, resp.headers.get("X-Mock-Node"), await resp.read()


async def test_admin_api_does_not_exist_without_a_token(started):
    _, router = started.launch({A: ()}, lambda urls: config_text(urls, token=None), token=None)
    async with asyncio.timeout(15), client_session() as session:
        for method, path in ENDPOINTS:
            for token in (None, ADMIN_TOKEN):
                status, body = await router.admin(session, method, path, token=token)
                assert status == 404 and body["error"]["code"] == "not_found", (path, body)


async def test_admin_api_needs_the_right_token(started):
    _, router = started.launch({A: (), B: ()}, config_text)
    async with asyncio.timeout(15), client_session() as session:
        for method, path in ENDPOINTS:
            for token in ("wrong-token", ADMIN_TOKEN + "x", ADMIN_TOKEN[:-1]):
                status, body = await router.admin(session, method, path, token=token)
                assert status == 401 and body["error"]["code"] == "invalid_token", (path, body)
            async with session.request(method, router.url + path) as resp:
                assert resp.status == 401, path
            async with session.request(
                method, router.url + path, headers={"Authorization": ADMIN_TOKEN}
            ) as resp:
                assert resp.status == 401, path  # the token without "Bearer"
        # Nothing above acted: A was neither drained nor enabled.
        assert not router.events("admin_drain") and not router.events("admin_enable")


async def test_nodes_lists_every_node_with_its_health(started):
    _, router = started.launch({A: (), B: ()}, config_text)
    async with asyncio.timeout(15), client_session() as session:
        for _ in range(4):
            status, _, _ = await post(session, router.url)
            assert status == 200
        status, body = await router.admin(session, "GET", "/admin/nodes")
    assert status == 200
    assert set(body["nodes"]) == {A, B} and body["panic_mode"] == {}
    for entry in body["nodes"].values():
        assert entry["state"] == "healthy" and entry["reason"] is None, entry
        assert entry["until"] is None and entry["inflight"] == 0, entry
        assert entry["consecutive_failures"] == 0 and entry["ejections"] == 0, entry
        assert entry["recent_latency_ms"] > 0 and entry["models"] == [FLASH], entry


async def test_config_shows_secrets_as_stars(started):
    _, router = started.launch(
        {A: (), B: ()}, lambda urls: config_text(urls, node_extra={B: {"api_key": NODE_KEY}})
    )
    async with (
        asyncio.timeout(15),
        client_session() as session,
        session.get(router.url + "/admin/config", headers=router.auth()) as resp,
    ):
        assert resp.status == 200
        raw = await resp.text()
        config = await resp.json()
    assert NODE_KEY not in raw and ADMIN_TOKEN not in raw
    assert config["nodes"][B]["api_key"] == "***"
    assert config["nodes"][A]["api_key"] is None  # no key: nothing to hide
    assert config["server"]["admin_token"] == "***"
    assert config["nodes"][A]["url"].startswith("http://127.0.0.1:")


async def test_drain_lets_inflight_requests_finish_and_sends_no_new_ones(started):
    backends = [{"node": A, "priority": 0}, {"node": B, "priority": 1}]
    nodes, router = started.launch(
        {A: (), B: ()}, lambda urls: config_text(urls, backends=backends)
    )
    async with asyncio.timeout(20), client_session() as session:
        await mock_faults(session, nodes[A].url, first_byte_delay=1.0)
        held = [asyncio.create_task(post(session, router.url)) for _ in range(3)]
        await wait_stat(session, nodes[A].url, "inflight", at_least=3)

        status, body = await router.admin(session, "POST", f"/admin/nodes/{A}/drain")
        assert status == 200 and body == {"node": A, "state": "draining"}, body
        entry = await router.node(session, A)
        assert entry["state"] == "draining" and entry["reason"] == "operator", entry
        assert entry["inflight"] == 3, entry
        began = time.monotonic()
        for _ in range(5):
            status, node, _ = await post(session, router.url)
            assert status == 200 and node == B
        assert time.monotonic() - began < 1.0  # not queued behind the drained node

        for task in held:
            status, node, body = await task
            assert status == 200 and node == A and b'"finish_reason":"stop"' in body
        entry = await router.node(session, A)
        assert entry["state"] == "draining" and entry["inflight"] == 0, entry
        assert (await mock_stats(session, nodes[A].url))["requests"] == 3

        await mock_faults(session, nodes[A].url, reset=True)
        status, body = await router.admin(session, "POST", f"/admin/nodes/{A}/enable")
        assert status == 200 and body == {"node": A, "state": "healthy"}, body
        status, node, _ = await post(session, router.url)
        assert status == 200 and node == A
        await wait_stat(session, nodes[A].url, "completed")

        status, body = await router.admin(session, "POST", "/admin/nodes/node99/drain")
        assert status == 404, body
    (drained,) = router.events("node_state", node=A, new="draining")
    assert drained["trigger"] == "drain" and drained["reason"] == "operator", drained
    assert router.events("node_state", node=A, new="healthy", trigger="enable")
    assert router.events("admin_drain", node=A) and router.events("admin_enable", node=A)
