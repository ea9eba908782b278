"""The bytes the router itself writes to Gemini clients.

Errors in Google's shape `{"error": {"code": <HTTP status>, "message", "status":
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

from typing import Any

import orjson

from router.errors import RouterError

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
# An empty line ends no event when none is pending (the keep-alive is only ever written
# between the node's chunks), so every SSE reader skips it, google-genai's included.
BLANK_LINE_KEEPALIVE = b"\n"


def google_status(status: int) -> str:
    """The canonical status name Google's APIs give an HTTP status."""
    name = GOOGLE_STATUS.get(status)
    if name is not None:
        return name
    if status >= 500:
        return "INTERNAL"
    return "FAILED_PRECONDITION" if status >= 400 else "UNKNOWN"


def google_error(status: int, message: str, trace_id: str) -> dict[str, Any]:
    """Google's JSON error shape, the one rule for every error a Gemini client is written
    (the router's own and a node's translated); the trace id rides in `details` as
    google.rpc.RequestInfo, beside the X-Request-ID header."""
    request_info = {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": trace_id}
    return {
        "error": {
            "code": status,  # an int: the SDKs compare it with HTTP statuses
            "message": message,
            "status": google_status(status),
            "details": [request_info],
        }
    }


def google_error_body(error: RouterError, trace_id: str) -> bytes:
    """The router's own error, in Google's shape."""
    return orjson.dumps(google_error(error.status, error.message, trace_id))


def stream_error_line(body: bytes) -> bytes:
    """An error body as the event that ends a Gemini SSE stream: the JSON on a line of its
    own (see the module docstring: the one form every Google SDK raises on)."""
    return body + b"\n"


class GeminiReplies:
    """router.dialects.codec.Replies for Gemini clients."""

    __slots__ = ()
    keepalive = BLANK_LINE_KEEPALIVE
    stream_end = b""  # a Gemini stream just ends

    request_id_header: str | None = None  # X-Request-ID, every dialect's, is enough

    def error_status(self, error: RouterError) -> int:
        return error.status

    def error_body(self, error: RouterError, trace_id: str) -> bytes:
        return google_error_body(error, trace_id)

    def stream_error_event(self, error: RouterError, trace_id: str) -> bytes:
        return stream_error_line(google_error_body(error, trace_id))
