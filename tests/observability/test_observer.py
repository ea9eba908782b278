"""router.observability.observer: what one finished request records, and when (pure, no network)."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time

import structlog

from router.dialects.usage import Usage
from router.observability.exchange import Attempt, AttemptKind, Exchange
from router.observability.logs import LogOutput, configure_logging
from router.observability.metrics import Metrics
from router.observability.observer import Observer
from tests.support.observability import CountingStream, value


def finished_exchange(n: int, *, status: int = 200) -> Exchange:
    exchange = Exchange(f"t-{n}", "POST", "/v1/chat/completions", "127.0.0.1", started=10.0)
    exchange.model, exchange.node, exchange.status = "gpt-4o", "a", status
    exchange.ttfb, exchange.bytes_out = 0.0123, 321
    exchange.attempts = [
        Attempt("b", "gpt-4o", AttemptKind.FIRST, 10.0, failure="timeout"),
        Attempt("a", "gpt-4o", AttemptKind.FAILOVER, 10.1, status=status),
    ]
    exchange.usage = Usage(prompt=3, completion=5, reasoning=2)
    return exchange


def observer(stream: CountingStream) -> tuple[Observer, Metrics]:
    metrics = Metrics()
    metrics.set_routes({"gpt-4o": ["a", "b"]})
    return Observer(metrics, output=LogOutput(stream, logging.INFO)), metrics


async def test_requests_ended_in_one_loop_turn_are_recorded_together_at_its_end() -> None:
    stream = CountingStream()
    watcher, metrics = observer(stream)
    for n in range(3):
        watcher.request_finished(finished_exchange(n), now=10.5)
    requests = {"model": "gpt-4o", "node": "a", "code": "200"}
    assert stream.getvalue() == b""  # still within the turn
    assert value(metrics, "router_requests_total", **requests) is None
    await asyncio.sleep(0)
    assert value(metrics, "router_requests_total", **requests) == 3
    assert value(metrics, "router_tokens_total", model="gpt-4o", kind="reasoning") == 6
    assert stream.writes == 1
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["trace_id"] for e in events] == ["t-0", "t-1", "t-2"]
    assert events[0]["duration_ms"] == 500.0 and events[0]["ttfb_ms"] == 12.3
    plain = {"dialect": "", "translated": False}  # the node's dialect (none set here)
    assert events[0]["attempts"] == [
        {"node": "b", "model": "gpt-4o", "kind": "first", "failure": "timeout", "status": None}
        | plain,
        {"node": "a", "model": "gpt-4o", "kind": "failover", "failure": None, "status": 200}
        | plain,
    ]
    assert events[0]["usage"] == {"prompt": 3, "completion": 5, "reasoning": 2}
    watcher.request_finished(finished_exchange(3, status=0), now=11.0)  # never answered
    await asyncio.sleep(0)
    assert stream.writes == 2
    assert json.loads(stream.getvalue().splitlines()[-1])["status"] == 499
    assert value(metrics, "router_requests_total", model="gpt-4o", node="a", code="499") == 1


def test_without_a_loop_a_finished_request_is_recorded_at_once() -> None:
    stream = CountingStream()
    watcher, metrics = observer(stream)
    watcher.request_finished(finished_exchange(0), now=10.5)
    assert value(metrics, "router_requests_total", model="gpt-4o", node="a", code="200") == 1
    assert json.loads(stream.getvalue())["trace_id"] == "t-0"


async def test_access_log_off_still_counts_metrics_and_writes_nothing() -> None:
    stream = CountingStream()
    metrics = Metrics()
    metrics.set_routes({"gpt-4o": ["a", "b"]})
    watcher = Observer(metrics, access_log=False, output=LogOutput(stream, logging.INFO))
    watcher.request_finished(finished_exchange(0), now=10.5)
    await asyncio.sleep(0)
    assert value(metrics, "router_requests_total", model="gpt-4o", node="a", code="200") == 1
    assert stream.writes == 0


async def test_flush_records_the_pending_requests_at_once_and_only_once() -> None:
    stream = CountingStream()
    watcher, metrics = observer(stream)
    watcher.request_finished(finished_exchange(0), now=10.5)
    watcher.flush()  # as on stop: before the "stopped" line, not after it
    assert json.loads(stream.getvalue())["trace_id"] == "t-0"
    await asyncio.sleep(0)  # the callback scheduled for the turn finds nothing left
    assert stream.writes == 1
    assert value(metrics, "router_requests_total", model="gpt-4o", node="a", code="200") == 1


async def test_a_request_that_cannot_be_recorded_costs_only_its_own_record() -> None:
    stream = CountingStream()
    with structlog.testing.capture_logs() as logged:
        watcher, metrics = observer(stream)
        broken = finished_exchange(1)
        broken.usage = "not a usage"  # type: ignore[assignment]  # a bug elsewhere, say
        for exchange in (finished_exchange(0), broken, finished_exchange(2)):
            watcher.request_finished(exchange, now=10.5)
        await asyncio.sleep(0)
    assert [(e["event"], e["trace_id"], e["what"]) for e in logged] == [
        ("request_not_recorded", "t-1", "metrics"),
        ("request_not_recorded", "t-1", "access_log"),
    ]
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["trace_id"] for e in events] == ["t-0", "t-2"]
    # Counted before the broken usage was reached; the others fully.
    assert value(metrics, "router_requests_total", model="gpt-4o", node="a", code="200") == 3
    assert value(metrics, "router_tokens_total", model="gpt-4o", kind="prompt") == 6


async def test_console_format_writes_the_same_fields_line_by_line() -> None:
    out = io.StringIO()
    output = configure_logging("info", "console", stream=out)
    metrics = Metrics()
    metrics.set_routes({"gpt-4o": ["a", "b"]})
    watcher = Observer(metrics, output=output)
    for n in range(2):
        watcher.request_finished(finished_exchange(n), now=10.5)
    await asyncio.sleep(0)
    first, second = out.getvalue().splitlines()
    assert "[router.access]" in first and "trace_id=t-0" in first and "trace_id=t-1" in second
    assert "duration_ms=500.0" in first and "ttfb_ms=12.3" in first


async def test_console_format_below_info_writes_no_access_lines() -> None:
    out = io.StringIO()
    watcher = Observer(None, output=configure_logging("warning", "console", stream=out))
    watcher.request_finished(finished_exchange(0), now=10.5)
    await asyncio.sleep(0)
    assert out.getvalue() == ""


def test_the_status_pages_traffic_is_fed_even_with_metrics_and_access_log_off():
    observer = Observer(None, access_log=False)
    answered = Exchange("r1", "POST", "/v1/chat/completions", "127.0.0.1", started=0.0)
    answered.model, answered.node, answered.status = "m", "node62", 200
    failed = Exchange("r2", "POST", "/v1/chat/completions", "127.0.0.1", started=0.0)
    failed.model, failed.node, failed.status = "m", "node62", 502
    observer.request_finished(answered, 1.0)
    observer.request_finished(failed, 1.0)
    observer.upstream_failed("node63", "connect")
    assert observer.traffic.shares("m") == {"node62": 2}
    series = observer.traffic.series(time.monotonic())["nodes"]
    assert sum(series["node62"]["requests_per_s"]) * 10 == 2
    assert sum(series["node62"]["errors_per_s"]) * 10 == 1
    assert sum(series["node63"]["errors_per_s"]) * 10 == 1
