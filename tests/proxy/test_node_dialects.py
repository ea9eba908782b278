"""Nodes that declare the dialects they speak (issue 28 item 2), in process against the
fake transport: a request goes to the nodes that speak its dialect when the model has
some (translation is for the others), a node's key goes the way its dialect expects, and
a request no node of the model can take, natively or translated, answers 400 in the
client's dialect before anything is admitted or sent."""

from __future__ import annotations

from typing import Any

import pytest
from structlog.testing import capture_logs

from router.config.loader import parse_config
from router.server.app import Options, create_app
from tests.support import GEMINI_BODY, chat_body, eventually, node_entry, routes_yaml
from tests.support.fake_transport import FakeNodes, Script

GEMINI_PATH = "/v1beta/models/m:generateContent"
NODES = {
    "vllm": node_entry("http://127.0.0.1:9/vllm", api_key="ko", dialect="openai"),
    "google": node_entry("http://127.0.0.1:9/google", api_key="kg", dialect="gemini"),
    "both": node_entry("http://127.0.0.1:9/both", api_key="kb"),
}
ANSWER = Script(chunks=(b'{"ok": true}',))


async def start(aiohttp_client: Any, fake: FakeNodes, models: dict[str, Any], **extra: Any) -> Any:
    text = routes_yaml(NODES, models, **extra)
    return await aiohttp_client(create_app(parse_config(text), Options(), transports=fake))


def backends(*names: str) -> dict[str, Any]:
    return {"backends": [{"node": name} for name in names]}


async def test_each_dialect_goes_only_to_nodes_that_speak_it(aiohttp_client: Any) -> None:
    fake = FakeNodes({name: ANSWER for name in NODES})
    client = await start(aiohttp_client, fake, {"m": backends("vllm", "google")})
    for _ in range(4):  # weighted round robin would alternate: the dialect decides instead
        assert (await client.post("/v1/chat/completions", json=chat_body("m"))).status == 200
        assert (await client.post(GEMINI_PATH, json=GEMINI_BODY)).status == 200
    asked = [(r.node, r.path) for r in fake.received]
    assert asked == [("vllm", "/vllm/v1/chat/completions"), ("google", f"/google{GEMINI_PATH}")] * 4


@pytest.mark.parametrize(
    ("node", "path", "body", "credential"),
    [
        ("vllm", "/v1/chat/completions", chat_body("m"), ("Authorization", "Bearer ko")),
        ("google", GEMINI_PATH, GEMINI_BODY, ("x-goog-api-key", "kg")),
        ("both", GEMINI_PATH, GEMINI_BODY, ("Authorization", "Bearer kb")),  # as before
    ],
)
async def test_a_nodes_key_goes_the_way_its_dialect_expects(
    aiohttp_client: Any, node: str, path: str, body: Any, credential: tuple[str, str]
) -> None:
    fake = FakeNodes({node: ANSWER})
    client = await start(aiohttp_client, fake, {"m": backends(node)})
    sent = {"Authorization": "Bearer client", "x-goog-api-key": "client"}  # auth is off
    assert (await client.post(path, json=body, headers=sent)).status == 200
    (received,) = fake.received
    keys = [(k, v) for k, v in received.headers if k.lower() in ("authorization", "x-goog-api-key")]
    assert keys == [credential]  # the client's own credentials never reach a node


async def test_a_request_no_node_can_take_is_400_in_its_dialect(aiohttp_client: Any) -> None:
    """Legacy completions have no Gemini counterpart: a Gemini-only model cannot serve them."""
    fake = FakeNodes({"google": ANSWER})
    client = await start(aiohttp_client, fake, {"m": backends("google")})
    with capture_logs() as logs:
        body = {"model": "m", "prompt": "hello"}
        response = await client.post("/v1/completions", json=body)
        assert response.status == 400
        error = (await response.json())["error"]
        assert await eventually(lambda: any(e["event"] == "access" for e in logs))
    assert error["code"] == "dialect_not_served" and error["type"] == "invalid_request_error"
    assert "'m'" in error["message"] and "gemini" in error["message"]
    assert fake.received == []  # no node was asked
    (access,) = [e for e in logs if e["event"] == "access"]
    assert access["model"] == "m" and access["attempts"] == []


async def test_a_fallback_that_speaks_the_dialect_serves_it(aiohttp_client: Any) -> None:
    fake = FakeNodes({"vllm": ANSWER, "google": ANSWER})
    models = {"m": {**backends("google"), "fallbacks": ["f"]}, "f": backends("vllm")}
    client = await start(aiohttp_client, fake, models)
    body = {"model": "m", "prompt": "hello"}  # legacy completions: not translated
    assert (await client.post("/v1/completions", json=body)).status == 200
    assert fake.posted_to() == ["vllm"]  # the model's own node was never tried


async def test_an_unserved_request_costs_no_admission(aiohttp_client: Any) -> None:
    keys = [{"name": "team", "key": "sk-team", "credits": 1, "rpm": 1}]
    fake = FakeNodes({"google": ANSWER})
    client = await start(aiohttp_client, fake, {"m": backends("google")}, keys=keys)
    auth = {"Authorization": "Bearer sk-team"}
    for _ in range(3):  # rpm 1: an admitted request would use it up
        body = {"model": "m", "prompt": "hello"}
        assert (await client.post("/v1/completions", json=body, headers=auth)).status == 400
    goog = {"x-goog-api-key": "sk-team"}
    assert (await client.post(GEMINI_PATH, json=GEMINI_BODY, headers=goog)).status == 200
