"""Every error the router answers, in the one JSON shape, never leaking node URLs or keys.

Mock nodes are started once for the module (faults and counters reset before every test);
a router is started per distinct routes.yaml and reused.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from router.dialects.dialect import google_status
from tests.support import (
    GEMINI_BODY,
    MockNodes,
    Routers,
    chat_body,
    closed_port_url,
    eventually,
    node_entry,
    routes_yaml,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_nodes")]

A, B = "node62", "node63"
FLASH = "gemini-2.5-flash"
CHAT = "/v1/chat/completions"
GENERATE = f"/v1beta/models/{FLASH}:generateContent"
NODE_KEY = "sk-node-secret-7c1f"  # sent to the nodes; must never show in an answer
CLIENT_KEY = "Bearer client-secret-9d2e"
FIRST_BYTE = 0.4


MOCK_NODES = {A: (), B: ()}


@pytest.fixture(scope="module")
def base(mock_nodes: MockNodes, routers: Routers) -> str:
    """FLASH on node62 then node63 (tiers 0 and 1), both with a key and a short first_byte;
    "gone" on two closed ports; "solo" on node62 with room for one request at a time."""
    entry = {"api_key": NODE_KEY, "timeouts": {"first_byte": FIRST_BYTE}}
    config = routes_yaml(
        {
            A: node_entry(mock_nodes[A].url, **entry),
            B: node_entry(mock_nodes[B].url, **entry),
            "gone1": node_entry(closed_port_url(), api_key=NODE_KEY),
            "gone2": node_entry(closed_port_url(), api_key=NODE_KEY),
            "solo": node_entry(mock_nodes[A].url, api_key=NODE_KEY, max_inflight=1),
        },
        {
            FLASH: {"backends": [{"node": A}, {"node": B, "priority": 1}]},
            "gone": {"backends": [{"node": "gone1"}, {"node": "gone2"}]},
            "solo": {"backends": [{"node": "solo"}]},
        },
        server={"max_body_mb": 1},
    )
    return routers.get(config).base_url


async def call(
    session: aiohttp.ClientSession,
    url: str,
    *,
    body: Any = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, Any, bytes]:
    all_headers = {"Authorization": CLIENT_KEY, **(headers or {})}
    async with session.request(method, url, json=body, data=data, headers=all_headers) as resp:
        return resp.status, resp.headers, await resp.read()


def assert_error(
    status: int, headers: Any, body: bytes, want_status: int, code: str, *, gemini: bool = False
) -> dict[str, Any]:
    """The router's error shape (Google's on Gemini paths), with its trace id in
    X-Request-ID and nothing leaked."""
    assert status == want_status, body
    assert headers["Content-Type"].startswith("application/json")
    if gemini:
        return assert_google_error(headers, body, want_status)
    error = orjson.loads(body)
    assert set(error) == {"success", "error", "trace_id"}, error
    assert error["success"] is False
    assert set(error["error"]) == {"code", "message", "type"}, error
    assert error["error"]["code"] == code, error
    assert isinstance(error["error"]["message"], str) and error["error"]["message"]
    assert isinstance(error["error"]["type"], str) and error["error"]["type"]
    assert error["trace_id"] == headers["X-Request-ID"]
    assert b"127.0.0.1" not in body and b"localhost" not in body
    assert NODE_KEY.encode() not in body and b"client-secret" not in body
    result: dict[str, Any] = error
    return result


def assert_google_error(headers: Any, body: bytes, want_status: int) -> dict[str, Any]:
    """Google's error shape: the HTTP status as `code`, a canonical `status` name."""
    document = orjson.loads(body)
    assert set(document) == {"error"}, document
    error = document["error"]
    assert error["code"] == want_status and error["status"] == google_status(want_status)
    assert isinstance(error["message"], str) and error["message"]
    assert error["details"][0]["requestId"] == headers["X-Request-ID"]
    assert b"127.0.0.1" not in body and b"localhost" not in body
    assert NODE_KEY.encode() not in body and b"client-secret" not in body
    return dict(error)


def is_gemini(path: str) -> bool:
    return ":" in path.rsplit("/", 1)[-1]


# --- 400 and 404: the client's mistakes -------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        b'{"messages": [{"role": "user", "content": "hi"}]}',  # no model
        b'{"model": "", "messages": [{"role": "user", "content": "hi"}]}',
        b'{"model": 7, "messages": [{"role": "user", "content": "hi"}]}',
        b'{"model": "gemini-2.5-flash"}',  # no messages
        b'{"model": "gemini-2.5-flash", "messages": []}',
        b'{"model": "gemini-2.5-flash", "messages": "hi"}',
    ],
    ids=[
        "bad-json",
        "empty",
        "not-an-object",
        "no-model",
        "empty-model",
        "model-not-a-string",
        "no-messages",
        "empty-messages",
        "messages-not-a-list",
    ],
)
async def test_invalid_chat_request_is_400(mock_nodes, base, session, raw):
    headers = {"Content-Type": "application/json"}
    status, got, body = await call(session, base + CHAT, data=raw, headers=headers)
    assert_error(status, got, body, 400, "invalid_request")
    assert mock_nodes[A].requests() == 0 and mock_nodes[B].requests() == 0


async def test_invalid_gemini_json_is_400(mock_nodes, base, session):
    headers = {"Content-Type": "application/json"}
    status, got, body = await call(session, base + GENERATE, data=b"{oops", headers=headers)
    assert_error(status, got, body, 400, "invalid_request", gemini=True)
    assert mock_nodes[A].requests() == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, chat_body("no-such-model")),
        ("/v1beta/models/no-such-model:generateContent", GEMINI_BODY),
        ("/v1/models/no-such-model:streamGenerateContent?alt=sse", GEMINI_BODY),
    ],
)
async def test_unknown_model_is_404_model_not_found(mock_nodes, base, session, path, body):
    status, headers, raw = await call(session, base + path, body=body)
    error = assert_error(status, headers, raw, 404, "model_not_found", gemini=is_gemini(path))
    message = error["message"] if is_gemini(path) else error["error"]["message"]
    assert "no-such-model" in message
    assert mock_nodes[A].requests() == 0


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/chat/completions"),
        ("GET", "/nothing/here"),
        ("POST", f"/v1beta/models/{FLASH}:explode"),
    ],
)
async def test_unknown_endpoint_is_404_in_the_error_shape(base, session, method, path):
    status, headers, raw = await call(session, base + path, body={}, method=method)
    assert_error(status, headers, raw, 404, "not_found", gemini=is_gemini(path))


async def test_errors_carry_the_clients_request_id(base, session):
    headers = {"X-Request-ID": "client-chosen-id-1"}
    status, got, raw = await call(session, base + CHAT, body=chat_body("nope"), headers=headers)
    error = assert_error(status, got, raw, 404, "model_not_found")
    assert got["X-Request-ID"] == "client-chosen-id-1" == error["trace_id"]


# --- 413 --------------------------------------------------------------------------------


def big_chat_body(size: int) -> bytes:
    filler = "A" * size
    return orjson.dumps({"model": FLASH, "messages": [{"role": "user", "content": filler}]})


async def test_body_over_max_body_mb_is_413(mock_nodes, base, session):
    raw = big_chat_body(2 * 1024 * 1024)
    headers = {"Content-Type": "application/json"}
    status, got, body = await call(session, base + CHAT, data=io.BytesIO(raw), headers=headers)
    error = assert_error(status, got, body, 413, "request_too_large")
    assert "max_body_mb" in error["error"]["message"]
    assert mock_nodes[A].requests() == 0


async def test_chunked_body_over_max_body_mb_is_413(mock_nodes, base, session):
    """Without a Content-Length the limit still holds, counted as the body arrives."""

    async def chunks() -> AsyncIterator[bytes]:
        raw = big_chat_body(2 * 1024 * 1024)
        for start in range(0, len(raw), 256 * 1024):
            yield raw[start : start + 256 * 1024]

    headers = {"Content-Type": "application/json"}
    status, got, body = await call(session, base + CHAT, data=chunks(), headers=headers)
    assert_error(status, got, body, 413, "request_too_large")
    assert mock_nodes[A].requests() == 0


async def test_gemini_body_over_max_body_mb_is_413(mock_nodes, base, session):
    text = "B" * (2 * 1024 * 1024)
    raw = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": text}]}]})
    headers = {"Content-Type": "application/json"}
    status, got, body = await call(session, base + GENERATE, data=io.BytesIO(raw), headers=headers)
    assert_error(status, got, body, 413, "request_too_large", gemini=True)
    assert mock_nodes[A].requests() == 0


async def test_body_under_max_body_mb_passes(mock_nodes, base, session):
    raw = big_chat_body(900 * 1024)
    headers = {"Content-Type": "application/json"}
    status, _, body = await call(session, base + CHAT, data=io.BytesIO(raw), headers=headers)
    assert status == 200, body[:300]


# --- what the nodes did: 429, 502, 503, 504 ---------------------------------------------


async def test_every_node_rate_limited_is_429(mock_nodes, base, session):
    for name in (A, B):
        mock_nodes[name].faults(status=429)
    status, headers, raw = await call(session, base + CHAT, body=chat_body(FLASH))
    assert_error(status, headers, raw, 429, "too_many_requests")
    assert int(headers["Retry-After"]) >= 1
    assert mock_nodes[A].requests() == 1 and mock_nodes[B].requests() == 1


@pytest.mark.parametrize("path", [CHAT, GENERATE])
async def test_every_node_failing_is_502(mock_nodes, base, session, path):
    for name in (A, B):
        mock_nodes[name].faults(status=500)
    body = chat_body(FLASH) if path == CHAT else GEMINI_BODY
    status, headers, raw = await call(session, base + path, body=body)
    assert_error(status, headers, raw, 502, "upstream_error", gemini=path == GENERATE)
    assert mock_nodes[A].requests() == 1 and mock_nodes[B].requests() == 1


async def test_every_node_unreachable_is_502(base, session):
    gemini = "/v1beta/models/gone:generateContent"
    for path, body in ((CHAT, chat_body("gone")), (gemini, GEMINI_BODY)):
        status, headers, raw = await call(session, base + path, body=body)
        assert_error(status, headers, raw, 502, "upstream_error", gemini=path == gemini)


@pytest.mark.parametrize("stream", [False, True])
async def test_every_node_too_slow_before_the_first_byte_is_504(mock_nodes, base, session, stream):
    for name in (A, B):
        mock_nodes[name].faults(first_byte_delay=3)
    started = time.monotonic()
    status, headers, raw = await call(session, base + CHAT, body=chat_body(FLASH, stream=stream))
    elapsed = time.monotonic() - started
    assert_error(status, headers, raw, 504, "upstream_timeout")
    assert elapsed < 2 * FIRST_BYTE + 1.0, elapsed
    assert mock_nodes[A].requests() == 1 and mock_nodes[B].requests() == 1


async def test_no_node_with_capacity_is_503_with_retry_after(mock_nodes, base, session):
    mock_nodes[A].faults(hang=True)
    busy = asyncio.ensure_future(call(session, base + CHAT, body=chat_body("solo")))
    try:
        assert await eventually(lambda: mock_nodes[A].stats()["inflight"] == 1)
        status, headers, raw = await call(session, base + CHAT, body=chat_body("solo"))
        assert_error(status, headers, raw, 503, "no_available_node")
        assert int(headers["Retry-After"]) >= 1
        assert mock_nodes[A].requests() == 1  # the second request never reached the node
    finally:
        busy.cancel()
        with pytest.raises(asyncio.CancelledError):
            await busy
