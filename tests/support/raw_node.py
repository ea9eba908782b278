"""Raw loopback nodes in process: an asyncio server that answers exactly what a test writes.

The tests of router.upstream (the HTTP/1.1 client and the real transport) use them to send
bytes no well-behaved server would: cut bodies, stalls, odd heads. `node_factory`
(tests/upstream/conftest.py) makes them and closes them after the test.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from router.upstream.http11 import NodeClient, NodeResponse, Origin

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]  # False: close after


@dataclass
class RawNode:
    """Reads requests (head + Content-Length body) and lets `answer` write the reply."""

    answer: Answer
    connections: int = 0
    requests: list[bytes] = field(default_factory=list)
    server: asyncio.Server | None = None

    async def start(self) -> RawNode:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append(head + body)
                if not await self.answer(head, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def client_for(
    url: str, *, idle: float = 5.0, total: float = 10.0, first_byte: float = math.inf
) -> NodeClient:
    return NodeClient(
        Origin.from_url(url),
        connect_timeout=1.0,
        idle_timeout=idle,
        total_timeout=total,
        first_byte_timeout=first_byte,
    )


async def read_all(response: NodeResponse) -> bytes:
    parts = []
    while chunk := await response.read():
        parts.append(chunk)
    return b"".join(parts)


def fixed(status_line: bytes, headers: bytes, body: bytes, keep: bool = True) -> Answer:
    async def answer(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(status_line + b"\r\n" + headers + b"\r\n" + body)
        await writer.drain()
        return keep

    return answer


async def hold(head: bytes, writer: asyncio.StreamWriter) -> bool:
    """A node that starts a chunked answer, then sends nothing for 5 s."""
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    await asyncio.sleep(5)
    return False


async def closed_while_reading(response: Any) -> bytes:
    """A read of `response` that is waiting when the response is closed (what it raises)."""
    reading = asyncio.ensure_future(response.read())
    await asyncio.sleep(0.05)
    response.close()
    return await asyncio.wait_for(reading, 1.0)


async def stall(head: bytes, writer: asyncio.StreamWriter) -> bool:
    """A node that sends 3 of 10 promised bytes, then nothing."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    await asyncio.sleep(5)
    return False


async def cut(head: bytes, writer: asyncio.StreamWriter) -> bool:
    """A node that sends 3 of 10 promised bytes, then closes the connection."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    await writer.drain()
    return False
