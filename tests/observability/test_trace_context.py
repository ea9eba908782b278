"""A request's trace context: the client's traceparent continued or a new trace, sampled
by the SDK's parent-based ratio sampler; what each node is sent."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, TraceIdRatioBased

from router.observability.trace_context import TraceContext, new_span_id
from router.observability.tracing.context import MAX_TRACEPARENT, RatioTracer

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT = "00f067aa0ba902b7"
HEADER = re.compile(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$")


def test_traceparent_names_the_given_span() -> None:
    context = TraceContext(int(TRACE, 16), 1, sampled=True)
    assert context.traceparent(0xABC) == f"00-{TRACE}-0000000000000abc-01"
    assert TraceContext(5, 1, sampled=False).traceparent(7) == (
        "00-00000000000000000000000000000005-0000000000000007-00"
    )
    assert context.headers(2) == [("traceparent", f"00-{TRACE}-0000000000000002-01")]
    with_state = TraceContext(int(TRACE, 16), 1, tracestate="vendor=1")
    assert with_state.headers(2)[1] == ("tracestate", "vendor=1")
    assert context.trace_hex == TRACE


def test_span_ids_are_random_and_never_zero() -> None:
    ids = {new_span_id() for _ in range(1000)}
    assert len(ids) == 1000 and 0 not in ids and max(ids) < 2**64


@pytest.mark.parametrize(
    "ratio,flags,sampled",
    [(1.0, "01", True), (0.0, "01", True), (1.0, "00", False), (0.0, "00", False)],
)
def test_a_clients_traceparent_is_continued_and_its_sampled_flag_followed(
    ratio: float, flags: str, sampled: bool
) -> None:
    context = RatioTracer(ratio).start(f"00-{TRACE}-{PARENT}-{flags}", "congo=t61rcWkgMzE")
    assert f"{context.trace_id:032x}" == TRACE
    assert f"{context.parent_id:016x}" == PARENT
    assert context.sampled is sampled
    assert context.span_id not in (0, int(PARENT, 16))
    assert context.tracestate == "congo=t61rcWkgMzE"


def test_without_a_traceparent_a_new_trace_is_sampled_at_the_ratio() -> None:
    always, never = RatioTracer(1.0), RatioTracer(0.0)
    started = [always.start(None, None) for _ in range(50)]
    assert len({c.trace_id for c in started}) == 50
    assert all(c.sampled and c.parent_id is None for c in started)
    assert not any(never.start(None, "a=b").sampled for _ in range(50))
    assert never.start(None, "a=b").tracestate is None  # no parent: its state means nothing
    tenth = RatioTracer(0.1)
    share = sum(tenth.start(None, None).sampled for _ in range(5000)) / 5000
    assert 0.07 < share < 0.13


@pytest.mark.parametrize("ratio", [0.0, 0.01, 0.5, 1.0])
def test_a_new_trace_is_sampled_exactly_as_the_sdks_ratio_sampler_decides(ratio: float) -> None:
    tracer, sdk = RatioTracer(ratio), TraceIdRatioBased(ratio)
    trace_ids = iter([RandomIdGenerator().generate_trace_id() for _ in range(3000)])
    tracer.ids.generate_trace_id = lambda: next(trace_ids)  # type: ignore[method-assign]
    for _ in range(3000):
        context = tracer.start(None, None)
        decided = sdk.should_sample(None, context.trace_id, "request").decision
        assert context.sampled is (decided is Decision.RECORD_AND_SAMPLE)


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        f"00-{'0' * 32}-{PARENT}-01",  # an all-zero trace id is invalid
        f"00-{TRACE}-{'0' * 16}-01",
        f"ff-{TRACE}-{PARENT}-01",  # version ff is forbidden
        f"00-{TRACE}-{PARENT}-01-extra",  # version 00 has nothing after the flags
        f"00-{TRACE.upper()}-{PARENT}-01",
        f"00-{TRACE}-{PARENT}-01" + " " * MAX_TRACEPARENT,
    ],
)
def test_an_invalid_traceparent_starts_a_new_trace(header: str) -> None:
    context = RatioTracer(1.0).start(header, "a=b")
    assert context.parent_id is None and f"{context.trace_id:032x}" != TRACE
    assert context.sampled and context.tracestate is None


@given(st.text(max_size=600), st.one_of(st.none(), st.text(max_size=600)))
def test_any_header_text_gives_a_context(traceparent: str, tracestate: str | None) -> None:
    context = RatioTracer(0.5).start(traceparent, tracestate)
    assert 0 < context.trace_id < 2**128 and 0 < context.span_id < 2**64
    assert HEADER.match(context.traceparent(context.span_id))
    if context.tracestate is not None:
        assert context.parent_id is not None
        assert "\n" not in context.tracestate and "\r" not in context.tracestate
