"""The proxy's `ClientStream` (router.proxy.client) over aiohttp: the client's connection.

aiohttp raises `ConnectionResetError` (its `ClientConnectionResetError`), or another
`ConnectionError`, when a response is written to a client that has gone away: OS error
types, the same a node's socket could raise. They are translated here, once, into
`ClientGone`, so nothing past this seam catches an OS error type.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from router.errors import ClientGone
from router.proxy.client import ResponseHead


@contextmanager
def client_writes() -> Iterator[None]:
    """Around writes to a client: its disconnect raises `ClientGone`."""
    try:
        yield
    except ConnectionError as exc:  # reset, broken pipe, aborted: all mean it left
        raise ClientGone("the client went away") from exc


class AiohttpClientStream:
    """One request's answer, written through aiohttp; `response` is what the handler
    returns once the proxy is done."""

    __slots__ = ("_ended", "_request", "response")

    def __init__(self, request: web.Request) -> None:
        self._request = request
        self._ended = False
        self.response: web.StreamResponse | None = None

    async def prepare(self, head: ResponseHead) -> None:
        response = web.StreamResponse(status=head.status, reason=head.reason)
        response.headers.extend(head.headers)
        if head.content_length is not None:
            response.content_length = head.content_length
        self.response = response
        with client_writes():
            await response.prepare(self._request)

    async def write(self, data: bytes) -> None:
        response = self.response
        if response is None or self._ended:
            return
        try:  # per chunk: no context manager object to build
            await response.write(data)
        except ConnectionError as exc:
            raise ClientGone("the client went away") from exc

    async def write_eof(self) -> None:
        if self.response is None or self._ended:
            return
        self._ended = True
        with client_writes():
            await self.response.write_eof()

    def abort(self) -> None:
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    def send_whole(self, head: ResponseHead, body: bytes) -> None:
        response = web.Response(body=body, status=head.status, reason=head.reason)
        response.headers.extend(head.headers)
        self._ended = True
        self.response = response
