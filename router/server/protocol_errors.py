"""aiohttp's own answers to bytes that are not HTTP, in the router's error shape.

aiohttp answers a request it cannot parse (a bad request line, a header too long, a body
that is not its Content-Encoding) itself, before any handler runs, with a text/plain
body that quotes the offending bytes: the request line with its `?key=`, a header with a
credential. The router's promise is that no answer carries a key, so that body is
replaced by the router's JSON error naming only the kind of problem.

aiohttp offers no hook for this (the protocol object is built by its Server), so the
method is wrapped once, when this module is imported by router.server.app.
"""

from __future__ import annotations

import os
from typing import Any

from aiohttp import web, web_protocol

from router.dialects.dialect import OPENAI
from router.errors import ApiError, RouterError
from router.upstream.headers import REQUEST_ID

_aiohttp_handle_error = web_protocol.RequestHandler.handle_error


def _error_for(status: int, exc: BaseException | None) -> RouterError:
    if status >= 500:
        return ApiError("internal error")
    kind = type(exc).__name__ if exc is not None else "BadRequest"
    error = RouterError(f"malformed HTTP request ({kind})")
    error.status, error.code, error.type = status, "malformed_request", "invalid_request_error"
    return error


def handle_error(
    self: web_protocol.RequestHandler,
    request: Any,
    status: int = 500,
    exc: BaseException | None = None,
    message: str | None = None,
) -> web.StreamResponse:
    """aiohttp's handler (it logs and closes the connection), with the router's body."""
    response = _aiohttp_handle_error(self, request, status, exc, message)
    if isinstance(response, web.Response):
        request_id = os.urandom(16).hex()
        response.body = OPENAI.error_body(_error_for(status, exc), request_id)
        response.content_type = "application/json"
        response.headers[REQUEST_ID] = request_id
    return response


web_protocol.RequestHandler.handle_error = handle_error  # type: ignore[method-assign]
