"""Streaming through the router: byte-for-byte relay, no buffering, keep-alives, failures."""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support import (
    CHAT,
    FLASH,
    GEMINI_BODY,
    MockNode,
    MockNodes,
    Routers,
    chat_body,
    eventually,
    node_entry,
    routes_yaml,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_nodes")]

A, B = "node62", "node63"
GEMINI_SSE = f"/v1beta/models/{FLASH}:streamGenerateContent?alt=sse"
# What differs between two answers of the same node: ids and timestamps.
VOLATILE = [
    (re.compile(rb'"id":"chatcmpl-[0-9a-f]+"'), b'"id":"ID"'),
    (re.compile(rb'"created":\d+'), b'"created":0'),
    (re.compile(rb'"responseId":"[0-9a-f]+"'), b'"responseId":"ID"'),
]


MOCK_NODES = {A: (), B: ()}


def router_url(mock_nodes: MockNodes, routers: Routers, **server: object) -> str:
    """A router serving FLASH from node62 (tier 0), then node63 (tier 1)."""
    config = routes_yaml(
        {A: node_entry(mock_nodes[A].url), B: node_entry(mock_nodes[B].url)},
        {FLASH: {"backends": [{"node": A}, {"node": B, "priority": 1}]}},
        server=server,
    )
    return routers.get(config).base_url


def normalised(body: bytes) -> bytes:
    for pattern, replacement in VOLATILE:
        body = pattern.sub(replacement, body)
    return body


async def fetch(session: aiohttp.ClientSession, url: str, body: object) -> tuple[Any, bytes]:
    async with session.post(url, json=body) as resp:
        assert resp.status == 200
        return resp.headers, await resp.read()


async def timed_lines(
    resp: aiohttp.ClientResponse, *, stop_after_data: int | None = None, limit: float = 10.0
) -> list[tuple[float, bytes]]:
    """Every line of the body with the monotonic time it arrived."""
    lines: list[tuple[float, bytes]] = []
    data_seen = 0
    async with asyncio.timeout(limit):
        async for line in resp.content:
            lines.append((time.monotonic(), line))
            if line.startswith(b"data:"):
                data_seen += 1
                if stop_after_data is not None and data_seen >= stop_after_data:
                    break
    return lines


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, chat_body(FLASH, stream=True, stream_options={"include_usage": True})),
        (GEMINI_SSE, GEMINI_BODY),
    ],
    ids=["openai", "gemini-sse"],
)
async def test_stream_is_relayed_byte_for_byte(mock_nodes, routers, session, path, body):
    base = router_url(mock_nodes, routers)
    direct_headers, direct = await fetch(session, mock_nodes[A].url + path, body)
    headers, relayed = await fetch(session, base + path, body)
    assert direct_headers["Content-Type"].startswith("text/event-stream")
    assert headers["Content-Type"].startswith("text/event-stream")
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Accel-Buffering"] == "no"
    assert headers["X-Mock-Node"] == A
    assert relayed.count(b"data: ") >= 5
    assert normalised(relayed) == normalised(direct)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, chat_body(FLASH, stream=False)),
        (f"/v1beta/models/{FLASH}:generateContent", GEMINI_BODY),
        (f"/v1beta/models/{FLASH}:streamGenerateContent", GEMINI_BODY),  # a JSON array
    ],
    ids=["openai", "gemini", "gemini-json-array"],
)
async def test_plain_answers_are_relayed_byte_for_byte(mock_nodes, routers, session, path, body):
    base = router_url(mock_nodes, routers)
    _, direct = await fetch(session, mock_nodes[A].url + path, body)
    headers, relayed = await fetch(session, base + path, body)
    assert headers["Content-Type"].startswith("application/json")
    assert normalised(relayed) == normalised(direct)


@pytest.mark.parametrize("path", [CHAT, GEMINI_SSE])
async def test_every_chunk_reaches_the_client_before_the_next_is_sent(
    mock_nodes, routers, session, path
):
    base = router_url(mock_nodes, routers)
    mock_nodes[A].faults(chunk_delay=0.2)
    body = chat_body(FLASH, stream=True) if path == CHAT else GEMINI_BODY
    async with session.post(base + path, json=body) as resp:
        assert resp.status == 200
        lines = await timed_lines(resp)
    arrivals = [at for at, line in lines if line.startswith(b"data:")]
    assert len(arrivals) >= 5
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert min(gaps) >= 0.12, [round(g, 3) for g in gaps]


async def test_a_plain_streamed_body_is_not_held_whole(mock_nodes, routers, session):
    """Gemini's JSON-array stream (no alt=sse) is not SSE, yet it is not buffered either."""
    base = router_url(mock_nodes, routers)
    mock_nodes[A].faults(chunk_delay=0.2)
    path = f"/v1beta/models/{FLASH}:streamGenerateContent"
    arrivals: list[float] = []
    async with session.post(base + path, json=GEMINI_BODY) as resp:
        assert resp.status == 200
        async with asyncio.timeout(10):
            async for _ in resp.content.iter_any():
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 4, "the answer arrived in one piece"
    assert arrivals[-1] - arrivals[0] >= 0.6


async def test_keepalive_comment_while_the_node_is_silent(mock_nodes, routers, session):
    base = router_url(mock_nodes, routers, keepalive_interval=0.5)
    mock_nodes[A].faults(chunk_delay=1.6)
    async with session.post(base + CHAT, json=chat_body(FLASH, stream=True)) as resp:
        assert resp.status == 200
        lines = await timed_lines(resp, stop_after_data=2)
    texts = [line for _, line in lines]
    first = next(i for i, line in enumerate(texts) if line.startswith(b"data:"))
    second = next(i for i, line in enumerate(texts) if i > first and line.startswith(b"data:"))
    between = texts[first + 1 : second]
    assert b": keep-alive\n" in between, texts
    # A comment is its own event: it never lands inside a node's chunk.
    assert all(line in (b"\n", b": keep-alive\n") for line in between), between


async def test_no_keepalive_comment_while_chunks_flow(mock_nodes, routers, session):
    base = router_url(mock_nodes, routers, keepalive_interval=0.5)
    mock_nodes[A].faults(chunk_delay=0.1)
    async with session.post(base + CHAT, json=chat_body(FLASH, stream=True)) as resp:
        assert resp.status == 200
        body = await resp.read()
    assert b"keep-alive" not in body


async def test_midstream_failure_ends_with_one_error_event(mock_nodes, routers, session):
    base = router_url(mock_nodes, routers)
    mock_nodes[A].faults(cut_after=3)
    rid = "midstream-test-1"
    async with session.post(
        base + CHAT, json=chat_body(FLASH, stream=True), headers={"X-Request-ID": rid}
    ) as resp:
        assert resp.status == 200
        assert resp.headers["X-Request-ID"] == rid
        body = await resp.read()
    events = [e for e in body.split(b"\n\n") if e]
    assert all(e.startswith(b"data: ") for e in events), events
    assert len(events) == 4  # the node's three events, then ours
    node_events = [orjson.loads(e.removeprefix(b"data: ")) for e in events[:3]]
    assert all(e["object"] == "chat.completion.chunk" for e in node_events)
    final = orjson.loads(events[-1].removeprefix(b"data: "))
    assert set(final) == {"success", "error", "trace_id"}
    assert final["success"] is False
    assert set(final["error"]) == {"code", "message", "type"}
    assert final["error"]["code"] in ("upstream_error", "upstream_timeout")
    assert final["trace_id"] == rid
    assert b"127.0.0.1" not in body
    assert b"[DONE]" not in body
    assert mock_nodes[B].requests() == 0


async def test_midstream_failure_of_a_gemini_stream(mock_nodes, routers, session):
    base = router_url(mock_nodes, routers)
    mock_nodes[A].faults(cut_after=2)
    async with session.post(base + GEMINI_SSE, json=GEMINI_BODY) as resp:
        assert resp.status == 200
        rid = resp.headers["X-Request-ID"]
        body = await resp.read()
    events = [e for e in re.split(rb"\r\n\r\n|\n\n", body) if e]
    assert len(events) == 3  # the node's two events, then ours
    # Google's error object on a bare line (see router.dialects.gemini.replies for why).
    assert events[-1].startswith(b'{"error":') and events[-1].endswith(b"}\n")
    error = orjson.loads(events[-1])["error"]
    assert (error["code"], error["status"]) == (502, "UNAVAILABLE")
    assert error["details"][0]["requestId"] == rid
    assert body.count(b'{"error":') == 1
    assert mock_nodes[B].requests() == 0


async def wait_for_cancel(node: MockNode) -> dict[str, Any]:
    """The node's stats once it counted a cancelled request (or after 3 s)."""
    await eventually(lambda: node.stats()["cancelled"])
    return node.stats()


async def test_client_disconnect_cancels_the_node_request(mock_nodes, routers, session):
    base = router_url(mock_nodes, routers)
    mock_nodes[A].faults(chunk_delay=0.5)
    resp = await session.post(base + CHAT, json=chat_body(FLASH, stream=True))
    try:
        assert resp.status == 200
        async with asyncio.timeout(5):
            first = await resp.content.readline()
        assert first.startswith(b"data: ")
    finally:
        closed_at = time.time()
        resp.close()
    stats = await wait_for_cancel(mock_nodes[A])
    assert stats["cancelled"] == 1, stats
    assert stats["last_cancel_at"] - closed_at < 0.5, stats["last_cancel_at"] - closed_at
    assert stats["completed"] == 0
    assert mock_nodes[B].requests() == 0


async def test_client_disconnect_before_the_first_byte_cancels_too(mock_nodes, routers, session):
    base = router_url(mock_nodes, routers)
    mock_nodes[A].faults(first_byte_delay=5)
    request = asyncio.ensure_future(session.post(base + CHAT, json=chat_body(FLASH, stream=True)))
    try:
        assert await eventually(lambda: mock_nodes[A].stats()["inflight"] == 1)
    finally:
        closed_at = time.time()
        request.cancel()  # closes the client's connection
        with pytest.raises(asyncio.CancelledError):
            await request
    stats = await wait_for_cancel(mock_nodes[A])
    assert stats["cancelled"] == 1, stats
    assert stats["last_cancel_at"] - closed_at < 0.5
    assert mock_nodes[B].requests() == 0  # the router did not go on to another node
