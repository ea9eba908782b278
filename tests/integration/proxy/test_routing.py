"""What crosses the wire between the router and real nodes: bodies, headers, endpoints.

A real router in front of real mock nodes (and, for odd headers, an in-process upstream
that records whole requests). Which node answers (weights, tiers, fallbacks, aliases,
failover) is tested in process in tests/proxy/test_routing.py.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.support import (
    FLASH,
    GEMINI_BODY,
    MockNodes,
    Routers,
    chat_body,
    node_entry,
    routes_yaml,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_nodes")]

A, B, KEYED = "node62", "node63", "node65"
NODE_KEY = "node65-secret-key"
PREFIXES = ("/v1", "/api/v1", "/gemini/v1", "/v1/gemini", "/gemini")


MOCK_NODES = {A: (), B: (), KEYED: ("--api-key", NODE_KEY)}


def route_table(mock_nodes: MockNodes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The module's routes.yaml as (nodes, models): FLASH on node62 then node63, and a
    model on the node that wants a key. `X-Mock-Node` names the mock that answered."""
    url = {name: mock_nodes[name].url for name in (A, B, KEYED)}
    entries: dict[str, Any] = {
        A: node_entry(url[A]),
        B: node_entry(url[B]),
        KEYED: node_entry(url[KEYED], api_key="${ROUTER_TEST_NODE_KEY}"),
    }
    models: dict[str, Any] = {
        FLASH: {"backends": [{"node": A, "priority": 0}, {"node": B, "priority": 1}]},
        "keyed": {"backends": [{"node": KEYED}]},
    }
    return entries, models


@pytest.fixture(scope="module")
def base(mock_nodes: MockNodes, routers: Routers) -> str:
    """The URL of the module's router (see `route_table`)."""
    config = routes_yaml(*route_table(mock_nodes))
    return routers.get(config, env={"ROUTER_TEST_NODE_KEY": NODE_KEY}).base_url


async def post_chat(
    session: aiohttp.ClientSession, base: str, body: object, path: str = "/v1/chat/completions"
) -> tuple[int, Any, bytes]:
    async with session.post(base + path, json=body) as resp:
        return resp.status, resp.headers, await resp.read()


async def headers_node62_got(
    mock_nodes: MockNodes, base: str, session: aiohttp.ClientSession, headers: dict[str, str]
) -> dict[str, str]:
    """The headers node62 received (lowercased) for a chat request sent with `headers`."""
    async with session.post(
        f"{base}/v1/chat/completions", json=chat_body(FLASH), headers=headers
    ) as r:
        assert r.status == 200
    seen = mock_nodes[A].last_request()
    assert seen is not None
    return {k.lower(): v for k, v in seen["headers"].items()}


# --- bodies -----------------------------------------------------------------------------


async def test_body_is_forwarded_byte_for_byte(mock_nodes, base, session):
    raw = (
        b'{ "messages" : [ {"role":"user","content":"h\\u00e9llo \xe2\x9c\x93"} ],\n'
        b'  "model":"gemini-2.5-flash", "temperature": 0.70, "stream": false,'
        b' "extra": {"z": 1, "a": [1.0, 2e3]} }'
    )
    headers = {"Content-Type": "application/json"}
    async with session.post(f"{base}/v1/chat/completions", data=raw, headers=headers) as resp:
        assert resp.status == 200
    seen = mock_nodes[A].last_request()
    assert seen is not None
    assert seen["body_sha256"] == hashlib.sha256(raw).hexdigest()
    assert seen["body_len"] == len(raw)

    gemini_raw = b'{"contents": [ {"role": "user", "parts": [{"text": "x"}]} ], "z": 0.10}'
    async with session.post(
        f"{base}/v1beta/models/{FLASH}:generateContent", data=gemini_raw, headers=headers
    ) as resp:
        assert resp.status == 200
    seen = mock_nodes[A].last_request()
    assert seen is not None and seen["body_sha256"] == hashlib.sha256(gemini_raw).hexdigest()


async def test_a_30_mb_base64_body_reaches_the_node_intact(mock_nodes, base, session):
    image = base64.b64encode(os.urandom(22_500_000)).decode()  # 30,000,000 characters
    url = f"data:image/png;base64,{image}"
    content = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": url}]
    raw = orjson.dumps({"model": FLASH, "messages": [{"role": "user", "content": content}]})
    assert len(raw) > 30_000_000
    headers = {"Content-Type": "application/json"}
    upload = io.BytesIO(raw)  # raw bytes this large would make aiohttp warn
    async with session.post(f"{base}/v1/chat/completions", data=upload, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        await resp.read()
    seen = mock_nodes[A].last_request()
    assert seen is not None
    assert seen["body_len"] == len(raw)
    assert seen["body_sha256"] == hashlib.sha256(raw).hexdigest()


@pytest.fixture
async def capture(aiohttp_server: Any) -> Any:
    """An in-process upstream that records whole requests and answers with odd headers."""
    seen: list[dict[str, Any]] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(
            {
                "path": request.path,
                "query": dict(request.query),
                "headers": dict(request.headers),
                "body": await request.read(),
            }
        )
        completion = {"id": "x", "object": "chat.completion", "choices": []}
        headers = {
            "Keep-Alive": "timeout=99",
            "Proxy-Authenticate": "Basic realm=node",
            "Trailer": "X-Checksum",
            "X-Upstream-Custom": "kept",
        }
        return web.json_response(completion, headers=headers)

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", answer)
    server = await aiohttp_server(app)
    return server, seen


async def test_backend_model_renames_only_the_model(capture, routers, session):
    server, seen = capture
    config = routes_yaml(
        {"cap": node_entry(f"http://127.0.0.1:{server.port}")},
        {FLASH: {"backends": [{"node": "cap", "model": "gemini-2.5-flash-001"}]}},
    )
    base = routers.get(config).base_url
    document = {
        "messages": [{"role": "user", "content": "hi"}],
        "model": FLASH,
        "temperature": 0.25,
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "stream": False,
    }
    async with session.post(f"{base}/v1/chat/completions", json=document) as resp:
        assert resp.status == 200
    assert seen[-1]["path"] == "/v1/chat/completions"
    assert orjson.loads(seen[-1]["body"]) == {**document, "model": "gemini-2.5-flash-001"}

    raw = orjson.dumps(GEMINI_BODY)
    async with session.post(
        f"{base}/v1beta/models/{FLASH}:streamGenerateContent?alt=sse", data=raw
    ) as resp:
        assert resp.status == 200
    assert seen[-1]["path"] == "/v1beta/models/gemini-2.5-flash-001:streamGenerateContent"
    assert seen[-1]["query"] == {"alt": "sse"}
    assert seen[-1]["body"] == raw


# --- headers ----------------------------------------------------------------------------


async def test_client_credentials_stay_and_the_node_key_is_sent(mock_nodes, base, session):
    client_headers = {"Authorization": "Bearer client-secret", "x-goog-api-key": "client-goog"}
    for path, body in (
        ("/v1/chat/completions", chat_body("keyed")),
        ("/v1beta/models/keyed:generateContent", GEMINI_BODY),
    ):
        async with session.post(base + path, json=body, headers=client_headers) as resp:
            assert resp.status == 200, await resp.text()
        seen = mock_nodes[KEYED].last_request()
        assert seen is not None
        headers = {k.lower(): v for k, v in seen["headers"].items()}
        assert headers["authorization"] == f"Bearer {NODE_KEY}"
        assert "x-goog-api-key" not in headers
        assert not any("client-" in v for v in headers.values()), headers
    assert mock_nodes[KEYED].stats()["unauthorized"] == 0

    # A node without api_key gets no Authorization at all.
    assert "authorization" not in await headers_node62_got(
        mock_nodes, base, session, client_headers
    )


async def test_request_id_is_taken_or_generated_and_forwarded(mock_nodes, base, session):
    given = {"X-Request-ID": "client-req-42"}
    for stream in (False, True):
        async with session.post(
            f"{base}/v1/chat/completions", json=chat_body(FLASH, stream=stream), headers=given
        ) as resp:
            assert resp.status == 200
            assert resp.headers["X-Request-ID"] == "client-req-42"
            await resp.read()
        seen = mock_nodes[A].last_request()
        assert seen is not None
        assert {k.lower(): v for k, v in seen["headers"].items()}["x-request-id"] == "client-req-42"

    generated = set()
    for _ in range(2):
        async with session.post(f"{base}/v1/chat/completions", json=chat_body(FLASH)) as resp:
            assert resp.status == 200
            rid = resp.headers["X-Request-ID"]
        seen = mock_nodes[A].last_request()
        assert seen is not None
        assert {k.lower(): v for k, v in seen["headers"].items()}["x-request-id"] == rid
        assert len(rid) >= 8
        generated.add(rid)
    assert len(generated) == 2

    for path in ("/healthz", "/readyz", "/v1/models"):
        async with session.get(base + path, headers=given) as resp:
            assert resp.headers["X-Request-ID"] == "client-req-42", path


async def test_hop_by_hop_request_headers_are_dropped(mock_nodes, base, session):
    headers = {
        "Connection": "keep-alive, X-Hop-Test",
        "X-Hop-Test": "named-in-connection",
        "Keep-Alive": "timeout=5",
        "TE": "trailers",
        "Trailer": "X-Checksum",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
        "X-Custom": "kept",
    }
    got = await headers_node62_got(mock_nodes, base, session, headers)
    assert got.get("x-custom") == "kept"
    for name in ("keep-alive", "te", "trailer", "proxy-authorization"):
        assert name not in got, (name, got)
    assert "x-hop-test" not in got, got  # RFC 9110 7.6.1: fields named in Connection too


async def test_only_allowed_node_response_headers_reach_the_client(capture, routers, session):
    server, _ = capture
    config = routes_yaml(
        {"cap": node_entry(f"http://127.0.0.1:{server.port}")},
        {FLASH: {"backends": [{"node": "cap"}]}},
    )
    base = routers.get(config).base_url
    async with session.post(f"{base}/v1/chat/completions", json=chat_body(FLASH)) as resp:
        assert resp.status == 200
        # A node's own headers stay at the router (issue 27: an allowlist, not a denylist).
        for name in ("X-Upstream-Custom", "Keep-Alive", "Proxy-Authenticate", "Trailer"):
            assert name not in resp.headers, name
        await resp.read()


# --- endpoints --------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", PREFIXES)
async def test_chat_completions_under_every_prefix(mock_nodes, base, session, prefix):
    code, _, body = await post_chat(
        session, base, chat_body(FLASH), path=f"{prefix}/chat/completions"
    )
    assert code == 200, body
    answer = orjson.loads(body)
    assert answer["object"] == "chat.completion"
    assert answer["choices"][0]["message"]["content"].startswith("Hello from node62.")
    seen = mock_nodes[A].last_request()
    assert seen is not None and seen["path"] == "/v1/chat/completions"


@pytest.mark.parametrize("version", ["v1beta", "v1", "v1alpha"])
async def test_gemini_endpoints(mock_nodes, base, session, version):
    root = f"{base}/{version}/models/{FLASH}"
    async with session.post(f"{root}:generateContent", json=GEMINI_BODY) as resp:
        assert resp.status == 200
        answer = await resp.json()
    assert answer["candidates"][0]["content"]["parts"][0]["text"].startswith("Hello from node62.")
    assert "usageMetadata" in answer
    seen = mock_nodes[A].last_request()
    assert seen is not None and seen["path"] == f"/{version}/models/{FLASH}:generateContent"

    async with session.post(
        f"{root}:streamGenerateContent?alt=sse&key=client-key", json=GEMINI_BODY
    ) as resp:
        assert resp.status == 200
        assert resp.content_type == "text/event-stream"
        text = await resp.text()
    assert text.startswith("data: ") and "usageMetadata" in text
    seen = mock_nodes[A].last_request()
    assert seen is not None
    assert seen["path"] == f"/{version}/models/{FLASH}:streamGenerateContent"
    assert seen["query"] == {"alt": "sse"}  # alt=sse reaches the node, the client's key does not

    async with session.post(f"{root}:countTokens", json=GEMINI_BODY) as resp:
        assert resp.status == 200
        assert await resp.json() == {"totalTokens": len("hello") // 4 + 1}


async def test_healthz_and_readyz(mock_nodes, base, session):
    for path in ("/healthz", "/readyz"):
        async with session.get(base + path) as resp:
            assert resp.status == 200, path
            assert resp.content_type == "application/json"
            await resp.read()
