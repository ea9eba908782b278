"""router.upstream.http_transport: the real transport's errors leave it as UpstreamFailure.

Against the raw loopback servers of test_http_client (in process, no subprocess).
"""

from __future__ import annotations

import asyncio

import pytest

from router.config.model import NodeConfig, Timeouts
from router.errors import ClientTooSlow, FailureReason, UpstreamFailure
from router.upstream.http11 import ConnectFailed, ConnectionLost
from router.upstream.http_transport import HttpTransport, http_transport
from tests.support import free_port
from tests.support.raw_node import client_for, closed_while_reading, cut, fixed, hold, stall


def transport_for(url: str, *, idle: float = 5.0, total: float = 10.0) -> HttpTransport:
    return HttpTransport(client_for(url, idle=idle, total=total))


def test_node_connection_errors_are_not_os_errors() -> None:
    # An OSError (ConnectionResetError above all) means the client went away.
    assert not issubclass(ConnectionLost, OSError)
    assert not issubclass(ConnectFailed, OSError)


def test_the_factory_takes_timeouts_from_the_node_config() -> None:
    timeouts = Timeouts(connect=1.5, first_byte=30, idle=10, total=99)
    transport = http_transport(NodeConfig("n", "http://127.0.0.1:1/base", timeouts=timeouts))
    client = transport.client
    assert (client.connect_timeout, client.total_timeout) == (1.5, 99)
    assert client.idle_timeout == 30  # never shorter than first_byte
    assert client.origin.base_path == "/base"


async def test_refused_and_malformed_fail_as_connect_and_reset(node_factory) -> None:
    with pytest.raises(UpstreamFailure) as refused:
        await transport_for(f"http://127.0.0.1:{free_port()}").post("/", [], b"")
    assert refused.value.reason is FailureReason.CONNECT
    assert refused.value.detail == "could not connect waiting for the first byte"
    assert isinstance(refused.value.__cause__, ConnectFailed)
    node = await node_factory(fixed(b"NOT HTTP AT ALL", b"", b""))
    with pytest.raises(UpstreamFailure) as malformed:
        await transport_for(node.url).post("/", [], b"")
    assert malformed.value.reason is FailureReason.RESET
    assert malformed.value.detail == "connection lost waiting for the first byte"


async def test_reads_fail_as_timeout_or_reset(node_factory) -> None:
    response = await transport_for((await node_factory(stall)).url, idle=0.2).post("/", [], b"")
    assert await response.read() == b"abc"
    with pytest.raises(UpstreamFailure) as silent:
        await response.read()
    assert silent.value.reason is FailureReason.TIMEOUT
    assert isinstance(silent.value.__cause__, TimeoutError)
    response = await transport_for((await node_factory(cut)).url).post("/", [], b"")
    with pytest.raises(UpstreamFailure) as lost:
        while await response.read():
            pass
    assert lost.value.reason is FailureReason.RESET
    assert isinstance(lost.value.__cause__, ConnectionLost)


async def test_a_total_that_runs_out_while_the_reader_is_behind_is_the_readers(
    node_factory,
) -> None:
    """Issue 27 item 6: a node that sent faster than its answer is read (reading paused
    at HIGH_WATER for a slow client) is not failed when `total` runs out: the reader is
    (ClientTooSlow); a node that is itself slow past `total` is (timeout)."""

    async def ahead(head: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for _ in range(64):  # 4 MiB: far past HIGH_WATER and the socket buffers
            writer.write(b"10000\r\n" + b"x" * 65536 + b"\r\n")
        await writer.drain()
        await asyncio.sleep(5)
        return False

    response = await transport_for((await node_factory(ahead)).url, total=0.3).post("/", [], b"")
    assert await response.read()
    await asyncio.sleep(0.5)  # the reader stalls past `total`, the node far ahead
    with pytest.raises(ClientTooSlow):
        while await response.read():
            pass
    response.close()
    slow = await transport_for((await node_factory(hold)).url, idle=5, total=0.3).post("/", [], b"")
    with pytest.raises(UpstreamFailure) as late:
        await slow.read()
    assert late.value.reason is FailureReason.TIMEOUT
    slow.close()


async def test_a_closed_response_fails_its_waiting_read(node_factory) -> None:
    response = await transport_for((await node_factory(hold)).url).post("/", [], b"")
    with pytest.raises(UpstreamFailure) as closed:
        await closed_while_reading(response)
    assert closed.value.reason is FailureReason.RESET


async def test_a_probe_is_a_get_on_the_kept_alive_connections(node_factory) -> None:
    node = await node_factory(fixed(b"HTTP/1.1 204 No Content", b"", b""))
    transport = transport_for(node.url)
    status = await transport.get("/base/health?deep=1", [("Authorization", "Bearer k")], 1.0)
    assert status == 204
    assert await transport.get("/base/health?deep=1", [], 1.0) == 204
    assert node.connections == 1
    first = node.requests[0]
    assert first.startswith(b"GET /base/health?deep=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert first.endswith(
        b"\r\nAccept: */*\r\nAccept-Encoding: gzip, deflate\r\nAuthorization: Bearer k\r\n\r\n"
    )
    transport.close()


async def test_a_probe_fails_on_its_time_limit_and_on_refusal(node_factory) -> None:
    async def slow(head: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(5)
        return False

    transport = transport_for((await node_factory(slow)).url)
    with pytest.raises(UpstreamFailure) as late:
        await transport.get("/health", [], 0.2)
    assert late.value.reason is FailureReason.TIMEOUT
    with pytest.raises(UpstreamFailure) as refused:
        await transport_for(f"http://127.0.0.1:{free_port()}").get("/health", [], 1.0)
    assert refused.value.reason is FailureReason.CONNECT
