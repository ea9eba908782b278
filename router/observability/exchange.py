"""What happened to one client request: the record every layer writes and the observer reads.

Who owns which field (a field is written only by its owner, then read after the request
ends by `Observer.request_finished` for metrics and the access line, and by
`Billing.settle_later` for the ledger):

    field                                  written by
    -------------------------------------  ------------------------------------------------
    request_id, method, path, client,      web.handlers, when the request arrives
    started
    model                                  web.handlers, once the route is resolved
    status, error_code                     proxy (the node's answer, a mid-stream error);
                                           web.handlers for an error raised before or
                                           instead of an answer
    client_disconnected                    proxy.relay (a write failed), web.handlers
                                           (the handler was cancelled)
    client_slow                            proxy.client (the client stopped reading for
                                           server.write_timeout: it was cut)
    prompt_estimate                        web.handlers, from the body, at admission
    node, ttfb, attempts                   proxy.attempts, once per attempt
    streamed, bytes_out, usage             proxy.relay, while copying the answer
    delivered, late_usage                  proxy.relay, when the answer ends without usage
                                           (what the client received; the node's usage
                                           still awaited for a short grace)

The web layer's `MeteredExchange` adds the credit reservation billing settles; this
record knows nothing of billing.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TypedDict

from router.dialects.delivered import DeliveredOutput
from router.dialects.usage import Usage


class Attempt(TypedDict):
    """One try on one node, and why it was left (None when it answered).

    A dict rather than a dataclass: the access log renders it as it is, and orjson renders
    dicts several times faster than dataclasses.
    """

    node: str
    model: str
    failure: str | None
    status: int | None


@dataclass(slots=True)
class Exchange:
    """One request's record; see the module docstring for who writes each field."""

    request_id: str
    method: str
    path: str
    client: str | None
    started: float  # event-loop clock
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
    usage: Usage | None = None
    prompt_estimate: int = 0  # tokens, from the request body (router.dialects.estimate)
    delivered: DeliveredOutput | None = None  # output the client received, when no usage
    late_usage: asyncio.Future[Usage | None] | None = None  # the node's, after the client left

    def usage_fields(self) -> dict[str, int] | None:
        """Token usage for the access log."""
        u = self.usage
        if u is None:
            return None
        return {"prompt": u.prompt, "completion": u.completion, "reasoning": u.reasoning}
