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
status line and headers arrived (the caller bounds that wait: first_byte). `read` then
returns whatever body bytes have arrived, waiting at most `idle` seconds for more; the
whole exchange is cut at `total` seconds. Reading pauses while a slow client leaves more
than HIGH_WATER bytes unread; a `total` that runs out then is the reader's fault
(`ReaderBehind`), not the node's. A connection goes back to the pool only after a complete
answer the node did not mark `Connection: close`; anything else closes it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Iterable
from typing import cast

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

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

HIGH_WATER = 256 * 1024  # unread body bytes at which reading from the node pauses
LOW_WATER = 64 * 1024
# The most a node's status line and headers may take (more than one read past it fails
# the answer): the parser holds a header until it ends, and nothing else bounds it.
MAX_HEAD_BYTES = 1024 * 1024


class NodeConnectionError(Exception):
    """The connection to a node failed (not an OSError: those mean the client went away)."""


class ConnectFailed(NodeConnectionError):
    """The node could not be reached: refused, unresolvable, or too slow to accept."""


class ConnectionLost(NodeConnectionError):
    """The node's connection ended before its answer did."""


class ReaderBehind(Exception):
    """The answer's `total` ran out while reading from the node was paused: the node was
    ahead, and its reader (the router, passing the answer to a client that does not take
    it as fast) was behind. Not the node's failure."""


class NodeResponse:
    """A node's answer: status and headers received, the body read with `read`."""

    __slots__ = ("_conn", "content_length", "content_type", "headers", "reason", "status")

    def __init__(self, conn: _Connection) -> None:
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


class _Connection(asyncio.Protocol):
    """One kept-alive connection to a node and the exchange on it."""

    def __init__(self, client: NodeClient) -> None:
        self._client = client
        self.loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._reset_exchange()

    def _reset_exchange(self) -> None:
        self.status = 0
        self.reason = ""
        self.headers: CIMultiDict[str] = CIMultiDict()
        self._headers_waiter: asyncio.Future[None] | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self._done = False
        self._error: BaseException | None = None
        self._data_waiter: asyncio.Future[None] | None = None
        self._total_timer: asyncio.TimerHandle | None = None
        self._interim = False  # a 1xx answer: skipped, the real one follows
        self._head_bytes = 0  # bytes received before the headers ended (MAX_HEAD_BYTES)
        self._head_done = False
        self._keep_alive = False  # the node allows another request on this connection
        self._active = False

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but have its methods.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if not self._active:  # bytes from a node between exchanges: the connection is bad
            self.abort()
            return
        if not self._head_done:
            if self._head_bytes > MAX_HEAD_BYTES:
                self._fail(ConnectionLost(f"the node's headers exceed {MAX_HEAD_BYTES} bytes"))
                return
            self._head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ConnectionLost("the node switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(ConnectionLost(f"malformed answer from the node: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self._active or self._done:
            return
        framed = "Content-Length" in self.headers or "Transfer-Encoding" in self.headers
        if exc is None and self.status and not framed:
            self._complete()  # a body delimited by the end of the connection
        else:
            self._fail(ConnectionLost("the node closed the connection mid-answer"))

    def pause_writing(self) -> None:  # a 30 MB body: the transport buffers it
        pass

    def resume_writing(self) -> None:
        pass

    # --- httptools callbacks -----------------------------------------------------------------

    def on_status(self, status: bytes) -> None:
        self.reason = status.decode("latin-1")

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.add(name.decode("latin-1"), value.decode("utf-8", "surrogateescape"))

    def on_headers_complete(self) -> None:
        self.status = self._parser.get_status_code()
        if self.status < 200:
            self._interim = True
            return
        self._head_done = True
        waiter = self._headers_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_body(self, body: bytes) -> None:
        self._chunks.append(body)
        self._buffered += len(body)
        if self._buffered > HIGH_WATER and not self._paused and self._transport is not None:
            self._paused = True
            self._transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self._interim:
            self._interim = False
            self.status, self.reason, self.headers = 0, "", CIMultiDict()
            return
        # Asked here: once the callback returns, httptools answers False.
        self._keep_alive = self._parser.should_keep_alive()
        self._complete()

    # --- the exchange ------------------------------------------------------------------------

    async def send(self, head: bytes, body: bytes, total: float) -> None:
        """Write the request; return once the answer's headers arrived."""
        assert self._transport is not None
        self._active = True
        self._headers_waiter = self.loop.create_future()
        self._total_timer = self.loop.call_later(total, self._total_expired)
        self._transport.write(head + body if len(body) < 65536 else head)
        if len(body) >= 65536:
            self._transport.write(body)
        await self._headers_waiter

    async def read(self) -> bytes:
        while True:
            if self._chunks:
                chunk = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
                self._chunks.clear()
                self._buffered = 0
                if self._paused and self._transport is not None:
                    self._paused = False
                    self._transport.resume_reading()
                return chunk
            if self._error is not None:
                raise self._error
            if self._done:
                return b""
            waiter = self._data_waiter = self.loop.create_future()
            timer = self.loop.call_later(self._client.idle_timeout, self._idle_expired)
            try:
                await waiter
            finally:
                timer.cancel()
                self._data_waiter = None

    def finish(self) -> None:
        """The caller is done: back to the pool if the answer ended cleanly."""
        if not self._active:
            return
        reusable = (
            self._done
            and self._error is None
            and not self._chunks
            and not self.closed
            and self._keep_alive
        )
        if not reusable:
            self.abort()
            return
        self._stop_total_timer()
        self._reset_exchange()
        self._client.give_back(self)

    def abort(self) -> None:
        """Close now; a read still waiting on this answer fails at once."""
        self._stop_total_timer()
        if self._active and not self._done:
            self._fail(ConnectionLost("the connection was closed by the router"))
        self._active = False
        self.closed = True
        if self._transport is not None:
            self._transport.abort()

    def _complete(self) -> None:
        self._done = True
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self._error is None:
            self._error = error
        waiter = self._headers_waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(error)
        self._wake()
        if self._transport is not None:
            self._transport.abort()

    def _wake(self) -> None:
        waiter = self._data_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _idle_expired(self) -> None:
        idle = self._client.idle_timeout
        self._fail(TimeoutError(f"the node sent nothing for {idle:g}s"))

    def _total_expired(self) -> None:
        self._total_timer = None
        if self._done:
            return  # all of it came in time; the router is still passing it on (a slow client)
        total = self._client.total_timeout
        if self._paused:  # the node is ahead: what kept the answer going was its reader
            self._fail(ReaderBehind(f"the answer's reader was behind after {total:g}s"))
            return
        self._fail(TimeoutError(f"the answer took longer than {total:g}s"))

    def _stop_total_timer(self) -> None:
        if self._total_timer is not None:
            self._total_timer.cancel()
            self._total_timer = None


class NodeClient:
    """Kept-alive connections to one node, and the POST the proxy sends on them."""

    def __init__(
        self,
        origin: Origin,
        *,
        connect_timeout: float,
        idle_timeout: float,
        total_timeout: float,
        keepalive: float = 30.0,
    ) -> None:
        self.origin = origin
        self.connect_timeout = connect_timeout
        self.idle_timeout = idle_timeout
        self.total_timeout = total_timeout
        self.keepalive = keepalive
        self._idle: list[_Connection] = []  # most recently used last
        self._closed = False

    async def post(
        self, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> NodeResponse:
        """Send `body` to `path` (already a request target); the answer once its headers came."""
        end = b"\r\nContent-Length: %d\r\n\r\n" % len(body)
        return await self._send(self._head(b"POST", path, headers, end), body)

    async def get(self, path: str, headers: Iterable[tuple[str, str]]) -> NodeResponse:
        """GET `path` (already a request target); the answer once its headers came."""
        return await self._send(self._head(b"GET", path, headers, b"\r\n\r\n"), b"")

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

    async def _send(self, head: bytes, body: bytes) -> NodeResponse:
        conn = self._take_idle() or await self._connect()
        try:
            await conn.send(head, body, self.total_timeout)
        except BaseException:
            conn.abort()
            raise
        return NodeResponse(conn)

    def give_back(self, conn: _Connection) -> None:
        if self._closed:
            conn.abort()
            return
        conn.idle_since = conn.loop.time()
        self._idle.append(conn)

    def _take_idle(self) -> _Connection | None:
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

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        origin = self.origin
        try:
            async with asyncio.timeout(self.connect_timeout):
                _, conn = await loop.create_connection(
                    lambda: _Connection(self),
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
