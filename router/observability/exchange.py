"""What happened to one client request: the record every layer writes and the listeners read.

Who owns which field (a field is written only by its owner, then read after the request
ends by the observer's listeners (router.observability.listeners: metrics, the access
line, traces), and by `Billing.settle_later` for the ledger):

    field                                  written by
    -------------------------------------  ------------------------------------------------
    request_id, method, path, client,      web.pipeline, when the request arrives
    started, wall_started, trace
    model                                  web.pipeline, once the route is resolved
    admitting, admitted, key_name,         billing, around the admission
    reserved
    status, error_code                     proxy (the node's answer, a mid-stream error);
                                           web.pipeline for an error raised before or
                                           instead of an answer
    client_disconnected                    proxy.relay (a write failed), web.pipeline
                                           (the handler was cancelled)
    client_slow                            web.client_stream (the client stopped reading
                                           for server.write_timeout: it was cut)
    prompt_estimate                        web.pipeline, from the body, at admission
    attempts                               proxy (attempts, race, continuing): one record
                                           per attempt, appended when it starts
    node, ttfb, answered                   proxy.attempts, when it commits to an answer
    streamed, bytes_out, usage             proxy.relay, while copying the answer
    delivered, late_usage                  proxy.relay, when the answer ends without usage
                                           (what the client received; the node's usage
                                           still awaited for a short grace)

Times are the event loop's clock (`started` and the attempts' times), except
`wall_started`, the Unix time the request arrived: a listener that needs wall-clock
times (a trace) adds the loop-clock offsets to it.

The web layer's `MeteredExchange` adds the credit reservation billing settles; this
record knows nothing of billing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from router.dialects.delivered import DeliveredOutput
from router.dialects.usage import Usage
from router.observability.trace_context import TraceContext


class AttemptKind(StrEnum):
    """Why an attempt was made (router.proxy.plan decides it)."""

    FIRST = "first"  # the request's first attempt
    FAILOVER = "failover"  # another node of the model, after a failure
    SAME_NODE_RETRY = "same_node_retry"  # the node that just failed, after its wait
    HEDGE = "hedge"  # another node asked while the first was slow (router.proxy.race)
    FALLBACK = "fallback"  # a node of a fallback model (fallbacks, fallbacks_on)
    CONTINUATION = "continuation"  # goes on with an answer cut mid-stream


@dataclass(slots=True, eq=False)
class Attempt:
    """One try on one node, and why it was left (`failure` None: it answered, or it is
    still running). Times are loop-clock; `span_id` names its span when traced."""

    node: str
    model: str
    kind: AttemptKind
    started: float
    dialect: str = ""  # the node's wire dialect
    translated: bool = False  # the node speaks another dialect than the client
    span_id: int = 0  # 0: the request is not traced
    failure: str | None = None
    status: int | None = None
    sent: float | None = None  # when the request went to the node (after a retry's wait)
    first_byte: float | None = None  # when its first response bytes arrived
    first_token: float | None = None  # when its first token arrived, if it was read for one
    ended: float | None = None  # None: it served the answer to the end of the request

    def log_fields(self) -> dict[str, Any]:
        """The access line's view (a plain dict: orjson renders it fast)."""
        return {
            "node": self.node,
            "model": self.model,
            "kind": self.kind.value,
            "failure": self.failure,
            "status": self.status,
            "dialect": self.dialect,
            "translated": self.translated,
        }

    def failed(self, reason: str, status: int | None, now: float) -> None:
        """Left after a failure (the first reason given is kept: a hedge that lost the
        race is `outraced`, not the cancellation that follows)."""
        if self.failure is None:
            self.failure = reason
            self.status = status if status is not None else self.status
        if self.ended is None:
            self.ended = now


@dataclass(slots=True)
class Exchange:
    """One request's record; see the module docstring for who writes each field."""

    request_id: str
    method: str
    path: str
    client: str | None
    started: float  # event-loop clock
    wall_started: float = 0.0  # Unix time at `started`
    trace: TraceContext | None = None  # None: tracing is off
    model: str = "unknown"  # a configured model name, never raw user input
    node: str | None = None
    status: int = 0
    ttfb: float | None = None  # request sent to the node until its first byte
    streamed: bool = False
    bytes_out: int = 0
    client_disconnected: bool = False
    client_slow: bool = False  # cut for not reading (a disconnect the router made)
    error_code: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    answered: Attempt | None = None  # the attempt whose answer the client gets
    usage: Usage | None = None
    prompt_estimate: int = 0  # tokens, from the request body (router.dialects.estimate)
    delivered: DeliveredOutput | None = None  # output the client received, when no usage
    late_usage: asyncio.Future[Usage | None] | None = None  # the node's, after the client left
    admitting: float | None = None  # the admission's start and end (loop clock)
    admitted: float | None = None
    key_name: str | None = None  # the admitted key's name (never the key)
    reserved: int = 0  # micro-credits its admission reserved

    def usage_fields(self) -> dict[str, int] | None:
        """Token usage for the access log."""
        u = self.usage
        if u is None:
            return None
        return {"prompt": u.prompt, "completion": u.completion, "reasoning": u.reasoning}

    @property
    def outcome(self) -> str:
        """How the request ended for its client: `failed` (an error code, no node, a 4xx
        or 5xx: billing refunds it), `client_slow` (cut for not reading),
        `disconnected` (the client left an answer still going) or `success`. The words
        are billing's `Outcome` values."""
        if self.error_code is not None or self.node is None or self.status >= 400:
            return "failed"
        if self.client_slow:
            return "client_slow"
        if self.client_disconnected:
            return "disconnected"
        return "success"

    def new_attempt(self, node: str, model: str, kind: AttemptKind, now: float) -> Attempt:
        """Record an attempt starting now; it gets a span id when the request is traced."""
        trace = self.trace
        attempt = Attempt(node, model, kind, now, span_id=trace.new_span_id() if trace else 0)
        self.attempts.append(attempt)
        return attempt
