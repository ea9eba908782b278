"""What happened to one client request: filled in by the proxy, read by logs and metrics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypedDict

from router.billing.state.base import Admission
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
    admission: Admission | None = None

    def usage_fields(self) -> dict[str, int] | None:
        """Token usage for the access log."""
        u = self.usage
        if u is None:
            return None
        return {"prompt": u.prompt, "completion": u.completion, "reasoning": u.reasoning}
