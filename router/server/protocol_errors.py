"""aiohttp's own answers to bytes that are not HTTP, in the router's error shape.

aiohttp answers a request it cannot parse (a bad request line, a header too long, a body
that is not its Content-Encoding) itself, before any handler runs, with a text/plain
body that quotes the offending bytes: the request line with its `?key=`, a header with a
credential. The router's promise is that no answer carries a key, so that body is
replaced by the router's JSON error naming only the kind of problem.

aiohttp offers no hook for this (the protocol object is built by its Server), so the
method is wrapped once, when this module is imported by router.server.app.

One answer of aiohttp's own does have a hook: the 417 its default `Expect` handler sends
for anything but `100-continue`, which quotes the whole header (any length) and bypasses
the middlewares. `expectation_failed_as_json`, an `on_response_prepare` listener, gives
it the router's error shape in the client's dialect, quoting at most MAX_ECHO characters.
"""

from __future__ import annotations

import os
import re
from typing import Any

from aiohttp import web, web_protocol
from aiohttp.http_exceptions import ContentEncodingError

from router.dialects.dialect import OPENAI
from router.errors import ApiError, RouterError, echo
from router.upstream.headers import REQUEST_ID
from router.web.handlers import dialect_of, request_id_of
from router.web.screening import unsupported_encoding

_aiohttp_handle_error = web_protocol.RequestHandler.handle_error


# aiohttp's parser knows br and zstd but refuses them itself, before the router's header
# screening runs, when their decoders (Brotli, backports.zstd) are not installed.
_UNDECODABLE = re.compile(r"Can not decode content-encoding: \w+ \((\w+)\)")


def _error_for(status: int, exc: BaseException | None) -> RouterError:
    if status >= 500:
        return ApiError("internal error")
    if isinstance(exc, ContentEncodingError) and (found := _UNDECODABLE.search(str(exc))):
        return unsupported_encoding(found.group(1))
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
        error = _error_for(status, exc)
        response.set_status(error.status)
        response.body = OPENAI.error_body(error, request_id)
        response.content_type = "application/json"
        response.headers[REQUEST_ID] = request_id
    return response


web_protocol.RequestHandler.handle_error = handle_error  # type: ignore[method-assign]


async def expectation_failed_as_json(request: web.Request, response: web.StreamResponse) -> None:
    """aiohttp's text 417 for an unknown `Expect`, as the router's JSON error."""
    if response.status != 417 or not isinstance(response, web.Response):
        return
    if response.content_type != "text/plain":
        return
    expect = request.headers.get("Expect", "")
    error = RouterError(f"Expect {echo(expect)} is not supported (only 100-continue)")
    error.status, error.code, error.type = 417, "expectation_failed", "invalid_request_error"
    request_id = request_id_of(request)
    body = dialect_of(request).error_body(error, request_id)
    response.body = body
    response.content_type = "application/json"
    response.headers["Content-Length"] = str(len(body))
    response.headers[REQUEST_ID] = request_id
