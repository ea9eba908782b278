"""Graceful shutdown of a real router process with SSE streams open through it.

On SIGTERM the router answers /readyz 503 at once, keeps accepting connections for
`server.shutdown_delay`, then stops listening and waits up to `server.shutdown_grace` for
open requests; streams still open then are ended with one error event. Either way the
process exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time

import aiohttp
import pytest

from tests.support import FLASH, MockNodes, chat_body
from tests.support.load import client_session
from tests.support.router_under_test import (
    RouterUnderTest,
    Started,
    config_text,
    wait_stat,
)

pytestmark = pytest.mark.integration

A = "node62"


class Streams:
    """`count` streaming chat requests read to their end; `opened` counts those answering."""

    def __init__(self, session: aiohttp.ClientSession, url: str, count: int) -> None:
        self.opened = 0
        self._all_open = asyncio.Event()
        self.tasks = [asyncio.create_task(self._one(session, url)) for _ in range(count)]

    async def _one(self, session: aiohttp.ClientSession, url: str) -> tuple[int, bytes, str]:
        body = chat_body(FLASH, stream=True)
        async with session.post(url + "/v1/chat/completions", json=body) as resp:
            self.opened += 1
            if self.opened == len(self.tasks):
                self._all_open.set()
            received = b""
            try:
                async for chunk in resp.content.iter_any():
                    received += chunk
            except aiohttp.ClientPayloadError as exc:
                return resp.status, received, repr(exc)
            return resp.status, received, ""

    async def wait_open(self) -> None:
        await self._all_open.wait()

    async def results(self) -> list[tuple[int, bytes, str]]:
        return list(await asyncio.gather(*self.tasks))


async def can_connect(url: str) -> bool:
    """Whether a new TCP connection to the router is accepted."""
    host, port = url.removeprefix("http://").split(":")
    try:
        _, writer = await asyncio.open_connection(host, int(port))
    except OSError:
        return False
    writer.close()
    # Wait for the close: a socket left to the garbage collector is an unraisable warning.
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def readyz(url: str) -> int:
    """GET /readyz over a connection of its own."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        session.get(url + "/readyz", timeout=aiohttp.ClientTimeout(total=2)) as resp,
    ):
        return resp.status


def stopping_router(
    started: Started, chunk_delay: float, delay: float, grace: float
) -> tuple[MockNodes, RouterUnderTest]:
    server = {"shutdown_delay": delay, "shutdown_grace": grace}
    nodes, router = started.launch(
        {A: ("--chunk-delay", str(chunk_delay))}, lambda urls: config_text(urls, server=server)
    )
    return nodes, router


async def wait_exit(router: RouterUnderTest, within: float) -> int:
    assert router.proc is not None
    return await asyncio.to_thread(router.proc.wait, within)


async def test_sigterm_lets_fifty_open_streams_finish(started):
    # 10 events, 0.25 s apart: each stream lasts ~2.25 s, well past the 1 s shutdown delay.
    nodes, router = stopping_router(started, chunk_delay=0.25, delay=1.0, grace=10.0)
    async with asyncio.timeout(30), client_session(limit=100) as session:
        streams = Streams(session, router.url, 50)
        await asyncio.wait_for(streams.wait_open(), 10)
        await wait_stat(session, nodes[A].url, "inflight", at_least=50)
        signalled = time.monotonic()
        router.send_signal(signal.SIGTERM)

        await router.wait_event("stopping", within=2)
        assert await readyz(router.url) == 503
        assert time.monotonic() - signalled < 0.5
        # Still accepting during the delay (the load balancer needs to see the 503) ...
        while time.monotonic() - signalled < 0.7:
            assert await readyz(router.url) == 503
            await asyncio.sleep(0.1)
        # ... and refusing new connections after it.
        while await can_connect(router.url):
            assert time.monotonic() - signalled < 2.0, "still accepting connections"
            await asyncio.sleep(0.05)
        refused_after = time.monotonic() - signalled

        results = await streams.results()
        code = await wait_exit(router, 10)
    assert 0.9 <= refused_after <= 1.6, refused_after
    for status, body, error in results:
        assert status == 200 and error == "", (status, error, body[-200:])
        assert body.endswith(b"data: [DONE]\n\n"), body[-200:]
        assert b"Part 5 of 5." in body and b'"success"' not in body
    assert code == 0, router.output_tail()
    assert not router.events("shutdown_grace_expired")
    assert router.events("stopped")


async def test_streams_outliving_the_grace_get_an_error_event_and_exit_is_clean(started):
    # Each stream would last ~4.5 s; the router gives them 0.2 s + 1 s.
    _, router = stopping_router(started, chunk_delay=0.5, delay=0.2, grace=1.0)
    async with asyncio.timeout(30), client_session(limit=100) as session:
        streams = Streams(session, router.url, 10)
        await asyncio.wait_for(streams.wait_open(), 10)
        signalled = time.monotonic()
        router.send_signal(signal.SIGTERM)
        results = await asyncio.wait_for(streams.results(), 10)
        ended_after = time.monotonic() - signalled
        code = await wait_exit(router, 10)
    assert ended_after < 3.0, ended_after
    for status, body, error in results:
        assert status == 200 and error == "", (status, error, body[-300:])
        assert b"data: [DONE]" not in body, body[-300:]
        last = body.rstrip(b"\n").rsplit(b"\n\n", 1)[-1]
        assert last.startswith(b"data: "), body[-300:]
        event = json.loads(last.removeprefix(b"data: "))
        assert event["success"] is False and event["error"]["code"], event
    assert code == 0, router.output_tail()
    (expired,) = router.events("shutdown_grace_expired")
    assert expired["ended_streams"] == 10, expired
