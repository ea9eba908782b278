"""OpenTelemetry traces, received the way a collector would receive them.

A real router exports over OTLP/HTTP to a local receiver (tests/support/otlp.py, decoding
the protobuf with opentelemetry-proto). Its model has three nodes in three priority tiers
and `on_midstream_failure: continue`: the first answers 500 (a failover), the second cuts
its stream after five events, two of them content (a continuation), the third finishes
the answer. The client sends its own `traceparent`, so the router's spans continue its
trace.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from tests.support import MockNodes, Proc, Routers, chat_body, eventually, free_port, http_request
from tests.support.billing import (
    FLOW_PRICING,
    billing_config,
    key_hash,
    new_request_id,
    scrape,
)
from tests.support.otlp import OtlpReceiver, Span

pytestmark = pytest.mark.integration

KEY = f"sk-trace-{secrets.token_hex(12)}"
NODES = ("n-fail", "n-cut", "n-done")
SERVICE = "router-under-test"


@dataclass(slots=True)
class Setup:
    router: Proc
    nodes: MockNodes
    receiver_port: int


MOCK_NODES = {"n-fail": ("--status", "500"), "n-cut": ("--cut-after", "5"), "n-done": ()}


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, mock_nodes: MockNodes, routers: Routers
) -> Setup:
    folder = tmp_path_factory.mktemp("tracing")
    port = free_port()
    model = {
        "backends": [{"node": name, "priority": i} for i, name in enumerate(NODES)],
        "on_midstream_failure": "continue",
        "pricing": FLOW_PRICING,
    }
    text = billing_config(
        nodes={name: {"url": mock_nodes[name].url} for name in NODES},
        models={"m": model},
        state={"backend": "memory", "ledger_path": str(folder / "usage.jsonl")},
        keys=[{"name": "team", "hash": key_hash(KEY), "credits": 1000}],
        observability={
            "tracing": {
                "endpoint": f"http://127.0.0.1:{port}/v1/traces",
                "service_name": SERVICE,
                "sample_ratio": 1,
            }
        },
    )
    return Setup(routers.get(text), mock_nodes, port)


@pytest.fixture
async def receiver(setup: Setup) -> AsyncIterator[OtlpReceiver]:
    started = await OtlpReceiver(setup.receiver_port).start()
    try:
        yield started
    finally:
        await started.stop()


async def stream(router: Proc, headers: dict[str, str]) -> tuple[int, str, dict[str, str]]:
    """POST a streaming chat to `m`; status, the text streamed, the response headers."""
    sent = {"Authorization": f"Bearer {KEY}", **headers}
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as session,
        session.post(
            router.base_url + "/v1/chat/completions",
            json=chat_body("m", stream=True),
            headers=sent,
        ) as response,
    ):
        raw = (await response.read()).decode()
        return response.status, _content(raw), dict(response.headers)


def _content(raw: str) -> str:
    out = []
    for line in raw.splitlines():
        if line.startswith("data:") and line[5:].strip() not in ("", "[DONE]"):
            for choice in json.loads(line[5:]).get("choices", []):
                out.append(choice.get("delta", {}).get("content") or "")
    return "".join(out)


def by_name(spans: list[Span]) -> dict[str, Span]:
    return {span.name: span for span in spans}


async def test_a_failed_over_then_continued_stream_is_one_trace(
    setup: Setup, receiver: OtlpReceiver
) -> None:
    client_trace, client_span = secrets.token_hex(16), secrets.token_hex(8)
    request_id = new_request_id()
    status, text, _ = await stream(
        setup.router,
        {"traceparent": f"00-{client_trace}-{client_span}-01", "X-Request-ID": request_id},
    )
    assert status == 200
    assert text.startswith("Hello from n-cut.") and text.endswith("Part 5 of 5."), text

    def complete() -> bool:
        names = {span.name for span in receiver.trace(client_trace)}
        return {"settlement", "admission"} <= names and len(names) >= 6

    assert await eventually(complete, limit=15), [s.name for s in receiver.spans]
    spans = receiver.trace(client_trace)
    assert {span.trace_id for span in spans} == {client_trace}
    assert {span.service for span in spans} == {SERVICE}
    [server] = [span for span in spans if span.kind == "SPAN_KIND_SERVER"]
    assert server.parent_id == client_span  # the client's span is the router's parent
    assert server.name == "POST m"
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["router.model"] == "m"
    assert server.attributes["router.key_name"] == "team"
    assert server.attributes["router.outcome"] == "success"
    assert server.attributes["router.request_id"] == request_id
    assert server.attributes["router.attempts"] == 3
    assert server.attributes["gen_ai.usage.output_tokens"] > 0
    assert KEY not in json.dumps([s.attributes for s in spans])  # never the key
    attempts = sorted(
        (span for span in spans if span.kind == "SPAN_KIND_CLIENT"),
        key=lambda span: span.attributes["router.attempt.index"],
    )
    assert [
        (a.attributes["router.attempt.kind"], a.attributes["router.node"]) for a in attempts
    ] == [
        ("first", "n-fail"),
        ("failover", "n-cut"),
        ("continuation", "n-done"),
    ]
    assert [a.name for a in attempts] == ["first n-fail", "failover n-cut", "continuation n-done"]
    assert all(a.parent_id == server.span_id for a in attempts)
    failed, cut, done = attempts
    assert failed.attributes["error.type"] == "status_5xx" and failed.status == "STATUS_CODE_ERROR"
    assert failed.attributes["http.response.status_code"] == 500
    assert cut.attributes["router.failure"] == "midstream"
    assert "router.failure" not in done.attributes and done.status != "STATUS_CODE_ERROR"
    assert done.attributes["router.node.dialect"] == "openai"
    assert all("router.ttfb_ms" in a.attributes for a in (cut, done))
    assert all(0 < a.attributes["router.ttft_ms"] < 10_000 for a in (cut, done))
    assert {"first_byte", "first_token"} <= set(done.events)
    assert server.attributes["router.credits.reserved"] == 5  # FLOW_PRICING's pre_deduct
    assert server.start <= failed.start < failed.end <= cut.start < cut.end <= done.start
    assert done.end <= server.end
    # Each node received the attempt's own span as its parent.
    for attempt in attempts:
        node = setup.nodes[attempt.attributes["router.node"]]
        headers = node.last_request()["headers"]  # type: ignore[index]
        received = {k.lower(): v for k, v in headers.items()}["traceparent"]
        assert received == f"00-{client_trace}-{attempt.span_id}-01"
    named = by_name(spans)
    assert named["admission"].parent_id == server.span_id
    settlement = named["settlement"]
    assert settlement.parent_id == server.span_id
    assert settlement.attributes["router.settle.result"] == "settled"
    assert settlement.attributes["router.credits.charged"] > 0
    assert receiver.content_types == {"application/x-protobuf"}


async def test_a_request_without_traceparent_starts_a_trace_and_its_exemplar_is_scraped(
    setup: Setup, receiver: OtlpReceiver
) -> None:
    request_id = new_request_id()
    status, _, _ = await stream(setup.router, {"X-Request-ID": request_id})
    assert status == 200

    def server_span() -> list[Span]:
        return [
            s
            for s in receiver.spans
            if s.kind == "SPAN_KIND_SERVER" and s.attributes["router.request_id"] == request_id
        ]

    found = await eventually(server_span, limit=15)
    assert found and found[0].parent_id == ""  # a root span
    trace_id = found[0].trace_id
    _, _, body = http_request(
        "GET",
        setup.router.base_url + "/metrics",
        headers={"Accept": "application/openmetrics-text; version=1.0.0"},
    )
    exposition = body.decode()
    exemplars = re.findall(
        r'^router_request_duration_seconds_bucket\{[^}]*\} \S+ # \{trace_id="([0-9a-f]{32})"\}',
        exposition,
        re.MULTILINE,
    )
    assert trace_id in exemplars, exposition[:2000]


async def test_with_the_collector_down_requests_are_served_and_spans_counted_as_dropped(
    setup: Setup, receiver: OtlpReceiver
) -> None:
    await receiver.stop()
    failed_before = scrape(
        setup.router.base_url, "router_trace_spans_total", outcome="export_failed"
    )
    results = await asyncio.gather(*(stream(setup.router, {}) for _ in range(10)))
    assert [status for status, _, _ in results] == [200] * 10
    assert all(text.endswith("Part 5 of 5.") for _, text, _ in results)

    def dropped() -> float:
        failed = scrape(setup.router.base_url, "router_trace_spans_total", outcome="export_failed")
        return failed - failed_before

    # Ten requests of five spans or more (the settlements come later): all dropped.
    assert await eventually(lambda: dropped() >= 50, limit=20), dropped()
    exported = scrape(setup.router.base_url, "router_trace_spans_total", outcome="exported")
    await receiver.start()  # the collector is back: exports resume
    status, _, _ = await stream(setup.router, {})
    assert status == 200
    assert await eventually(
        lambda: (
            scrape(setup.router.base_url, "router_trace_spans_total", outcome="exported") > exported
        ),
        limit=15,
    )
