"""countTokens billing and the embeddings / completions / responses endpoints, via the SDKs.

One router per state backend (memory: JSONL ledger; Redis: a real redis-server) in front
of two mock nodes: `good` answers, `bad` is told to answer 500 to everything.
`gemini-failover` tries `bad` first and fails over to `good`, so every request here shows
routing, failover and billing at once. Expected tokens come from the mock node's
deterministic counts (`router.mock.openai_apis`): input tokens = characters // 4 + 1,
4 tokens per content part (5 parts), 16 reasoning tokens in a Responses answer.
"""

from __future__ import annotations

import secrets
from typing import Any

import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from tests.support import MockNodes, eventually
from tests.support.billing import (
    FLOW_PRICING,
    MICRO,
    Setup,
    backend_setup,
    billing_config,
    hashed_key,
    key_hash,
    new_request_id,
    scrape,
    usage_cost,
)

pytestmark = pytest.mark.integration

KEYS = {name: f"sk-se-{name}-{secrets.token_hex(10)}" for name in ("main", "tight", "poor")}
CONTENT = 20  # 5 parts of 4 tokens
REASONING = 16


MOCK_NODES = {"good": (), "bad": ()}


def _config(mock_nodes: MockNodes, state: dict[str, Any]) -> str:
    nodes = {name: {"url": mock_nodes[name].url} for name in ("good", "bad")}
    failover = [{"node": "bad"}, {"node": "good", "priority": 1}]
    models = {"gemini-failover": {"backends": failover, "pricing": FLOW_PRICING}}
    gemini = ["gemini-*"]
    keys = [
        {"name": "main", "hash": key_hash(KEYS["main"]), "models": gemini, "credits": 1000},
        # Exactly one request's reservation and one request a minute.
        hashed_key("tight", KEYS["tight"], models=gemini, credits=5, rpm=1),
        {"name": "poor", "hash": key_hash(KEYS["poor"]), "models": gemini, "credits": 1},
    ]
    return billing_config(nodes=nodes, models=models, state=state, keys=keys)


@pytest.fixture(scope="module", params=["memory", "redis"])
def setup(request, tmp_path_factory, mock_nodes, routers) -> Setup:
    folder = tmp_path_factory.mktemp(f"sdk-endpoints-{request.param}")
    return backend_setup(request, folder, routers, lambda state: _config(mock_nodes, state))


def _cost(prompt: int, completion: int, reasoning: int = 0) -> int:
    return usage_cost(FLOW_PRICING, prompt, completion, reasoning)


def _completion_chunks(setup: Setup, rid: str, **options: Any) -> list[Any]:
    """A streamed completion of "hello" by gemini-failover, read to its end."""
    stream = _openai(setup).completions.create(
        model="gemini-failover",
        prompt="hello",
        stream=True,
        extra_headers={"X-Request-ID": rid},
        **options,
    )
    return list(stream)


def _openai(setup: Setup, key: str = KEYS["main"]) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=setup.url + "/v1", max_retries=0)


def _genai(setup: Setup, key: str) -> genai.Client:
    options = types.HttpOptions(base_url=setup.url, api_version="v1beta")
    return genai.Client(api_key=key, http_options=options)


async def _billed(
    setup: Setup, mock_nodes: MockNodes, rid: str, tokens: tuple[int, int, int]
) -> dict[str, Any]:
    """The request's one ledger record: served by `good` after `bad` failed, with `tokens`."""
    record = await setup.view.settled(rid)
    prompt, completion, reasoning = tokens
    assert record["node"] == "good", record
    assert record["status"] == 200, record
    seen = (record["prompt_tokens"], record["completion_tokens"], record["reasoning_tokens"])
    assert seen == tokens, record
    assert record["charged"] == _cost(prompt, completion, reasoning), record
    assert record["settled_by"] == "usage", record
    return record


@pytest.fixture(autouse=True)
def _bad_fails_everything(fresh_nodes: MockNodes) -> None:
    """`bad` fails everything (the reset of fresh_nodes clears its start-up fault too)."""
    fresh_nodes["bad"].faults(status=500)


# --- countTokens ---------------------------------------------------------------------------


async def test_count_tokens_is_checked_but_never_charged_nor_rate_limited(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    tight = _genai(setup, KEYS["tight"])
    before = setup.view.balance("tight")
    for _ in range(3):  # rpm 1: the second would be refused if countTokens counted
        assert tight.models.count_tokens(model="gemini-failover", contents="hello").total_tokens
    # Still exactly one reservation's worth of credits and the rpm slot left: this succeeds.
    rid = new_request_id()
    answer = tight.models.generate_content(
        model="gemini-failover",
        contents="hello",
        config=types.GenerateContentConfig(
            http_options=types.HttpOptions(headers={"X-Request-ID": rid})
        ),
    )
    assert answer.text
    record = await setup.view.settled(rid)
    assert record["key"] == "tight"
    settled = [r for r in setup.view.records() if r["key"] == "tight"]
    assert len(settled) == 1, settled  # the count_tokens calls left no ledger entries
    if setup.backend == "redis":
        assert before == 5 * MICRO
        assert setup.view.balance("tight") == before - record["charged"]


async def test_count_tokens_needs_a_valid_key_but_not_a_balance(setup: Setup) -> None:
    poor = _genai(setup, KEYS["poor"])
    assert poor.models.count_tokens(model="gemini-failover", contents="hi").total_tokens
    with pytest.raises(genai_errors.APIError) as info:  # 1 credit < pre_deduct 5
        poor.models.generate_content(model="gemini-failover", contents="hi")
    assert info.value.code == 429 and "insufficient" in str(info.value)
    wrong = _genai(setup, "sk-wrong")  # held: a client garbage-collected mid-call is closed
    with pytest.raises(genai_errors.ClientError) as denied:
        wrong.models.count_tokens(model="gemini-failover", contents="hi")
    assert denied.value.code == 401
    assert not [r for r in setup.view.records() if r["key"] == "poor"]
    if setup.backend == "redis":
        assert setup.view.balance("poor") == 1 * MICRO


# --- embeddings, completions, responses ------------------------------------------------------


async def test_embeddings_routed_failed_over_and_billed(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    labels = {"model": "gemini-failover", "node": "good", "code": "200"}
    answered = scrape(setup.url, "router_requests_total", **labels)
    failovers = scrape(setup.url, "router_failovers_total", model="gemini-failover")
    rid = new_request_id()
    result = _openai(setup).embeddings.create(
        model="gemini-failover", input="hello world", extra_headers={"X-Request-ID": rid}
    )
    assert len(result.data) == 1 and len(result.data[0].embedding) == 8
    assert result.usage.prompt_tokens == 3
    await _billed(setup, mock_nodes, rid, (3, 0, 0))
    assert mock_nodes["bad"].last_request()["path"] == "/v1/embeddings"
    assert mock_nodes["good"].last_request()["path"] == "/v1/embeddings"
    # The same metrics as chat: the answer and the failover are counted.
    assert scrape(setup.url, "router_requests_total", **labels) == answered + 1
    assert scrape(setup.url, "router_failovers_total", model="gemini-failover") == failovers + 1


async def test_completions_routed_failed_over_and_billed(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    rid = new_request_id()
    result = _openai(setup).completions.create(
        model="gemini-failover", prompt="hello", extra_headers={"X-Request-ID": rid}
    )
    assert result.choices[0].text.startswith("Hello from good.")
    await _billed(setup, mock_nodes, rid, (2, CONTENT, 0))
    assert mock_nodes["bad"].requests() == 1
    assert mock_nodes["good"].last_request()["path"] == "/v1/completions"


async def test_completions_stream_billed_from_injected_usage_it_never_sees(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    rid = new_request_id()
    chunks = _completion_chunks(setup, rid)
    assert "".join(c.choices[0].text for c in chunks if c.choices).startswith("Hello from good.")
    assert all(c.usage is None for c in chunks), chunks[-1]  # the client did not ask for usage
    seen = mock_nodes["good"].last_request()
    assert seen["stream_options"] == {"include_usage": True}  # the router asked for it
    await _billed(setup, mock_nodes, rid, (2, CONTENT, 0))


async def test_completions_stream_with_usage_asked_by_the_client(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    rid = new_request_id()
    chunks = _completion_chunks(setup, rid, stream_options={"include_usage": True})
    usages = [c.usage for c in chunks if c.usage is not None]
    assert [u.completion_tokens for u in usages] == [CONTENT]
    await _billed(setup, mock_nodes, rid, (2, CONTENT, 0))


async def test_responses_routed_failed_over_and_billed(setup: Setup, mock_nodes: MockNodes) -> None:
    rid = new_request_id()
    result = _openai(setup).responses.create(
        model="gemini-failover", input="hello", extra_headers={"X-Request-ID": rid}
    )
    assert result.output_text.startswith("Hello from good.")
    assert result.usage is not None and result.usage.output_tokens == CONTENT + REASONING
    await _billed(setup, mock_nodes, rid, (2, CONTENT, REASONING))
    assert mock_nodes["good"].last_request()["path"] == "/v1/responses"


async def test_responses_stream_billed_from_response_completed(
    setup: Setup, mock_nodes: MockNodes
) -> None:
    rid = new_request_id()
    stream = _openai(setup).responses.create(
        model="gemini-failover", input="hello", stream=True, extra_headers={"X-Request-ID": rid}
    )
    events = list(stream)
    assert events[-1].type == "response.completed"
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas.startswith("Hello from good.")
    # The Responses API has no stream_options: nothing was injected into the body.
    assert mock_nodes["good"].last_request()["stream_options"] is None
    await _billed(setup, mock_nodes, rid, (2, CONTENT, REASONING))


async def test_new_endpoints_answer_on_every_prefix(setup: Setup, mock_nodes: MockNodes) -> None:
    for prefix in ("/api/v1", "/gemini/v1", "/v1/gemini", "/gemini"):
        client = openai.OpenAI(api_key=KEYS["main"], base_url=setup.url + prefix, max_retries=0)
        assert client.embeddings.create(model="gemini-failover", input="x").data, prefix
    # A body without the endpoint's own field is refused before any node is asked.
    mock_nodes["good"].reset()
    with pytest.raises(openai.BadRequestError):
        _openai(setup).embeddings.create(model="gemini-failover", input=None)  # type: ignore[arg-type]
    assert await eventually(lambda: mock_nodes["good"].requests() == 0, limit=0.2)
