"""Open SSE streams and the keep-alive comments that stop load balancers cutting them.

How this works: rather than a timer per chunk (which would cost on every chunk of every
stream), each open stream records when it last wrote, and one ticker task per process
wakes once a second and sends its dialect's keep-alive (`: keep-alive`) to the streams
silent for longer than `server.keepalive_interval`. A write of a whole chunk is handed to
the transport in one synchronous step, so a keep-alive can never land inside a node's chunk;
and a stream whose last chunk ended inside a line (a node may split an event anywhere) gets
none until the line is complete, since a keep-alive there would corrupt the line.
"""

from __future__ import annotations

import asyncio
import contextlib

from router.errors import ClientGone
from router.proxy.client import ClientStream
from router.tasks import cancel_and_wait
from router.upstream.transport import UpstreamResponse


class OpenStream:
    """One SSE response being relayed."""

    __slots__ = ("at_line_end", "client", "closing", "keepalive", "last_write", "upstream")

    def __init__(
        self, client: ClientStream, upstream: UpstreamResponse, now: float, keepalive: bytes
    ) -> None:
        self.client = client
        self.upstream = upstream
        self.keepalive = keepalive  # the client's dialect's keep-alive bytes
        self.last_write = now
        self.at_line_end = True  # the last bytes written ended a line (the relay keeps it)
        self.closing = False  # set when the router itself ends the stream (shutdown)

    def wants_keepalive(self, now: float, interval: float) -> bool:
        """Silent for `interval` seconds, and between lines (never inside one)."""
        return self.at_line_end and now - self.last_write >= interval

    def end(self) -> None:
        """End the stream from the router's side: the relay sees the upstream close."""
        self.closing = True
        self.upstream.close()


class StreamRegistry:
    """All open streams of this process, and the keep-alive ticker over them."""

    def __init__(self, keepalive_interval: float, tick: float = 1.0) -> None:
        self.keepalive_interval = keepalive_interval
        self.tick = min(tick, keepalive_interval / 2)
        self.open: set[OpenStream] = set()
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[None]] = set()

    def add(self, stream: OpenStream) -> None:
        self.open.add(stream)

    def discard(self, stream: OpenStream) -> None:
        self.open.discard(stream)

    def end_all(self) -> int:
        """End every open stream (the shutdown grace ran out); how many there were."""
        streams = list(self.open)
        for stream in streams:
            stream.end()
        return len(streams)

    def start(self) -> None:
        """Start the ticker (once the event loop runs)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop the ticker and any keep-alive write still under way."""
        await cancel_and_wait([self._task, *self._pending])
        self._task = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.tick)
            now = loop.time()
            for stream in list(self.open):
                if stream.wants_keepalive(now, self.keepalive_interval):
                    stream.last_write = now
                    task = loop.create_task(self._ping(stream))
                    self._pending.add(task)
                    task.add_done_callback(self._pending.discard)

    async def _ping(self, stream: OpenStream) -> None:
        # A client that went away is noticed by the relay itself; nothing to do here.
        with contextlib.suppress(ClientGone):
            await stream.client.write(stream.keepalive)
