"""One request's place in a W3C trace: its ids, and the `traceparent` each node gets.

Pure and free of OpenTelemetry: the tracer (router.observability.tracing) decides a
request's context when it arrives (continuing the client's trace, or a new one; sampled
or not), and the proxy only asks for a span id per attempt and the header naming it, so
a node that traces too becomes a child of the attempt that called it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_SPAN_BITS = 64


def new_span_id() -> int:
    """A random, non-zero 64-bit span id."""
    while True:
        span_id = random.getrandbits(_SPAN_BITS)
        if span_id:
            return span_id


@dataclass(slots=True)
class TraceContext:
    """The trace a request belongs to and its server span (ids as integers). Made once
    per request (on the hot path: not frozen, which costs a call per field) and never
    changed after."""

    trace_id: int
    span_id: int  # the request's server span
    parent_id: int | None = None  # the client's span, when it sent a traceparent
    sampled: bool = True  # False: propagated, never exported
    tracestate: str | None = None  # the client's, passed on unchanged
    _prefix: str = field(default="", repr=False, compare=False)  # "00-<trace id>-", once

    @staticmethod
    def new_span_id() -> int:
        return new_span_id()

    def traceparent(self, span_id: int) -> str:
        """The `traceparent` header naming `span_id` as the parent (version 00)."""
        prefix = self._prefix
        if not prefix:
            prefix = self._prefix = f"00-{self.trace_id:032x}-"
        return f"{prefix}{span_id:016x}-01" if self.sampled else f"{prefix}{span_id:016x}-00"

    def headers(self, span_id: int) -> list[tuple[str, str]]:
        """What a node gets: `traceparent`, and the client's `tracestate` if it sent one."""
        out = [(TRACEPARENT, self.traceparent(span_id))]
        if self.tracestate:
            out.append((TRACESTATE, self.tracestate))
        return out

    @property
    def trace_hex(self) -> str:
        """The trace id as exemplars and trace UIs show it (32 hex digits)."""
        return f"{self.trace_id:032x}"


class Tracer(Protocol):
    """Decides a new request's trace context from the client's headers (or their absence)."""

    def start(self, traceparent: str | None, tracestate: str | None) -> TraceContext: ...
