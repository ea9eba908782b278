"""A finished request's record, as OpenTelemetry spans (the tracing listener).

One trace per request (the client's, when it sent a `traceparent`):

    server span   "<method> <model>"   the whole request: status, outcome, key name,
                                       tokens (never the key, the prompt or a node URL)
      admission   the key, limit and credit checks (one state-store call)
      <kind> <node>  one per attempt, kind first|failover|same_node_retry|hedge|
                  fallback|continuation: node, dialect, status, time to first byte and
                  first token, failure reason; its span id is the `traceparent` parent
                  the node received
      settlement  the charge or refund, ended after the server span (its own task)

Times come from the record (router.observability.exchange): loop-clock times, turned
into Unix nanoseconds through the request's `wall_started`.
"""

from __future__ import annotations

from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
    set_span_in_context,
)
from opentelemetry.util.types import AttributeValue

from router.observability.exchange import Attempt, Exchange
from router.observability.listeners import Finished, Settled, not_recorded
from router.observability.trace_context import TraceContext
from router.observability.tracing.export import SpanExport

MAX_PATH = 256  # characters of a request path kept on its span
MICRO = 1_000_000
# Ways an attempt can be left that are the router's choice, not the node's failure.
NOT_ERRORS = frozenset({"outraced", "cancelled"})
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)

Attributes = dict[str, AttributeValue]


class SpanRecorder:
    """Turns sampled requests into spans and hands them to `SpanExport`."""

    def __init__(self, export: SpanExport) -> None:
        self.export = export
        self._made = 0  # spans of the request being recorded that reached the processor

    def requests_finished(self, batch: Sequence[Finished]) -> None:
        for exchange, now in batch:
            trace = exchange.trace
            if trace is None or not trace.sampled:
                continue
            spans = 1 + len(exchange.attempts) + (exchange.admitting is not None)
            if not self.export.take(spans):
                continue
            self._made = 0
            try:
                self._request(exchange, trace, now)
            except Exception:
                self.export.release(spans - self._made)  # the queue room it did not use
                not_recorded(exchange, "trace")

    def request_settled(self, exchange: Exchange, settled: Settled) -> None:
        trace = exchange.trace
        if trace is None or not trace.sampled or not self.export.take(1):
            return
        self._made = 0
        try:
            self._settlement(exchange, trace, settled)
        except Exception:
            self.export.release(1 - self._made)
            not_recorded(exchange, "trace")

    def _settlement(self, exchange: Exchange, trace: TraceContext, settled: Settled) -> None:
        attributes: Attributes = {
            "router.settle.result": settled.result,
            "router.credits.charged": settled.charged / MICRO,
            "router.credits.refunded": settled.refunded / MICRO,
        }
        if settled.recovered:
            attributes["router.settle.reservation_lost"] = True
        failed = "state backend unreachable" if settled.result == "failed" else None
        clock = _Clock(exchange)
        self._span(
            trace,
            trace.new_span_id(),
            self._server(trace),
            "settlement",
            (clock.ns(settled.started), clock.ns(settled.ended)),
            attributes,
            failed,
        )

    # -- one request ----------------------------------------------------------------------

    def _request(self, exchange: Exchange, trace: TraceContext, now: float) -> None:
        clock = _Clock(exchange)
        parent = None
        if trace.parent_id is not None:
            parent = SpanContext(trace.trace_id, trace.parent_id, True, _SAMPLED)
        self._span(
            trace,
            trace.span_id,
            parent,
            f"{exchange.method} {exchange.model}",
            (clock.ns(exchange.started), clock.ns(now)),
            _server_attributes(exchange),
            _server_error(exchange),
            kind=SpanKind.SERVER,
        )
        server = self._server(trace)
        if exchange.admitting is not None:
            ended = exchange.admitted if exchange.admitted is not None else now
            attributes: Attributes = {"router.key_name": exchange.key_name or ""}
            self._span(
                trace,
                trace.new_span_id(),
                server,
                "admission",
                (clock.ns(exchange.admitting), clock.ns(ended)),
                attributes,
                None,
            )
        for index, attempt in enumerate(exchange.attempts):
            ended = attempt.ended if attempt.ended is not None else now
            error = attempt.failure if attempt.failure not in NOT_ERRORS else None
            self._span(
                trace,
                attempt.span_id,
                server,
                f"{attempt.kind.value} {attempt.node}",
                (clock.ns(attempt.started), clock.ns(ended)),
                _attempt_attributes(attempt, index),
                error,
                kind=SpanKind.CLIENT,
                events=_attempt_events(attempt, clock),
            )

    def _server(self, trace: TraceContext) -> SpanContext:
        return SpanContext(trace.trace_id, trace.span_id, False, _SAMPLED)

    def _span(
        self,
        trace: TraceContext,
        span_id: int,
        parent: SpanContext | None,
        name: str,
        times: tuple[int, int],
        attributes: Attributes,
        error: str | None,
        *,
        kind: SpanKind = SpanKind.INTERNAL,
        events: Sequence[tuple[str, int]] = (),
    ) -> None:
        """One span with the ids and times the router chose (see export.AssignedIds)."""
        ids = self.export.ids
        ids.trace_id, ids.span_id = trace.trace_id, span_id
        context = Context() if parent is None else set_span_in_context(NonRecordingSpan(parent))
        span = self.export.tracer.start_span(
            name, context=context, kind=kind, attributes=attributes, start_time=times[0]
        )
        for event, at in events:
            span.add_event(event, timestamp=at)
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, error))
        span.end(end_time=max(times))
        self._made += 1


class _Clock:
    """A request's loop-clock times as Unix nanoseconds."""

    __slots__ = ("offset",)

    def __init__(self, exchange: Exchange) -> None:
        self.offset = exchange.wall_started - exchange.started

    def ns(self, loop_time: float) -> int:
        return int((self.offset + loop_time) * 1e9)


def _server_attributes(exchange: Exchange) -> Attributes:
    attributes: Attributes = {
        "http.request.method": exchange.method,
        "url.path": exchange.path[:MAX_PATH],
        "http.response.status_code": exchange.status or 499,
        "router.request_id": exchange.request_id,
        "router.model": exchange.model,
        "router.outcome": exchange.outcome,
        "router.attempts": len(exchange.attempts),
        "router.streamed": exchange.streamed,
        "router.bytes_out": exchange.bytes_out,
    }
    if exchange.node is not None:
        attributes["router.node"] = exchange.node
    if exchange.key_name:
        attributes["router.key_name"] = exchange.key_name
        attributes["router.credits.reserved"] = exchange.reserved / MICRO
    if exchange.error_code is not None:
        attributes["error.type"] = exchange.error_code
    if exchange.client is not None:
        attributes["client.address"] = exchange.client
    if exchange.client_disconnected:
        attributes["router.client_disconnected"] = True
    usage = exchange.usage
    if usage is not None:
        attributes["gen_ai.usage.input_tokens"] = usage.prompt
        attributes["gen_ai.usage.output_tokens"] = usage.completion
        attributes["router.usage.reasoning_tokens"] = usage.reasoning
    return attributes


def _server_error(exchange: Exchange) -> str | None:
    """A server error or an answer failed mid-way marks the span; a client's 4xx does not."""
    status = exchange.status
    if status >= 500 or (exchange.error_code is not None and status < 400):
        return exchange.error_code or f"status {status}"
    return None


def _attempt_attributes(attempt: Attempt, index: int) -> Attributes:
    attributes: Attributes = {
        "router.attempt.kind": attempt.kind.value,
        "router.attempt.index": index,
        "router.node": attempt.node,
        "router.node.dialect": attempt.dialect,
        "router.model": attempt.model,
    }
    if attempt.status is not None:
        attributes["http.response.status_code"] = attempt.status
    if attempt.failure is not None:
        attributes["router.failure"] = attempt.failure
        if attempt.failure not in NOT_ERRORS:
            attributes["error.type"] = attempt.failure
    sent = attempt.sent if attempt.sent is not None else attempt.started
    if attempt.first_byte is not None:
        attributes["router.ttfb_ms"] = round((attempt.first_byte - sent) * 1000, 3)
    if attempt.first_token is not None:
        attributes["router.ttft_ms"] = round((attempt.first_token - sent) * 1000, 3)
    return attributes


def _attempt_events(attempt: Attempt, clock: _Clock) -> list[tuple[str, int]]:
    events = []
    if attempt.sent is not None and attempt.sent > attempt.started:
        events.append(("sent", clock.ns(attempt.sent)))  # after a same-node retry's wait
    if attempt.first_byte is not None:
        events.append(("first_byte", clock.ns(attempt.first_byte)))
    if attempt.first_token is not None:
        events.append(("first_token", clock.ns(attempt.first_token)))
    return events
