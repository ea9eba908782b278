"""Graceful shutdown: stop being ready, keep serving a while, then drain and exit.

On SIGTERM or SIGINT: `/readyz` answers 503 at once; the router keeps serving for
`server.shutdown_delay` so the load balancer notices; then it stops accepting
connections and waits up to `server.shutdown_grace` for in-flight requests and streams;
whatever is still open then is ended with the mid-stream error event.
"""

from __future__ import annotations

import asyncio


class Lifecycle:
    """Counts in-flight requests and knows whether the process is stopping."""

    def __init__(self) -> None:
        self.inflight = 0
        self.is_stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    def request_started(self) -> None:
        self.inflight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        self.inflight -= 1
        if self.inflight == 0:
            self._idle.set()

    def begin_stopping(self) -> None:
        self.is_stopping = True

    async def wait_idle(self, limit: float) -> bool:
        """Wait until no request is in flight; False when `limit` seconds ran out first."""
        try:
            async with asyncio.timeout(limit):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True
