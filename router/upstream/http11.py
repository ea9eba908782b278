"""A lean HTTP/1.1 client for the request path: one POST to a node, its answer as it arrives.

Why not aiohttp's client here: in `make bench` it cost about two thirds of a bare
aiohttp pass-through's CPU per request, more than the router's own work. Forwarding
needs little of what it does: one method, a body already in memory, no cookies,
redirects, proxies or decompression. The answer is parsed by httptools (llhttp, the
parser of Node.js and uvicorn); connections to each node are kept alive and reused.
The health probes use it too (`get`); router.upstream.http_transport puts it behind
the transport seam and translates its errors.

How this works: `NodeClient.post` takes an idle connection (or opens one within the
`connect` timeout), writes the request in one go and returns a `NodeResponse` once the
status line and headers arrived. `read` then returns whatever body bytes have arrived,
waiting at most `idle` seconds for more. The headers and the first body bytes must come
within `first_byte` seconds of the call, the whole answer within `total` seconds.
Reading pauses while a slow client leaves more than HIGH_WATER bytes unread; a `total`
that runs out then is the reader's fault (`ReaderBehind`), not the node's. A
connection goes back to the pool only after a complete answer the node did not mark
`Connection: close`; anything else closes it.

The connection itself, its parsing and its deadlines, is router.upstream.node_connection.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Coroutine, Iterable
from typing import Any

from multidict import CIMultiDictProxy

from router.tasks import LoopRef
from router.upstream.node_connection import (
    ConnectFailed,
    Connection,
    ConnectionLost,
    ReaderBehind,
)
from router.upstream.origin import Origin, request_path

__all__ = [
    "ConnectFailed",
    "ConnectionLost",
    "NodeClient",
    "NodeResponse",
    "Origin",
    "ReaderBehind",
    "request_path",
]


class NodeResponse:
    """A node's answer: status and headers received, the body read with `read`."""

    __slots__ = ("_conn", "content_length", "content_type", "headers", "reason", "status")

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.status = conn.status
        self.reason = conn.reason
        self.headers: CIMultiDictProxy[str] = CIMultiDictProxy(conn.headers)
        length = self.headers.get("Content-Length")
        self.content_length = int(length) if length is not None and length.isdigit() else None
        content_type = self.headers.get("Content-Type", "application/octet-stream")
        self.content_type = content_type.partition(";")[0].strip().lower()

    async def read(self) -> bytes:
        """The body bytes that arrived since the last read; b"" once the answer is complete."""
        return await self._conn.read()

    def release(self) -> None:
        """Done with the answer: keep the connection if it ended cleanly, else close it."""
        self._conn.finish()

    def close(self) -> None:
        """Drop the connection now (the answer is abandoned)."""
        self._conn.abort()


class NodeClient:
    """Kept-alive connections to one node, and the POST the proxy sends on them."""

    def __init__(
        self,
        origin: Origin,
        *,
        connect_timeout: float,
        idle_timeout: float,
        total_timeout: float,
        first_byte_timeout: float = math.inf,
        keepalive: float = 30.0,
    ) -> None:
        self.origin = origin
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.total_timeout = total_timeout
        self.first_byte_timeout = first_byte_timeout  # a POST's; a GET's caller bounds it
        self.keepalive = keepalive
        self._idle: list[Connection] = []  # most recently used last
        self._closed = False
        self._loop = LoopRef()

    def post(
        self, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> Coroutine[Any, Any, NodeResponse]:
        """Send `body` to `path` (already a request target); the answer once its headers
        came. Raises TimeoutError when they and the first body bytes do not come within
        `first_byte_timeout` seconds of this call (a connect included). (Not a coroutine
        itself: the one it returns is the only one per request.)"""
        end = b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        head = self._head(b"POST", path, headers, end)
        return self._send(head, body, self.first_byte_timeout)

    async def get(self, path: str, headers: Iterable[tuple[str, str]]) -> NodeResponse:
        """GET `path` (already a request target); the answer once its headers came."""
        return await self._send(self._head(b"GET", path, headers, b"\r\n\r\n"), b"", math.inf)

    def _head(
        self, method: bytes, path: str, headers: Iterable[tuple[str, str]], end: bytes
    ) -> bytes:
        """The request line and headers, `end` (the blank line, maybe a length) appended."""
        lines = [
            method,
            b" ",
            path.encode("ascii"),
            b" HTTP/1.1\r\nHost: ",
            self.origin.host_header,
        ]
        for name, value in headers:
            lines += (b"\r\n", name.encode("latin-1"), b": ", value.encode("utf-8"))
        lines.append(end)
        return b"".join(lines)

    async def _send(self, head: bytes, body: bytes, first_byte: float) -> NodeResponse:
        now = self._loop().time()
        first_byte_by = now + first_byte
        conn = self._take_idle() or await self._connect(first_byte_by - now)
        try:
            await conn.send(head, body, now + self.total_timeout, first_byte_by)
        except BaseException:
            conn.abort()
            raise
        return NodeResponse(conn)

    def give_back(self, conn: Connection) -> None:
        if self._closed:
            conn.abort()
            return
        conn.idle_since = conn.loop.time()
        self._idle.append(conn)

    def _take_idle(self) -> Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()
            if not conn.closed and conn.loop.time() - conn.idle_since < self.keepalive:
                # Older ones are further down: drop those past keepalive while here.
                while idle and conn.loop.time() - idle[0].idle_since >= self.keepalive:
                    idle.pop(0).abort()
                return conn
            conn.abort()
        return None

    async def _connect(self, first_byte: float) -> Connection:
        """A new connection within `connect_timeout`, or `first_byte` when that is shorter
        (then running out of time is a TimeoutError, as the first byte's is)."""
        loop = self._loop()
        origin = self.origin
        if first_byte < self.connect_timeout:
            async with asyncio.timeout(first_byte):
                return await self._connect(math.inf)
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: Connection(self),
                    origin.host,
                    origin.port,
                    ssl=origin.tls,
                    server_hostname=origin.host if origin.tls else None,
                )
        except TimeoutError as exc:
            raise ConnectFailed(f"connect timed out after {self.connect_timeout:g}s") from exc
        except OSError as exc:
            raise ConnectFailed(f"could not connect: {exc.strerror or exc}") from exc
        return conn

    def close(self) -> None:
        """Close the idle connections; those still answering close when their answer ends."""
        self._closed = True
        while self._idle:
            self._idle.pop().abort()
