"""Issue 17 item 9: no answer but JSON, and no log line with a key or prompt text, at any
level, whatever bytes a client sends.

A router at `--log-level debug` (the level that logged leftover request bytes) gets
requests whose credentials hold control characters, whose request line carries a key,
whose headers are malformed; every answer must be the router's JSON error with an
X-Request-ID, and the whole log (stdout and stderr) must hold no client key, no node key
and no prompt text.
"""

from __future__ import annotations

import secrets

import orjson
import pytest

from tests.support import CHAT, MockNodes, Proc, Routers
from tests.support.hostile import (
    CLIENT_KEY,
    GENERATE,
    HOSTILE_NODES,
    NODE_KEY,
    PROMPT,
    chat_json,
    gemini_json,
    hostile_config,
    post_bytes,
    raw_exchange,
)

pytestmark = pytest.mark.integration

MALFORMED = "malformed request from a client: "
SECRET = f"sk-ctl-{secrets.token_hex(10)}"  # a "key" no config knows: only a client sends it


MOCK_NODES = HOSTILE_NODES


@pytest.fixture(scope="module")
def debug_router(mock_nodes: MockNodes, routers: Routers) -> Proc:
    return routers.get(hostile_config(mock_nodes), args=("--log-level", "debug"))


def _port(proc: Proc) -> int:
    return int(proc.base_url.rsplit(":", 1)[1])


def _head(request_line: bytes, *fields: bytes, body: bytes = b"") -> bytes:
    lines = [request_line, b"Host: 127.0.0.1", b"Connection: close", *fields]
    lines.append(b"Content-Type: application/json")
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def _hostile_requests() -> dict[str, bytes]:
    key = SECRET.encode()
    chat = chat_json()
    post = b"POST " + CHAT.encode() + b" HTTP/1.1"
    return {
        "control char in Authorization": _head(
            post, b"Authorization: Bearer " + key + b"\x01x", body=chat
        ),
        "DEL in Authorization": _head(post, b"Authorization: Bearer \x7f" + key, body=chat),
        "control char in x-goog-api-key": _head(
            b"POST " + GENERATE.encode() + b" HTTP/1.1",
            b"x-goog-api-key: " + key + b"\x02",
            body=gemini_json(),
        ),
        "bare CR in a header": _head(post, b"Authorization: Bearer " + key + b"\rX: y", body=chat),
        "NUL in a header": _head(post, b"Authorization: Bearer " + key + b"\x00", body=chat),
        "key in a broken request line": _head(
            b"POST " + GENERATE.encode() + b"?key=" + key + b" \x01HTTP/1.1", body=gemini_json()
        ),
        "header name with a space": _head(post, b"Bad Name" + key + b": 1", body=chat),
        "body longer than announced": _head(post, b"Authorization: Bearer " + key, body=chat)
        + PROMPT.encode()
        + b" trailing bytes",
        "good key, then garbage": post_bytes(CHAT, chat) + b"\x16\x03\x01" + PROMPT.encode(),
    }


@pytest.mark.parametrize("name", list(_hostile_requests()))
def test_every_answer_is_json_with_a_request_id(debug_router: Proc, name: str) -> None:
    reply = raw_exchange(_port(debug_router), _hostile_requests()[name], timeout=5.0)
    assert reply.status in (200, 400, 401), (name, reply)
    head = reply.head.lower()
    assert b"content-type: application/json" in head, (name, reply.head)
    assert b"x-request-id: " in head, (name, reply.head)
    body = orjson.loads(reply.body) if reply.status != 200 else None
    if body is not None:
        assert "error" in body, body
    assert SECRET.encode() not in reply.head + reply.body, name


def test_no_log_line_holds_a_key_or_prompt_text(debug_router: Proc) -> None:
    requests = _hostile_requests()
    before = debug_router.output().count(MALFORMED)
    for request in requests.values():
        raw_exchange(_port(debug_router), request, timeout=5.0)
    ok = raw_exchange(_port(debug_router), post_bytes(CHAT, chat_json()))
    assert ok.status == 200, ok
    log = debug_router.output()
    # Each malformed request is one warning line naming only the error's kind: aiohttp's
    # own record (with its traceback quoting the bytes) went through our filter.
    assert log.count(MALFORMED) - before == len(requests), log[-3000:]
    for secret in (SECRET, CLIENT_KEY, NODE_KEY, PROMPT):
        assert secret not in log, f"{secret[:10]}... is in the log"
    assert "Traceback" not in log, log[-3000:]
