"""What the hostile-input tests share: a router with keys and pricing on two mock nodes,
and raw-socket requests (bytes no HTTP client library would send).

The secrets below must never appear in any answer or log line of the router.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import orjson

from tests.support import CHAT as CHAT  # re-exported: the hostile tests post to it
from tests.support import FLASH, MockNodes, routes_yaml

CLIENT_KEY = f"sk-hostile-{secrets.token_hex(12)}"
OTHER_KEY = f"sk-hostile-other-{secrets.token_hex(12)}"  # a valid key too, for conflicts
NODE_KEY = f"sk-node-{secrets.token_hex(12)}"
PROMPT = f"prompt-{secrets.token_hex(8)}"  # the text of every good request
GENERATE = f"/v1beta/models/{FLASH}:generateContent"
PRICING = {"pre_deduct": 1, "prompt_per_1k": 0.3, "completion_per_1k": 2.5}
CREDITS = 100_000


# The two mock nodes of the hostile tests (MOCK_NODES), each wanting NODE_KEY.
HOSTILE_NODES = {"a": ("--api-key", NODE_KEY), "b": ("--api-key", NODE_KEY)}


def key_hash(plain: str) -> str:
    return hashlib.sha256(plain.encode()).hexdigest()


def hostile_config(
    nodes: MockNodes, *, public_models: bool = False, tag: str = "", **server_keys: object
) -> str:
    """FLASH on nodes `a` and `b` (both with NODE_KEY), priced; CLIENT_KEY with credits."""
    entries = {name: {"url": nodes[name].url, "api_key": NODE_KEY} for name in ("a", "b")}
    # The recovery and routing features on, so hostile requests go through their code
    # too: a stream continues on the other node if one fails mid-answer, a session
    # header picks the node, a slow first node is raced.
    models = {
        FLASH: {
            "backends": [{"node": "a"}, {"node": "b"}],
            "pricing": PRICING,
            "on_midstream_failure": "continue",
            "affinity": {"by": "header:X-Session-ID"},
            "hedge": {"after": 2.0},
        }
    }
    keys: list[dict[str, Any]] = [
        {"name": "client", "hash": key_hash(CLIENT_KEY), "credits": CREDITS},
        {"name": "other", "hash": key_hash(OTHER_KEY)},
    ]
    server: dict[str, Any] = {"public_models": public_models, **server_keys}
    return routes_yaml(entries, models, server=server, keys=keys, tag=tag)


def chat_json(text: str = PROMPT, model: object = FLASH) -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": text}]})


def gemini_json(text: str = PROMPT) -> bytes:
    return orjson.dumps({"contents": [{"role": "user", "parts": [{"text": text}]}]})


@dataclass(frozen=True, slots=True)
class RawReply:
    status: int  # 0: the connection closed without an answer
    head: bytes
    body: bytes

    def error(self) -> dict[str, Any]:
        """The router's error object (`{"code", "message", "type"}`)."""
        error: dict[str, Any] = orjson.loads(self.body)["error"]
        return error


def raw_exchange(port: int, request: bytes, timeout: float = 10.0) -> RawReply:
    """Send bytes, read until the router closes (send `Connection: close`) or `timeout`."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the router may answer and close first
            sock.sendall(request)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    except (IndexError, ValueError):
        status = 0
    return RawReply(status, head, body)


def post_bytes(
    path: str, body: bytes, headers: list[tuple[bytes, bytes]] | None = None, key: str = CLIENT_KEY
) -> bytes:
    """A whole POST request as bytes; `headers` may hold any bytes at all."""
    lines = [b"POST " + path.encode() + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    if key:
        lines.append(b"Authorization: Bearer " + key.encode())
    lines.append(b"Content-Type: application/json")
    lines += [name + b": " + value for name, value in headers or []]
    lines.append(b"Content-Length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def get_bytes(path: str, key: str | None = None) -> bytes:
    lines = [b"GET " + path.encode() + b" HTTP/1.1", b"Host: 127.0.0.1", b"Connection: close"]
    if key:
        lines.append(b"Authorization: Bearer " + key.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"
