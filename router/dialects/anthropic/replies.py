"""The bytes the router itself writes to Anthropic clients.

Errors in Anthropic's shape `{"type": "error", "error": {"type", "message"},
"request_id"}`, the type named for the status as Anthropic names it, and the trace id
also as a `request-id` header (what the SDKs report as the request's id). An overloaded
router (no node could take the request: its 503) answers 529 `overloaded_error`, the
status the SDKs raise `OverloadedError` on and Claude Code retries as "overloaded".

On a stream: `event: ping` is the keep-alive (the SDKs skip it, as they skip Anthropic's
own), and `event: error` with the same body ends a stream whose node failed (the SDKs
raise on it). A stream whose node left out its `message_stop` is not ended for it: the
SDKs take the end of the stream as the end.
"""

from __future__ import annotations

import orjson

from router.errors import RouterError

OVERLOADED_STATUS = 529
REQUEST_ID_HEADER = "request-id"
PING_EVENT = b'event: ping\ndata: {"type":"ping"}\n\n'
# Anthropic's error types, by the HTTP status the router answers with.
ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    OVERLOADED_STATUS: "overloaded_error",
}


def error_type(status: int) -> str:
    """Anthropic's error type for an HTTP status (another 4xx is the client's request's
    fault, another 5xx the service's)."""
    found = ERROR_TYPES.get(status)
    if found is not None:
        return found
    return "api_error" if status >= 500 else "invalid_request_error"


def client_status(status: int) -> int:
    """The status an Anthropic client gets for one of the router's: 529 for its 503."""
    return OVERLOADED_STATUS if status == 503 else status


def error_document(error: RouterError, trace_id: str) -> dict[str, object]:
    body: dict[str, object] = {
        "type": "error",
        "error": {"type": error_type(error.status), "message": error.message},
    }
    if trace_id:
        body["request_id"] = trace_id
    return body


def error_body(error: RouterError, trace_id: str) -> bytes:
    """Anthropic's JSON error body for one of the router's errors."""
    return orjson.dumps(error_document(error, trace_id))


class AnthropicReplies:
    """router.dialects.codec.Replies for Anthropic clients."""

    __slots__ = ()
    keepalive = PING_EVENT
    stream_end = b""  # the SDKs end at the stream's end; a second message_stop would not do
    request_id_header: str | None = REQUEST_ID_HEADER

    def error_body(self, error: RouterError, trace_id: str) -> bytes:
        return error_body(error, trace_id)

    def error_status(self, error: RouterError) -> int:
        return client_status(error.status)

    def stream_error_event(self, error: RouterError, trace_id: str) -> bytes:
        return b"event: error\ndata: " + error_body(error, trace_id) + b"\n\n"
