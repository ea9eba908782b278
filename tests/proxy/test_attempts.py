"""The attempt loop and the relay in process, against the fake transport (no node process).

Each test scripts what the nodes do (tests/fake_transport.py), sends one request through
the real app (create_app with the fake factory) and checks what the client got, which
nodes were asked in which order, and what happened to the upstream answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import aiohttp
import orjson
import pytest
from structlog.testing import capture_logs

from router.config.loader import parse_config
from router.errors import FailureReason
from router.server.app import PARTS, Options, create_app
from tests.support import Json, chat_body, eventually, node_entry, routes_yaml
from tests.support.fake_transport import Chunk, FakeNodes, Script

SSE = (("Content-Type", "text/event-stream"),)
NODES = ("a", "b", "c")


def config_text(models: Mapping[str, Json], **defaults: object) -> str:
    nodes = {name: node_entry(f"http://127.0.0.1:9/{name}") for name in NODES}
    return routes_yaml(nodes, models, defaults=defaults or None)


async def start(aiohttp_client: Any, fake: FakeNodes, text: str) -> Any:
    app = create_app(parse_config(text), Options(), transports=fake)
    return await aiohttp_client(app)


def tiers(*names: str) -> Json:
    return {"backends": [{"node": n, "priority": i} for i, n in enumerate(names)]}


def sse_events(body: bytes) -> list[bytes]:
    return [e for e in body.split(b"\n\n") if e]


async def test_failover_goes_down_the_tiers_in_order(aiohttp_client: Any) -> None:
    fake = FakeNodes(
        {
            "a": Script(connect_fails=True),
            "b": Script(status=503),
            "c": Script(chunks=(b'{"from": "c"}',)),
        }
    )
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a", "b", "c")}))
    with capture_logs() as logs:
        response = await client.post("/v1/chat/completions", json=chat_body("m"))
        assert response.status == 200
        assert await response.read() == b'{"from": "c"}'
        assert await eventually(lambda: any(e["event"] == "access" for e in logs))
    (access,) = [e for e in logs if e["event"] == "access"]
    failures = [a["failure"] for a in access["attempts"]]
    assert failures == ["connect", "status_5xx", None]
    assert [type(f) for f in failures[:2]] == [str, str]  # not the enum: logs print repr()
    assert fake.posted_to() == ["a", "b", "c"]
    assert [r.path for r in fake.received] == [
        "/a/v1/chat/completions",
        "/b/v1/chat/completions",
        "/c/v1/chat/completions",
    ]
    metrics = await (await client.get("/metrics")).text()
    assert 'router_failovers_total{model="m",reason="connect"} 1.0' in metrics
    assert 'router_failovers_total{model="m",reason="status_5xx"} 1.0' in metrics


async def test_a_tier_is_exhausted_before_the_next_one(aiohttp_client: Any) -> None:
    fake = FakeNodes({"a": Script(status=500), "c": Script(status=429)})
    route = {
        "backends": [
            {"node": "a", "priority": 0},
            {"node": "c", "priority": 0},
            {"node": "b", "priority": 1},
        ]
    }
    client = await start(aiohttp_client, fake, config_text({"m": route}))
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 200
    tried = fake.posted_to()
    assert sorted(tried[:2]) == ["a", "c"]
    assert tried[2:] == ["b"]


async def test_a_client_error_is_the_answer_not_a_failover(aiohttp_client: Any) -> None:
    fake = FakeNodes({"a": Script(status=400, chunks=(b'{"bad": 1}',))})
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a", "b")}))
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 400
    assert await response.read() == b'{"bad": 1}'
    assert fake.posted_to() == ["a"]


async def test_fallback_model_is_asked_for_by_its_own_name(aiohttp_client: Any) -> None:
    fake = FakeNodes({"a": Script(status=502)})
    models = {
        "primary": {"backends": [{"node": "a"}], "fallbacks": ["secondary"]},
        "secondary": {"backends": [{"node": "b"}]},
    }
    client = await start(aiohttp_client, fake, config_text(models))
    response = await client.post("/v1/chat/completions", json=chat_body("primary"))
    assert response.status == 200
    assert fake.posted_to() == ["a", "b"]
    first, second = fake.received
    assert orjson.loads(first.body)["model"] == "primary"
    assert orjson.loads(second.body)["model"] == "secondary"


async def test_retries_stop_when_the_budget_is_spent(aiohttp_client: Any) -> None:
    # Budget 0% above a floor of one retry in flight: the first request's retry (held at
    # b) passes on the floor; the second request's retry finds the floor taken.
    gate = asyncio.Event()
    fake = FakeNodes({"a": Script(status=500), "b": Script(head_gate=gate)})
    budget = {"percent": 0, "min_concurrent": 1}
    client = await start(
        aiohttp_client, fake, config_text({"m": tiers("a", "b")}, retry_budget=budget)
    )
    first = asyncio.ensure_future(client.post("/v1/chat/completions", json=chat_body("m")))
    assert await eventually(lambda: fake.posted_to() == ["a", "b"])
    second = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert second.status == 502
    assert (await second.json())["error"]["code"] == "upstream_error"
    assert fake.posted_to() == ["a", "b", "a"]
    gate.set()
    assert (await first).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'router_retry_budget_exhausted_total{model="m"} 1.0' in metrics


async def test_every_node_failing_gives_the_last_failure(aiohttp_client: Any) -> None:
    fake = FakeNodes(
        {"a": Script(status=500), "b": Script(status=429, headers=(("Retry-After", "7"),))}
    )
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a", "b")}))
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 429
    assert response.headers["Retry-After"] == "7"
    assert fake.posted_to() == ["a", "b"]
    assert all(r.closed for r in fake.responses)  # failover answers are dropped


@pytest.mark.parametrize("failure", [FailureReason.RESET, FailureReason.TIMEOUT])
async def test_failing_before_the_first_chunk_is_failed_over(
    aiohttp_client: Any, failure: FailureReason
) -> None:
    fake = FakeNodes(
        {
            "a": Script(headers=SSE, fail_after=0, failure=failure),
            "b": Script(headers=SSE, chunks=(b"data: {}\n\n", b"data: [DONE]\n\n")),
        }
    )
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a", "b")}))
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    assert response.status == 200
    assert await response.read() == b"data: {}\n\ndata: [DONE]\n\n"
    assert fake.posted_to() == ["a", "b"]
    metrics = await (await client.get("/metrics")).text()
    assert f'router_failovers_total{{model="m",reason="{failure}"}} 1.0' in metrics


@pytest.mark.parametrize(
    ("failure", "code"),
    [(FailureReason.RESET, "upstream_error"), (FailureReason.TIMEOUT, "upstream_timeout")],
)
async def test_sse_failing_after_the_first_chunk_ends_with_one_error_event(
    aiohttp_client: Any, failure: FailureReason, code: str
) -> None:
    chunks = (b'data: {"n": 1}\n\n', b'data: {"n": 2}\n\n', b"data: [DONE]\n\n")
    fake = FakeNodes({"a": Script(headers=SSE, chunks=chunks, fail_after=2, failure=failure)})
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a", "b")}))
    with capture_logs() as logs:
        response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
        assert response.status == 200
        events = sse_events(await response.read())
        assert await eventually(lambda: any(e["event"] == "access" for e in logs))
    assert events[:2] == [b'data: {"n": 1}', b'data: {"n": 2}']
    (last,) = events[2:]
    error = orjson.loads(last.removeprefix(b"data: "))
    assert error["error"]["code"] == code
    assert error["trace_id"] == response.headers["X-Request-ID"]
    assert fake.posted_to() == ["a"]  # committed: never failed over
    (access,) = [e for e in logs if e["event"] == "access"]
    assert access["attempts"][-1]["failure"] == "midstream"
    assert type(access["attempts"][-1]["failure"]) is str
    assert fake.responses[0].closed and not fake.responses[0].released


async def test_plain_body_failing_mid_answer_is_cut_short(aiohttp_client: Any) -> None:
    headers = (("Content-Type", "application/json"), ("Content-Length", "20"))
    fake = FakeNodes({"a": Script(headers=headers, chunks=(b'{"part": 1', b"}"), fail_after=1)})
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a", "b")}))
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()
    assert fake.posted_to() == ["a"]
    assert fake.responses[0].closed


async def test_chunks_are_relayed_as_they_arrive(aiohttp_client: Any) -> None:
    chunks = (b"data: 1\n\n", Chunk(b"data: 2\n\n", delay=0.05), b"data: [DONE]\n\n")
    fake = FakeNodes({"a": Script(headers=SSE, chunks=chunks)})
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a")}))
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    first = await response.content.readuntil(b"\n\n")
    assert first == b"data: 1\n\n"
    assert fake.responses[0].sent < 3  # the rest had not been read from the node yet
    assert await response.read() == b"data: 2\n\ndata: [DONE]\n\n"
    assert fake.responses[0].released and not fake.responses[0].closed


async def test_client_disconnect_closes_the_upstream_answer(aiohttp_client: Any) -> None:
    fake = FakeNodes({"a": Script(headers=SSE, chunks=(b"data: 1\n\n",), hang_after=1)})
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a")}))
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    assert await response.content.readuntil(b"\n\n") == b"data: 1\n\n"
    upstream = fake.responses[0]
    assert not upstream.closed
    response.close()  # the client goes away mid-stream
    assert await eventually(lambda: upstream.closed)
    assert not upstream.released


async def test_reload_swaps_the_transport_and_shutdown_closes_it(aiohttp_client: Any) -> None:
    fake = FakeNodes()
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a")}))
    first = {t.config.name: t for t in fake.transports}
    assert sorted(first) == list(NODES)
    table = client.app[PARTS].table
    table.install(parse_config(config_text({"m": tiers("a")}, timeouts={"total": 77})))
    swapped = fake.transports[len(first) :]
    assert sorted(t.config.name for t in swapped) == list(NODES)
    assert all(t.config.timeouts.total == 77 for t in swapped)
    assert all(t.closed for t in first.values())  # the old ones, at once
    assert not any(t.closed for t in swapped)
    assert table.node("a").transport in swapped
    await client.close()
    assert all(t.closed for t in fake.transports)


@pytest.mark.parametrize("retries", [0, 1, 2])
async def test_retries_bound_the_extra_attempts(aiohttp_client: Any, retries: int) -> None:
    fake = FakeNodes({"a": Script(status=500), "b": Script(status=500), "c": Script(status=500)})
    text = config_text({"m": tiers("a", "b", "c")}, retries=retries)
    client = await start(aiohttp_client, fake, text)
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 502
    assert fake.posted_to() == ["a", "b", "c"][: retries + 1]


async def test_a_stream_the_router_ends_says_so_and_spares_the_node(aiohttp_client: Any) -> None:
    fake = FakeNodes({"a": Script(headers=SSE, chunks=(b"data: 1\n\n",), hang_after=1)})
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a")}))
    response = await client.post("/v1/chat/completions", json=chat_body("m", stream=True))
    assert await response.content.readuntil(b"\n\n") == b"data: 1\n\n"
    assert client.app[PARTS].streams.end_all() == 1  # the shutdown grace ran out
    (event,) = sse_events(await response.content.read())
    assert orjson.loads(event.removeprefix(b"data: "))["error"]["code"] == "service_unavailable"
    assert fake.responses[0].closed
    metrics = await (await client.get("/metrics")).text()
    # The node did nothing wrong: no failure counted against it.
    assert 'router_upstream_errors_total{node="a",reason="midstream"} 0.0' in metrics


async def test_a_failover_status_whose_body_stalls_is_still_that_status(
    aiohttp_client: Any,
) -> None:
    """The node's reason is read from a bounded body within a short wait: a 500 whose body
    never comes stays a 5xx (not a first-byte timeout) and the next node is asked."""
    fake = FakeNodes(
        {"a": Script(status=500, hang_after=0), "b": Script(chunks=(b'{"from": "b"}',))}
    )
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a", "b")}))
    with capture_logs() as logs:
        response = await client.post("/v1/chat/completions", json=chat_body("m"))
        assert (response.status, await response.read()) == (200, b'{"from": "b"}')
        assert await eventually(lambda: any(e["event"] == "access" for e in logs))
    (access,) = [e for e in logs if e["event"] == "access"]
    assert [a["failure"] for a in access["attempts"]] == ["status_5xx", None]
    assert fake.responses[0].closed


async def test_the_last_nodes_reason_request_id_and_retry_after_reach_the_client(
    aiohttp_client: Any,
) -> None:
    body = b'{"error": {"message": "overloaded at http://127.0.0.1:9/a, retry"}}'
    headers = (
        ("Content-Type", "application/json"),
        ("Retry-After", "12"),
        ("x-request-id", "node-req-1"),
    )
    fake = FakeNodes({"a": Script(status=503, headers=headers, chunks=(body,))})
    client = await start(aiohttp_client, fake, config_text({"m": tiers("a")}))
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 503
    assert response.headers["Retry-After"] == "12"
    assert response.headers["X-Upstream-Request-ID"] == "node-req-1"
    error = (await response.json())["error"]
    assert error == {
        "code": "service_unavailable",
        "message": "overloaded at [redacted], retry",
        "type": "server_error",
    }


# --- issue 18: same-node retries (the test defaults turn them off; these turn them on) ---

SAME_NODE = {"retry_same_node": 1, "retry_wait": {"base": 0.01, "max": 5}}


async def test_a_tiers_failed_nodes_are_retried_once_before_the_next_tier(
    aiohttp_client: Any,
) -> None:
    fake = FakeNodes(
        {"a": Script(status=503), "b": Script(status=500), "c": Script(chunks=(b'{"c": 1}',))}
    )
    models = {"m": {"backends": [{"node": "a"}, {"node": "b"}, {"node": "c", "priority": 1}]}}
    client = await start(aiohttp_client, fake, config_text(models, **SAME_NODE))
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 200 and await response.read() == b'{"c": 1}'
    posted = fake.posted_to()
    # Each of the tier's nodes once, then each once more (not counted against retries: 2),
    # and only then the next tier.
    assert sorted(posted[:2]) == ["a", "b"] and sorted(posted[2:4]) == ["a", "b"], posted
    assert posted[4:] == ["c"], posted


async def test_a_retry_after_beyond_the_maximum_is_not_waited_for(aiohttp_client: Any) -> None:
    headers = (("Content-Type", "application/json"), ("Retry-After", "60"))
    fake = FakeNodes({"a": Script(status=429, headers=headers), "c": Script()})
    models = {"m": {"backends": [{"node": "a"}, {"node": "c", "priority": 1}]}}
    client = await start(aiohttp_client, fake, config_text(models, **SAME_NODE))
    response = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert response.status == 200
    assert fake.posted_to() == ["a", "c"]


async def test_same_node_retries_still_need_the_retry_budget(aiohttp_client: Any) -> None:
    # As in test_retries_stop_when_the_budget_is_spent: the first request's retries (a
    # again, then b, held) end with the budget's floor of one retry taken by b, so the
    # second request's same-node retry of a is refused.
    gate = asyncio.Event()
    fake = FakeNodes({"a": Script(status=500), "b": Script(head_gate=gate)})
    budget = {"percent": 0, "min_concurrent": 1}
    text = config_text({"m": tiers("a", "b")}, **SAME_NODE, retry_budget=budget)
    client = await start(aiohttp_client, fake, text)
    first = asyncio.ensure_future(client.post("/v1/chat/completions", json=chat_body("m")))
    assert await eventually(lambda: fake.posted_to() == ["a", "a", "b"])
    second = await client.post("/v1/chat/completions", json=chat_body("m"))
    assert second.status == 502
    assert fake.posted_to() == ["a", "a", "b", "a"]  # a is not asked again
    gate.set()
    assert (await first).status == 200
