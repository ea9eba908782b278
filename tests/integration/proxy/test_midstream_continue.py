"""Issue 18 item 4: a stream cut or stalled mid-answer, continued on the next node.

A real router in front of two real mock nodes, node62 (the model's own node, scripted to
cut or stall its stream) and node63 (its fallback). The mock node continues a prefilled
answer from where the prefill ends ("Hello from node62. Part 2 of 5." is followed by
" Part 3 of 5." ...), so the stitched answer is predictable. Billing is on (memory backend,
a JSONL ledger), so each test can also check what the ledger says about both nodes.
"""

from __future__ import annotations

import secrets
from typing import Any

import openai
import orjson
import pytest

from tests.support import MockNodes, Proc, Routers, chat_body, http_request
from tests.support.billing import (
    FLOW_PRICING,
    JsonlView,
    backend_state,
    billing_config,
    key_hash,
    new_request_id,
    scrape,
    usage_cost,
)

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("fresh_nodes")]

KEY = f"sk-mid-{secrets.token_hex(12)}"
FIRST, SECOND = "node62", "node63"
FULL = "Hello from node62. Part 2 of 5. Part 3 of 5. Part 4 of 5. Part 5 of 5."
THOUGHT = "Thinking about the question. Answering as node62."
MICRO = 1_000_000


MOCK_NODES_SETTLE = 0.5  # a request still stalled on a node is not worth waiting for
MOCK_NODES = {FIRST: (), SECOND: ()}


def _model(policy: str, fallback: str) -> dict[str, Any]:
    return {
        "backends": [{"node": FIRST}],
        "fallbacks": [fallback],
        "on_midstream_failure": policy,
        "pricing": FLOW_PRICING,
    }


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, mock_nodes: MockNodes, routers: Routers
) -> tuple[Proc, JsonlView]:
    state, view = backend_state("memory", tmp_path_factory.mktemp("midstream-router"), None)
    second = {"backends": [{"node": SECOND}], "pricing": FLOW_PRICING}
    models = {
        "go-on": _model("continue", "go-on-b"),
        "go-on-b": second,
        "redo": _model("continue", "redo-b"),
        "redo-b": {**second, "prefill": False},
        "stop": _model("error", "go-on-b"),
        "gemini-go-on": _model("continue", "go-on-b"),
    }
    text = billing_config(
        nodes={
            FIRST: {"url": mock_nodes[FIRST].url, "timeouts": {"idle": 0.6, "first_byte": 0.6}},
            SECOND: {"url": mock_nodes[SECOND].url},
        },
        models=models,
        state=state,
        keys=[{"name": "mid", "hash": key_hash(KEY), "credits": 1000}],
    )
    return routers.get(text), view


def _stream(router: Proc, body: dict[str, Any], path: str = "/v1/chat/completions") -> bytes:
    rid = new_request_id()
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {KEY}",
        "X-Request-ID": rid,
    }
    status, _, raw = http_request(
        "POST", router.base_url + path, orjson.dumps(body), headers, timeout=15.0
    )
    assert status == 200, raw[:300]
    _stream.last_id = rid  # type: ignore[attr-defined]
    return raw


def _events(raw: bytes) -> list[Any]:
    """Every event's JSON (the string "[DONE]" for that one)."""
    out: list[Any] = []
    for event in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        data = [line[5:].strip() for line in event.split(b"\n") if line.startswith(b"data:")]
        if data:
            payload = b"\n".join(data)
            out.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
    return out


def _said(events: list[Any]) -> tuple[str, str]:
    content, reasoning = [], []
    for event in events:
        if isinstance(event, dict):
            for choice in event.get("choices") or []:
                delta = choice.get("delta") or {}
                content.append(delta.get("content") or "")
                reasoning.append(delta.get("reasoning_content") or "")
    return "".join(content), "".join(reasoning)


def _charge(prompt: int, completion: int, reasoning: int) -> int:
    return usage_cost(FLOW_PRICING, prompt, completion, reasoning)


def _continuations(router: Proc, model: str) -> dict[str, float]:
    """router_continuations_total of `model`, by outcome."""
    name = "router_continuations_total"
    return {
        o: scrape(router.base_url, name, model=model, outcome=o) for o in ("continued", "failed")
    }


def _failovers(router: Proc, model: str) -> dict[str, float]:
    """router_failovers_total of `model`: midstream, unknown and all reasons."""
    name = "router_failovers_total"
    counts = {
        r: scrape(router.base_url, name, model=model, reason=r) for r in ("midstream", "unknown")
    }
    return {**counts, "all": scrape(router.base_url, name, model=model)}


def _one_stream_checks(events: list[Any], *, usage: bool = True) -> None:
    """One role chunk, one id, one usage chunk (none unless asked), no error, [DONE] last."""
    assert events[-1] == "[DONE]"
    chunks = [e for e in events if isinstance(e, dict)]
    assert not [e for e in chunks if "error" in e], chunks
    roles = [c for c in chunks for ch in c["choices"] if "role" in (ch.get("delta") or {})]
    assert len(roles) == 1
    assert len({c["id"] for c in chunks}) == 1
    assert len({c["created"] for c in chunks}) == 1
    assert [c for c in chunks if c.get("usage")] == ([chunks[-1]] if usage else [])


async def test_a_cut_stream_is_continued_by_the_next_node(
    setup: tuple[Proc, JsonlView], mock_nodes: MockNodes
) -> None:
    router, ledger = setup
    mock_nodes[FIRST].faults(cut_after=5)  # role, two reasoning deltas, two content deltas
    body = chat_body("go-on", stream=True, stream_options={"include_usage": True})
    continued = _continuations(router, "go-on")
    failovers = _failovers(router, "go-on")
    events = _events(_stream(router, body))
    _one_stream_checks(events)
    assert _continuations(router, "go-on") == {
        "continued": continued["continued"] + 1,
        "failed": continued["failed"],
    }
    assert _failovers(router, "go-on") == {
        "midstream": failovers["midstream"] + 1,
        "unknown": failovers["unknown"],
        "all": failovers["all"] + 1,
    }
    assert _said(events) == (FULL, THOUGHT)
    assert (mock_nodes[FIRST].requests(), mock_nodes[SECOND].requests()) == (1, 1)

    record = await ledger.settled(_stream.last_id)  # type: ignore[attr-defined]
    first, second = record["parts"]
    assert (first["node"], first["estimated"]) == (FIRST, True)
    # 31 characters of content and 49 of reasoning were sent: 8 and 13 tokens (4 a token).
    assert (first["completion_tokens"], first["reasoning_tokens"]) == (8, 13)
    # node63's own count: "hello" and the 31-character prefill (36 // 4 + 1), 3 parts.
    assert second == {
        "node": SECOND,
        "prompt_tokens": 10,
        "completion_tokens": 12,
        "reasoning_tokens": 0,
        "estimated": False,
    }
    sums = [first[k] + second[k] for k in ("prompt_tokens", "completion_tokens")]
    assert [record["prompt_tokens"], record["completion_tokens"]] == sums
    assert record["reasoning_tokens"] == 13 and record["node"] == SECOND
    assert record["charged"] == _charge(sums[0], sums[1], 13)
    assert record["outcome"] == "success"
    usage = events[-2]["usage"]  # what the client is told is what it pays for
    assert usage["prompt_tokens"] == sums[0]
    assert usage["completion_tokens"] == sums[1] + 13
    assert usage["total_tokens"] == sums[0] + sums[1] + 13
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 13


async def test_a_stream_stalled_past_idle_is_continued(
    setup: tuple[Proc, JsonlView], mock_nodes: MockNodes
) -> None:
    router, ledger = setup
    mock_nodes[FIRST].faults(stall_after=4)  # after "Hello from node62."
    events = _events(_stream(router, chat_body("go-on", stream=True)))
    assert events[-1] == "[DONE]"
    assert _said(events) == (FULL, THOUGHT)
    assert not [e for e in events if isinstance(e, dict) and e.get("usage")]  # not asked
    record = await ledger.settled(_stream.last_id)  # type: ignore[attr-defined]
    assert [p["node"] for p in record["parts"]] == [FIRST, SECOND]
    assert record["parts"][1]["completion_tokens"] == 16  # four parts left


def test_under_error_the_stream_ends_with_the_error_event_as_before(
    setup: tuple[Proc, JsonlView], mock_nodes: MockNodes
) -> None:
    router, _ = setup
    mock_nodes[FIRST].faults(cut_after=5)
    raw = _stream(router, chat_body("stop", stream=True))
    events = _events(raw)
    assert "[DONE]" not in events
    assert events[-1]["error"]["message"] == "the node failed mid-answer"
    assert _said(events) == ("Hello from node62. Part 2 of 5.", THOUGHT)
    assert mock_nodes[SECOND].requests() == 0
    # The node's own bytes, passed as they came, then the router's one error event.
    before_error = raw[: raw.rindex(b"data: {")]
    assert before_error.count(b"data: ") == 5 and before_error.endswith(b"\n\n")


def test_a_model_without_prefill_restarts_and_the_part_sent_is_not_repeated(
    setup: tuple[Proc, JsonlView], mock_nodes: MockNodes
) -> None:
    router, _ = setup
    mock_nodes[FIRST].faults(cut_after=5)
    events = _events(_stream(router, chat_body("redo", stream=True)))
    _one_stream_checks(events, usage=False)
    # node63 says "Hello from node63. Part 2 of 5. ..." again: its first 31 characters
    # (and all of its reasoning) are what node62 had sent, and are cut.
    assert _said(events) == (FULL, THOUGHT)


async def test_a_refused_prefill_ends_with_the_original_failure(
    setup: tuple[Proc, JsonlView], mock_nodes: MockNodes
) -> None:
    router, ledger = setup
    mock_nodes[FIRST].faults(cut_after=5)
    mock_nodes[SECOND].faults(reject_prefill=True)
    failed = _continuations(router, "go-on")["failed"]
    events = _events(_stream(router, chat_body("go-on", stream=True)))
    assert _continuations(router, "go-on")["failed"] == failed + 1
    assert "[DONE]" not in events
    message = events[-1]["error"]["message"]
    assert message == "the node failed mid-answer" and "prefill" not in message
    assert mock_nodes[SECOND].requests() == 1
    record = await ledger.settled(_stream.last_id)  # type: ignore[attr-defined]
    assert record["outcome"] == "failed"
    assert [p["node"] for p in record["parts"]] == [FIRST]


async def test_a_gemini_stream_is_continued(
    setup: tuple[Proc, JsonlView], mock_nodes: MockNodes
) -> None:
    router, ledger = setup
    mock_nodes[FIRST].faults(cut_after=2)
    path = "/v1beta/models/gemini-go-on:streamGenerateContent?alt=sse"
    raw = _stream(router, {"contents": [{"role": "user", "parts": [{"text": "hello"}]}]}, path)
    events = _events(raw)
    assert not [e for e in events if "error" in e]
    texts = [p["text"] for e in events for p in e["candidates"][0]["content"]["parts"]]
    assert "".join(texts) == FULL
    assert len({e["responseId"] for e in events}) == 1
    assert events[-1]["candidates"][0]["finishReason"] == "STOP"
    record = await ledger.settled(_stream.last_id)  # type: ignore[attr-defined]
    first, second = record["parts"]
    assert first["node"] == FIRST and first["estimated"] is True
    meta = events[-1]["usageMetadata"]
    assert meta["promptTokenCount"] == first["prompt_tokens"] + second["prompt_tokens"]
    assert meta["candidatesTokenCount"] == record["completion_tokens"]
    assert meta["totalTokenCount"] == (
        record["prompt_tokens"] + record["completion_tokens"] + record["reasoning_tokens"]
    )


def test_the_openai_sdk_reads_one_complete_answer(
    setup: tuple[Proc, JsonlView], mock_nodes: MockNodes
) -> None:
    router, _ = setup
    mock_nodes[FIRST].faults(cut_after=6)
    client = openai.OpenAI(api_key=KEY, base_url=router.base_url + "/v1", max_retries=0)
    stream = client.chat.completions.create(
        model="go-on",
        messages=[{"role": "user", "content": "hello"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == FULL
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens > 0
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
