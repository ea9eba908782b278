"""aiohttp's own answers to bytes that are not HTTP, in the router's error shape.

aiohttp answers a request it cannot parse (a bad request line, a header too long, a body
that is not its Content-Encoding) itself, before any handler or middleware runs, with a
text/plain body that quotes the offending bytes: the request line with its `?key=`, a
header with a credential. The router's promise is that no answer carries a key, so that
body is replaced by the router's JSON error naming only the kind of problem.

How: aiohttp makes one `RequestHandler` (its protocol object) per connection, through the
`Server` its runner makes, and calls the handler's `handle_error` for these answers.
`RouterRunner` is aiohttp's AppRunner whose server makes `ShapedRequestHandler`s:
aiohttp's handler, whose `handle_error` puts the router's body on aiohttp's response.
Nothing of aiohttp is changed: `router serve` passes this runner in, and any other server
in the process (the mock node, a test server) keeps aiohttp's answers.

What this relies on, pinned by tests/server/test_protocol_errors.py against the installed
aiohttp (pyproject.toml bounds it below 4): a runner's `_make_server` (the one method every
aiohttp runner implements) returns the Server that sites call for each connection's
handler; aiohttp calls `handle_error(request, status, exc, message)` for a request it
cannot parse, and sends the Response that returns.

One answer of aiohttp's own does have a hook: the 417 its default `Expect` handler sends
for anything but `100-continue`, which quotes the whole header (any length) and bypasses
the middlewares. `expectation_failed_as_json`, an `on_response_prepare` listener, gives
it the router's error shape in the client's dialect, quoting at most MAX_ECHO characters.
"""

from __future__ import annotations

import asyncio
import os
import re
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import ContentEncodingError

from router.dialects.registry import DEFAULT
from router.errors import ApiError, RouterError, echo
from router.upstream.headers import REQUEST_ID
from router.web.context import codec_of, request_id_of
from router.web.screening import unsupported_encoding

# aiohttp's parser knows br and zstd but refuses them itself, before the router's header
# screening runs, when their decoders (Brotli, backports.zstd) are not installed.
_UNDECODABLE = re.compile(r"Can not decode content-encoding: \w+ \((\w+)\)")


def error_for(status: int, exc: BaseException | None) -> RouterError:
    """The router's error for an answer aiohttp gives itself (`status`, its exception)."""
    if status >= 500:
        return ApiError("internal error")
    if isinstance(exc, ContentEncodingError) and (found := _UNDECODABLE.search(str(exc))):
        return unsupported_encoding(found.group(1))
    kind = type(exc).__name__ if exc is not None else "BadRequest"
    error = RouterError(f"malformed HTTP request ({kind})")
    error.status, error.code, error.type = status, "malformed_request", "invalid_request_error"
    return error


def shape(response: web.Response, status: int, exc: BaseException | None) -> None:
    """Replace aiohttp's text body by the router's JSON error, with a request id."""
    request_id = os.urandom(16).hex()
    error = error_for(status, exc)
    response.set_status(error.status)
    response.body = DEFAULT.replies.error_body(error, request_id)
    response.content_type = "application/json"
    response.headers[REQUEST_ID] = request_id


class ShapedRequestHandler(web.RequestHandler):
    """aiohttp's per-connection protocol, answering what it cannot parse in JSON."""

    __slots__ = ()

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer (it logs and closes the connection), with the router's body."""
        response = super().handle_error(request, status, exc, message)
        if isinstance(response, web.Response):
            shape(response, status, exc)
        return response


class ShapedServer(web.Server):
    """aiohttp's low-level server for one app, whose connections get ShapedRequestHandler."""

    def __init__(self, made: web.Server, connection_options: dict[str, Any]) -> None:
        super().__init__(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            **connection_options,
        )
        self._connection_options = connection_options
        self._connection_loop = asyncio.get_running_loop()

    def __call__(self) -> web.RequestHandler:
        return ShapedRequestHandler(self, loop=self._connection_loop, **self._connection_options)


class RouterRunner(web.AppRunner):
    """aiohttp's AppRunner (the app's startup, shutdown and cleanup), serving through
    ShapedServer. `connection_options` are aiohttp's RequestHandler keywords."""

    __slots__ = ("_connection_options",)

    def __init__(
        self,
        app: web.Application,
        *,
        shutdown_timeout: float,
        handler_cancellation: bool,
        **connection_options: Any,
    ) -> None:
        super().__init__(
            app,
            shutdown_timeout=shutdown_timeout,
            handler_cancellation=handler_cancellation,
            **connection_options,
        )
        self._connection_options = connection_options

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # starts and freezes the app
        return ShapedServer(made, self._connection_options)


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
    body = codec_of(request).replies.error_body(error, request_id)
    response.body = body
    response.content_type = "application/json"
    response.headers["Content-Length"] = str(len(body))
    response.headers[REQUEST_ID] = request_id
