"""A request's trace context when it arrives, decided with OpenTelemetry's own parts.

The client's `traceparent` (and `tracestate`) is read by the W3C propagator: a valid one
makes the request's server span its child, in its trace; anything else starts a new
trace. Whether the trace is recorded is the SDK's parent-based ratio sampler's decision:
a client's sampled flag is followed, and a new trace is sampled at `sample_ratio` by its
trace id (so every replica and every node decides the same for one trace).

The common case, a request with no `traceparent`, runs on every request whatever the
ratio: it asks the ratio sampler for its bound once, at start, and compares the trace id
with it as that sampler does (the sampler's whole decision took 4.6 us, the comparison
takes 0.4; docs/tracing.md has the measurements).
"""

from __future__ import annotations

from opentelemetry.context import Context
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, TraceIdRatioBased
from opentelemetry.trace import get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from router.observability.trace_context import TRACEPARENT, TRACESTATE, TraceContext, new_span_id

# The propagator refuses longer values (and logs each one); refused here without a log line,
# so a client cannot fill the router's log with them.
MAX_TRACEPARENT = 512
MAX_TRACESTATE = 4096


class RatioTracer:
    """Starts each request's trace context (router.observability.trace_context.Tracer)."""

    def __init__(self, sample_ratio: float) -> None:
        root = TraceIdRatioBased(sample_ratio)
        self.sampler = ParentBased(root)
        self.bound = root.bound  # a new trace is sampled when its low 64 bits are below it
        self.propagator = TraceContextTextMapPropagator()
        self.ids = RandomIdGenerator()

    def start(self, traceparent: str | None, tracestate: str | None) -> TraceContext:
        if traceparent and len(traceparent) <= MAX_TRACEPARENT:
            carrier = {TRACEPARENT: traceparent}
            if tracestate and len(tracestate) <= MAX_TRACESTATE:
                carrier[TRACESTATE] = tracestate
            context = self.propagator.extract(carrier, Context())
            parent = get_current_span(context).get_span_context()
            if parent.is_valid:
                decision = self.sampler.should_sample(context, parent.trace_id, "request")
                sampled = decision.decision is Decision.RECORD_AND_SAMPLE
                state = parent.trace_state.to_header() or None
                return TraceContext(parent.trace_id, new_span_id(), parent.span_id, sampled, state)
        trace_id = self.ids.generate_trace_id()
        sampled = trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self.bound
        return TraceContext(trace_id, new_span_id(), None, sampled)
