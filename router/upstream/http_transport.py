"""The real transport: router.upstream.http11's client behind the transport seam.

Its errors are translated here, for the whole exchange (connect, headers, every body
read), into `UpstreamFailure`: a refused or slow connect is `connect`, a node that went
silent or ran past its total timeout is `timeout`, a lost connection is `reset`. A total
timeout that ran out while the router had stopped reading for a client that does not
take the answer is that client's: `ClientTooSlow`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from multidict import CIMultiDictProxy

from router.config.model import NodeConfig
from router.errors import ClientTooSlow, FailureReason, UpstreamFailure
from router.upstream.http11 import (
    ConnectFailed,
    ConnectionLost,
    NodeClient,
    NodeResponse,
    Origin,
    ReaderBehind,
)

FIRST_BYTE = "waiting for the first byte"
MID_ANSWER = "mid-answer"
PROBE_HEADERS = (("Accept", "*/*"), ("Accept-Encoding", "gzip, deflate"))


# What the client and asyncio raise that becomes UpstreamFailure (or ClientTooSlow).
# Caught by plain `except` at each call, not a context manager: on the request path a
# generator-based one cost a few microseconds per read.
TRANSLATED = (ConnectFailed, ReaderBehind, TimeoutError, ConnectionLost, OSError)


def translated(exc: BaseException, phase: str) -> Exception:
    """The error to raise for one of TRANSLATED (`phase` words the detail)."""
    if isinstance(exc, ConnectFailed):
        return UpstreamFailure(FailureReason.CONNECT, f"could not connect {phase}")
    if isinstance(exc, ReaderBehind):  # the client's slowness, not the node's
        return ClientTooSlow("the client did not take the answer within the node's total")
    if isinstance(exc, TimeoutError):
        return UpstreamFailure(FailureReason.TIMEOUT, f"timed out {phase}")
    # ConnectionLost, or an OSError (what a socket write may raise)
    return UpstreamFailure(FailureReason.RESET, f"connection lost {phase}")


@contextmanager
def translated_errors(phase: str) -> Iterator[None]:
    """Turn the client's and asyncio's errors into UpstreamFailure (off the request path)."""
    try:
        yield
    except TRANSLATED as exc:
        raise translated(exc, phase) from exc


class HttpResponse:
    """A NodeResponse whose reads raise UpstreamFailure."""

    __slots__ = (
        "_phase",
        "_response",
        "content_length",
        "content_type",
        "headers",
        "reason",
        "status",
    )

    def __init__(self, response: NodeResponse) -> None:
        self._response = response
        self._phase = FIRST_BYTE  # until the first read returned
        self.status = response.status
        self.reason = response.reason
        self.headers: CIMultiDictProxy[str] = response.headers
        self.content_length = response.content_length
        self.content_type = response.content_type

    async def read(self) -> bytes:
        try:
            chunk = await self._response.read()
        except TRANSLATED as exc:
            raise translated(exc, self._phase) from exc
        self._phase = MID_ANSWER
        return chunk

    def release(self) -> None:
        self._response.release()

    def close(self) -> None:
        self._response.close()


class HttpTransport:
    """One node's kept-alive connections, for requests and probes alike."""

    def __init__(self, client: NodeClient) -> None:
        self.client = client

    async def post(
        self, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> HttpResponse:
        try:
            return HttpResponse(await self.client.post(path, headers, body))
        except TRANSLATED as exc:
            raise translated(exc, FIRST_BYTE) from exc

    async def get(self, path: str, headers: Iterable[tuple[str, str]], time_limit: float) -> int:
        response: NodeResponse | None = None
        with translated_errors("probing"):
            try:
                async with asyncio.timeout(time_limit):
                    response = await self.client.get(path, (*PROBE_HEADERS, *headers))
                    while await response.read():
                        pass
            except BaseException:
                if response is not None:
                    response.close()
                raise
        response.release()
        return response.status

    def close(self) -> None:
        self.client.close()


def http_transport(config: NodeConfig) -> HttpTransport:
    """The TransportFactory the router runs with."""
    timeouts = config.timeouts
    client = NodeClient(
        Origin.from_url(config.base_url),
        connect_timeout=timeouts.connect,
        # Every wait for body bytes, the first one included (which first_byte also
        # bounds): never shorter than first_byte, or it would cut the first byte early.
        idle_timeout=max(timeouts.idle, timeouts.first_byte),
        total_timeout=timeouts.total,
        first_byte_timeout=timeouts.first_byte,
    )
    return HttpTransport(client)
