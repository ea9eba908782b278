"""router.server.protocol_errors: aiohttp's own answers to unparsable bytes, in JSON.

In process, on a loopback port: the same bytes are sent to an app served by aiohttp's
AppRunner and by RouterRunner. The first tests pin the aiohttp behaviour the module relies
on (an upgrade that changes it fails here first); the others, what the router answers.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.http_exceptions import BadStatusLine, ContentEncodingError

from router.server.protocol_errors import RouterRunner, ShapedRequestHandler, error_for

SECRET = "sk-secret-in-the-request-line"
MALFORMED = {
    "bad header byte": b"GET / HTTP/1.1\r\nHost: x\r\nX-Key: " + SECRET.encode() + b"\x01\r\n\r\n",
    "bad version": b"GET /?key=" + SECRET.encode() + b" HTTP/9.9\r\n\r\n",
    "TLS on a plain port": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",
    "no Host": b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
}
Runner = Callable[[web.Application], web.AppRunner]


def aiohttp_runner(app: web.Application) -> web.AppRunner:
    return web.AppRunner(app, access_log=None)


def router_runner(app: web.Application) -> web.AppRunner:
    return RouterRunner(app, shutdown_timeout=1.0, handler_cancellation=True, access_log=None)


@asynccontextmanager
async def serving(make_runner: Runner) -> AsyncIterator[tuple[str, int]]:
    """An app with one route, served on a free loopback port by the runner given."""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hello")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = make_runner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield host, port
    finally:
        await runner.cleanup()


async def exchange(address: tuple[str, int], raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read the answer to its end: (status, headers, body)."""
    reader, writer = await asyncio.open_connection(*address)
    try:
        writer.write(raw)
        await writer.drain()
        async with asyncio.timeout(5):
            answer = await reader.read()
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


async def answer(make_runner: Runner, case: str) -> tuple[int, dict[str, str], bytes]:
    """What an app served by `make_runner` answers to the bytes of MALFORMED[case]."""
    async with serving(make_runner) as address:
        return await exchange(address, MALFORMED[case])


@pytest.fixture(autouse=True)
def _quiet_aiohttp(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("CRITICAL", logger="aiohttp.server")  # it logs each bad request whole


# --- what the module relies on in aiohttp -------------------------------------------------


@pytest.mark.parametrize("case", MALFORMED)
async def test_aiohttp_answers_unparsable_bytes_itself_in_plain_text(case: str) -> None:
    status, headers, body = await answer(aiohttp_runner, case)
    assert status == 400
    assert headers["content-type"].startswith("text/plain")
    assert not body.startswith(b"{")


async def test_aiohttp_quotes_the_offending_bytes_which_is_why_the_body_is_replaced() -> None:
    async with serving(aiohttp_runner) as address:
        for case in ("bad header byte", "bad version"):
            _, _, body = await exchange(address, MALFORMED[case])
            assert SECRET.encode() in body, case


async def test_the_runner_serves_each_connection_with_the_shaped_handler() -> None:
    runner = router_runner(web.Application())
    await runner.setup()
    try:
        assert runner.server is not None  # what sites call for each connection's protocol
        connection = runner.server()
        assert type(connection) is ShapedRequestHandler
    finally:
        await runner.cleanup()


# --- what the router answers --------------------------------------------------------------


@pytest.mark.parametrize("case", MALFORMED)
async def test_the_router_answers_unparsable_bytes_in_its_error_shape(case: str) -> None:
    status, headers, body = await answer(router_runner, case)
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    error = json.loads(body)
    assert error["error"]["code"] == "malformed_request", error
    assert error["trace_id"] == headers["x-request-id"]
    assert SECRET.encode() not in body


async def test_other_servers_in_the_process_keep_aiohttp_answers() -> None:
    async with serving(router_runner) as address:
        await exchange(address, MALFORMED["bad version"])
    async with serving(aiohttp_runner) as address:
        _, headers, _ = await exchange(address, MALFORMED["bad version"])
    assert headers["content-type"].startswith("text/plain")


async def test_a_well_formed_request_still_reaches_the_app() -> None:
    async with serving(router_runner) as address:
        status, _, body = await exchange(
            address, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
    assert (status, body) == (200, b"hello")


@pytest.mark.parametrize(
    ("status", "exc", "answer", "message"),
    [
        (400, BadStatusLine("GET /?key=sk-1"), (400, "malformed_request"), "(BadStatusLine)"),
        (400, None, (400, "malformed_request"), "(BadRequest)"),
        (
            400,
            ContentEncodingError("Can not decode content-encoding: br (br)"),
            (415, "unsupported_encoding"),
            "'br' is not supported",
        ),
        (500, RuntimeError("boom sk-1"), (500, "api_error"), "internal error"),
        (504, None, (500, "api_error"), "internal error"),
    ],
)
def test_error_for_names_only_the_kind_of_problem(
    status: int, exc: BaseException | None, answer: tuple[int, str], message: str
) -> None:
    error = error_for(status, exc)
    assert (error.status, error.code) == answer
    assert message in error.message and "sk-1" not in error.message
