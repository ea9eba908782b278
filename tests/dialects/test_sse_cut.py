"""router.dialects.sse: whole events out of chunks split anywhere, in bounded memory."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from router.dialects.openai import CODEC as OPENAI_CODEC
from router.dialects.sse import EVENT_END, EventCutter, Piece, cuts_whole, whole_events
from router.dialects.usage_tap import MAX_TAIL, UsageFilter, UsageTap


def _cut(stream: bytes, sizes: list[int], cap: int = 1 << 20) -> tuple[list[Piece], bytes]:
    cutter = EventCutter(cap)
    pieces: list[Piece] = []
    pos = 0
    for size in sizes:
        pieces += cutter.feed(stream[pos : pos + size])
        pos += size
    pieces += cutter.feed(stream[pos:])
    return pieces, cutter.rest()


def _events_of(stream: bytes) -> tuple[list[bytes], bytes]:
    """The reference: the stream cut whole (a trailing CR waits, as it may be half a CRLF)."""
    events, start = [], 0
    for match in EVENT_END.finditer(stream):
        if match.end() == len(stream) and stream.endswith(b"\r"):
            break
        events.append(stream[start : match.end()])
        start = match.end()
    return events, stream[start:]


CASES = [
    (b"data: a\n\ndata: b\n\n", [b"data: a\n\n", b"data: b\n\n"], b""),
    (b"data: a\r\n\r\ndata: b", [b"data: a\r\n\r\n"], b"data: b"),
    (b"data: a\r\rdata: b\n\r\n", [b"data: a\r\r", b"data: b\n\r\n"], b""),
    (b"data: a\n\r", [], b"data: a\n\r"),  # the CR may be half a CRLF: it waits
    (b": keep-alive\n\n", [b": keep-alive\n\n"], b""),
]


def test_table_of_streams_cut_into_events() -> None:
    for stream, events, rest in CASES:
        for split in range(len(stream) + 1):
            pieces, left = _cut(stream, [split])
            assert [p.data for p in pieces] == events, (stream, split)
            assert all(p.whole for p in pieces)
            assert left == rest, (stream, split)


@given(
    st.lists(st.sampled_from([b"data: x", b"\n", b"\r", b"\r\n", b"yz", b"{}", b" "]), max_size=40),
    st.lists(st.integers(min_value=0, max_value=12), max_size=12),
)
def test_any_split_gives_the_events_of_the_whole_stream(
    parts: list[bytes], sizes: list[int]
) -> None:
    stream = b"".join(parts)
    pieces, left = _cut(stream, sizes)
    events, rest = _events_of(stream)
    assert [p.data for p in pieces if p.whole] == events
    assert left == rest


@given(
    st.lists(
        st.sampled_from(
            [b"data: {}\r\n\r\n", b"data: x\r\n\r\n", b"\n", b"\r", b"\r\n", b"data: y", b"\n\r"]
        ),
        max_size=30,
    )
)
def test_whole_crlf_events_fed_one_by_one_give_the_events_of_the_whole_stream(
    chunks: list[bytes],
) -> None:
    """Google's framing, a whole event a chunk (the fast path), among stray line ends."""
    cutter = EventCutter()
    pieces = [piece for chunk in chunks for piece in cutter.feed(chunk)]
    events, rest = _events_of(b"".join(chunks))
    assert [p.data for p in pieces if p.whole] == events
    assert cutter.rest() == rest


@given(
    st.binary(max_size=300),
    st.lists(st.integers(min_value=1, max_value=40), max_size=20),
    st.integers(min_value=1, max_value=50),
)
def test_nothing_is_lost_or_repeated_whatever_the_cap(
    stream: bytes, sizes: list[int], cap: int
) -> None:
    pieces, left = _cut(stream, sizes, cap)
    assert b"".join(p.data for p in pieces) + left == stream


def test_an_event_over_the_cap_passes_unread_and_cutting_goes_on_after_it() -> None:
    cutter = EventCutter(cap=10)
    out = cutter.feed(b"data: " + b"x" * 20)
    assert [p.whole for p in out] == [False] and cutter.held == 0
    out = cutter.feed(b"xxx\n")
    assert out == [Piece(b"xxx\n", False)]
    out = cutter.feed(b"\ndata: ok\n\n")
    assert out == [Piece(b"\n", False), Piece(b"data: ok\n\n", True)]


def test_a_40_mb_line_is_never_held_whole() -> None:
    cutter = EventCutter()
    chunk = b"x" * 65536
    passed = most = 0
    cutter.feed(b"data: ")
    for _ in range(40 * 16):
        passed += sum(len(p.data) for p in cutter.feed(chunk) if not p.whole)
        most = max(most, cutter.held)
    assert most <= MAX_TAIL + len(chunk)
    out = cutter.feed(b"\n\ndata: {}\n\n")
    assert out[-1] == Piece(b"data: {}\n\n", True)
    assert passed + sum(len(p.data) for p in out) == 40 * 16 * len(chunk) + 6 + 2 + 10


def test_the_usage_filter_passes_an_overlong_event_and_still_drops_the_usage_chunk() -> None:
    usage_only = b'data: {"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}\n\n'
    huge = b'data: {"choices":[{"delta":{"content":"' + b"x" * (MAX_TAIL + 100)
    flt = UsageFilter(OPENAI_CODEC.answers)
    tap = UsageTap(OPENAI_CODEC.answers, is_stream=True)
    out = b""
    stream = [
        huge[: MAX_TAIL // 2],
        huge[MAX_TAIL // 2 :],
        b'"}}]}\n\n',
        usage_only,
        b"data: [DONE]\n\n",
    ]
    for chunk in stream:
        out += flt.pass_through(chunk)
        tap.feed(chunk)
    out += flt.flush()
    assert out == huge + b'"}}]}\n\n' + b"data: [DONE]\n\n"
    usage = tap.finish()
    assert usage is not None and (usage.prompt, usage.completion) == (1, 2)


def test_the_end_pattern_is_the_sse_rule() -> None:
    assert re.fullmatch(EVENT_END, b"\r\n\n") and re.fullmatch(EVENT_END, b"\n\r")
    assert not re.fullmatch(EVENT_END, b"\n")


@given(
    st.lists(
        st.sampled_from([b"data: x", b"\n", b"\r", b"\r\n", b"\r\n\r\n", b"\n\n", b"yz"]),
        max_size=40,
    ),
    st.lists(st.integers(min_value=0, max_value=12), max_size=12),
)
def test_a_chunk_taken_whole_is_cut_as_feeding_it_would(
    parts: list[bytes], sizes: list[int]
) -> None:
    """The readers' fast path (issue 32): a chunk `takes_whole` accepts is exactly the
    whole events feeding it would give, and leaves the cutter as feeding it would."""
    stream = b"".join(parts)
    chunks, pos = [], 0
    for size in [*sizes, len(stream)]:
        chunks.append(stream[pos : pos + size])
        pos += size
    _takes_whole_as_fed(chunks)


EVENTS_AND_LINE_ENDS = [
    b"data: x\n\n",
    b"data: y\r\n\r\n",
    b"data: a\ndata: b\n\n",
    b"\n",
    b"\r",
    b"\r\n",
    b"data: z",
]


@given(st.lists(st.lists(st.sampled_from(EVENTS_AND_LINE_ENDS), max_size=5), max_size=12))
def test_reads_of_whole_events_are_taken_whole_as_feeding_them_would(
    reads: list[list[bytes]],
) -> None:
    _takes_whole_as_fed([b"".join(read) for read in reads])


def _takes_whole_as_fed(chunks: list[bytes]) -> None:
    fed, taken = EventCutter(), EventCutter()
    for chunk in chunks:
        pieces = fed.feed(chunk)
        if taken.takes_whole(chunk):
            assert pieces == [Piece(event, True) for event in whole_events(chunk)]
        else:
            assert taken.feed(chunk) == pieces
    assert taken.rest() == fed.rest()


def test_whole_events_are_taken_whole_and_anything_else_is_cut() -> None:
    one, two = b"data: a\n\n", b"data: a\n\ndata: b\n\n"
    google = b"data: a\r\n\r\n"
    for chunk in (one, two, google, google * 2):
        assert cuts_whole(chunk), chunk
    assert whole_events(two) == [one, b"data: b\n\n"]
    assert whole_events(google * 2) == [google, google]
    cut = (b"data: a\n", b"data: a\n\n\n", b"data: a\n\ndata: b", b"a\r\nb\r\n\r\n", b"")
    for chunk in (*cut, google + b"\r\n", b"\n" + google, one + google):
        assert not cuts_whole(chunk), chunk
    cutter = EventCutter()
    cutter.feed(b"data: a")  # an event under way: the next chunk ends it, not whole
    assert not cutter.takes_whole(one)


def test_the_usage_filter_passes_whole_events_without_the_mark_as_they_are() -> None:
    """A relayed stream's usual chunk is not cut up and joined again to drop nothing."""
    usage_filter = UsageFilter(OPENAI_CODEC.answers)
    chunk = b'data: {"choices":[{"delta":{"content":"a"}}]}\n\n' * 3
    assert usage_filter.pass_through(chunk) is chunk
