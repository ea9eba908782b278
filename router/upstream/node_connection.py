"""One kept-alive HTTP/1.1 connection to a node and the exchange on it (router.upstream.http11).

The answer is parsed by httptools as its bytes arrive: status and headers first (the
sender waits for them), then body chunks kept until read. Reading pauses while more
than HIGH_WATER bytes wait unread (a slow client).

The exchange's three deadlines (first body byte, whole answer, a read waiting for more)
are watched by one timer per connection, armed lazily: a timer is made only when none is
armed or the armed one would fire too late, and one that fires before any deadline
passed re-arms itself for the next. A kept-alive connection so makes about one timer per
`first_byte` seconds instead of two or three per request (an event loop timer costs about
3 us to make and cancel on uvloop).
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from typing import Protocol, cast

import httptools
from multidict import CIMultiDict

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


class Pool(Protocol):
    """What a connection needs of the client that owns it (router.upstream.http11.NodeClient)."""

    idle_timeout: float
    total_timeout: float
    first_byte_timeout: float

    def give_back(self, conn: Connection) -> None: ...


class Connection(asyncio.Protocol):
    """One kept-alive connection to a node and the exchange on it."""

    # One per open stream: slots, not a dict per connection (issue 32: RSS per stream).
    __slots__ = (
        "_active",
        "_buffered",
        "_chunks",
        "_client",
        "_data_waiter",
        "_done",
        "_error",
        "_first_byte_by",
        "_head_bytes",
        "_head_done",
        "_headers_waiter",
        "_idle_by",
        "_interim",
        "_keep_alive",
        "_parser",
        "_paused",
        "_timer",
        "_timer_at",
        "_total_by",
        "_transport",
        "closed",
        "headers",
        "idle_since",
        "loop",
        "reason",
        "status",
    )

    def __init__(self, client: Pool) -> None:
        self._client = client
        self.loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.idle_since = 0.0
        self._timer: asyncio.TimerHandle | None = None  # the deadline watch (see above)
        self._timer_at = math.inf
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
        # Loop times; inf: no such deadline now (a first byte came, no read is waiting).
        self._first_byte_by = math.inf
        self._total_by = math.inf
        self._idle_by = math.inf
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
        self._first_byte_by = math.inf
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
        self._first_byte_by = math.inf
        self._complete()

    # --- the exchange ------------------------------------------------------------------------

    async def send(self, head: bytes, body: bytes, total_by: float, first_byte_by: float) -> None:
        """Write the request; return once the answer's headers arrived. The answer must
        end by `total_by` and its first body bytes come by `first_byte_by` (loop times)."""
        assert self._transport is not None
        self._active = True
        self._headers_waiter = self.loop.create_future()
        self._total_by, self._first_byte_by = total_by, first_byte_by
        self._watch(min(total_by, first_byte_by))
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
            self._idle_by = idle_by = self.loop.time() + self._client.idle_timeout
            self._watch(idle_by)
            try:
                await waiter
            finally:
                self._idle_by = math.inf
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
        self._reset_exchange()  # a watch still armed finds nothing to watch and lapses
        self._client.give_back(self)

    def abort(self) -> None:
        """Close now; a read still waiting on this answer fails at once."""
        self._stop_watch()
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

    # --- the deadline watch ----------------------------------------------------------------

    def _watch(self, when: float) -> None:
        """Make sure the watch fires by `when` (re-armed only when it would be late)."""
        if self._timer is not None:
            if self._timer_at <= when:
                return
            self._timer.cancel()
        self._timer_at = when
        self._timer = self.loop.call_at(when, self._check)

    def _check(self) -> None:
        self._timer = None
        self._timer_at = math.inf
        if not self._active or self._done or self._error is not None:
            return  # all of it came in time (a slow client may still be reading it)
        now = self.loop.time()
        client = self._client
        if now >= self._first_byte_by:
            self._fail(TimeoutError(f"no first byte within {client.first_byte_timeout:g}s"))
        elif now >= self._total_by:
            total = client.total_timeout
            if self._paused:  # the node is ahead: what kept the answer going was its reader
                self._fail(ReaderBehind(f"the answer's reader was behind after {total:g}s"))
            else:
                self._fail(TimeoutError(f"the answer took longer than {total:g}s"))
        elif now >= self._idle_by:
            self._fail(TimeoutError(f"the node sent nothing for {client.idle_timeout:g}s"))
        else:
            self._watch(min(self._first_byte_by, self._total_by, self._idle_by))

    def _stop_watch(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
            self._timer_at = math.inf
