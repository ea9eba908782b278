"""Usage extraction and the usage-chunk filter over SSE split at arbitrary byte offsets."""

from __future__ import annotations

import gzip
import zlib

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.dialects.gemini import CODEC as GEMINI_CODEC
from router.dialects.openai import CODEC as OPENAI_CODEC
from router.dialects.usage import Usage
from router.dialects.usage_tap import UsageFilter, UsageTap, usage_of_whole

OPENAI_ANSWERS, GEMINI_ANSWERS = OPENAI_CODEC.answers, GEMINI_CODEC.answers

USAGE = {
    "prompt_tokens": 8,
    "completion_tokens": 527,
    "total_tokens": 535,
    "completion_tokens_details": {"reasoning_tokens": 519},
}


def chunk(delta: dict | None, usage: dict | None = None, choices: bool = True) -> bytes:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "choices": [{"delta": delta or {}, "index": 0, "finish_reason": None}] if choices else [],
        "usage": usage,
    }
    return b"data: " + orjson.dumps(body).replace(b'"usage":', b'"usage": ') + b"\n\n"


STREAM = (
    chunk({"role": "assistant", "content": ""})
    + chunk({"reasoning_content": "thinking"})
    + chunk({"content": "hello"})
    + chunk(None, usage=USAGE, choices=False)
    + b"data: [DONE]\n\n"
)

GEMINI_STREAM = (
    b'data: {"candidates": [{"content": {"parts": [{"text": "a"}]}}], "usageMetadata": '
    b'{"promptTokenCount": 3, "candidatesTokenCount": 1, "thoughtsTokenCount": 4}}\r\n\r\n'
    b'data: {"candidates": [{"content": {"parts": [{"text": "b"}]}}], "usageMetadata": '
    b'{"promptTokenCount": 3, "candidatesTokenCount": 9, "thoughtsTokenCount": 4}}\r\n\r\n'
)


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 7, 64, 100_000])
def test_openai_stream_usage_found_at_any_split(size: int) -> None:
    tap = UsageTap(OPENAI_ANSWERS, is_stream=True)
    for part in split_every(STREAM, size):
        tap.feed(part)
    assert tap.finish() == Usage(prompt=8, completion=8, reasoning=519)


@pytest.mark.parametrize("size", [1, 13, 100_000])
def test_gemini_stream_keeps_last_cumulative_usage(size: int) -> None:
    tap = UsageTap(GEMINI_ANSWERS, is_stream=True)
    for part in split_every(GEMINI_STREAM, size):
        tap.feed(part)
    assert tap.finish() == Usage(prompt=3, completion=9, reasoning=4)


def test_openai_json_body_in_pieces() -> None:
    body = orjson.dumps({"choices": [], "usage": USAGE})
    tap = UsageTap(OPENAI_ANSWERS, is_stream=False)
    for part in split_every(body, 5):
        tap.feed(part)
    assert tap.finish() == Usage(prompt=8, completion=8, reasoning=519)


def test_gemini_json_array_stream() -> None:
    body = b"[" + GEMINI_STREAM.replace(b"data: ", b"").replace(b"\r\n\r\n", b",", 1).rstrip()
    body = body.replace(b"\r\n\r\n", b"") + b"]"
    tap = UsageTap(GEMINI_ANSWERS, is_stream=False)
    tap.feed(body)
    assert tap.finish() == Usage(prompt=3, completion=9, reasoning=4)


def test_no_usage_is_none() -> None:
    tap = UsageTap(OPENAI_ANSWERS, is_stream=True)
    tap.feed(chunk({"content": "x"}) + b"data: [DONE]\n\n")
    assert tap.finish() is None


def test_cut_stream_keeps_usage_seen_so_far() -> None:
    tap = UsageTap(GEMINI_ANSWERS, is_stream=True)
    tap.feed(GEMINI_STREAM[: len(GEMINI_STREAM) // 2 + 40])
    assert tap.finish() == Usage(prompt=3, completion=1, reasoning=4)


@pytest.mark.parametrize("size", [1, 9, 50, 100_000])
def test_filter_drops_only_the_usage_chunk(size: int) -> None:
    usage_filter = UsageFilter(OPENAI_ANSWERS)
    out = b"".join(usage_filter.pass_through(p) for p in split_every(STREAM, size))
    out += usage_filter.flush()
    assert out == STREAM.replace(chunk(None, usage=USAGE, choices=False), b"")


def test_filter_never_holds_a_complete_event() -> None:
    usage_filter = UsageFilter(OPENAI_ANSWERS)
    first = chunk({"content": "hello"})
    assert usage_filter.pass_through(first) == first
    assert usage_filter.pass_through(first[:10]) == b""  # an unfinished event waits...
    assert usage_filter.pass_through(first[10:]) == first  # ...only for its own end


# --- a node that compressed its answer although asked for identity (issue 17 item 2) ---------


@pytest.mark.parametrize("size", [1, 9, 100_000])
@pytest.mark.parametrize("coding", ["gzip", "x-gzip", "deflate"])
def test_a_compressed_stream_is_read_through_an_inflater(size: int, coding: str) -> None:
    packed = gzip.compress(STREAM) if "gzip" in coding else zlib.compress(STREAM)
    tap = UsageTap(OPENAI_ANSWERS, is_stream=True, coding=coding)
    for part in split_every(packed, size):
        tap.feed(part)
    assert tap.finish() == Usage(prompt=8, completion=8, reasoning=519)


def test_a_compressed_json_body_is_read() -> None:
    body = orjson.dumps({"usageMetadata": {"promptTokenCount": 3, "candidatesTokenCount": 9}})
    tap = UsageTap(GEMINI_ANSWERS, is_stream=False, coding="gzip")
    tap.feed(gzip.compress(body))
    assert tap.finish() == Usage(prompt=3, completion=9, reasoning=0)


def test_a_highly_compressed_chunk_is_scanned_in_bounded_pieces() -> None:
    padding = b": " + b"x" * (8 * 1024 * 1024) + b"\n\n"  # an 8 MB comment, then the usage
    tap = UsageTap(OPENAI_ANSWERS, is_stream=True, coding="gzip")
    tap.feed(gzip.compress(padding + STREAM))
    assert tap.finish() == Usage(prompt=8, completion=8, reasoning=519)


@pytest.mark.parametrize("coding", ["br", "gzip"])
def test_an_unknown_coding_or_corrupt_data_leaves_the_usage_unread(coding: str) -> None:
    tap = UsageTap(OPENAI_ANSWERS, is_stream=True, coding=coding)
    tap.feed(b"\x1f\x8b\x08 not really gzip" if coding == "gzip" else STREAM)
    tap.feed(STREAM)  # after corrupt data nothing more is believed
    assert tap.finish() is None


@given(
    st.binary(max_size=300)
    | st.sampled_from([STREAM, GEMINI_STREAM, orjson.dumps({"usage": USAGE})])
)
def test_usage_of_whole_is_what_a_tap_finds(body: bytes) -> None:
    """The whole-answer shortcut reads what a tap fed the one chunk reads, on any bytes."""
    for answers in (OPENAI_ANSWERS, GEMINI_ANSWERS):
        tap = UsageTap(answers, is_stream=False)
        tap.feed(body)
        assert usage_of_whole(answers, body, None) == tap.finish()


def test_usage_of_whole_reads_a_plain_answer() -> None:
    body = orjson.dumps({"choices": [], "usage": USAGE})
    assert usage_of_whole(OPENAI_ANSWERS, body, None) == Usage(
        prompt=8, completion=8, reasoning=519
    )
    assert usage_of_whole(OPENAI_ANSWERS, gzip.compress(body), "gzip") == Usage(
        prompt=8, completion=8, reasoning=519
    )
