"""The proxy's `ClientStream` (router.proxy.client) over aiohttp: the client's connection.

aiohttp raises `ConnectionResetError` (its `ClientConnectionResetError`), or another
`ConnectionError`, when a response is written to a client that has gone away: OS error
types, the same a node's socket could raise. They are translated here, once, into
`ClientGone`, so nothing past this seam catches an OS error type.

A client that does not read leaves a write waiting for as long as it likes. The stream
cuts it after `write_timeout` seconds (its exchange marked `client_slow`): one timer per
streamed answer, armed when the answer's head goes out and re-armed rarely, rather than
a timeout around every chunk. Aborting the transport makes aiohttp cancel the handler,
which ends the relay. `close` stops the timer once the request is over.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web

from router.errors import ClientGone
from router.observability.exchange import Exchange
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

    __slots__ = (
        "_ended",
        "_exchange",
        "_limit",
        "_loop",
        "_request",
        "_since",
        "_timer",
        "_waiting",
        "response",
    )

    def __init__(self, request: web.Request, exchange: Exchange, write_timeout: float) -> None:
        self._request = request
        self._exchange = exchange
        self._limit = write_timeout
        self._loop: asyncio.AbstractEventLoop | None = None  # a streamed answer's (prepare)
        self._ended = False
        self._since = 0.0  # when the oldest write now waiting began; 0: none is
        self._waiting = 0  # writes waiting now (the relay's, a keep-alive)
        self._timer: asyncio.TimerHandle | None = None
        self.response: web.StreamResponse | None = None

    async def prepare(self, head: ResponseHead) -> None:
        response = web.StreamResponse(status=head.status, reason=head.reason)
        response.headers.extend(head.headers)
        if head.content_length is not None:
            response.content_length = head.content_length
        self.response = response
        loop = self._loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._limit, self._check)
        with client_writes():
            await response.prepare(self._request)

    async def write(self, data: bytes) -> None:
        response, loop = self.response, self._loop
        if response is None or loop is None or self._ended:
            return
        # Per chunk: watched and translated inline, no call or context manager to build.
        waiting = self._waiting
        if not waiting:
            self._since = loop.time()
        self._waiting = waiting + 1
        try:
            await response.write(data)
        except ConnectionError as exc:
            raise ClientGone("the client went away") from exc
        finally:
            self._waiting -= 1
            if not self._waiting:
                self._since = 0.0

    async def write_eof(self) -> None:
        if self.response is None or self._ended:
            return
        self._ended = True
        self._begin()
        try:
            with client_writes():
                await self.response.write_eof()
        finally:
            self._done()

    def abort(self) -> None:
        transport = self._request.transport
        if transport is not None:
            transport.abort()

    def send_whole(self, head: ResponseHead, body: bytes) -> None:
        response = web.Response(body=body, status=head.status, reason=head.reason)
        response.headers.extend(head.headers)
        self._ended = True
        self.response = response

    def close(self) -> None:
        """The request is over: no more checks."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _begin(self) -> None:
        if not self._waiting and self._loop is not None:
            self._since = self._loop.time()
        self._waiting += 1

    def _done(self) -> None:
        self._waiting -= 1
        if not self._waiting:
            self._since = 0.0

    def _check(self) -> None:
        loop = self._loop
        if loop is None:
            return
        since, now = self._since, loop.time()
        if since and now - since >= self._limit:
            self._timer = None
            self._exchange.client_slow = True
            self.abort()  # aiohttp cancels the handler: the relay ends
            return
        self._timer = loop.call_at((since or now) + self._limit, self._check)
