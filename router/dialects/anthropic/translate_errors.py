"""Anthropic's errors <-> the IR's, and the bytes the router writes on Anthropic streams.

Anthropic's error shape is `{"type": "error", "error": {"type", "message"},
"request_id"}`; its types name the HTTP status (`invalid_request_error` 400,
`authentication_error` 401, `permission_error` 403, `not_found_error` 404,
`request_too_large` 413, `rate_limit_error` 429, `api_error` 500, `timeout_error` 504,
`overloaded_error` 529). An overloaded node (Google's 503 `UNAVAILABLE`, OpenAI's 503)
is a 529 to an Anthropic client: the status its SDKs raise `OverloadedError` on and
Claude Code retries as "overloaded" (`client_status`); an Anthropic node's 529 is a 503
to the other dialects' clients.

On a stream, the mid-stream error is `event: error` with that body (the SDKs raise on
it) and the keep-alive `event: ping` (the SDKs skip it), as Anthropic writes both.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from router.dialects.chat_answer import ChatError, ErrorKind, kind_of_status
from router.errors import RouterError

OVERLOADED_STATUS = 529
PING_EVENT = b'event: ping\ndata: {"type":"ping"}\n\n'

TYPE_OF_KIND: dict[ErrorKind, str] = {
    ErrorKind.INVALID_REQUEST: "invalid_request_error",
    ErrorKind.AUTHENTICATION: "authentication_error",
    ErrorKind.PERMISSION: "permission_error",
    ErrorKind.NOT_FOUND: "not_found_error",
    ErrorKind.REQUEST_TOO_LARGE: "request_too_large",
    ErrorKind.RATE_LIMIT: "rate_limit_error",
    ErrorKind.SERVER: "api_error",
    ErrorKind.OVERLOADED: "overloaded_error",
    ErrorKind.TIMEOUT: "timeout_error",
}
_KIND_OF_TYPE = {name: kind for kind, name in TYPE_OF_KIND.items()}
# The status an error type means on a stream, where the HTTP status was already 200.
STATUS_OF_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "conflict_error": 409,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": OVERLOADED_STATUS,
}


def decode_error(status: int, document: Any) -> ChatError:
    """A node's Anthropic-shaped error (any JSON, or none) as an IR error. Its 529 is a
    503 to the other dialects' clients, whose SDKs know no 529 (`client_status` makes it
    529 again for an Anthropic client)."""
    status = 503 if status == OVERLOADED_STATUS else status
    error = document.get("error") if isinstance(document, Mapping) else None
    if not isinstance(error, Mapping):
        return ChatError(status, f"the node answered HTTP {status}", kind_of_status(status))
    message, name = error.get("message"), error.get("type")
    kind = _KIND_OF_TYPE.get(name) if isinstance(name, str) else None
    return ChatError(
        status=status,
        message=message if isinstance(message, str) else f"the node answered HTTP {status}",
        kind=kind or kind_of_status(status),
        code=name if isinstance(name, str) else None,
    )


def decode_stream_error(document: Mapping[str, Any]) -> ChatError:
    """An `event: error` of a node's stream, its status read from its type."""
    error = document.get("error")
    name = error.get("type") if isinstance(error, Mapping) else None
    status = STATUS_OF_TYPE.get(name, 500) if isinstance(name, str) else 500
    return decode_error(status, document)


def client_status(error: ChatError) -> int:
    """The HTTP status an Anthropic client gets for an error: 529 when overloaded."""
    return OVERLOADED_STATUS if error.kind is ErrorKind.OVERLOADED else error.status


def encode_error(error: ChatError, trace_id: str) -> dict[str, Any]:
    """Anthropic's error body for an IR error; the trace id is its `request_id`."""
    body: dict[str, Any] = {
        "type": "error",
        "error": {"type": TYPE_OF_KIND[error.kind], "message": error.message},
    }
    if trace_id:
        body["request_id"] = trace_id
    return body


def error_event(error: ChatError, trace_id: str) -> bytes:
    """The `event: error` that ends an Anthropic stream."""
    return b"event: error\ndata: " + orjson.dumps(encode_error(error, trace_id)) + b"\n\n"


def chat_error(error: RouterError) -> ChatError:
    """One of the router's own errors as an IR error (kind from its status)."""
    kind = kind_of_status(error.status)
    if error.status == 413:
        kind = ErrorKind.REQUEST_TOO_LARGE
    return ChatError(error.status, error.message, kind, error.code)


def router_error_body(error: RouterError, trace_id: str) -> bytes:
    """The router's own error (a rejected key, no node...) in Anthropic's shape."""
    return orjson.dumps(encode_error(chat_error(error), trace_id))
