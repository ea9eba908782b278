"""router.dialects.delivered: the output text a client received, in characters."""

from __future__ import annotations

import gzip

import orjson
from hypothesis import given
from hypothesis import strategies as st

from router.dialects.codec import Answers
from router.dialects.delivered import DeliveredMeter, DeliveredOutput, output_chars
from router.dialects.estimate import output_tokens
from router.dialects.gemini import CODEC as GEMINI_CODEC
from router.dialects.openai import CODEC as OPENAI_CODEC
from router.dialects.sse import MAX_EVENT

OPENAI = OPENAI_CODEC.answers


def _answers(gemini: bool) -> Answers:
    return (GEMINI_CODEC if gemini else OPENAI_CODEC).answers


def _sse(*documents: object) -> bytes:
    return b"".join(b"data: " + orjson.dumps(d) + b"\n\n" for d in documents)


def _chat(content: str = "", reasoning: str = "", finish: str | None = None) -> dict[str, object]:
    delta: dict[str, object] = {}
    if content:
        delta["content"] = content
    if reasoning:
        delta["reasoning_content"] = reasoning
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


DOCUMENTS = [
    # (document, gemini, (content chars, reasoning chars))
    (_chat("Hello"), False, (5, 0)),
    (_chat(reasoning="think"), False, (0, 5)),
    ({"choices": [{"delta": {"reasoning": "ab", "reasoning_content": "ab"}}]}, False, (0, 2)),
    ({"choices": [{"message": {"content": "你好", "refusal": "no"}}]}, False, (10, 0)),  # CJK: 4
    ({"choices": [{"text": "legacy"}]}, False, (6, 0)),
    (
        {"choices": [{"delta": {"tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]}}]},
        False,
        (3, 0),
    ),
    ({"type": "response.output_text.delta", "delta": "abc"}, False, (3, 0)),
    ({"type": "response.reasoning_summary_text.delta", "delta": "abcd"}, False, (0, 4)),
    (
        {
            "output": [
                {"type": "reasoning", "summary": [{"text": "xy"}]},
                {"type": "message", "content": [{"type": "output_text", "text": "hello"}]},
            ]
        },
        False,
        (5, 2),
    ),
    ({"choices": [], "usage": {"prompt_tokens": 1}}, False, (0, 0)),
    ({"data": [{"embedding": [0.1, 0.2]}]}, False, (0, 0)),
    (
        {"candidates": [{"content": {"parts": [{"text": "hi"}, {"text": "th", "thought": True}]}}]},
        True,
        (2, 2),
    ),
    ([{"candidates": [{"content": {"parts": [{"text": "abc"}]}}]}] * 2, True, (6, 0)),
    ({"candidates": [{"content": {"parts": [{"functionCall": {"name": "f"}}]}}]}, True, (12, 0)),
    ("not an object", False, (0, 0)),
    ({"choices": "nonsense"}, False, (0, 0)),
]


def test_table_of_documents_and_their_output_characters() -> None:
    for document, gemini, expected in DOCUMENTS:
        assert output_chars(document, _answers(gemini)) == expected, document


def test_a_stream_counts_every_whole_event_it_received() -> None:
    meter = DeliveredMeter(OPENAI, is_stream=True)
    stream = _sse(_chat("Hel"), _chat("lo"), _chat(reasoning="r")) + b'data: {"choices":[{"de'
    for i in range(0, len(stream), 7):
        meter.feed(stream[i : i + 7])
    # The event it left in the middle of is not counted: nothing could use half of it.
    assert meter.output() == DeliveredOutput(5, 1)


def test_a_chunk_of_several_whole_events_counts_each() -> None:
    """Kept unread as it came (the fast path), it is cut into its events when read."""
    meter = DeliveredMeter(OPENAI, is_stream=True)
    meter.feed(_sse(_chat("Hel"), _chat("lo"), _chat(reasoning="r")))
    meter.feed(_sse(_chat("!")))
    assert meter.output() == DeliveredOutput(6, 1)


def test_an_ended_stream_counts_its_last_event_without_a_blank_line() -> None:
    meter = DeliveredMeter(OPENAI, is_stream=True)
    meter.feed(_sse(_chat("ab")) + b'data: {"choices":[{"delta":{"content":"cd"}}]}')
    assert meter.output(ended=True) == DeliveredOutput(4, 0)


def test_an_event_over_the_cap_counts_its_bytes() -> None:
    meter = DeliveredMeter(OPENAI, is_stream=True)
    huge = b"data: " + b"x" * (MAX_EVENT + 10)
    meter.feed(huge)
    meter.feed(b"\n\n" + _sse(_chat("ok")))
    out = meter.output()
    assert out is not None and out.content_chars == len(huge) + 2 + 2


def test_a_whole_json_answer_is_read_and_a_cut_one_counts_its_bytes() -> None:
    body = orjson.dumps({"choices": [{"message": {"content": "Hello there"}}]})
    whole = DeliveredMeter(OPENAI, is_stream=False)
    whole.feed(body)
    assert whole.output(ended=True) == DeliveredOutput(11, 0)
    cut = DeliveredMeter(OPENAI, is_stream=False)
    cut.feed(body[:20])
    assert cut.output() == DeliveredOutput(20, 0)


def test_a_compressed_answer_is_read_and_an_unknown_coding_is_not() -> None:
    meter = DeliveredMeter(OPENAI, is_stream=True, coding="gzip")
    meter.feed(gzip.compress(_sse(_chat("four"))))
    assert meter.output() == DeliveredOutput(4, 0)
    unknown = DeliveredMeter(OPENAI, is_stream=True, coding="br")
    unknown.feed(b"\x00\x01")
    assert unknown.output() is None


def test_the_estimate_is_four_characters_a_token_rounded_up() -> None:
    assert [output_tokens(n) for n in (0, 1, 4, 5, 8, -3)] == [0, 1, 1, 2, 2, 0]


@given(st.binary(max_size=2000), st.integers(min_value=1, max_value=64), st.booleans())
def test_hostile_bytes_never_raise(data: bytes, step: int, gemini: bool) -> None:
    for is_stream in (True, False):
        meter = DeliveredMeter(_answers(gemini), is_stream=is_stream)
        for i in range(0, len(data), step):
            meter.feed(data[i : i + step])
        out = meter.output(ended=True)
        assert out is not None and out.content_chars >= 0 and out.reasoning_chars >= 0


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
        ),
        max_leaves=20,
    ),
    st.booleans(),
)
def test_any_json_shape_counts_without_raising(document: object, gemini: bool) -> None:
    content, reasoning = output_chars(document, _answers(gemini))
    assert content >= 0 and reasoning >= 0
