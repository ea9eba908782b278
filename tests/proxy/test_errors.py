"""Every error the router answers, in the one JSON shape, never leaking node URLs or keys.

In process against the fake transport: the client's mistakes (400, 404, 413) never reach
a node, and what the nodes did (all rate limited, failing, unreachable, too slow, full)
becomes the one error the client hears.
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from tests.support import CHAT, FLASH, GEMINI_BODY, chat_body, eventually, node_entry, routes_yaml
from tests.support.error_shape import google_error, openai_error
from tests.support.fake_transport import FakeNodes, Script

A, B = "node62", "node63"
GENERATE = f"/v1beta/models/{FLASH}:generateContent"
NODE_KEY = "sk-node-secret-7c1f"  # sent to the nodes; must never show in an answer
CLIENT_KEY = "Bearer client-secret-9d2e"
FIRST_BYTE = 0.4
# FLASH on node62 then node63 (tiers 0 and 1), both with a key and a short first_byte;
# "gone" on two nodes nobody answers; "solo" on a node with room for one request at a time.
ENTRY = {"api_key": NODE_KEY, "timeouts": {"first_byte": FIRST_BYTE}}
CONFIG = routes_yaml(
    {
        A: node_entry("http://127.0.0.1:9/a", **ENTRY),
        B: node_entry("http://127.0.0.1:9/b", **ENTRY),
        "gone1": node_entry("http://127.0.0.1:9/gone1", api_key=NODE_KEY),
        "gone2": node_entry("http://127.0.0.1:9/gone2", api_key=NODE_KEY),
        "solo": node_entry("http://127.0.0.1:9/solo", api_key=NODE_KEY, max_inflight=1),
    },
    {
        FLASH: {"backends": [{"node": A}, {"node": B, "priority": 1}]},
        "gone": {"backends": [{"node": "gone1"}, {"node": "gone2"}]},
        "solo": {"backends": [{"node": "solo"}]},
    },
    server={"max_body_mb": 1},
)
UNREACHABLE = Script(connect_fails=True)


@dataclass
class Served:
    client: Any
    fake: FakeNodes


@pytest.fixture
async def served(router_app: Any) -> Served:
    fake = FakeNodes({"gone1": UNREACHABLE, "gone2": UNREACHABLE})
    return Served(await router_app(CONFIG, fake), fake)


async def call(
    client: Any,
    path: str,
    *,
    body: Any = None,
    data: Any = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
) -> tuple[int, Any, bytes]:
    all_headers = {"Authorization": CLIENT_KEY, **(headers or {})}
    async with client.request(method, path, json=body, data=data, headers=all_headers) as resp:
        return resp.status, resp.headers, await resp.read()


def assert_error(
    status: int, headers: Any, body: bytes, want_status: int, code: str, *, gemini: bool = False
) -> dict[str, Any]:
    """The router's error shape (Google's on Gemini paths), with its trace id in
    X-Request-ID and nothing leaked."""
    assert status == want_status, body
    assert headers["Content-Type"].startswith("application/json")
    assert b"127.0.0.1" not in body and b"localhost" not in body
    assert NODE_KEY.encode() not in body and b"client-secret" not in body
    document = orjson.loads(body)
    if gemini:
        return google_error(document, headers, want_status)
    return openai_error(document, headers, code)


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
async def test_invalid_chat_request_is_400(served, raw):
    headers = {"Content-Type": "application/json"}
    status, got, body = await call(served.client, CHAT, data=raw, headers=headers)
    assert_error(status, got, body, 400, "invalid_request")
    assert served.fake.posted_to() == []


async def test_invalid_gemini_json_is_400(served):
    headers = {"Content-Type": "application/json"}
    status, got, body = await call(served.client, GENERATE, data=b"{oops", headers=headers)
    assert_error(status, got, body, 400, "invalid_request", gemini=True)
    assert served.fake.posted_to() == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHAT, chat_body("no-such-model")),
        ("/v1beta/models/no-such-model:generateContent", GEMINI_BODY),
        ("/v1/models/no-such-model:streamGenerateContent?alt=sse", GEMINI_BODY),
    ],
)
async def test_unknown_model_is_404_model_not_found(served, path, body):
    status, headers, raw = await call(served.client, path, body=body)
    error = assert_error(status, headers, raw, 404, "model_not_found", gemini=is_gemini(path))
    message = error["message"] if is_gemini(path) else error["error"]["message"]
    assert "no-such-model" in message
    assert served.fake.posted_to() == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v2/chat/completions"),
        ("GET", "/nothing/here"),
        ("POST", f"/v1beta/models/{FLASH}:explode"),
    ],
)
async def test_unknown_endpoint_is_404_in_the_error_shape(served, method, path):
    status, headers, raw = await call(served.client, path, body={}, method=method)
    assert_error(status, headers, raw, 404, "not_found", gemini=is_gemini(path))


async def test_errors_carry_the_clients_request_id(served):
    headers = {"X-Request-ID": "client-chosen-id-1"}
    status, got, raw = await call(served.client, CHAT, body=chat_body("nope"), headers=headers)
    error = assert_error(status, got, raw, 404, "model_not_found")
    assert got["X-Request-ID"] == "client-chosen-id-1" == error["trace_id"]


# --- 413 --------------------------------------------------------------------------------


def big_chat_body(size: int) -> bytes:
    filler = "A" * size
    return orjson.dumps({"model": FLASH, "messages": [{"role": "user", "content": filler}]})


async def test_body_over_max_body_mb_is_413(served):
    raw = big_chat_body(2 * 1024 * 1024)
    headers = {"Content-Type": "application/json"}
    status, got, body = await call(served.client, CHAT, data=io.BytesIO(raw), headers=headers)
    error = assert_error(status, got, body, 413, "request_too_large")
    assert "max_body_mb" in error["error"]["message"]
    assert served.fake.posted_to() == []


async def test_chunked_body_over_max_body_mb_is_413(served):
    """Without a Content-Length the limit still holds, counted as the body arrives."""

    async def chunks() -> AsyncIterator[bytes]:
        raw = big_chat_body(2 * 1024 * 1024)
        for start in range(0, len(raw), 256 * 1024):
            yield raw[start : start + 256 * 1024]

    headers = {"Content-Type": "application/json"}
    status, got, body = await call(served.client, CHAT, data=chunks(), headers=headers)
    assert_error(status, got, body, 413, "request_too_large")
    assert served.fake.posted_to() == []


async def test_gemini_body_over_max_body_mb_is_413(served):
    text = "B" * (2 * 1024 * 1024)
    raw = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": text}]}]})
    headers = {"Content-Type": "application/json"}
    status, got, body = await call(served.client, GENERATE, data=io.BytesIO(raw), headers=headers)
    assert_error(status, got, body, 413, "request_too_large", gemini=True)
    assert served.fake.posted_to() == []


async def test_body_under_max_body_mb_passes(served):
    raw = big_chat_body(900 * 1024)
    headers = {"Content-Type": "application/json"}
    status, _, body = await call(served.client, CHAT, data=io.BytesIO(raw), headers=headers)
    assert status == 200, body[:300]


# --- what the nodes did: 429, 502, 503, 504 ---------------------------------------------


async def test_every_node_rate_limited_is_429(served):
    served.fake.scripts.update({A: Script(status=429), B: Script(status=429)})
    status, headers, raw = await call(served.client, CHAT, body=chat_body(FLASH))
    assert_error(status, headers, raw, 429, "too_many_requests")
    assert int(headers["Retry-After"]) >= 1
    assert served.fake.posted_to() == [A, B]


@pytest.mark.parametrize("path", [CHAT, GENERATE])
async def test_every_node_failing_is_502(served, path):
    served.fake.scripts.update({A: Script(status=500), B: Script(status=500)})
    body = chat_body(FLASH) if path == CHAT else GEMINI_BODY
    status, headers, raw = await call(served.client, path, body=body)
    assert_error(status, headers, raw, 502, "upstream_error", gemini=path == GENERATE)
    assert served.fake.posted_to() == [A, B]


async def test_every_node_unreachable_is_502(served):
    gemini = "/v1beta/models/gone:generateContent"
    for path, body in ((CHAT, chat_body("gone")), (gemini, GEMINI_BODY)):
        status, headers, raw = await call(served.client, path, body=body)
        assert_error(status, headers, raw, 502, "upstream_error", gemini=path == gemini)


@pytest.mark.parametrize("stream", [False, True])
async def test_every_node_too_slow_before_the_first_byte_is_504(served, stream):
    served.fake.scripts.update({A: Script(head_delay=3), B: Script(head_delay=3)})
    started = time.monotonic()
    status, headers, raw = await call(served.client, CHAT, body=chat_body(FLASH, stream=stream))
    elapsed = time.monotonic() - started
    assert_error(status, headers, raw, 504, "upstream_timeout")
    assert elapsed < 2 * FIRST_BYTE + 1.0, elapsed
    assert served.fake.posted_to() == [A, B]


async def test_no_node_with_capacity_is_503_with_retry_after(served):
    gate = asyncio.Event()
    served.fake.scripts["solo"] = Script(head_gate=gate)
    busy = asyncio.ensure_future(call(served.client, CHAT, body=chat_body("solo")))
    try:
        assert await eventually(lambda: served.fake.posted_to() == ["solo"])
        status, headers, raw = await call(served.client, CHAT, body=chat_body("solo"))
        assert_error(status, headers, raw, 503, "no_available_node")
        assert int(headers["Retry-After"]) >= 1
        assert served.fake.posted_to() == ["solo"]  # the second request never reached it
    finally:
        gate.set()
        assert (await busy)[0] == 200
