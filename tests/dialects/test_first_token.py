"""The first-token scan (router.dialects.first_token): pure, no event loop."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from router.dialects.first_token import MAX_HELD_BYTES, FirstTokenScanner, event_has_content

SSE = "text/event-stream"


def data(event: object) -> bytes:
    return b"data: " + orjson.dumps(event) + b"\n\n"


def chat(delta: dict[str, object], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return data({"id": "c1", "object": "chat.completion.chunk", "choices": [choice]})


ROLE = chat({"role": "assistant", "content": ""})


def test_role_chunk_comments_and_keepalives_are_not_content() -> None:
    scanner = FirstTokenScanner(SSE)
    assert not scanner.feed(b": keep-alive\n\n")
    assert not scanner.feed(ROLE)
    assert not scanner.feed(b"event: ping\ndata:\n\n")
    assert scanner.feed(chat({"content": "Hi"}))
    assert scanner.feed(b"")  # stays found


def test_content_split_across_chunks_is_found_once_the_line_ends() -> None:
    scanner = FirstTokenScanner(SSE)
    line = chat({"content": "Hello"})
    assert not scanner.feed(ROLE + line[:20])
    assert scanner.feed(line[20:])


def test_crlf_lines_are_read() -> None:
    scanner = FirstTokenScanner(SSE)
    assert not scanner.feed(ROLE.replace(b"\n", b"\r\n"))
    assert scanner.feed(chat({"content": "x"}).replace(b"\n", b"\r\n"))


def test_reasoning_tool_calls_finish_and_usage_are_content() -> None:
    for delta in (
        {"reasoning_content": "think"},
        {"reasoning": "think"},
        {"tool_calls": [{"index": 0, "function": {"name": "f"}}]},
        {"refusal": "no"},
    ):
        assert FirstTokenScanner(SSE).feed(chat(delta)), delta
    assert FirstTokenScanner(SSE).feed(chat({}, finish="stop"))
    usage = {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 0}}
    assert FirstTokenScanner(SSE).feed(data(usage))


def test_done_errors_and_unreadable_data_commit() -> None:
    assert FirstTokenScanner(SSE).feed(b"data: [DONE]\n\n")
    assert FirstTokenScanner(SSE).feed(data({"error": {"message": "boom"}}))
    assert FirstTokenScanner(SSE).feed(b"data: {not json\n\n")
    assert FirstTokenScanner(SSE).feed(data([1, 2]))


def test_gemini_parts() -> None:
    def gemini(parts: list[dict[str, object]], **extra: object) -> bytes:
        return data({"candidates": [{"content": {"role": "model", "parts": parts}, **extra}]})

    assert not FirstTokenScanner(SSE).feed(gemini([{"text": ""}]))
    assert not FirstTokenScanner(SSE).feed(gemini([]))
    assert FirstTokenScanner(SSE).feed(gemini([{"text": "Hi"}]))
    assert FirstTokenScanner(SSE).feed(gemini([{"text": "plan", "thought": True}]))
    assert FirstTokenScanner(SSE).feed(gemini([{"functionCall": {"name": "f"}}]))
    assert FirstTokenScanner(SSE).feed(gemini([], finishReason="SAFETY"))
    assert FirstTokenScanner(SSE).feed(data({"promptFeedback": {"blockReason": "X"}}))


def test_responses_opening_events_are_not_content() -> None:
    scanner = FirstTokenScanner(SSE)
    assert not scanner.feed(b"event: response.created\n" + data({"type": "response.created"}))
    assert not scanner.feed(data({"type": "response.output_item.added"}))
    assert scanner.feed(data({"type": "response.output_text.delta", "delta": "Hi"}))


def test_non_sse_answers_have_content_in_their_first_byte() -> None:
    assert FirstTokenScanner("application/json").feed(b"{")
    assert not FirstTokenScanner("application/json").feed(b"")


def test_content_free_bytes_are_held_only_up_to_the_limit() -> None:
    scanner = FirstTokenScanner(SSE)
    comment = b": " + b"x" * 1000 + b"\n\n"
    fed = 0
    while not scanner.feed(comment):
        fed += len(comment)
        assert fed <= MAX_HELD_BYTES
    assert fed + len(comment) > MAX_HELD_BYTES


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096), st.integers(min_value=1, max_value=64))
def test_any_bytes_in_any_split_never_raise(body: bytes, size: int) -> None:
    scanner = FirstTokenScanner(SSE)
    for start in range(0, len(body), size):
        scanner.feed(body[start : start + size])


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["choices", "candidates", "delta", "content", "parts", "text", "type"]),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_any_json_event_is_judged_without_raising(event: object) -> None:
    assert event_has_content(event) in (True, False)
