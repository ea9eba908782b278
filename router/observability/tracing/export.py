"""Spans out of the process: OpenTelemetry's batch processor and OTLP/HTTP exporter.

How this works: finished spans go to the SDK's `BatchSpanProcessor`, whose worker thread
sends them in batches to the collector with the OTLP/HTTP exporter (retries with backoff,
bounded by EXPORT_TIMEOUT). Ending a span only appends it to a queue, so a request never
waits for the collector. The processor drops spans silently when its queue is full, so
this module keeps its own count in front of it: spans handed over and not yet exported
or failed never exceed QUEUE, and a request whose spans would not fit loses them here,
counted (`router_trace_spans_total{outcome}`: exported, queue_full, export_failed).
An unreachable collector costs failed exports on the worker thread, and once the queue is
full, dropped spans: never a request's time.

The spans are made by the SDK's own tracer; only their ids are the router's, chosen when
each request arrived and each attempt started (a node saw its attempt's span id in
`traceparent` before the span existed). `AssignedIds` hands them to the tracer, one span
at a time, on the event loop's thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_ON
from opentelemetry.trace import Tracer

from router.config.observability import TracingConfig
from router.observability.logs import get_logger
from router.observability.metrics import Metrics

QUEUE = 2048  # spans waiting for export at most
BATCH = 512
SCHEDULE_DELAY_MS = 1000  # a batch goes out at least this often
EXPORT_TIMEOUT = 5.0  # seconds for one batch, retries included
FLUSH_WAIT = 2.0  # seconds `close` waits for the last spans to go out
# The exporter logs every retry and every failed batch: with a collector down, lines every
# second. The router logs `trace_export` when exports start failing and when they recover,
# and counts what was dropped, instead.
EXPORTER_LOGGER = "opentelemetry.exporter"


class AssignedIds(IdGenerator):
    """Gives the tracer the ids the router chose: set them, then start one span."""

    def __init__(self) -> None:
        self.trace_id = 0
        self.span_id = 0

    def generate_span_id(self) -> int:
        return self.span_id

    def generate_trace_id(self) -> int:
        return self.trace_id


class _Counted(SpanExporter):
    """The real exporter, reporting each batch's fate to `SpanExport`."""

    def __init__(self, inner: SpanExporter, owner: SpanExport) -> None:
        self.inner = inner
        self.owner = owner
        self._stopped = False

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            result = self.inner.export(spans)
        except Exception:  # the exporter's own bug must not kill the worker thread
            result = SpanExportResult.FAILURE
        self.owner.exported(len(spans), ok=result is SpanExportResult.SUCCESS)
        return result

    def shutdown(self) -> None:
        if not self._stopped:  # `close` stops it first, then the provider once more
            self._stopped = True
            self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


class SpanExport:
    """The tracer spans are made with, and the queue and exporter they leave through."""

    def __init__(
        self,
        config: TracingConfig,
        metrics: Metrics | None,
        exporter: SpanExporter | None = None,
    ) -> None:
        """`exporter`: OTLP/HTTP to `config.endpoint` unless another is given (tests)."""
        self.metrics = metrics
        self.log = get_logger("router")
        self.ids = AssignedIds()
        if exporter is None:
            logging.getLogger(EXPORTER_LOGGER).setLevel(logging.CRITICAL)
            exporter = OTLPSpanExporter(
                endpoint=config.endpoint, headers=dict(config.headers), timeout=EXPORT_TIMEOUT
            )
        self._exporter = _Counted(exporter, self)
        self._processor = BatchSpanProcessor(
            self._exporter,
            max_queue_size=QUEUE,
            schedule_delay_millis=SCHEDULE_DELAY_MS,
            max_export_batch_size=BATCH,
        )
        resource = Resource.create({SERVICE_NAME: config.service_name})
        self.provider = TracerProvider(
            sampler=ALWAYS_ON, resource=resource, shutdown_on_exit=False, id_generator=self.ids
        )
        self.provider.add_span_processor(self._processor)
        self.tracer: Tracer = self.provider.get_tracer("router")
        self._lock = threading.Lock()
        self.pending = 0  # handed to the processor, not yet exported or failed
        self.counts = {"exported": 0, "queue_full": 0, "export_failed": 0}
        self._failing = False

    def take(self, spans: int) -> bool:
        """Room in the queue for a request's `spans`: False (and counted) when full."""
        with self._lock:
            if self.pending + spans > QUEUE:
                self._count("queue_full", spans)
                return False
            self.pending += spans
            return True

    def release(self, spans: int) -> None:
        """Room taken for spans that were never made (a bug met while making them)."""
        with self._lock:
            self.pending -= spans

    def exported(self, spans: int, *, ok: bool) -> None:
        """A batch left (`ok`) or was given up (worker thread)."""
        with self._lock:
            self.pending -= spans
            self._count("exported" if ok else "export_failed", spans)
            changed, self._failing = self._failing == ok, not ok
        if changed:
            if ok:
                self.log.info("trace_export", state="recovered")
            else:
                self.log.warning("trace_export", state="failing", dropped=spans)

    def _count(self, outcome: str, spans: int) -> None:
        self.counts[outcome] += spans
        if self.metrics is not None:
            self.metrics.trace_spans(outcome, spans)

    def close(self) -> None:
        """Send what is queued (waiting at most FLUSH_WAIT), then stop the worker.

        Blocking: run it in a thread. With the collector away, the rest is dropped."""
        flushing = threading.Thread(target=self._processor.force_flush, daemon=True)
        flushing.start()
        flushing.join(FLUSH_WAIT)
        self._exporter.shutdown()  # a retry still waiting gives up now
        self.provider.shutdown()
