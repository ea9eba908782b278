"""The seam to the client's connection: what the proxy writes an answer through.

The proxy never sees the web framework: it hands `ResponseHead`s and bytes to a
`ClientStream`, which router.web implements over aiohttp (router.web.client_stream). A
write to a client that has gone away raises `ClientGone`, translated inside the
implementation, so the relay and the keep-alive ticker never catch an OS error type.

A client that does not read leaves a write waiting (the socket's send buffer full) for as
long as it likes, and with it the node's answer and its connection: the implementation
cuts it after `server.write_timeout` seconds (its handler is cancelled, the relay ends),
and records the request as the client's fault (`client_slow`): it is charged what it
received and nothing is held against the node.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol

from router.errors import ClientGone, ClientTooSlow
from router.observability.exchange import Exchange


@dataclass(slots=True)  # one per request: not frozen, which would cost a setattr per field
class ResponseHead:
    """The status line and headers of the client's answer (each name once but the node's
    own repeated ones, in order)."""

    status: int
    reason: str | None
    headers: list[tuple[str, str]]
    content_length: int | None = None  # None: sent as it comes (chunked)


class ClientStream(Protocol):
    """The client's end of one request (router.web.client_stream over aiohttp)."""

    async def prepare(self, head: ResponseHead) -> None:
        """Send the status line and headers; ClientGone when the client left."""
        ...

    async def write(self, data: bytes) -> None:
        """Send bytes of the body at once; ClientGone when the client left; a write still
        waiting after the write timeout cuts the client. A write after `write_eof` is
        dropped (a keep-alive that lost the race with the end)."""
        ...

    async def write_eof(self) -> None:
        """End the body (it waits for the client to take what is buffered: watched like
        a write); ClientGone when the client left."""
        ...

    def abort(self) -> None:
        """Cut the connection: a plain answer ends in a short read, never a body that
        looks complete."""
        ...

    def send_whole(self, head: ResponseHead, body: bytes) -> None:
        """An answer that arrived whole: head and body go out in one write, after the
        request's handling ends."""
        ...


class ClientLeaving:
    """Around relaying an answer: a client that goes away is recorded on `exchange`.
    A write to a gone client (`ClientGone`) ends the relay quietly; a cancelled handler
    (the client left while the router waited) is marked and goes on being cancelled; a
    client that kept the node's answer waiting past the node's `total` (`ClientTooSlow`)
    is cut, as one that leaves a write waiting past the write timeout is."""

    __slots__ = ("client", "exchange")

    def __init__(self, exchange: Exchange, client: ClientStream) -> None:
        self.exchange = exchange
        self.client = client

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
        if issubclass(kind, ClientGone):
            self.exchange.client_disconnected = True
            if issubclass(kind, ClientTooSlow):
                self.exchange.client_slow = True
                self.client.abort()  # a short read, never an answer that looks complete
            return True
        if issubclass(kind, asyncio.CancelledError):
            self.exchange.client_disconnected = True
        return False
