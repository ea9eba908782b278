"""router.dialects.sse.event_data: an event's payload, the one-line fast path included."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from router.dialects.sse import event_data


def _reference(event: bytes) -> bytes:
    """The rule: every `data:` line, its leading spaces dropped, joined by newlines."""
    lines = [line[5:].lstrip(b" ") for line in event.splitlines() if line.startswith(b"data:")]
    return b"\n".join(lines)


CASES = [
    (b'data: {"a":1}\n\n', b'{"a":1}'),
    (b'data: {"a":1}\r\n\r\n', b'{"a":1}'),
    (b"data:[DONE]\n\n", b"[DONE]"),
    (b"data: a\ndata: b\n\n", b"a\nb"),
    (b": keep-alive\n\n", b""),
    (b"event: x\ndata: y\n\n", b"y"),
    (b"data: a\rdata: b\r\r", b"a\nb"),
]


def test_table() -> None:
    for event, payload in CASES:
        assert event_data(event) == payload, event


@given(
    st.lists(
        st.sampled_from([b"data: ", b"data:", b"x", b" ", b"\n", b"\r", b"\r\n", b": c", b"{}"]),
        max_size=20,
    )
)
def test_any_event_reads_as_the_rule_says(parts: list[bytes]) -> None:
    event = b"".join(parts)
    assert event_data(event) == _reference(event)
