"""A finished request's record as spans: ids the nodes saw, parents, times, attributes.

The SpanRecorder's real batch processor and tracer, with the SDK's in-memory exporter in
place of OTLP/HTTP (that one is tests/integration/observability/test_tracing.py's).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from router.config.observability import TracingConfig
from router.dialects.usage import Usage
from router.observability.exchange import AttemptKind, Exchange
from router.observability.listeners import Settled
from router.observability.metrics import Metrics
from router.observability.trace_context import TraceContext
from router.observability.tracing import SpanExport, SpanRecorder
from router.observability.tracing.export import QUEUE
from tests.support.observability import value

TRACE, CLIENT_SPAN, SERVER_SPAN = 0xABC, 0x111, 0x222
WALL = 1_800_000_000.0  # Unix time the request arrived; its loop clock read 100.0
CONFIG = TracingConfig("http://127.0.0.1:4318/v1/traces", service_name="svc")


@pytest.fixture
def memory() -> Iterator[tuple[SpanRecorder, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    export = SpanExport(CONFIG, None, exporter)
    try:
        yield SpanRecorder(export), exporter
    finally:
        export.close()


def exchange(*, sampled: bool = True) -> Exchange:
    trace = TraceContext(TRACE, SERVER_SPAN, CLIENT_SPAN, sampled=sampled)
    ex = Exchange("req-1", "POST", "/v1/chat/completions", "10.0.0.9", 100.0, WALL, trace)
    ex.model, ex.node, ex.status, ex.key_name = "m", "b", 200, "team"
    ex.admitting, ex.admitted = 100.001, 100.002
    first = ex.new_attempt("a", "m", AttemptKind.FIRST, 100.003)
    first.dialect, first.sent = "openai", 100.003
    first.failed("status_5xx", 502, 100.010)
    second = ex.new_attempt("b", "m", AttemptKind.FAILOVER, 100.011)
    second.dialect, second.sent, second.status = "openai", 100.011, 200
    second.first_byte, second.first_token = 100.111, 100.211
    ex.usage = Usage(prompt=3, completion=20, reasoning=16)
    return ex


def spans(recorder: SpanRecorder, exporter: InMemorySpanExporter) -> dict[str, ReadableSpan]:
    recorder.export.provider.force_flush()
    return {span.name: span for span in exporter.get_finished_spans()}


def test_a_request_becomes_a_server_span_with_its_attempts_as_children(memory) -> None:
    recorder, exporter = memory
    ex = exchange()
    recorder.requests_finished([(ex, 100.5)])
    got = spans(recorder, exporter)
    assert set(got) == {"POST m", "admission", "first a", "failover b"}
    server = got["POST m"]
    assert server.context.trace_id == TRACE and server.context.span_id == SERVER_SPAN
    assert server.parent is not None and server.parent.span_id == CLIENT_SPAN
    assert server.kind is SpanKind.SERVER
    assert server.start_time == int(WALL * 1e9)
    assert server.end_time == int((WALL + 0.5) * 1e9)
    assert server.resource.attributes["service.name"] == "svc"
    assert dict(server.attributes) == {
        "http.request.method": "POST",
        "url.path": "/v1/chat/completions",
        "http.response.status_code": 200,
        "router.request_id": "req-1",
        "router.model": "m",
        "router.outcome": "success",
        "router.attempts": 2,
        "router.streamed": False,
        "router.bytes_out": 0,
        "router.node": "b",
        "router.key_name": "team",
        "router.credits.reserved": 0.0,
        "client.address": "10.0.0.9",
        "gen_ai.usage.input_tokens": 3,
        "gen_ai.usage.output_tokens": 20,
        "router.usage.reasoning_tokens": 16,
    }
    first, second = got["first a"], got["failover b"]
    for attempt, record in zip((first, second), ex.attempts, strict=True):
        assert attempt.context.span_id == record.span_id  # what the node got as its parent
        assert attempt.parent.span_id == SERVER_SPAN and attempt.kind is SpanKind.CLIENT
    assert first.status.status_code is StatusCode.ERROR
    assert first.attributes["error.type"] == "status_5xx"
    assert first.attributes["http.response.status_code"] == 502
    assert first.end_time == int((WALL + 0.010) * 1e9)
    assert second.status.status_code is StatusCode.UNSET
    assert second.attributes["router.ttfb_ms"] == pytest.approx(100.0, abs=0.01)
    assert second.attributes["router.ttft_ms"] == pytest.approx(200.0, abs=0.01)
    assert second.attributes["router.attempt.index"] == 1
    assert second.end_time == server.end_time  # it served the answer to the end
    assert [e.name for e in second.events] == ["first_byte", "first_token"]
    assert got["admission"].parent.span_id == SERVER_SPAN


def test_an_unsampled_or_untraced_request_makes_no_span(memory) -> None:
    recorder, exporter = memory
    untraced = exchange()
    untraced.trace = None
    recorder.requests_finished([(exchange(sampled=False), 100.5), (untraced, 100.5)])
    recorder.request_settled(exchange(sampled=False), Settled(100.6, 100.7, "settled"))
    assert spans(recorder, exporter) == {}


def test_a_settlement_is_a_child_of_the_server_span_ending_after_it(memory) -> None:
    recorder, exporter = memory
    ex = exchange()
    settled = Settled(100.6, 100.7, "settled", charged=1_500_000, refunded=3_500_000)
    recorder.request_settled(ex, settled)
    settlement = spans(recorder, exporter)["settlement"]
    assert settlement.parent.span_id == SERVER_SPAN
    assert settlement.start_time == int((WALL + 0.6) * 1e9)
    assert dict(settlement.attributes) == {
        "router.settle.result": "settled",
        "router.credits.charged": 1.5,
        "router.credits.refunded": 3.5,
    }


def test_a_root_request_and_a_hedge_that_lost(memory) -> None:
    recorder, exporter = memory
    ex = exchange()
    ex.trace = TraceContext(TRACE, SERVER_SPAN, None)
    ex.admitting = None
    hedge = ex.new_attempt("c", "m", AttemptKind.HEDGE, 100.2)
    hedge.failed("outraced", None, 100.3)
    recorder.requests_finished([(ex, 100.5)])
    got = spans(recorder, exporter)
    assert got["POST m"].parent is None
    assert "admission" not in got
    lost = got["hedge c"]
    assert lost.attributes["router.failure"] == "outraced" and "error.type" not in lost.attributes
    assert lost.status.status_code is StatusCode.UNSET  # the router's choice, not a failure


class _Refusing(InMemorySpanExporter):
    def export(self, spans):  # type: ignore[no-untyped-def]
        return SpanExportResult.FAILURE


def test_spans_that_cannot_go_out_are_dropped_and_counted() -> None:
    metrics = Metrics(process_collectors=False)
    export = SpanExport(CONFIG, metrics, _Refusing())
    recorder = SpanRecorder(export)
    try:
        recorder.requests_finished([(exchange(), 100.5)])
        export.provider.force_flush()
        assert export.counts["export_failed"] == 4
        assert value(metrics, "router_trace_spans_total", outcome="export_failed") == 4
        # The queue is full when QUEUE spans wait: a request that does not fit loses its
        # spans whole, counted, and never waits.
        export.pending = QUEUE - 3
        recorder.requests_finished([(exchange(), 100.5)])
        assert export.counts["queue_full"] == 4
        assert value(metrics, "router_trace_spans_total", outcome="queue_full") == 4
    finally:
        export.pending = 0
        export.close()


def test_a_record_that_cannot_become_spans_costs_only_its_own(memory) -> None:
    recorder, exporter = memory
    broken = exchange()
    broken.attempts.append("not an attempt")  # type: ignore[arg-type]  # a bug elsewhere
    recorder.requests_finished([(broken, 100.5), (exchange(), 100.5)])
    got = spans(recorder, exporter)
    # The good one whole (4 spans), the broken one up to its bug (4 of 5).
    assert len(exporter.get_finished_spans()) == 4 + 4
    assert "failover b" in got
    assert recorder.export.pending == 0  # the room the broken one did not use is given back
