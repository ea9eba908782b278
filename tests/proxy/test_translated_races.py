"""Hedging, the first-token deadline and affinity across dialects (issue 28 item 4), in process
against the fake transport: a Gemini node that sends an event without a token and then
stalls, raced by (or failed over to) an OpenAI node, for an OpenAI client. A translated
stream is read for its first token in the client's dialect, so the role chunk the
translation writes first is no token (a thought is one, as a relayed one is), and the
client sees one answer only."""

from __future__ import annotations

from typing import Any

import orjson

from tests.support import chat_body, node_entry, routes_yaml
from tests.support.fake_transport import SSE, FakeNodes, Script, answer_stream
from tests.support.routes import sse_data

NO_TOKEN_THEN_STALLS = Script(
    headers=SSE,
    chunks=(
        b'data: {"candidates": [{"content": {"role": "model", "parts": [{"text": ""}]}, '
        b'"index": 0}], "responseId": "r-1"}\r\n\r\n',
    ),
    hang_after=1,
)


def config(**route: Any) -> str:
    first_token = route.pop("first_token", None)
    timeouts = {"timeouts": {"first_token": first_token}} if first_token else {}
    nodes = {
        "google": node_entry("http://127.0.0.1:9/google", dialect="gemini", **timeouts),
        "vllm": node_entry("http://127.0.0.1:9/vllm", dialect="openai"),
    }
    backends = [{"node": "google", "priority": 0}, {"node": "vllm", "priority": 1}]
    return routes_yaml(nodes, {"m": {"backends": backends, **route}})


async def answer_of(client: Any) -> list[dict[str, Any]]:
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    assert response.status == 200
    events = sse_data(await response.text())
    assert events[-1] == "[DONE]"
    return [orjson.loads(e) for e in events[:-1]]


def said(chunks: list[dict[str, Any]], field: str) -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c["choices"])


async def test_a_hedge_at_an_openai_node_wins_against_a_stalled_gemini_node(
    router_app: Any,
) -> None:
    fake = FakeNodes({"google": NO_TOKEN_THEN_STALLS, "vllm": Script(headers=SSE)})
    fake.scripts["vllm"] = Script(headers=SSE, chunks=answer_stream("from vllm"))
    client = await router_app(config(hedge={"after": 0.2}), fake)
    chunks = await answer_of(client)
    assert said(chunks, "content") == "from vllm"
    roles = [c for c in chunks if c["choices"] and "role" in c["choices"][0]["delta"]]
    assert len(roles) == 1
    assert fake.posted_to() == ["google", "vllm"]


async def test_the_first_token_deadline_fails_a_silent_gemini_node_over(
    router_app: Any,
) -> None:
    fake = FakeNodes({"google": NO_TOKEN_THEN_STALLS, "vllm": Script(headers=SSE)})
    fake.scripts["vllm"] = Script(headers=SSE, chunks=answer_stream("from vllm"))
    client = await router_app(config(first_token=0.4), fake)
    chunks = await answer_of(client)
    assert said(chunks, "content") == "from vllm"
    assert fake.posted_to() == ["google", "vllm"]
    assert fake.dropped("google")


async def anthropic_answer_of(client: Any) -> list[dict[str, Any]]:
    """An Anthropic client's stream of model `m`: its events, decoded."""
    body = {
        "model": "m",
        "max_tokens": 50,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
    response = await client.post(
        "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}
    )
    assert response.status == 200
    events = (await response.text()).split("\n\n")
    data = [line[6:] for e in events for line in e.splitlines() if line.startswith("data: ")]
    return [orjson.loads(d) for d in data]


def anthropic_text(events: list[dict[str, Any]]) -> str:
    deltas = [e["delta"] for e in events if e["type"] == "content_block_delta"]
    return "".join(d.get("text", "") for d in deltas)


async def test_an_anthropic_clients_hedge_and_deadline_across_two_other_dialects(
    router_app: Any,
) -> None:
    """Neither node speaks the client's dialect: the message_start and empty block the
    translation writes for the stalled node are no token, and one message reaches the
    client, the hedge's (or the failed-over node's)."""
    for route in ({"hedge": {"after": 0.2}}, {"first_token": 0.4}):
        fake = FakeNodes({"google": NO_TOKEN_THEN_STALLS, "vllm": Script(headers=SSE)})
        fake.scripts["vllm"] = Script(headers=SSE, chunks=answer_stream("from vllm"))
        client = await router_app(config(**route), fake)
        events = await anthropic_answer_of(client)
        assert anthropic_text(events) == "from vllm", route
        kinds = [event["type"] for event in events]
        assert kinds.count("message_start") == 1 and kinds[-1] == "message_stop", route
        assert fake.posted_to() == ["google", "vllm"], route


async def test_affinity_keeps_a_conversation_on_its_node_whatever_it_speaks(
    router_app: Any,
) -> None:
    """A session's requests stay on the node first picked for it, whether that node's
    answers are translated (the Gemini node) or relayed (the OpenAI one)."""
    gemini_answer = Script(
        headers=SSE,
        chunks=(
            b'data: {"candidates": [{"content": {"role": "model", "parts": [{"text": "g"}]}, '
            b'"finishReason": "STOP", "index": 0}]}\r\n\r\n',
        ),
    )
    fake = FakeNodes({"google": gemini_answer, "vllm": Script(headers=SSE)})
    fake.scripts["vllm"] = Script(headers=SSE, chunks=answer_stream("o"))
    nodes = {
        "google": node_entry("http://127.0.0.1:9/google", dialect="gemini"),
        "vllm": node_entry("http://127.0.0.1:9/vllm", dialect="openai"),
    }
    route = {
        "backends": [{"node": "google"}, {"node": "vllm"}],
        "affinity": {"by": "header:X-Session-ID"},
    }
    client = await router_app(routes_yaml(nodes, {"m": route}), fake)
    for session in ("s-1", "s-2", "s-3", "s-4"):
        start = len(fake.received)
        for _ in range(3):
            response = await client.post(
                "/v1/chat/completions",
                json=chat_body("m", stream=True),
                headers={"X-Session-ID": session},
            )
            assert response.status == 200
            await response.read()
        assert len(set(fake.posted_to()[start:])) == 1, (session, fake.posted_to()[start:])
