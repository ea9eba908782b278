"""Tables of Anthropic streams: a node's events as IR events, and the events written for
a client, read by the anthropic SDK's event types and its own stream reader."""

from __future__ import annotations

from typing import Any

import pytest

from router.dialects import chat_answer
from router.dialects.anthropic.translate import ANTHROPIC_MAPPING
from router.dialects.anthropic.translate_errors import (
    PING_EVENT,
    error_event,
)
from router.dialects.chat import (
    MediaKind,
    MediaPart,
)
from tests.support.anthropic_events import CTX, EVENT, block_delta, block_start, block_stop
from tests.support.translation import (
    ANTHROPIC_ASK,
    anthropic_events,
    anthropic_stream_client,
    read_anthropic,
)

# ---- streams -------------------------------------------------------------------------

NODE_STREAM = [
    {
        "type": "message_start",
        "message": {
            "id": "msg_7",
            "model": "claude-x",
            "usage": {"input_tokens": 5, "cache_read_input_tokens": 2, "output_tokens": 1},
        },
    },
    {"type": "ping"},
    block_start(0, {"type": "thinking", "thinking": "", "signature": ""}),
    block_delta(0, {"type": "thinking_delta", "thinking": "hm"}),
    block_delta(0, {"type": "signature_delta", "signature": "SIG"}),
    block_stop(0),
    block_start(1, {"type": "text", "text": ""}),
    block_delta(1, {"type": "text_delta", "text": "Hi"}),
    block_stop(1),
    block_start(2, {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}),
    block_delta(2, {"type": "input_json_delta", "partial_json": ""}),
    block_delta(2, {"type": "input_json_delta", "partial_json": '{"a":'}),
    block_delta(2, {"type": "input_json_delta", "partial_json": "1}"}),
    block_stop(2),
    block_start(3, {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {}}),
    block_stop(3),
    {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use", "stop_sequence": None},
        "usage": {"output_tokens": 30},
    },
    {"type": "message_stop"},
]


def test_a_nodes_stream_as_ir_events() -> None:
    decoder = ANTHROPIC_MAPPING.stream_decoder(CTX)
    events = [e for document in NODE_STREAM for e in decoder.feed(document)] + decoder.end()
    assert events == [
        chat_answer.StreamStart("msg_7", "claude-x", 100),
        chat_answer.UsageReport(chat_answer.TokenUsage(prompt=7, completion=1, cached_prompt=2)),
        chat_answer.ReasoningDelta("hm"),
        chat_answer.ReasoningDelta("", signature="SIG"),
        chat_answer.TextDelta("Hi"),
        chat_answer.ToolCallStart(0, "toolu_1", "f"),
        chat_answer.ToolCallDelta(0, '{"a":'),
        chat_answer.ToolCallDelta(0, "1}"),
        chat_answer.ToolCallEnd(0),
        chat_answer.ToolCallStart(1, "toolu_2", "g"),
        chat_answer.ToolCallDelta(
            1, "{}"
        ),  # a call without input has the empty object for arguments
        chat_answer.ToolCallEnd(1),
        chat_answer.Finish(chat_answer.FinishReason.TOOL_CALLS),
        chat_answer.UsageReport(chat_answer.TokenUsage(prompt=7, completion=30, cached_prompt=2)),
        chat_answer.StreamEnd(),
    ]


def test_a_nodes_mid_stream_error_and_a_cut_stream() -> None:
    decoder = ANTHROPIC_MAPPING.stream_decoder(CTX)
    events = decoder.feed(NODE_STREAM[0]) + decoder.feed(NODE_STREAM[9])
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events += decoder.feed(error)
    assert events[-1] == chat_answer.StreamError(
        chat_answer.ChatError(
            503, "Overloaded", chat_answer.ErrorKind.OVERLOADED, "overloaded_error"
        )
    )
    assert decoder.feed(NODE_STREAM[-1]) == [] and decoder.end() == []
    cut = ANTHROPIC_MAPPING.stream_decoder(CTX)
    events = cut.feed(NODE_STREAM[9]) + cut.end()  # the node vanished inside a tool call
    assert events[-3:] == [
        chat_answer.ToolCallDelta(0, "{}"),
        chat_answer.ToolCallEnd(0),
        chat_answer.StreamEnd(),
    ]


CLIENT_EVENTS = [
    chat_answer.StreamStart("id7", "m", 3),
    chat_answer.ReasoningDelta("think"),
    chat_answer.ReasoningDelta(" more", signature="c2ln"),
    chat_answer.RedactedReasoning("R"),
    chat_answer.TextDelta("Hel"),
    chat_answer.TextDelta("lo", signature="ignored"),
    chat_answer.ToolCallStart(0, "c0", "get_weather", signature="gsig"),
    chat_answer.ToolCallDelta(0, '{"city": '),
    chat_answer.TextDelta(" (held)"),  # text inside a call's block waits for the call's end
    chat_answer.ToolCallDelta(0, '"Paris"}'),
    chat_answer.ToolCallEnd(0),
    chat_answer.MediaOutput(MediaPart(MediaKind.IMAGE, "image/png", data="AA==")),
    chat_answer.TextDelta("other choice", choice=1),
    chat_answer.Finish(chat_answer.FinishReason.STOP),
    chat_answer.UsageReport(
        chat_answer.TokenUsage(prompt=4, completion=5, reasoning=6, cached_prompt=1)
    ),
    chat_answer.StreamEnd(),
]


def stream_bytes(events: list[Any]) -> bytes:
    encoder = ANTHROPIC_MAPPING.stream_encoder(include_usage=False, trace_id="req_9")
    return b"".join(encoder.encode(e) for e in events)


def test_every_stream_event_reads_as_the_sdks_types() -> None:
    data = stream_bytes(CLIENT_EVENTS)
    events = [EVENT.validate_python(doc) for _, doc in anthropic_events(data)]
    assert [e.type for e in events][:4] == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_delta",
    ]
    seen = read_anthropic(data)
    assert (seen.text, seen.reasoning) == (
        "Hello (held)![image](data:image/png;base64,AA==)",
        "think more",
    )
    assert seen.calls == [("get_weather", {"city": "Paris"})]
    assert seen.finish == "tool_use" and seen.done
    assert seen.usage == {
        "input_tokens": 3,
        "output_tokens": 11,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 1,
        "output_tokens_details": {"thinking_tokens": 6},
    }


def test_the_sdks_stream_reader_assembles_the_final_message() -> None:
    data = PING_EVENT + stream_bytes(CLIENT_EVENTS)
    with anthropic_stream_client(data).messages.stream(**ANTHROPIC_ASK) as stream:
        texts = list(stream.text_stream)
        final = stream.get_final_message()
    assert "".join(texts) == "Hello (held)![image](data:image/png;base64,AA==)"
    assert [block.type for block in final.content] == [
        "thinking",
        "redacted_thinking",
        "text",
        "tool_use",
        "text",
    ]
    assert final.content[0].signature == "c2ln"  # type: ignore[union-attr]
    assert final.content[3].input == {"city": "Paris"}  # type: ignore[union-attr]
    assert final.stop_reason == "tool_use" and final.usage.input_tokens == 3


def test_a_mid_stream_error_raises_in_the_sdk() -> None:
    import anthropic

    error = chat_answer.ChatError(529, "the node is overloaded", chat_answer.ErrorKind.OVERLOADED)
    data = stream_bytes(
        [
            chat_answer.StreamStart("i", "m", 1),
            chat_answer.TextDelta("par"),
            chat_answer.StreamError(error),
            chat_answer.StreamEnd(),
        ]
    )
    assert data.endswith(error_event(error, "req_9"))
    assert b"content_block_stop" in data  # the open block is closed before the error
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        anthropic_stream_client(data).messages.stream(**ANTHROPIC_ASK) as stream,
    ):
        list(stream.text_stream)
    assert "the node is overloaded" in str(caught.value)


def test_the_keep_alive_is_a_ping_the_sdk_skips() -> None:
    assert anthropic_events(PING_EVENT) == [("ping", {"type": "ping"})]
    encoder = ANTHROPIC_MAPPING.stream_encoder(include_usage=True)
    start, end = (
        encoder.encode(chat_answer.StreamStart("i", "m", 1)),
        encoder.encode(chat_answer.StreamEnd()),
    )
    data = PING_EVENT + start + PING_EVENT + end
    with anthropic_stream_client(data).messages.stream(**ANTHROPIC_ASK) as stream:
        assert stream.get_final_message().content == []
