"""Issue 17 item 2: a node that compresses its answers must not hide their usage.

The openai SDK sends `Accept-Encoding: gzip, deflate` (httpx's default); a node behind
nginx's `gzip on` compresses when asked. Forwarding the client's header let the node gzip
the answer, the router could not read `usage`, and the request was charged only its
`pre_deduct`. The nodes here are real mock nodes with the `compress` fault: `accepted`
gzips when the request allows it, `always` gzips even when it asked for identity.
"""

from __future__ import annotations

import gzip
import secrets

import aiohttp
import openai
import pytest

from tests.support import GEMINI_BODY, MockNodes, Proc, Routers
from tests.support.billing import (
    FLOW_PRICING,
    JsonlView,
    backend_state,
    billing_config,
    chat,
    expected_cost,
    key_hash,
    new_request_id,
)

pytestmark = pytest.mark.integration

KEY = f"sk-gz-{secrets.token_hex(12)}"
CREDITS = 1000


MOCK_NODES = {"accepted": ("--compress", "accepted"), "always": ("--compress", "always")}


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, mock_nodes: MockNodes, routers: Routers
) -> tuple[Proc, JsonlView]:
    state, view = backend_state("memory", tmp_path_factory.mktemp("gzip-router"), None)
    models = {
        f"gemini-{name}": {"backends": [{"node": name}], "pricing": FLOW_PRICING}
        for name in ("accepted", "always")
    }
    text = billing_config(
        nodes={name: {"url": mock_nodes[name].url} for name in ("accepted", "always")},
        models=models,
        state=state,
        keys=[{"name": "gz", "hash": key_hash(KEY), "credits": CREDITS}],
    )
    return routers.get(text), view


def _client(router: Proc, request_id: str) -> openai.OpenAI:
    return openai.OpenAI(
        api_key=KEY,
        base_url=router.base_url + "/v1",
        max_retries=0,
        default_headers={"X-Request-ID": request_id},
    )


@pytest.mark.parametrize("node", ["accepted", "always"])
@pytest.mark.parametrize("stream", [False, True])
async def test_the_openai_sdk_is_billed_its_usage_by_a_gzipping_node(
    setup: tuple[Proc, JsonlView], mock_nodes: MockNodes, node: str, stream: bool
) -> None:
    router, ledger = setup
    rid = new_request_id()
    body = chat(f"gemini-{node}", stream=stream)
    client = _client(router, rid)
    if stream:
        chunks = list(client.chat.completions.create(**body))
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = client.chat.completions.create(**body).choices[0].message.content or ""
    assert text, "the client got no answer text"
    seen = mock_nodes[node].last_request()
    assert seen is not None
    sent = {name.lower(): value for name, value in seen["headers"].items()}
    assert sent.get("accept-encoding") == "identity", sent
    record = await ledger.settled(rid)
    assert (record["settled_by"], record["charged"]) == (
        "usage",
        expected_cost(FLOW_PRICING, "hello"),
    )


@pytest.mark.parametrize("node", ["accepted", "always"])
async def test_a_gemini_answer_from_a_gzipping_node_is_billed_its_usage(
    setup: tuple[Proc, JsonlView], node: str
) -> None:
    router, ledger = setup
    rid = new_request_id()
    headers = {"x-goog-api-key": KEY, "X-Request-ID": rid, "Accept-Encoding": "gzip"}
    url = f"{router.base_url}/v1beta/models/gemini-{node}:generateContent"
    async with (
        aiohttp.ClientSession(auto_decompress=False) as session,
        session.post(url, json=GEMINI_BODY, headers=headers) as reply,
    ):
        raw = await reply.read()
        encoding = reply.headers.get("Content-Encoding")
    assert reply.status == 200, raw[:200]
    plain = gzip.decompress(raw) if encoding == "gzip" else raw
    assert b"candidates" in plain
    record = await ledger.settled(rid)
    assert record["settled_by"] == "usage", record
    assert record["prompt_tokens"] > 0 and record["completion_tokens"] > 0, record
