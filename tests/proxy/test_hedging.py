"""Hedged requests and the first-token deadline, in process against the fake transport.

Node `a` is the first pick of every model here (priority 0) and is scripted to stall, or
to answer slowly; node `b` (priority 1) answers at once unless told otherwise. The fake
records a request the router gave up on (`FakeNodes.dropped`): that is how a test sees
the loser of a race let go. tests/integration/proxy/test_hedging.py keeps what only real
nodes show: the loser's connection closed at the node, and one settlement in the ledger.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from structlog.testing import capture_logs

from tests.support import Json, chat_body, eventually, node_entry, routes_yaml
from tests.support.fake_transport import (
    ROLE,
    SSE,
    Chunk,
    FakeNodes,
    Script,
    answer_json,
    answer_stream,
)
from tests.support.observability import metric_in

TIERS = [{"node": "a", "priority": 0}, {"node": "b", "priority": 1}]
STALLS_AFTER_ROLE = Script(headers=SSE, chunks=(ROLE,), hang_after=1)


def config(*, first_token: float | None = None, defaults: Json | None = None, **model: Any) -> str:
    """Model `m` over a then b; `a` with a first-token deadline when given."""
    timeouts = {"timeouts": {"first_token": first_token}} if first_token else {}
    nodes = {
        "a": node_entry("http://127.0.0.1:9/a", **timeouts),
        "b": node_entry("http://127.0.0.1:9/b"),
    }
    return routes_yaml(nodes, {"m": {"backends": TIERS, **model}}, defaults=defaults)


HEDGED = config(hedge={"after": 0.2})


async def ask(client: Any, *, stream: bool = True) -> tuple[int, bytes]:
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=stream))
    return response.status, await response.read()


def events(body: bytes) -> list[Json]:
    payloads = [e.removeprefix(b"data: ") for e in body.split(b"\n\n") if e]
    return [orjson.loads(p) for p in payloads if p != b"[DONE]"]


def text_of(body: bytes) -> str:
    return "".join(c["delta"].get("content") or "" for e in events(body) for c in e["choices"])


def role_chunks(body: bytes) -> int:
    return sum(1 for e in events(body) for c in e["choices"] if "role" in c["delta"])


async def hedges(client: Any, outcome: str) -> float:
    text = await (await client.get("/metrics")).text()
    return metric_in(text, "router_hedges_total", model="m", outcome=outcome)


async def test_a_hedge_wins_against_a_stalled_stream_and_the_loser_is_let_go(router_app):
    fake = FakeNodes({"a": STALLS_AFTER_ROLE, "b": Script(headers=SSE, chunks=answer_stream("b"))})
    client = await router_app(HEDGED, fake)
    status, body = await ask(client)
    assert status == 200 and text_of(body) == "b"
    # The stalled node's role chunk was held back: the client sees one answer only.
    assert role_chunks(body) == 1
    assert await eventually(lambda: fake.dropped("a"))
    assert not fake.dropped("b")
    assert await hedges(client, "won") == 1


async def test_a_hedge_wins_a_whole_answer_too(router_app):
    fake = FakeNodes({"a": Script(head_delay=5), "b": Script(chunks=(answer_json("b"),))})
    client = await router_app(HEDGED, fake)
    status, body = await ask(client, stream=False)
    assert status == 200 and orjson.loads(body)["choices"][0]["message"]["content"] == "b"
    assert await eventually(lambda: fake.cancelled == ["a"])


async def test_a_hedge_loses_when_the_first_node_answers_first(router_app):
    slow = (ROLE, Chunk(answer_stream("a")[1], delay=0.5), *answer_stream("a")[2:])
    late = (ROLE, Chunk(answer_stream("b")[1], delay=3), *answer_stream("b")[2:])
    fake = FakeNodes({"a": Script(headers=SSE, chunks=slow), "b": Script(headers=SSE, chunks=late)})
    client = await router_app(HEDGED, fake)
    status, body = await ask(client)
    assert status == 200 and text_of(body) == "a"
    assert fake.posted_to() == ["a", "b"]  # the hedge was sent
    assert await eventually(lambda: fake.dropped("b"))  # and let go when a answered
    assert await hedges(client, "lost") == 1


async def test_no_hedge_before_its_delay(router_app):
    fake = FakeNodes({"a": Script(headers=SSE, chunks=answer_stream("a"))})
    client = await router_app(HEDGED, fake)
    status, body = await ask(client)
    assert status == 200 and text_of(body) == "a"
    assert fake.posted_to() == ["a"]


async def test_a_role_chunk_then_stall_is_failed_over_under_first_token(router_app):
    fake = FakeNodes({"a": STALLS_AFTER_ROLE, "b": Script(headers=SSE, chunks=answer_stream("b"))})
    client = await router_app(config(first_token=0.5), fake)
    status, body = await ask(client)
    assert status == 200 and text_of(body) == "b" and role_chunks(body) == 1
    assert fake.dropped("a")
    metrics = await (await client.get("/metrics")).text()
    assert metric_in(metrics, "router_upstream_errors_total", node="a", reason="timeout") == 1


async def test_the_access_log_shows_the_outraced_attempt(router_app):
    fake = FakeNodes({"a": STALLS_AFTER_ROLE, "b": Script(headers=SSE, chunks=answer_stream("b"))})
    client = await router_app(HEDGED, fake)
    with capture_logs() as logs:
        assert (await ask(client))[0] == 200
        assert await eventually(lambda: any(e["event"] == "access" for e in logs))
    (access,) = [e for e in logs if e["event"] == "access"]
    assert [(x["node"], x["failure"]) for x in access["attempts"]] == [
        ("a", "outraced"),
        ("b", None),
    ]


async def test_no_hedge_when_the_retry_budget_is_spent(router_app):
    # The first request's hedge (0.2 s in) is the one retry the budget allows while it
    # runs; the second's hedge finds the budget spent and is refused, and so is its
    # failover when a's first_token deadline (1.2 s) ends its first attempt.
    late = (ROLE, Chunk(answer_stream("b")[1], delay=2.5), *answer_stream("b")[2:])
    fake = FakeNodes({"a": STALLS_AFTER_ROLE, "b": Script(headers=SSE, chunks=late)})
    budget = {"retry_budget": {"percent": 0, "min_concurrent": 1}}
    client = await router_app(config(first_token=1.2, hedge={"after": 0.2}, defaults=budget), fake)
    first = asyncio.create_task(ask(client))
    await asyncio.sleep(0.5)
    second_status, _ = await ask(client)
    assert second_status == 504
    status, body = await first
    assert status == 200 and text_of(body) == "b"
    assert fake.posted_to().count("b") == 1  # only the first request's hedge reached b
    assert await hedges(client, "refused") == 1
    assert await hedges(client, "won") == 1


async def test_a_model_without_hedge_or_continuation_builds_neither(router_app, monkeypatch):
    """What a model does not configure it does not pay for: no race, no continuing relay,
    no wait for the first token (the plain path of router.proxy.attempts)."""
    import router.proxy.attempts as attempts

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("built for a model that does not configure it")

    monkeypatch.setattr(attempts, "Race", refused)
    monkeypatch.setattr(attempts.ContinuingRelay, "send", refused)
    waits: list[bool] = []
    opening = attempts.open_response

    def open_response(*args: Any, until_content: bool, **kwargs: Any) -> Any:
        waits.append(until_content)
        return opening(*args, until_content=until_content, **kwargs)

    monkeypatch.setattr(attempts, "open_response", open_response)
    fake = FakeNodes({"a": Script(headers=SSE, chunks=answer_stream("a"))})
    client = await router_app(config(), fake)
    for stream in (True, False):
        status, body = await ask(client, stream=stream)
        assert status == 200, body
    assert waits == [False, False]
