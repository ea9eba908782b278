"""router.upstream.reasons: a node's message cleaned of every spelling that names a node,
and its request id passed back only when it is one (no loop)."""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import quote

import pytest

from router.config.model import NodeConfig
from router.upstream.reasons import REDACTED, Redactor, node_request_id

KEY = "sk-node-Secret/with+odd=chars 1"
LOOPBACK_NODE = NodeConfig("a", "http://127.0.0.1:9001", api_key=KEY)


@pytest.mark.parametrize(
    "spelling",
    [
        "http://127.0.0.1:9001/v1/chat/completions",
        "http://localhost:9001/v1/chat",
        "http://LOCALHOST:9001",
        "http://[::1]:9001/v1",
        "localhost:9001",
        "[::1]:9001",
        "127.0.0.1",
        "0.0.0.0:9001",  # a node bound to every interface names its listening address
        "http://0.0.0.0:9001/v1",
        "127.1:9001",
        "[::ffff:127.0.0.1]:9001",
        "[0:0:0:0:0:0:0:1]:9001",
        KEY,
        quote(KEY, safe=""),
        quote(KEY, safe="").replace("%20", "+"),
        base64.b64encode(KEY.encode()).decode(),
        base64.urlsafe_b64encode(KEY.encode()).decode().rstrip("="),
    ],
)
def test_every_spelling_of_a_loopback_node_and_its_key_is_redacted(spelling: str) -> None:
    cleaned = Redactor([LOOPBACK_NODE]).clean(f"upstream {spelling} refused the call")
    assert spelling.lower() not in cleaned.lower(), cleaned
    assert REDACTED in cleaned and cleaned.endswith("refused the call")


def test_a_node_on_a_named_host_keeps_other_hosts_readable() -> None:
    redactor = Redactor([NodeConfig("b", "https://node-b.internal:8443", api_key="sk-bbbb")])
    cleaned = redactor.clean("node-b.internal:8443 said: see http://localhost:3000 and sk-bbbb")
    assert "node-b.internal" not in cleaned and "sk-bbbb" not in cleaned
    assert "http://localhost:3000" in cleaned  # not a node's address here


def test_basic_auth_passwords_are_redacted_in_base64_too() -> None:
    node = NodeConfig("c", "http://10.0.0.5:80", basic_auth="user:pa55word")
    header = base64.b64encode(b"user:pa55word").decode()
    cleaned = Redactor([node]).clean(f"Authorization: Basic {header} rejected; pa55word")
    assert header not in cleaned and "pa55word" not in cleaned


@pytest.mark.parametrize("before", [b"Bearer ", b"u:", b"x", b""])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_key_inside_a_longer_base64_text_is_redacted(before: bytes, encode: Any) -> None:
    # Base64 of a header or a token that holds the key ("Bearer sk-..."): the key's bytes
    # start at any of three alignments, so its encoding alone is not what appears.
    encoded = encode(before + KEY.encode() + b"!").decode()
    cleaned = Redactor([LOOPBACK_NODE]).clean(f"auth {encoded} denied")
    assert REDACTED in cleaned, cleaned
    kept = cleaned.removeprefix("auth ").removesuffix(" denied").replace(REDACTED, "")
    assert len(kept) <= len(before) * 4 // 3 + 6, cleaned  # the text around the key only


@pytest.mark.parametrize(
    ("value", "passed"),
    [
        ("req_0123-abc", True),
        ("chatcmpl-7f3a.b:9", True),
        ("http://127.0.0.1:9001/internal", False),
        ("a b", False),
        ("sk-key==", False),
        ("x" * 200, True),
        ("x" * 201, False),
        ("", False),
    ],
)
def test_a_node_request_id_is_passed_back_only_when_it_is_one(value, passed) -> None:
    assert (node_request_id(value) == value) is passed
    assert node_request_id(None) is None
