"""What the observer tells about each finished request: one small protocol, one module per
listener (metrics and the access line here; traces in router.observability.tracing).

How this works: `Observer.request_finished` collects the requests that ended in one
event-loop turn and hands the batch to every listener at the end of the turn
(router.observability.observer says why). A listener reads the request's record
(router.observability.exchange: its attempts with their kinds and times); it never sees
aiohttp, billing or the proxy. A settlement comes later, in a task of its own, and is
told separately. Each listener is on its own: a bug met by one costs neither the others
nor the other requests of the batch their record.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from router.observability.exchange import Exchange
from router.observability.logs import AccessLogWriter, access_fields, get_logger, log_access
from router.observability.metrics import NO_NODE, Metrics

Finished = tuple[Exchange, float]  # a request and when it ended (loop clock)


@dataclass(frozen=True, slots=True)
class Settled:
    """How a request's credits were settled (router.billing): loop-clock times."""

    started: float
    ended: float
    result: str  # a SettleResult value, or "failed" when the backend never answered
    charged: int = 0  # micro-credits
    refunded: int = 0
    recovered: bool = False  # its reservation had been lost (router.billing.state.lua)


class RequestListener(Protocol):
    """Told of finished requests (in batches) and of their settlements."""

    def requests_finished(self, batch: Sequence[Finished]) -> None: ...

    def request_settled(self, exchange: Exchange, settled: Settled) -> None: ...


def not_recorded(exchange: Exchange, what: str) -> None:
    """A listener failed on one request: logged with its trace id, the rest go on."""
    get_logger("router").exception("request_not_recorded", trace_id=exchange.request_id, what=what)


class MetricsListener:
    """Per-request metrics: requests, durations (with trace-id exemplars), tokens."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def requests_finished(self, batch: Sequence[Finished]) -> None:
        metrics = self.metrics
        for exchange, now in batch:
            try:
                route = metrics.route(exchange.model, exchange.node or NO_NODE)
                trace = exchange.trace
                exemplar = trace.trace_hex if trace is not None and trace.sampled else None
                route.finished(exchange.status or 499, now - exchange.started, exemplar)
                if exchange.ttfb is not None:
                    route.first_byte(exchange.ttfb, exemplar)
                usage = exchange.usage
                if usage is not None:
                    route.add_tokens(usage.prompt, usage.completion, usage.reasoning)
                if exchange.client_disconnected:
                    route.client_disconnected()
            except Exception:
                not_recorded(exchange, "metrics")

    def request_settled(self, exchange: Exchange, settled: Settled) -> None:
        """Credits are counted by the observer's `credits_settled`."""


class AccessLogListener:
    """One access line per request: JSON lines written directly, or through structlog."""

    def __init__(self, fast: AccessLogWriter | None) -> None:
        self.fast = fast
        self.access = get_logger("router.access")

    def requests_finished(self, batch: Sequence[Finished]) -> None:
        if self.fast is not None:
            lines = []
            for exchange, now in batch:
                try:
                    lines.append(access_fields(exchange, now))
                except Exception:
                    not_recorded(exchange, "access_log")
            if lines:
                self.fast.write_lines(lines)
            return
        if not self.access.is_enabled_for(logging.INFO):
            return
        for exchange, now in batch:  # console format: through structlog, line by line
            try:
                log_access(self.access, access_fields(exchange, now))
            except Exception:
                not_recorded(exchange, "access_log")

    def request_settled(self, exchange: Exchange, settled: Settled) -> None:
        """The ledger records settlements; the access line is written before them."""
