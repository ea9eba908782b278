"""The router in front of real mock nodes: selection, failover, bodies, headers, endpoints.

Mock nodes are started once for the module (faults and counters reset before every test);
a router is started per distinct routes.yaml and reused. Failover tests put the failing
node in priority tier 0 and the healthy one in tier 1, so the order of attempts is fixed.
"""

from __future__ import annotations

import asyncio
import base64
import collections
import hashlib
import io
import os
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

from tests.support import (
    GEMINI_BODY,
    MockNodes,
    Routers,
    chat_body,
    closed_port_url,
    node_entry,
    routes_yaml,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_nodes")]

A, B, C, KEYED = "node62", "node63", "node64", "node65"
NODE_KEY = "node65-secret-key"
PREFIXES = ("/v1", "/api/v1", "/gemini/v1", "/v1/gemini", "/gemini")
FLASH = "gemini-2.5-flash"


MOCK_NODES = {A: (), B: (), C: (), KEYED: ("--api-key", NODE_KEY)}


def route_table(mock_nodes: MockNodes) -> tuple[dict[str, Any], dict[str, Any]]:
    """The module's routes.yaml as (nodes, models).

    Every scenario has models (and, where a failure could change a node's health, node
    names) of its own, so one router serves the whole module. Several node names may point
    at the same mock node; `X-Mock-Node` names the mock that answered.
    """
    url = {name: mock_nodes[name].url for name in (A, B, C, KEYED)}
    entries: dict[str, Any] = {
        A: node_entry(url[A]),
        B: node_entry(url[B]),
        C: node_entry(url[C]),
        KEYED: node_entry(url[KEYED], api_key="${ROUTER_TEST_NODE_KEY}"),
        "dead": node_entry(closed_port_url()),
        "slow62": node_entry(url[A], timeouts={"first_byte": 0.3}),
        "auth401": node_entry(url[A]),  # a 401/403 disables a node: one name per test
        "auth403": node_entry(url[A]),
    }
    for retries in (0, 1):
        for name in (A, B, C):
            entries[f"r{retries}-{name}"] = node_entry(url[name], retries=retries)

    def tiers(*names: str) -> dict[str, Any]:
        return {"backends": [{"node": n, "priority": i} for i, n in enumerate(names)]}

    models: dict[str, Any] = {
        "gemini-*": {"backends": [{"node": C}]},
        FLASH: {"aliases": ["gemini", "gemini-fast"], **tiers(A, B)},
        "gemini-2.5-pro": {"backends": [{"node": B}]},
        "weighted": {"backends": [{"node": A, "weight": 3}, {"node": B, "weight": 1}]},
        "two-in-tier-0": {
            "backends": [
                {"node": A, "priority": 0},
                {"node": C, "priority": 0},
                {"node": B, "priority": 1},
            ]
        },
        "primary": {"backends": [{"node": A}], "fallbacks": ["secondary"]},
        "secondary": {"backends": [{"node": B}]},
        "dead-first": tiers("dead", B),
        "slow-first": tiers("slow62", B),
        "auth-401": tiers("auth401", B),
        "auth-403": tiers("auth403", B),
        "retries-0": tiers("r0-node62", "r0-node63", "r0-node64"),  # per-node retries
        "retries-1": tiers("r1-node62", "r1-node63", "r1-node64"),
        "retries-2": tiers(A, B, C),  # defaults.retries (2)
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


# --- selection --------------------------------------------------------------------------


async def test_weights_show_in_the_traffic_split(mock_nodes, base, session):
    total, workers = 2000, 16
    counts: collections.Counter[str] = collections.Counter()
    pending = iter(range(total))

    async def worker() -> None:
        for _ in pending:
            body = chat_body("weighted")
            async with session.post(f"{base}/v1/chat/completions", json=body) as r:
                assert r.status == 200
                await r.read()
                counts[r.headers["X-Mock-Node"]] += 1

    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(workers))), 40)
    assert sum(counts.values()) == total
    share = counts[A] / total
    assert 0.72 <= share <= 0.78, counts
    assert mock_nodes[A].requests() == counts[A] and mock_nodes[B].requests() == counts[B]


async def test_tier_one_serves_only_when_tier_zero_has_nothing_left(mock_nodes, base, session):
    model = "two-in-tier-0"
    for _ in range(10):
        status, headers, _ = await post_chat(session, base, chat_body(model))
        assert status == 200 and headers["X-Mock-Node"] in (A, C)
    assert mock_nodes[B].requests() == 0
    # One tier-0 node failing: its tier-0 sibling answers; tier 1 is still not touched.
    mock_nodes[A].faults(status=500)
    for _ in range(6):
        status, headers, _ = await post_chat(session, base, chat_body(model))
        assert status == 200 and headers["X-Mock-Node"] == C
    assert mock_nodes[B].requests() == 0
    # Both tier-0 nodes failing: tier 1 answers.
    mock_nodes[C].faults(status=503)
    status, headers, _ = await post_chat(session, base, chat_body(model))
    assert status == 200 and headers["X-Mock-Node"] == B
    assert mock_nodes[B].requests() == 1


async def test_fallback_model_answers_when_every_backend_failed(mock_nodes, base, session):
    status, headers, _ = await post_chat(session, base, chat_body("primary"))
    assert status == 200 and headers["X-Mock-Node"] == A
    assert mock_nodes[B].requests() == 0  # a model that answers never reaches its fallback

    mock_nodes[A].faults(status=500)
    status, headers, _ = await post_chat(session, base, chat_body("primary"))
    assert status == 200 and headers["X-Mock-Node"] == B
    assert mock_nodes[A].requests() == 2 and mock_nodes[B].requests() == 1


async def test_fallback_node_is_asked_for_the_fallback_model(mock_nodes, base, session):
    """A fallback is another model: its node must be asked for that model, not the first."""
    mock_nodes[A].faults(status=500)
    status, headers, _ = await post_chat(session, base, chat_body("primary"))
    assert status == 200 and headers["X-Mock-Node"] == B
    seen = mock_nodes[B].last_request()
    assert seen is not None
    assert seen["model"] == "secondary"

    path = "/v1beta/models/primary:generateContent"
    async with session.post(base + path, json=GEMINI_BODY) as resp:
        assert resp.status == 200 and resp.headers["X-Mock-Node"] == B
    seen = mock_nodes[B].last_request()
    assert seen is not None
    assert seen["path"] == "/v1beta/models/secondary:generateContent"


@pytest.mark.parametrize(
    ("model", "node"),
    [
        (FLASH, A),
        ("gemini", A),  # alias
        ("gemini-fast", A),  # an alias that the glob also matches: the alias wins
        ("gemini-2.5-pro", B),  # exact name listed after the glob still wins
        ("gemini-3.0-pro", C),  # glob
        ("gemini-2.5-flash-lite", C),  # a longer name is not the exact model
    ],
)
async def test_aliases_and_globs_exact_name_wins(base, session, model, node):
    status, headers, _ = await post_chat(session, base, chat_body(model))
    assert status == 200 and headers["X-Mock-Node"] == node
    async with session.post(
        f"{base}/v1beta/models/{model}:generateContent", json=GEMINI_BODY
    ) as resp:
        assert resp.status == 200 and resp.headers["X-Mock-Node"] == node


async def test_models_lists_models_and_aliases_not_globs(mock_nodes, base, session):
    _, models = route_table(mock_nodes)
    expected = sorted(
        [name for name in models if "*" not in name]
        + [alias for route in models.values() for alias in route.get("aliases", [])]
    )
    assert "gemini" in expected and "gemini-*" not in expected
    for prefix in PREFIXES:
        async with session.get(f"{base}{prefix}/models") as resp:
            assert resp.status == 200, prefix
            assert resp.content_type == "application/json"
            listing = await resp.json()
        assert listing["object"] == "list"
        ids = [m["id"] for m in listing["data"]]
        assert sorted(ids) == expected
        for entry in listing["data"]:
            assert entry["object"] == "model"
            assert isinstance(entry["created"], int) and isinstance(entry["owned_by"], str)


# --- failover ---------------------------------------------------------------------------

FAILOVER_STATUSES = (500, 502, 503, 429, 408, 404, 401, 403)


@pytest.mark.parametrize("status", FAILOVER_STATUSES)
async def test_failover_on_status(mock_nodes, base, session, status):
    # A 401 also takes the node out of rotation (its key is wrong): a node of its own.
    model = f"auth-{status}" if status in (401, 403) else FLASH
    mock_nodes[A].faults(status=status)
    code, headers, body = await post_chat(session, base, chat_body(model))
    assert code == 200, body
    assert headers["X-Mock-Node"] == B
    assert mock_nodes[A].requests() == 1 and mock_nodes[B].requests() == 1


async def test_failover_on_connect_error(mock_nodes, base, session):
    for _ in range(2):
        code, headers, body = await post_chat(session, base, chat_body("dead-first"))
        assert code == 200, body
        assert headers["X-Mock-Node"] == B
    assert mock_nodes[B].requests() == 2


async def test_failover_on_timeout_before_the_first_byte(mock_nodes, base, session):
    mock_nodes[A].faults(first_byte_delay=3)
    loop = asyncio.get_running_loop()
    started = loop.time()
    code, headers, body = await post_chat(session, base, chat_body("slow-first"))
    elapsed = loop.time() - started
    assert code == 200, body
    assert headers["X-Mock-Node"] == B
    assert 0.25 <= elapsed < 2.0, elapsed  # gave up on A after its first_byte timeout
    assert mock_nodes[A].requests() == 1 and mock_nodes[B].requests() == 1


async def test_failover_when_the_node_drops_the_connection_before_any_byte(
    mock_nodes, base, session
):
    mock_nodes[A].faults(cut_after=0)
    code, headers, body = await post_chat(session, base, chat_body(FLASH, stream=True))
    assert code == 200, body
    assert headers["X-Mock-Node"] == B
    assert body.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize("retries", [0, 1, 2])
async def test_retries_bound_the_extra_attempts(mock_nodes, base, session, retries):
    for name in (A, B, C):
        mock_nodes[name].faults(status=500)
    code, _, body = await post_chat(session, base, chat_body(f"retries-{retries}"))
    assert code == 502, body
    tried = [mock_nodes[name].requests() for name in (A, B, C)]
    assert tried == [1] * (retries + 1) + [0] * (2 - retries)


async def test_a_400_from_a_node_goes_straight_back(mock_nodes, base, session):
    mock_nodes[A].faults(status=400)
    code, headers, body = await post_chat(session, base, chat_body(FLASH))
    assert code == 400
    assert headers["X-Mock-Node"] == A
    error = orjson.loads(body)
    assert error["success"] is False
    assert error["error"]["code"] == "api_error"
    assert error["error"]["message"] == "injected fault"  # the node's own body
    assert mock_nodes[A].requests() == 1 and mock_nodes[B].requests() == 0


async def test_no_retry_once_a_stream_byte_reached_the_client(mock_nodes, base, session):
    mock_nodes[A].faults(cut_after=3)
    code, headers, body = await post_chat(session, base, chat_body(FLASH, stream=True))
    assert code == 200 and headers["X-Mock-Node"] == A
    events = [e for e in body.split(b"\n\n") if e]
    assert len(events) == 4
    assert orjson.loads(events[-1].removeprefix(b"data: "))["success"] is False
    assert mock_nodes[A].requests() == 1
    assert mock_nodes[B].requests() == 0


async def test_no_retry_once_a_plain_body_byte_reached_the_client(mock_nodes, base, session):
    mock_nodes[A].faults(
        cut_after=1
    )  # a non-stream answer: half the body, then a dropped connection
    async with session.post(f"{base}/v1/chat/completions", json=chat_body(FLASH)) as resp:
        assert resp.status == 200 and resp.headers["X-Mock-Node"] == A
        with pytest.raises(aiohttp.ClientPayloadError):
            await resp.read()  # a short read, never a body that looks complete
    assert mock_nodes[B].requests() == 0


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
    async with session.post(
        f"{base}/v1/chat/completions", json=chat_body(FLASH), headers=client_headers
    ) as resp:
        assert resp.status == 200
    seen = mock_nodes[A].last_request()
    assert seen is not None
    assert "authorization" not in {k.lower() for k in seen["headers"]}


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
    async with session.post(
        f"{base}/v1/chat/completions", json=chat_body(FLASH), headers=headers
    ) as resp:
        assert resp.status == 200
    seen = mock_nodes[A].last_request()
    assert seen is not None
    got = {k.lower(): v for k, v in seen["headers"].items()}
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
