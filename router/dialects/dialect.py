"""What each dialect looks like on the wire when the router itself writes the bytes.

The proxy, the handlers, the error middleware and the keep-alive ticker ask a `Dialect`
rather than hard-coding a shape, so a dialect's own error body or keep-alive lives here
alone:

* OpenAI paths: the router's error shape `{"success": false, "error": {"code", "message",
  "type"}, "trace_id"}` (the seeds' shape, which the OpenAI SDKs also read: they look at
  `error.message`, and raise on a stream event that has an `error` key) and `: keep-alive`
  SSE comments.
* Gemini paths: Google's shape `{"error": {"code": <HTTP status>, "message", "status":
  <canonical name>}}`, the only one google-genai and @google/genai turn into an error with
  a `status` (and, in a stream, into an exception at all; a string `code` crashes the
  Python SDK), and a bare blank line as the keep-alive: google-genai's SSE reader takes
  any other line, an SSE comment too, for JSON and fails on it.

  The mid-stream error on a Gemini stream is that JSON object on a line of its own,
  without `data: ` and ended by a single newline. google-genai (Python, sync and async)
  raises on it (it takes a line that is not `data:` for JSON). @google/genai (Node) passes
  a `data: {"error": ...}` event on as an empty answer; it raises `ApiError` with the
  status only when one read of the stream parses whole as JSON with an `error` key, and
  `Error("Incomplete JSON segment at the end")` when a stream ends on bytes that are no
  complete event: the error line, read together with the node's last event, still ends
  in that second case because a single newline ends no event. SSE readers that are not
  Google's ignore the line (it names no SSE field).
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


# google.rpc.Code names for the HTTP statuses the router answers with (Google's own
# mapping, https://cloud.google.com/apis/design/errors#handling_errors); 413 has no
# code of its own and is an argument the client can fix.
GOOGLE_STATUS: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def google_status(status: int) -> str:
    """The canonical status name Google's APIs give an HTTP status."""
    name = GOOGLE_STATUS.get(status)
    if name is not None:
        return name
    if status >= 500:
        return "INTERNAL"
    return "FAILED_PRECONDITION" if status >= 400 else "UNKNOWN"


def router_error_body(error: RouterError, trace_id: str) -> bytes:
    """The router's JSON error shape (OpenAI paths), for responses and the mid-stream event."""
    return orjson.dumps(
        {
            "success": False,
            "error": {"code": error.code, "message": error.message, "type": error.type},
            "trace_id": trace_id,
        }
    )


def google_error_body(error: RouterError, trace_id: str) -> bytes:
    """Google's JSON error shape (Gemini paths); the trace id rides in `details` as
    google.rpc.RequestInfo, beside the X-Request-ID header."""
    return orjson.dumps(
        {
            "error": {
                "code": error.status,  # an int: the SDKs compare it with HTTP statuses
                "message": error.message,
                "status": google_status(error.status),
                "details": [
                    {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": trace_id}
                ],
            }
        }
    )


@dataclass(frozen=True, slots=True)
class Dialect:
    """The bytes one dialect's clients get from the router itself."""

    name: DialectName
    keepalive: bytes  # written to an SSE stream that has been silent too long
    gemini_usage: bool  # answers report usage as `usageMetadata` (else OpenAI's `usage`)
    render_error: ErrorRenderer
    stream_error_prefix: bytes = b"data: "  # what precedes the mid-stream error's JSON
    stream_error_end: bytes = b"\n\n"  # and what follows it

    def error_body(self, error: RouterError, trace_id: str) -> bytes:
        """The JSON body of an error response."""
        return self.render_error(error, trace_id)

    def stream_error_event(self, error: RouterError, trace_id: str) -> bytes:
        """The SSE event that ends a stream whose node failed after the first byte."""
        body = self.render_error(error, trace_id)
        return self.stream_error_prefix + body + self.stream_error_end


SSE_KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: the OpenAI SDKs skip it
# An empty line ends no event when none is pending (the keep-alive is only ever written
# between the node's chunks), so every SSE reader skips it, google-genai's included.
BLANK_LINE_KEEPALIVE = b"\n"

OPENAI = Dialect(
    name=DialectName.OPENAI,
    keepalive=SSE_KEEPALIVE,
    gemini_usage=False,
    render_error=router_error_body,
)
GEMINI = Dialect(
    name=DialectName.GEMINI,
    keepalive=BLANK_LINE_KEEPALIVE,
    gemini_usage=True,
    render_error=google_error_body,
    stream_error_prefix=b"",  # a bare JSON line: the one form all Google SDKs raise on
    stream_error_end=b"\n",
)
