"""The seam to the client's connection: aiohttp's write errors become `ClientGone`.

aiohttp raises `ConnectionResetError` (its `ClientConnectionResetError`), or another
`ConnectionError`, when a response is written to a client that has gone away: OS error
types, the same a node's socket could raise. It is translated
here, once, so the relay and the keep-alive ticker never catch an OS error type.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

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
