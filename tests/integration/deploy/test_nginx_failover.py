"""deploy/nginx/router.conf under the keep-alive close race that ends every replica's drain.

A draining replica finally closes the keep-alive connections nginx holds idle to it. HTTP/1.1
gives no way to do that without a race: nginx may send a request down such a connection in
the same instant, and gets a reset before any response byte. The cluster test (issue 7)
saw this as one 502 in a few hundred requests during a rolling restart on a busy machine.

Here the race is made certain. Replica "closing" answers the first request on each
connection and keeps it alive, then resets the connection when the next request arrives
on it, as a replica closing at that moment would. Replica "steady" always answers. Every
POST through nginx must still get 200: nginx has to pass a request that died this way to
the other replica.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import orjson
import pytest

from tests.support import NGINX, Nginx

pytestmark = [pytest.mark.integration]

REQUESTS = 20
BODY = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})


@dataclass
class FakeReplica:
    """A raw HTTP/1.1 server; `reset_reused` makes it reset a connection's second request."""

    name: str
    reset_reused: bool
    answered: int = 0
    resets: int = 0
    server: asyncio.Server | None = None

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def start(self) -> FakeReplica:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        return self

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        served = 0
        try:
            while await _read_request(reader):
                if self.reset_reused and served:
                    self.resets += 1
                    _reset(writer)
                    return
                served += 1
                self.answered += 1
                body = orjson.dumps({"replica": self.name})
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> bool:
    """Reads one request (headers and a Content-Length body); False at end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return False
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return True


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0: the peer gets RST, as from a close with unread data."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@pytest.fixture
async def replicas() -> AsyncIterator[tuple[FakeReplica, FakeReplica]]:
    closing = await FakeReplica("closing", reset_reused=True).start()
    steady = await FakeReplica("steady", reset_reused=False).start()
    yield closing, steady
    for replica in (closing, steady):
        assert replica.server is not None
        replica.server.close()


@pytest.fixture
def nginx_in_front(tmp_path: Path, replicas: tuple[FakeReplica, FakeReplica]) -> Nginx:
    if not Path(NGINX).exists():
        pytest.fail(f"{NGINX} is not installed (make sysdeps)")
    return Nginx(tmp_path, [r.port for r in replicas])


async def test_a_post_reset_on_a_kept_alive_connection_goes_to_the_other_replica(
    nginx_in_front: Nginx, replicas: tuple[FakeReplica, FakeReplica]
) -> None:
    closing, steady = replicas
    nginx = nginx_in_front
    # nginx runs in the foreground; the fake replicas live on this event loop, so start and
    # wait for it without blocking the loop.
    await asyncio.to_thread(nginx.start)
    statuses: list[tuple[int, bytes]] = []
    try:
        async with aiohttp.ClientSession() as session:
            for _attempt in range(100):  # until nginx answers (it binds in a moment)
                try:
                    async with session.get(f"{nginx.url}/healthz") as resp:
                        await resp.read()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail(f"nginx never answered\n{nginx.errors()}")
            for _ in range(REQUESTS):  # one at a time: nginx reuses its idle connections
                async with session.post(
                    f"{nginx.url}/v1/chat/completions",
                    data=BODY,
                    headers={"Content-Type": "application/json"},
                ) as resp:
                    statuses.append((resp.status, await resp.read()))
    finally:
        await asyncio.to_thread(nginx.stop)
    failed = [(status, body[:80]) for status, body in statuses if status != 200]
    # The race happened (else this test shows nothing) and no client saw it.
    assert closing.resets >= 1, f"nginx never reused a connection to {closing.name}"
    assert not failed, (
        f"{len(failed)} of {REQUESTS} POSTs failed after {closing.resets} resets: {failed}\n"
        f"{nginx.errors()}"
    )
    assert steady.answered + closing.answered == REQUESTS + 1  # + the /healthz
