"""Which headers cross the router, in each direction.

The client's credentials (every dialect's forms: router.dialects.registry) never reach a
node; the node's own key does, the way its dialect expects it. Hop-by-hop headers (RFC
9110 section 7.6.1) belong to one connection and are dropped on the way to a node, as
are the framing headers aiohttp recomputes.

A node's headers reach the client by an allowlist (`to_client`): what a client of an LLM
API reads (the content headers, Retry-After and retry-after-ms, the x-ratelimit-* family,
and each dialect's own: openai-processing-ms, anthropic-ratelimit-*), and nothing else: a node's
cookies, redirects, server names or internal headers stay at the router. Its own request
id goes back as X-Upstream-Request-ID once checked (router.upstream.reasons). A header
longer than MAX_NODE_HEADER, or not printable ASCII, is dropped, and so is every one past
MAX_NODE_HEADERS bytes in all: one node's 100 KB header, or a hundred 3 KB ones, must not
break the client's HTTP parser.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from multidict import CIMultiDictProxy

from router.dialects.registry import CREDENTIAL_HEADERS, PASSED_HEADERS, PASSED_PREFIXES

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# Never forwarded to a node: hop-by-hop, recomputed framing, and the client's credentials.
# `Expect: 100-continue` is answered by the router to its client; the node gets the body
# at once.
_NOT_TO_NODE = (
    HOP_BY_HOP
    | CREDENTIAL_HEADERS
    | {
        "accept-encoding",  # replaced by identity: see IDENTITY below
        "host",
        "content-length",
        "content-encoding",  # the router forwards the body aiohttp decoded
        "expect",
        "x-request-id",  # the router's (the client's when it was sane) is set below
    }
)
# With tracing on, the router's span is the node's parent: the client's trace headers are
# replaced by the attempt's (router.observability.trace_context), not forwarded as they are.
_NOT_TO_NODE_TRACED = _NOT_TO_NODE | {"traceparent", "tracestate"}
# The node headers a client may see (lower case), and the families it may see by prefix.
TO_CLIENT = (
    frozenset(
        {
            "content-type",
            "content-encoding",  # a node that compressed anyway: the bytes are as it sent them
            "content-language",
            "retry-after",
            "retry-after-ms",
        }
    )
    | PASSED_HEADERS
)  # each dialect's own (router.dialects.registry)
TO_CLIENT_PREFIXES = ("x-ratelimit-", *PASSED_PREFIXES)  # and each dialect's own families
MAX_NODE_HEADER = 4096  # bytes of a node header's name and value; a longer one is dropped
# Bytes of all the node's headers a client gets (names and values): past it the rest are
# dropped. Clients' parsers bound a whole head (h11's default 16 KiB, httpx's 100 KiB).
MAX_NODE_HEADERS = 8192

# Nodes are asked for plain answers: the router reads every answer (usage to bill, the
# first token, in-band errors, the usage chunk it filters out) and a compressed one would
# hide all of that. The client still gets what it accepts: plain bytes are always allowed.
IDENTITY = ("Accept-Encoding", "identity")
REQUEST_ID = "X-Request-ID"
UPSTREAM_REQUEST_ID = "X-Upstream-Request-ID"  # the node's own x-request-id, passed back


def _named_in_connection(headers: CIMultiDictProxy[str], dropped: frozenset[str]) -> frozenset[str]:
    """`dropped` plus the fields the Connection header names (also hop-by-hop)."""
    connection = headers.get("Connection")
    if not connection:
        return dropped
    named = {token.strip().lower() for token in connection.split(",")}
    return dropped | named


def to_node(
    client: CIMultiDictProxy[str],
    request_id: str,
    credential: tuple[str, str] | None,
    trace: Sequence[tuple[str, str]] = (),
    defaults: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """Headers for the upstream request: the client's, filtered, plus ours (`credential`:
    the header carrying the node's own key, router.upstream.nodes); `trace` (the
    attempt's traceparent and tracestate) replaces the client's when tracing is on;
    `defaults` (the node's dialect's own, `NodeSide.headers`) go where the client sent
    none of the same name."""
    dropped = _named_in_connection(client, _NOT_TO_NODE_TRACED if trace else _NOT_TO_NODE)
    headers = [(name, value) for name, value in client.items() if name.lower() not in dropped]
    headers.extend(trace)
    headers.append(IDENTITY)
    headers.append((REQUEST_ID, request_id))
    if credential is not None:
        headers.append(credential)
    for name, value in defaults:
        if name not in client:
            headers.append((name, value))
    return headers


def to_client(
    upstream: CIMultiDictProxy[str], extra: tuple[str, ...] = ()
) -> Iterable[tuple[str, str]]:
    """The node's response headers the client may see: the allowlist and the `extra`
    names the operator allowed (`server.node_headers`), each short and printable, and
    MAX_NODE_HEADERS bytes of them at most: the named ones (the content headers) first,
    then the families, each in the node's order."""
    named, families = [], []
    kinds = _kinds_for(extra)
    for name, value in upstream.items():
        kind = kinds.get(name)
        if kind is None:
            kind = _remember_kind(kinds, name, extra)
        if kind is _NAMED:
            named.append((name, value))
        elif kind is _FAMILY:
            families.append((name, value))
    passed, budget = [], MAX_NODE_HEADERS
    for name, value in (*named, *families) if families else named:
        size = len(name) + len(value)
        if size <= budget and _is_plain(name, value):
            passed.append((name, value))
            budget -= size
    return passed


# Whether a node header name passes, remembered per spelling: a node sends the same few
# names on every answer, so each is lowered and matched once, not once per answer.
_NAMED, _FAMILY, _DROPPED = "named", "family", "dropped"
_KIND_CACHE_SIZE = 512  # names remembered per `extra`; a node inventing names is not
_KINDS: dict[tuple[str, ...], dict[str, str]] = {}


def _kinds_for(extra: tuple[str, ...]) -> dict[str, str]:
    kinds = _KINDS.get(extra)
    if kinds is None:
        if len(_KINDS) >= 16:  # configs come and go with reloads: keep the latest few
            _KINDS.clear()
        kinds = _KINDS[extra] = {}
    return kinds


def _remember_kind(kinds: dict[str, str], name: str, extra: tuple[str, ...]) -> str:
    lower = name.lower()
    if lower in TO_CLIENT:
        kind = _NAMED
    elif lower.startswith(TO_CLIENT_PREFIXES) or lower in extra:
        kind = _FAMILY
    else:
        kind = _DROPPED
    if len(kinds) < _KIND_CACHE_SIZE:
        kinds[name] = kind
    return kind


def _is_plain(name: str, value: str) -> bool:
    return len(name) + len(value) <= MAX_NODE_HEADER and value.isascii() and value.isprintable()


def content_coding(headers: CIMultiDictProxy[str]) -> str | None:
    """The coding of a node's answer when it is not plain (`gzip`, `deflate`, ...): a node
    that compressed although it was asked for identity."""
    coding = headers.get("Content-Encoding", "").strip().lower()
    return coding if coding and coding != "identity" else None
