"""The seam to a node: what the router asks of the client that talks to one node.

The proxy and the prober only see these protocols; the real implementation is
router.upstream.http_transport (httptools over asyncio), and tests pass an in-process fake
(tests/support/fake_transport.py) through the same `TransportFactory`. Every error of an
exchange, reading the body included, leaves a transport as `UpstreamFailure`: the code
above never catches a client library's or the OS's error types.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from multidict import CIMultiDictProxy

from router.config.model import NodeConfig


class UpstreamResponse(Protocol):
    """A node's answer: status and headers received, the body read as it arrives."""

    @property
    def status(self) -> int: ...

    @property
    def reason(self) -> str: ...

    @property
    def headers(self) -> CIMultiDictProxy[str]: ...

    @property
    def content_length(self) -> int | None: ...

    @property
    def content_type(self) -> str:
        """The media type, lower-cased, without parameters."""
        ...

    async def read(self) -> bytes:
        """The body bytes that arrived since the last read; b"" once the answer is complete.

        Raises UpstreamFailure: reason `timeout` when the node went silent or the exchange
        ran past its total timeout, `reset` when the connection was lost.
        """
        ...

    def release(self) -> None:
        """Done with a complete answer: the connection may be reused."""
        ...

    def close(self) -> None:
        """Abandon the answer now; a read still waiting fails at once."""
        ...


class NodeTransport(Protocol):
    """Talks to one node; built from its config by a `TransportFactory`."""

    async def post(
        self, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> UpstreamResponse:
        """Send a request; the answer once its headers arrived (raises UpstreamFailure).

        The node's `timeouts.first_byte` counts from this call: when the headers and the
        first body bytes (or the answer's end) have not arrived by then, this call or the
        first `read` raises UpstreamFailure with reason `timeout`. (The transport keeps
        this deadline, as it keeps `idle` and `total`: it has a timer anyway.)
        """
        ...

    async def get(self, path: str, headers: Iterable[tuple[str, str]], time_limit: float) -> int:
        """A probe: GET `path`, read the whole answer within `time_limit` seconds; its status.

        Raises UpstreamFailure when no complete answer arrived in time.
        """
        ...

    def close(self) -> None:
        """Stop reusing connections; answers still being read end on their own."""
        ...


TransportFactory = Callable[[NodeConfig], NodeTransport]
