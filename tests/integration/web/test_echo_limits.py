"""Issue 27 item 7: what a client sends is quoted back at most MAX_ECHO characters, in
every error (aiohttp's own 417 included), and a Transfer-Encoding other than `chunked`
alone is refused with 501 in the endpoint's error shape. A real router, raw sockets."""

from __future__ import annotations

import orjson
import pytest

from router.errors import MAX_ECHO
from tests.support import MockNodes, Proc, Routers, hostile

pytestmark = pytest.mark.integration

LONG = "x" * 7000


MOCK_NODES = hostile.HOSTILE_NODES


@pytest.fixture(scope="module")
def router(mock_nodes: MockNodes, routers: Routers) -> Proc:
    return routers.get(hostile.hostile_config(mock_nodes))


def _port(proc: Proc) -> int:
    return int(proc.base_url.rsplit(":", 1)[1])


def _error(body: bytes) -> dict[str, object]:
    document = orjson.loads(body)
    error = document[0]["error"] if isinstance(document, list) else document["error"]
    assert isinstance(error, dict)
    return error


CASES = [
    pytest.param(
        hostile.post_bytes(hostile.CHAT, hostile.chat_json(), [(b"Expect", LONG.encode())]),
        417,
        id="aiohttp's 417",
    ),
    pytest.param(
        hostile.post_bytes("/v1beta/models/gemini-2.5-flash:" + LONG, hostile.gemini_json()),
        404,
        id="a Gemini action",
    ),
    pytest.param(
        hostile.post_bytes(
            hostile.CHAT, hostile.chat_json(), [(b"Content-Encoding", LONG.encode())]
        ),
        415,
        id="a Content-Encoding",
    ),
    pytest.param(
        hostile.post_bytes(hostile.CHAT, hostile.chat_json(model=LONG)), 404, id="a model name"
    ),
]


@pytest.mark.parametrize(("request_bytes", "status"), CASES)
def test_client_input_is_quoted_at_most_max_echo_characters(
    router: Proc, request_bytes: bytes, status: int
) -> None:
    reply = hostile.raw_exchange(_port(router), request_bytes)
    assert reply.status == status, reply.head
    message = str(_error(reply.body)["message"])
    assert "x" * (MAX_ECHO + 1) not in message
    assert len(message) < MAX_ECHO + 150, message
    assert len(reply.body) < 1000


def _chunked(path: str, body: bytes, coding: bytes) -> bytes:
    head = [
        b"POST " + path.encode() + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Connection: close",
        b"Authorization: Bearer " + hostile.CLIENT_KEY.encode(),
        b"Content-Type: application/json",
        b"Transfer-Encoding: " + coding,
    ]
    chunk = b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n"
    return b"\r\n".join(head) + b"\r\n\r\n" + chunk


@pytest.mark.parametrize("coding", [b"gzip, chunked", b"deflate,chunked", b"identity, chunked"])
def test_a_transfer_coding_besides_chunked_is_refused_in_the_dialects_shape(
    router: Proc, coding: bytes
) -> None:
    openai = hostile.raw_exchange(
        _port(router), _chunked(hostile.CHAT, hostile.chat_json(), coding)
    )
    assert openai.status == 501, openai.head
    assert _error(openai.body)["code"] == "unsupported_transfer_encoding"
    gemini = hostile.raw_exchange(
        _port(router), _chunked(hostile.GENERATE, hostile.gemini_json(), coding)
    )
    assert gemini.status == 501, gemini.head
    assert _error(gemini.body)["status"] == "UNIMPLEMENTED"  # Google's shape


def test_plain_chunked_is_still_read(router: Proc) -> None:
    reply = hostile.raw_exchange(
        _port(router), _chunked(hostile.CHAT, hostile.chat_json(), b"chunked")
    )
    assert reply.status == 200, reply.head
