"""The W3C trace headers a node gets: the client's as they came while tracing is off,
the attempt's own (naming its span) while it is on."""

from __future__ import annotations

from multidict import CIMultiDict, CIMultiDictProxy

from router.observability.trace_context import TraceContext
from router.upstream.headers import to_node

CLIENT_PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def client(**extra: str) -> CIMultiDictProxy[str]:
    headers = CIMultiDict({"Content-Type": "application/json", **extra})
    return CIMultiDictProxy(headers)


def names(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [value for key, value in headers if key.lower() == name]


def test_without_tracing_the_clients_trace_headers_pass_unchanged() -> None:
    sent = to_node(client(traceparent=CLIENT_PARENT, tracestate="a=1"), "rid", None)
    assert names(sent, "traceparent") == [CLIENT_PARENT]
    assert names(sent, "tracestate") == ["a=1"]


def test_with_tracing_the_node_gets_the_attempts_span_as_its_parent() -> None:
    context = TraceContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 1, 0x00F067AA0BA902B7, True, "a=1")
    headers = client(Traceparent=CLIENT_PARENT, TRACESTATE="a=1")
    sent = to_node(headers, "rid", "Bearer node-key", context.headers(0xFEED))
    expected = "00-4bf92f3577b34da6a3ce929d0e0e4736-000000000000feed-01"
    assert names(sent, "traceparent") == [expected]  # the client's one replaced, any spelling
    assert names(sent, "tracestate") == ["a=1"]
    assert names(sent, "authorization") == ["Bearer node-key"]


def test_an_untraced_clients_request_gets_the_routers_unsampled_context() -> None:
    context = TraceContext(5, 1, None, sampled=False)
    sent = to_node(client(), "rid", None, context.headers(9))
    assert names(sent, "traceparent") == ["00-00000000000000000000000000000005-0000000000000009-00"]
    assert names(sent, "tracestate") == []
