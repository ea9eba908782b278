"""Client load against a router under test: loops that record every request, so a test can
say "not one client request failed while ..."."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.support import chat_body
from tests.support.router_under_test import FLASH


@dataclass(slots=True)
class Outcome:
    """One client request: when it ran, its status and which node answered."""

    started: float
    ended: float
    status: int
    node: str | None
    detail: str = ""


@dataclass
class Load:
    """`workers` client loops posting chat requests until stopped; every outcome kept."""

    session: aiohttp.ClientSession
    url: str
    workers: int = 4
    pause: float = 0.0
    model: str = FLASH
    outcomes: list[Outcome] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def one(self) -> Outcome:
        started = time.monotonic()
        try:
            async with self.session.post(
                self.url + "/v1/chat/completions", json=chat_body(self.model)
            ) as resp:
                body = await resp.read()
                node = resp.headers.get("X-Mock-Node")
                detail = "" if resp.status == 200 else body[:300].decode(errors="replace")
                if resp.status == 200 and b'"chat.completion"' not in body:
                    detail = f"incomplete body: {body[:300]!r}"
                outcome = Outcome(started, time.monotonic(), resp.status, node, detail)
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome = Outcome(started, time.monotonic(), 0, None, repr(exc))
        self.outcomes.append(outcome)
        return outcome

    async def run(self, count: int, concurrency: int) -> None:
        """Send `count` requests, `concurrency` at a time, each kept in `outcomes`."""
        pending = iter(range(count))

        async def worker() -> None:
            for _ in pending:
                await self.one()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    async def _loop(self) -> None:
        while not self._stop.is_set():
            await self.one()
            if self.pause:
                await asyncio.sleep(self.pause)

    def start(self) -> Load:
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(self.workers)]
        return self

    async def stop(self) -> list[Outcome]:
        self._stop.set()
        async with asyncio.timeout(30):
            await asyncio.gather(*self._tasks)
        return self.outcomes

    def failures(self, since: float = 0.0) -> list[Outcome]:
        """Requests started at or after `since` (time.monotonic) that did not get a full 200."""
        return [o for o in self.outcomes if o.started >= since and (o.status != 200 or o.detail)]

    def nodes_since(self, since: float) -> Counter[str]:
        """Which nodes answered the requests started at or after `since`."""
        return Counter(o.node or "-" for o in self.outcomes if o.started >= since)


@contextlib.asynccontextmanager
async def running_load(
    session: aiohttp.ClientSession, url: str, *, workers: int = 4, pause: float = 0.0
) -> AsyncIterator[Load]:
    """A `Load` that is stopped (its loops awaited) however the block ends."""
    load = Load(session, url, workers=workers, pause=pause).start()
    try:
        yield load
    finally:
        await load.stop()


@contextlib.asynccontextmanager
async def client_session(total: float = 20.0, limit: int = 100) -> AsyncIterator[Any]:
    """An aiohttp client session with a bounded total time per request."""
    connector = aiohttp.TCPConnector(limit=limit)
    timeout = aiohttp.ClientTimeout(total=total)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        yield session
