"""The seam to the client's connection: aiohttp's write errors become `ClientGone`, and a
client that stops reading is cut.

aiohttp raises `ConnectionResetError` (its `ClientConnectionResetError`), or another
`ConnectionError`, when a response is written to a client that has gone away: OS error
types, the same a node's socket could raise. It is translated
here, once, so the relay and the keep-alive ticker never catch an OS error type.

A client that does not read leaves a write waiting (the socket's send buffer full) for as
long as it likes, and with it the node's answer and its connection. `WriteWatch` cuts it
after `server.write_timeout` seconds: one timer per answer, re-armed rarely, rather than
a timeout around every chunk. The request is the client's fault (`client_slow`): it is
charged what it received and nothing is held against the node.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Protocol

from router.errors import ClientGone
from router.observability.exchange import Exchange


@contextmanager
def client_writes() -> Iterator[None]:
    """Around writes to a client: its disconnect raises `ClientGone`."""
    try:
        yield
    except ConnectionError as exc:  # reset, broken pipe, aborted: all mean it left
        raise ClientGone("the client went away") from exc


class ClientLeaving:
    """Around relaying an answer: a client that goes away is recorded on `exchange`.
    A write to a gone client (`ConnectionError`, `ClientGone`) ends the relay quietly;
    a cancelled handler (the client left while the router waited) is marked and goes on
    being cancelled."""

    __slots__ = ("exchange",)

    def __init__(self, exchange: Exchange) -> None:
        self.exchange = exchange

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> bool:
        if kind is None:
            return False
        if issubclass(kind, ConnectionError | ClientGone):
            self.exchange.client_disconnected = True
            return True
        if issubclass(kind, asyncio.CancelledError):
            self.exchange.client_disconnected = True
        return False


class ClientStream(Protocol):
    """What the watch writes through (aiohttp's StreamResponse)."""

    async def write(self, data: bytes) -> None: ...

    async def write_eof(self, data: bytes = b"") -> None: ...


class WriteWatch:
    """Cuts the client of one answer when a write to it waits `limit` seconds."""

    __slots__ = ("_exchange", "_limit", "_loop", "_since", "_timer", "_transport")

    def __init__(self, transport: asyncio.Transport | None, exchange: Exchange, limit: float):
        self._transport = transport
        self._exchange = exchange
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._since = 0.0  # when the write now waiting began; 0: none is
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(limit, self._check)

    async def write(self, out: ClientStream, data: bytes) -> None:
        """`out.write(data)`, watched."""
        self._since = self._loop.time()
        try:
            await out.write(data)
        finally:
            self._since = 0.0

    async def write_eof(self, out: ClientStream) -> None:
        """`out.write_eof()` (it waits for the client to take what is buffered), watched."""
        self._since = self._loop.time()
        try:
            await out.write_eof()
        finally:
            self._since = 0.0

    def _check(self) -> None:
        since, now = self._since, self._loop.time()
        if since and now - since >= self._limit:
            self._timer = None
            self._exchange.client_slow = True
            if self._transport is not None:
                self._transport.abort()  # aiohttp cancels the handler: the relay ends
            return
        self._timer = self._loop.call_at((since or now) + self._limit, self._check)

    def stop(self) -> None:
        """The answer ended: no more checks."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
