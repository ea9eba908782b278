"""router.upstream.headers: which headers cross the router, each way (tables, no loop)."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from router.upstream import headers as headers_module
from router.upstream.headers import IDENTITY, MAX_NODE_HEADER, REQUEST_ID, to_client, to_node


def _headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


RID = "rid-1"

TO_NODE_CASES = [
    pytest.param(
        [("Content-Type", "application/json"), ("Accept", "text/event-stream")],
        None,
        [
            ("Content-Type", "application/json"),
            ("Accept", "text/event-stream"),
            IDENTITY,
            (REQUEST_ID, RID),
        ],
        id="ordinary headers pass, in order, then the request id",
    ),
    pytest.param(
        [("Authorization", "Bearer client-key"), ("x-goog-api-key", "client-goog")],
        ("Authorization", "Bearer node-key"),
        [IDENTITY, (REQUEST_ID, RID), ("Authorization", "Bearer node-key")],
        id="client credentials replaced by the node's key",
    ),
    pytest.param(
        [("Authorization", "Bearer client-key"), ("X-Goog-Api-Key", "client-goog")],
        ("x-goog-api-key", "node-key"),
        [IDENTITY, (REQUEST_ID, RID), ("x-goog-api-key", "node-key")],
        id="a Gemini node's key replaces every client credential too",
    ),
    pytest.param(
        [("Authorization", "Bearer client-key"), ("Accept", "*/*")],
        None,
        [("Accept", "*/*"), IDENTITY, (REQUEST_ID, RID)],
        id="client credentials dropped when the node has no key",
    ),
    pytest.param(
        [(name, "x") for name in ("Connection", "Keep-Alive", "Proxy-Authorization", "TE")]
        + [(name, "x") for name in ("Trailer", "Transfer-Encoding", "Upgrade")]
        + [("Proxy-Authenticate", "x"), ("Proxy-Connection", "x")],
        None,
        [IDENTITY, (REQUEST_ID, RID)],
        id="hop-by-hop headers dropped",
    ),
    pytest.param(
        [("Host", "router"), ("Content-Length", "12"), ("Expect", "100-continue")],
        None,
        [IDENTITY, (REQUEST_ID, RID)],
        id="framing, host and expect dropped",
    ),
    pytest.param(
        [("X-Request-ID", "from-client"), ("x-request-id", "again")],
        None,
        [IDENTITY, (REQUEST_ID, RID)],
        id="the client's request id replaced by the router's",
    ),
    pytest.param(
        [("Connection", "close, X-Secret"), ("X-Secret", "s"), ("X-Kept", "k")],
        None,
        [("X-Kept", "k"), IDENTITY, (REQUEST_ID, RID)],
        id="fields named in Connection are hop-by-hop too",
    ),
    pytest.param(
        [("Connection", " X-A ,x-b"), ("x-a", "1"), ("X-B", "2"), ("X-C", "3")],
        None,
        [("X-C", "3"), IDENTITY, (REQUEST_ID, RID)],
        id="Connection tokens are trimmed and case-insensitive",
    ),
    pytest.param(
        [("X-Multi", "1"), ("X-Multi", "2")],
        None,
        [("X-Multi", "1"), ("X-Multi", "2"), IDENTITY, (REQUEST_ID, RID)],
        id="repeated headers all pass",
    ),
    pytest.param(
        [("Accept-Encoding", "gzip, deflate, br"), ("Accept", "*/*")],
        None,
        [("Accept", "*/*"), ("Accept-Encoding", "identity"), (REQUEST_ID, RID)],
        id="nodes are asked for plain answers whatever the client accepts",
    ),
]


@pytest.mark.parametrize(("client", "credential", "expected"), TO_NODE_CASES)
def test_to_node(
    client: list[tuple[str, str]],
    credential: tuple[str, str] | None,
    expected: list[tuple[str, str]],
) -> None:
    assert to_node(_headers(*client), RID, credential) == expected


TO_CLIENT_CASES = [
    pytest.param(
        [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")],
        [("Content-Type", "text/event-stream")],
        id="content headers pass; others (the router sets its own) do not",
    ),
    pytest.param(
        [
            ("Content-Length", "5"),
            ("Transfer-Encoding", "chunked"),
            ("Connection", "keep-alive"),
            ("Keep-Alive", "timeout=5"),
            ("Upgrade", "h2c"),
            ("Trailer", "x"),
        ],
        [],
        id="framing and hop-by-hop dropped",
    ),
    pytest.param(
        [("X-Request-ID", "node-id"), ("Date", "today"), ("Server", "node")],
        [],
        id="headers the router sets itself dropped",
    ),
    pytest.param(
        [("Connection", "X-Internal"), ("X-Internal", "1"), ("X-Ratelimit-Remaining", "9")],
        [("X-Ratelimit-Remaining", "9")],
        id="fields named in Connection dropped",
    ),
    pytest.param(
        [
            ("Set-Cookie", "a=1"),
            ("Authorization", "Bearer sk-node"),
            ("Location", "http://10.0.0.7:8000/v1/x"),
            ("X-Upstream-Key", "sk-node"),
            ("Content-Location", "http://10.0.0.7:8000/"),
            ("Via", "1.1 node7"),
            ("openai-organization", "org-internal"),
        ],
        [],
        id="cookies, redirects, keys and internal headers stay at the router",
    ),
    pytest.param(
        [
            ("Content-Encoding", "gzip"),
            ("Content-Language", "en"),
            ("Retry-After", "2"),
            ("retry-after-ms", "1500"),
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-remaining-tokens", "9000"),
            ("anthropic-ratelimit-tokens-remaining", "100"),
            ("openai-processing-ms", "12"),
        ],
        [
            ("Content-Encoding", "gzip"),
            ("Content-Language", "en"),
            ("Retry-After", "2"),
            ("retry-after-ms", "1500"),
            ("openai-processing-ms", "12"),
            ("x-ratelimit-limit-requests", "60"),
            ("x-ratelimit-remaining-tokens", "9000"),
            ("anthropic-ratelimit-tokens-remaining", "100"),
        ],
        id="the allowlist passes, the named headers first, each in order",
    ),
    pytest.param(
        [
            *((f"x-ratelimit-junk-{i}", "9" * 3000) for i in range(3)),
            ("Content-Type", "application/json"),
        ],
        [
            ("Content-Type", "application/json"),
            *((f"x-ratelimit-junk-{i}", "9" * 3000) for i in range(2)),
        ],
        id="MAX_NODE_HEADERS bytes in all, never crowding out the content headers",
    ),
    pytest.param(
        [
            ("x-ratelimit-huge", "9" * (MAX_NODE_HEADER - len("x-ratelimit-huge") + 1)),
            ("x-ratelimit-fits", "9" * (MAX_NODE_HEADER - len("x-ratelimit-fits"))),
            ("Retry-After", "2\x00"),
            ("x-ratelimit-odd", "caf\u00e9"),
        ],
        [("x-ratelimit-fits", "9" * (MAX_NODE_HEADER - len("x-ratelimit-fits")))],
        id="a header over the size, or not printable ASCII, is dropped",
    ),
]


@pytest.mark.parametrize(("upstream", "expected"), TO_CLIENT_CASES)
def test_to_client(upstream: list[tuple[str, str]], expected: list[tuple[str, str]]) -> None:
    assert list(to_client(_headers(*upstream))) == expected


def test_to_client_decides_each_name_per_operator_allowlist() -> None:
    """Names are remembered per `server.node_headers`: one allowed by one config is not
    passed under another (a reload that removes it takes effect)."""
    node = _headers(("X-Node-Extra", "1"), ("content-type", "application/json"))
    assert list(to_client(node, ("x-node-extra",))) == [
        ("content-type", "application/json"),
        ("X-Node-Extra", "1"),
    ]
    assert list(to_client(node)) == [("content-type", "application/json")]
    assert list(to_client(node, ("x-node-extra",))) == [
        ("content-type", "application/json"),
        ("X-Node-Extra", "1"),
    ]


def test_to_client_remembers_a_bounded_number_of_names() -> None:
    """A node inventing a new header name per answer cannot grow the router's memory."""
    for i in range(3 * headers_module._KIND_CACHE_SIZE):
        to_client(_headers((f"x-invented-{i}", "1")), ("x-bounded-test",))
    assert len(headers_module._KINDS[("x-bounded-test",)]) <= headers_module._KIND_CACHE_SIZE
