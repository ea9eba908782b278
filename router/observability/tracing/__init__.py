"""OpenTelemetry traces of every request and every attempt (routes.yaml
`observability.tracing`, docs/tracing.md). Imported only when tracing is configured: the
OpenTelemetry SDK is the optional extra `router[tracing]`.

    context   a request's trace context when it arrives: the client's `traceparent`
              continued, or a new trace; sampled by the SDK's parent-based ratio sampler
    spans     the listener: a finished request's record becomes its spans (server span,
              one child per attempt, admission, settlement), with the ids the nodes saw
    export    the SDK's batch processor and OTLP/HTTP exporter behind a bounded queue
              that never blocks a request, counting what it exports and what it drops

May import: what router.observability may, and OpenTelemetry.
"""

from __future__ import annotations

from router.config.observability import TracingConfig
from router.observability.metrics import Metrics
from router.observability.tracing.context import RatioTracer
from router.observability.tracing.export import SpanExport
from router.observability.tracing.spans import SpanRecorder

__all__ = ["RatioTracer", "SpanExport", "SpanRecorder", "start_tracing"]


def start_tracing(
    config: TracingConfig, metrics: Metrics | None
) -> tuple[RatioTracer, SpanRecorder]:
    """The tracer that starts each request's context, and the listener that exports it."""
    export = SpanExport(config, metrics)
    return RatioTracer(config.sample_ratio), SpanRecorder(export)
