"""router.upstream.node_connection: the exchange's deadlines, watched by one lazy timer."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.raw_node import client_for, fixed, read_all

OK = fixed(b"HTTP/1.1 200 OK", b"Content-Type: application/json\r\nContent-Length: 2\r\n", b"{}")


async def silent(head: bytes, writer: asyncio.StreamWriter) -> bool:
    """A node that reads the request and answers nothing for 5 s."""
    await asyncio.sleep(5)
    return False


async def headers_only(head: bytes, writer: asyncio.StreamWriter) -> bool:
    """A node that sends its headers at once and its body 5 s later."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(5)
    return False


async def first_then_stall(head: bytes, writer: asyncio.StreamWriter) -> bool:
    """A node that sends its headers and a first chunk, then waits 0.6 s for the rest."""
    writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n.\r\n")
    await writer.drain()
    await asyncio.sleep(0.6)
    writer.write(b"1\r\n!\r\n0\r\n\r\n")
    await writer.drain()
    return False


async def test_no_head_within_first_byte_is_a_timeout(node_factory) -> None:
    client = client_for((await node_factory(silent)).url, idle=5.0, first_byte=0.2)
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError, match=r"no first byte within 0\.2s"):
        await client.post("/", [], b"")
    assert asyncio.get_running_loop().time() - started < 2.0


async def test_headers_without_a_body_byte_are_still_within_first_byte(node_factory) -> None:
    client = client_for((await node_factory(headers_only)).url, idle=5.0, first_byte=0.2)
    response = await client.post("/", [], b"")  # the headers came in time
    started = asyncio.get_running_loop().time()
    with pytest.raises(TimeoutError, match="no first byte"):
        await response.read()
    assert asyncio.get_running_loop().time() - started < 2.0  # not the 5 s idle timeout


async def test_after_the_first_byte_only_idle_and_total_count(node_factory) -> None:
    client = client_for((await node_factory(first_then_stall)).url, idle=2.0, first_byte=0.2)
    response = await client.post("/", [], b"")
    assert await read_all(response) == b".!"  # 0.6 s between chunks: past first_byte, fine


async def test_a_kept_alive_connection_keeps_one_watch_across_requests(node_factory) -> None:
    """The deadline timer is made once and re-armed only when it fires, not per request
    (a timer costs about 3 us to make and cancel on uvloop)."""
    client = client_for((await node_factory(OK)).url, first_byte=30.0)
    watches = set()
    for _ in range(20):
        response = await client.post("/", [], b"{}")
        assert await read_all(response) == b"{}"
        response.release()
        (conn,) = client._idle
        assert conn._timer is not None  # armed for the first request, still waiting
        watches.add(id(conn._timer))
    assert len(watches) == 1


def test_a_connection_holds_no_dict_of_attributes() -> None:
    """One connection per open stream: slotted, so each costs no per-instance dict (issue 32)."""
    from router.upstream.node_connection import Connection

    assert Connection.__dictoffset__ == 0
