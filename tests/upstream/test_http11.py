"""router.upstream.http11 against raw loopback servers that answer exactly what each test needs."""

from __future__ import annotations

import asyncio

import pytest

from router.upstream.http11 import (
    ConnectFailed,
    ConnectionLost,
    Origin,
    request_path,
)
from router.upstream.node_connection import HIGH_WATER
from tests.support import free_port
from tests.support.raw_node import (
    client_for,
    closed_while_reading,
    cut,
    fixed,
    hold,
    read_all,
    stall,
)


async def test_a_whole_answer_and_the_connection_kept_for_the_next(node_factory) -> None:
    node = await node_factory(
        fixed(b"HTTP/1.1 200 OK", b"Content-Type: application/json\r\nContent-Length: 2\r\n", b"{}")
    )
    client = client_for(node.url)
    for n in range(3):
        response = await client.post("/v1/chat/completions", [("X-N", str(n))], b'{"a":1}')
        assert (response.status, response.reason, response.content_type) == (
            200,
            "OK",
            "application/json",
        )
        assert response.content_length == 2
        assert await read_all(response) == b"{}"
        response.release()
    assert node.connections == 1
    first = node.requests[0]
    assert first.startswith(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b'\r\nX-N: 0\r\nContent-Length: 7\r\n\r\n{"a":1}' in first
    client.close()


async def test_connection_close_is_not_reused(node_factory) -> None:
    node = await node_factory(
        fixed(b"HTTP/1.1 200 OK", b"Connection: close\r\nContent-Length: 2\r\n", b"ok", keep=False)
    )
    client = client_for(node.url)
    for _ in range(2):
        response = await client.post("/", [], b"")
        assert await read_all(response) == b"ok"
        response.release()
    assert node.connections == 2
    client.close()


async def test_chunked_and_until_close_bodies_are_decoded(node_factory) -> None:
    chunked = await node_factory(
        fixed(
            b"HTTP/1.1 200 OK",
            b"Content-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n",
            b"5\r\ndata:\r\n3\r\n 1\n\r\n0\r\n\r\n",
        )
    )
    until_close = await node_factory(fixed(b"HTTP/1.1 200 OK", b"", b"to the end", keep=False))
    response = await client_for(chunked.url).post("/", [], b"")
    assert response.content_type == "text/event-stream" and response.content_length is None
    assert await read_all(response) == b"data: 1\n"
    response = await client_for(until_close.url).post("/", [], b"")
    assert await read_all(response) == b"to the end"


async def test_interim_1xx_answers_are_skipped(node_factory) -> None:
    node = await node_factory(
        fixed(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created", b"Content-Length: 1\r\n", b"x")
    )
    response = await client_for(node.url).post("/", [], b"")
    assert (response.status, await read_all(response)) == (201, b"x")


async def test_idle_node_times_out_and_a_cut_answer_is_an_error(node_factory) -> None:
    response = await client_for((await node_factory(stall)).url, idle=0.2).post("/", [], b"")
    assert await response.read() == b"abc"
    with pytest.raises(TimeoutError):
        await response.read()
    response = await client_for((await node_factory(cut)).url).post("/", [], b"")
    with pytest.raises(ConnectionLost):
        await read_all(response)


async def test_total_timeout_cuts_a_slow_answer(node_factory) -> None:
    async def drip(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(50):
            writer.write(b"1\r\n.\r\n")
            await writer.drain()
            await asyncio.sleep(0.05)
        return False

    response = await client_for((await node_factory(drip)).url, idle=1.0, total=0.3).post(
        "/", [], b""
    )
    with pytest.raises(TimeoutError):
        await read_all(response)


async def test_malformed_answer_and_refused_connection(node_factory) -> None:
    node = await node_factory(fixed(b"NOT HTTP AT ALL", b"", b""))
    with pytest.raises(ConnectionLost):
        await client_for(node.url).post("/", [], b"")
    with pytest.raises(ConnectFailed):
        await client_for(f"http://127.0.0.1:{free_port()}").post("/", [], b"")


async def test_closing_the_response_wakes_a_waiting_read(node_factory) -> None:
    response = await client_for((await node_factory(hold)).url).post("/", [], b"")
    with pytest.raises(ConnectionLost):
        await closed_while_reading(response)


async def test_a_large_body_read_slowly_arrives_whole(node_factory) -> None:
    body = bytes(range(256)) * (4 * HIGH_WATER // 256)
    node = await node_factory(
        fixed(b"HTTP/1.1 200 OK", b"Content-Length: %d\r\n" % len(body), body)
    )
    big_request = b"x" * (3 * 1024 * 1024)  # written in two parts
    response = await client_for(node.url).post("/", [], big_request)
    received = []
    while chunk := await response.read():
        assert len(chunk) <= 2 * HIGH_WATER  # reading paused instead of buffering it all
        received.append(chunk)
        await asyncio.sleep(0.001)
    assert b"".join(received) == body
    assert node.requests[0].endswith(big_request)


def test_request_paths_are_encoded_for_the_wire() -> None:
    assert request_path("/v1beta/models/gemini-2.5-flash:generateContent", "alt=sse") == (
        "/v1beta/models/gemini-2.5-flash:generateContent?alt=sse"
    )
    assert request_path("/v1/models/a b\r\nX: y:go") == "/v1/models/a%20b%0D%0AX:%20y:go"
    assert request_path("/m/%41") == "/m/%2541"  # a decoded "%" is sent encoded
    origin = Origin.from_url("https://user@node62.example:8443/api/")
    assert (origin.host, origin.port, origin.base_path) == ("node62.example", 8443, "/api")
    assert origin.host_header == b"node62.example:8443" and origin.tls is not None
    with pytest.raises(ValueError):
        Origin.from_url("ftp://x")
