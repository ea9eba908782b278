"""Which node answers: weights, tiers, fallbacks, aliases and globs, and failover, in
process against the fake transport.

One routes.yaml serves the module (`CONFIG`); each test scripts its nodes. Failover tests
put the failing node in priority tier 0 and the healthy one in tier 1, so the order of
attempts is fixed. Each node answers with its own name (`names`), so a test reads which
node answered from the body. What crosses the wire to a real node (bodies byte for byte,
headers, every endpoint) is tested in tests/integration/proxy/test_routing.py.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

import aiohttp
import orjson
import pytest

from tests.support import FLASH, GEMINI_BODY, chat_body, node_entry, routes_yaml
from tests.support.fake_transport import (
    ROLE,
    SSE,
    FakeNodes,
    Script,
    answer_json,
    answer_stream,
    openai_chunk,
)

A, B, C = "node62", "node63", "node64"
PREFIXES = ("/v1", "/api/v1", "/gemini/v1", "/v1/gemini", "/gemini")


def tiers(*names: str) -> dict[str, Any]:
    return {"backends": [{"node": n, "priority": i} for i, n in enumerate(names)]}


NODES = [A, B, C, "dead", "slow62", "auth401", "auth403"] + [
    f"r{retries}-{name}" for retries in (0, 1) for name in (A, B, C)
]
MODELS: dict[str, Any] = {
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
    "auth-401": tiers("auth401", B),  # a 401/403 disables a node: one name per test
    "auth-403": tiers("auth403", B),
    "retries-0": tiers("r0-node62", "r0-node63", "r0-node64"),  # per-node retries
    "retries-1": tiers("r1-node62", "r1-node63", "r1-node64"),
    "retries-2": tiers(A, B, C),  # defaults.retries (2)
}


def _entry(name: str) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if name == "slow62":
        extra["timeouts"] = {"first_byte": 0.3}
    if name.startswith("r0-") or name.startswith("r1-"):
        extra["retries"] = int(name[1])
    return node_entry(f"http://127.0.0.1:9/{name}", **extra)


CONFIG = routes_yaml({name: _entry(name) for name in NODES}, MODELS)


def named(name: str, **script: Any) -> Script:
    """A node that answers (when it does) with its own name as the message."""
    return Script(chunks=(answer_json(name),), **script)


def names() -> FakeNodes:
    """Every node answering with its name; a test changes the scripts it needs."""
    return FakeNodes({name: named(name) for name in NODES})


async def ask(client: Any, model: str, **body: Any) -> tuple[int, bytes]:
    response = await client.post("/v1/chat/completions", json=chat_body(model, **body))
    return response.status, await response.read()


def answered_by(body: bytes) -> str:
    return str(orjson.loads(body)["choices"][0]["message"]["content"])


# --- selection --------------------------------------------------------------------------


async def test_weights_show_in_the_traffic_split(router_app):
    fake = names()
    client = await router_app(CONFIG, fake)
    total = 2000
    replies = await asyncio.gather(*(ask(client, "weighted") for _ in range(total)))
    counts = collections.Counter(answered_by(body) for status, body in replies if status == 200)
    assert sum(counts.values()) == total
    assert 0.72 <= counts[A] / total <= 0.78, counts
    assert collections.Counter(fake.posted_to()) == counts


async def test_tier_one_serves_only_when_tier_zero_has_nothing_left(router_app):
    fake = names()
    client = await router_app(CONFIG, fake)
    for _ in range(10):
        status, body = await ask(client, "two-in-tier-0")
        assert status == 200 and answered_by(body) in (A, C)
    # One tier-0 node failing: its tier-0 sibling answers; tier 1 is still not touched.
    fake.scripts[A] = Script(status=500)
    for _ in range(6):
        status, body = await ask(client, "two-in-tier-0")
        assert status == 200 and answered_by(body) == C
    assert B not in fake.posted_to()
    # Both tier-0 nodes failing: tier 1 answers.
    fake.scripts[C] = Script(status=503)
    status, body = await ask(client, "two-in-tier-0")
    assert status == 200 and answered_by(body) == B


async def test_fallback_model_answers_when_every_backend_failed(router_app):
    fake = names()
    client = await router_app(CONFIG, fake)
    status, body = await ask(client, "primary")
    assert status == 200 and answered_by(body) == A  # a model that answers keeps it
    fake.scripts[A] = Script(status=500)
    status, body = await ask(client, "primary")
    assert status == 200 and answered_by(body) == B
    assert fake.posted_to() == [A, A, B]


async def test_fallback_node_is_asked_for_the_fallback_model(router_app):
    """A fallback is another model: its node must be asked for that model, not the first."""
    fake = names()
    fake.scripts[A] = Script(status=500)
    client = await router_app(CONFIG, fake)
    status, _ = await ask(client, "primary")
    assert status == 200
    assert orjson.loads(fake.received[-1].body)["model"] == "secondary"
    response = await client.post("/v1beta/models/primary:generateContent", json=GEMINI_BODY)
    assert response.status == 200
    assert fake.received[-1].node == B
    assert fake.received[-1].path == "/node63/v1beta/models/secondary:generateContent"


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
async def test_aliases_and_globs_exact_name_wins(router_app, model, node):
    fake = names()
    client = await router_app(CONFIG, fake)
    status, body = await ask(client, model)
    assert status == 200 and answered_by(body) == node
    path = f"/v1beta/models/{model}:generateContent"
    assert (await client.post(path, json=GEMINI_BODY)).status == 200
    assert fake.posted_to() == [node, node]


async def test_models_lists_models_and_aliases_not_globs(router_app):
    config = routes_yaml(
        {name: _entry(name) for name in NODES}, MODELS, server={"prefixes": list(PREFIXES)}
    )
    client = await router_app(config, names())
    expected = sorted(
        [name for name in MODELS if "*" not in name]
        + [alias for route in MODELS.values() for alias in route.get("aliases", [])]
    )
    assert "gemini" in expected and "gemini-*" not in expected
    for prefix in PREFIXES:
        response = await client.get(f"{prefix}/models")
        assert response.status == 200, prefix
        assert response.content_type == "application/json"
        listing = await response.json()
        assert listing["object"] == "list"
        assert sorted(m["id"] for m in listing["data"]) == expected
        for entry in listing["data"]:
            assert entry["object"] == "model"
            assert isinstance(entry["created"], int) and isinstance(entry["owned_by"], str)


# --- failover ---------------------------------------------------------------------------

FAILOVER_STATUSES = (500, 502, 503, 429, 408, 404, 401, 403)


@pytest.mark.parametrize("status", FAILOVER_STATUSES)
async def test_failover_on_status(router_app, status):
    # A 401 also takes the node out of rotation (its key is wrong): a node of its own.
    model, first = (f"auth-{status}", f"auth{status}") if status in (401, 403) else (FLASH, A)
    fake = names()
    fake.scripts[first] = Script(status=status)
    client = await router_app(CONFIG, fake)
    code, body = await ask(client, model)
    assert code == 200 and answered_by(body) == B, body
    assert fake.posted_to() == [first, B]


async def test_failover_on_connect_error(router_app):
    fake = names()
    fake.scripts["dead"] = Script(connect_fails=True)
    client = await router_app(CONFIG, fake)
    for _ in range(2):
        code, body = await ask(client, "dead-first")
        assert code == 200 and answered_by(body) == B, body
    assert fake.posted_to().count(B) == 2


async def test_failover_on_timeout_before_the_first_byte(router_app):
    fake = names()
    fake.scripts["slow62"] = named("slow62", head_delay=3)
    client = await router_app(CONFIG, fake)
    loop = asyncio.get_running_loop()
    started = loop.time()
    code, body = await ask(client, "slow-first")
    elapsed = loop.time() - started
    assert code == 200 and answered_by(body) == B, body
    assert 0.25 <= elapsed < 2.0, elapsed  # gave up on slow62 after its first_byte timeout
    assert fake.posted_to() == ["slow62", B]
    assert fake.cancelled == ["slow62"]


async def test_failover_when_the_node_drops_the_connection_before_any_byte(router_app):
    fake = names()
    fake.scripts[A] = Script(headers=SSE, chunks=(), fail_after=0)
    fake.scripts[B] = Script(headers=SSE, chunks=answer_stream(B))
    client = await router_app(CONFIG, fake)
    code, body = await ask(client, FLASH, stream=True)
    assert code == 200, body
    assert body.endswith(b"data: [DONE]\n\n") and f'"content":"{B}"'.encode() in body
    assert fake.posted_to() == [A, B]


@pytest.mark.parametrize("retries", [0, 1, 2])
async def test_retries_bound_the_extra_attempts(router_app, retries):
    fake = FakeNodes({name: Script(status=500) for name in NODES})
    client = await router_app(CONFIG, fake)
    code, body = await ask(client, f"retries-{retries}")
    assert code == 502, body
    assert len(fake.posted_to()) == retries + 1


async def test_a_400_from_a_node_goes_straight_back(router_app):
    error = {"success": False, "error": {"code": "api_error", "message": "injected fault"}}
    fake = names()
    fake.scripts[A] = Script(status=400, chunks=(orjson.dumps(error),))
    client = await router_app(CONFIG, fake)
    code, body = await ask(client, FLASH)
    assert code == 400
    assert orjson.loads(body) == error  # the node's own body
    assert fake.posted_to() == [A]


async def test_no_retry_once_a_stream_byte_reached_the_client(router_app):
    part = openai_chunk({"content": "part"})
    fake = names()
    fake.scripts[A] = Script(headers=SSE, chunks=(ROLE, part, part, part), fail_after=3)
    client = await router_app(CONFIG, fake)
    code, body = await ask(client, FLASH, stream=True)
    assert code == 200
    events = [e for e in body.split(b"\n\n") if e]
    assert len(events) == 4
    assert orjson.loads(events[-1].removeprefix(b"data: "))["success"] is False
    assert fake.posted_to() == [A]


async def test_no_retry_once_a_plain_body_byte_reached_the_client(router_app):
    half = answer_json(A)[:20]
    headers = (("Content-Type", "application/json"), ("Content-Length", "400"))
    fake = names()
    fake.scripts[A] = Script(headers=headers, chunks=(half,), fail_after=1)
    client = await router_app(CONFIG, fake)
    response = await client.post("/v1/chat/completions", json=chat_body(FLASH))
    assert response.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()  # a short read, never a body that looks complete
    assert fake.posted_to() == [A]
