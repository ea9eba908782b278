"""What happened to one client request: the record every layer writes and the observer reads.

Who owns which field (a field is written only by its owner, then read after the request
ends by `Observer.request_finished` for metrics and the access line, and by
`Billing.settle_later` for the ledger):

    field                                  written by
    -------------------------------------  ------------------------------------------------
    request_id, method, path, client,      web.pipeline, when the request arrives
    started
    model                                  web.pipeline, once the route is resolved
    status, error_code                     proxy (the node's answer, a mid-stream error);
                                           web.pipeline for an error raised before or
                                           instead of an answer
    client_disconnected                    proxy.relay (a write failed), web.pipeline
                                           (the handler was cancelled)
    node, ttfb, attempts                   proxy.attempts, once per attempt
    streamed, bytes_out, usage             proxy.relay, while copying the answer

The web layer's `MeteredExchange` adds the credit reservation billing settles; this
record knows nothing of billing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

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
    error_code: str | None = None
    attempts: list[Attempt] = field(default_factory=list)
    usage: Usage | None = None

    def usage_fields(self) -> dict[str, int] | None:
        """Token usage for the access log."""
        u = self.usage
        if u is None:
            return None
        return {"prompt": u.prompt, "completion": u.completion, "reasoning": u.reasoning}
