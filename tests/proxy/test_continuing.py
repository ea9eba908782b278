"""Continuing a stream cut mid-answer, in process against the fake transport: the node
outputs a review found mishandled (issue 18 item 4), each scripted byte for byte."""

from __future__ import annotations

from typing import Any

import orjson

from router.config.loader import parse_config
from router.routing.health import NodeState
from router.server.app import PARTS, Options, create_app
from tests.support import Json, chat_body, node_entry, routes_yaml
from tests.support.fake_transport import FakeNodes, Script

SSE = (("Content-Type", "text/event-stream"),)


def _event(document: Json) -> bytes:
    return b"data: " + orjson.dumps(document) + b"\n\n"


def _chunk(delta: Json, finish: str | None = None, **extra: Any) -> bytes:
    identity = {"id": "chatcmpl-1", "created": 7, "model": "m", **extra}
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return _event({**identity, "choices": [choice]})


ROLE = _chunk({"role": "assistant", "content": ""})


async def _start(aiohttp_client: Any, fake: FakeNodes, **model: Any) -> Any:
    nodes = {name: node_entry(f"http://127.0.0.1:9/{name}") for name in ("a", "b")}
    backends = [{"node": "a"}, {"node": "b", "priority": 1}]
    route = {"backends": backends, "on_midstream_failure": "continue", **model}
    text = routes_yaml(nodes, {"m": route})
    return await aiohttp_client(create_app(parse_config(text), Options(), transports=fake))


async def _ask(client: Any) -> list[Any]:
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    assert response.status == 200
    events = []
    for event in (await response.read()).split(b"\n\n"):
        if event.startswith(b"data: "):
            payload = event[6:]
            events.append("[DONE]" if payload == b"[DONE]" else orjson.loads(payload))
    return events


def _text(events: list[Any]) -> str:
    return "".join(
        (c.get("delta") or {}).get("content") or ""
        for e in events
        if isinstance(e, dict)
        for c in e.get("choices") or []
    )


async def test_a_probing_node_that_refuses_the_prefill_gets_its_trial_back(
    aiohttp_client: Any,
) -> None:
    fake = FakeNodes(
        {
            "a": Script(headers=SSE, chunks=(ROLE, _chunk({"content": "Hel"})), fail_after=2),
            "b": Script(status=400, chunks=(b'{"error": {"message": "no prefill here"}}',)),
        }
    )
    client = await _start(aiohttp_client, fake)
    health = client.app[PARTS].table.node("b").health
    health.state = NodeState.PROBING  # b's next request is its one trial
    events = await _ask(client)
    assert events[-1]["error"]["message"] == "the node failed mid-answer"
    assert fake.posted_to() == ["a", "b"]
    assert not health.trial_in_flight
    assert health.is_selectable(0.0, has_room=True)  # a 400 shows b works: it is not locked out


async def test_null_tool_calls_in_every_delta_still_continue(aiohttp_client: Any) -> None:
    nulls = {"tool_calls": None, "function_call": None}  # LiteLLM's deltas
    fake = FakeNodes(
        {
            "a": Script(
                headers=SSE,
                chunks=(ROLE, _chunk({"content": "Hel", **nulls})),
                fail_after=2,
            ),
            "b": Script(
                headers=SSE,
                chunks=(
                    ROLE,
                    _chunk({"content": "lo", **nulls}),
                    _chunk({}, "stop"),
                    b"data: [DONE]\n\n",
                ),
            ),
        }
    )
    events = await _ask(await _start(aiohttp_client, fake))
    assert _text(events) == "Hello"
    assert events[-1] == "[DONE]" and events.count("[DONE]") == 1


async def test_a_done_before_any_finish_reason_is_held_until_the_answer_ends(
    aiohttp_client: Any,
) -> None:
    fake = FakeNodes(
        {
            "a": Script(
                headers=SSE, chunks=(ROLE, _chunk({"content": "Hel"}), b"data: [DONE]\n\n")
            ),
            "b": Script(
                headers=SSE,
                chunks=(ROLE, _chunk({"content": "lo"}), _chunk({}, "stop"), b"data: [DONE]\n\n"),
            ),
        }
    )
    events = await _ask(await _start(aiohttp_client, fake))
    assert _text(events) == "Hello"
    assert events.count("[DONE]") == 1 and events[-1] == "[DONE]"


async def test_the_identity_is_the_first_real_one_not_a_placeholder(aiohttp_client: Any) -> None:
    placeholder = _event({"id": "", "created": 0, "model": "", "choices": []})  # Azure's
    fake = FakeNodes(
        {
            "a": Script(
                headers=SSE,
                chunks=(placeholder, ROLE, _chunk({"content": "Hel"})),
                fail_after=3,
            ),
            "b": Script(
                headers=SSE,
                chunks=(
                    _chunk({"role": "assistant"}, id="other", created=9),
                    _chunk({"content": "lo"}, "stop", id="other", created=9),
                ),
            ),
        }
    )
    events = await _ask(await _start(aiohttp_client, fake))
    assert _text(events) == "Hello"
    chunks = [e for e in events if isinstance(e, dict) and e.get("choices")]
    assert {(c["id"], c["created"]) for c in chunks} == {("chatcmpl-1", 7)}
