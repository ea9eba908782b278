"""The bytes the router itself writes to OpenAI clients.

The router's error shape `{"success": false, "error": {"code", "message", "type"},
"trace_id"}` (the seeds' shape, which the OpenAI SDKs also read: they look at
`error.message`, and raise on a stream event that has an `error` key), the same object as
a `data:` event to end a stream whose node failed, `: keep-alive` SSE comments (the
SDKs skip them) and `data: [DONE]` to end a stream.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.dialects.sse import DONE_EVENT
from router.errors import RouterError

SSE_KEEPALIVE = b": keep-alive\n\n"  # an SSE comment: the OpenAI SDKs skip it


def error_document(code: str, message: str, kind: str, trace_id: str) -> dict[str, Any]:
    """The router's JSON error shape (the seeds'), the one rule for every error an OpenAI
    client is written: the router's own and a node's translated."""
    error = {"code": code, "message": message, "type": kind}
    return {"success": False, "error": error, "trace_id": trace_id}


def router_error_body(error: RouterError, trace_id: str) -> bytes:
    """The router's own error, for responses and the mid-stream event."""
    return orjson.dumps(error_document(error.code, error.message, error.type, trace_id))


def stream_error_event(body: bytes) -> bytes:
    """An error body as the event that ends a stream (the SDKs raise on it)."""
    return b"data: " + body + b"\n\n"


class OpenAIReplies:
    """router.dialects.codec.Replies for OpenAI clients."""

    __slots__ = ()
    keepalive = SSE_KEEPALIVE
    stream_end = DONE_EVENT

    request_id_header: str | None = None  # X-Request-ID, every dialect's, is enough

    def error_status(self, error: RouterError) -> int:
        return error.status

    def error_body(self, error: RouterError, trace_id: str) -> bytes:
        return router_error_body(error, trace_id)

    def stream_error_event(self, error: RouterError, trace_id: str) -> bytes:
        return stream_error_event(router_error_body(error, trace_id))
