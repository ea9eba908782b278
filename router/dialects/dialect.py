"""What each dialect looks like on the wire when the router itself writes the bytes.

The proxy, the handlers, the error middleware and the keep-alive ticker ask a `Dialect`
rather than hard-coding a shape, so a dialect's own error body or keep-alive can change
here alone. Today both dialects answer with the same bytes: the router's error shape
`{"success": false, "error": {"code", "message", "type"}, "trace_id"}` (the seeds' shape,
which the OpenAI SDK also reads: it looks at `error.message`) and `: keep-alive` comments.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from router.errors import RouterError

ErrorRenderer = Callable[[RouterError, str], bytes]


class DialectName(enum.StrEnum):
    """The dialects the router speaks."""

    OPENAI = "openai"
    GEMINI = "gemini"


def router_error_body(error: RouterError, trace_id: str) -> bytes:
    """The router's JSON error shape, for error responses and the mid-stream event."""
    return orjson.dumps(
        {
            "success": False,
            "error": {"code": error.code, "message": error.message, "type": error.type},
            "trace_id": trace_id,
        }
    )


@dataclass(frozen=True, slots=True)
class Dialect:
    """The bytes one dialect's clients get from the router itself."""

    name: DialectName
    keepalive: bytes  # written to an SSE stream that has been silent too long
    gemini_usage: bool  # answers report usage as `usageMetadata` (else OpenAI's `usage`)
    render_error: ErrorRenderer

    def error_body(self, error: RouterError, trace_id: str) -> bytes:
        """The JSON body of an error response."""
        return self.render_error(error, trace_id)

    def stream_error_event(self, error: RouterError, trace_id: str) -> bytes:
        """The SSE event that ends a stream whose node failed after the first byte."""
        return b"data: " + self.render_error(error, trace_id) + b"\n\n"


SSE_KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: every client ignores it

OPENAI = Dialect(
    name=DialectName.OPENAI,
    keepalive=SSE_KEEPALIVE,
    gemini_usage=False,
    render_error=router_error_body,
)
GEMINI = Dialect(
    name=DialectName.GEMINI,
    keepalive=SSE_KEEPALIVE,
    gemini_usage=True,
    render_error=router_error_body,
)
