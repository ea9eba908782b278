"""Reading Anthropic answers as the engines do (usage tap, first token, delivered output,
continuation), as tables; the mock node's own streams are the input where one fits.

Pure: no event loop, no sockets.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from router.dialects.anthropic import CODEC
from router.dialects.anthropic.answers import frame, has_content
from router.dialects.anthropic.delivered import has_finish_reason, output_chars
from router.dialects.anthropic.usage import later_usage, usage_from_anthropic
from router.dialects.continuation import Transcript
from router.dialects.delivered import DeliveredMeter
from router.dialects.first_token import FirstTokenScanner
from router.dialects.sse import event_document
from router.dialects.usage import Usage
from router.dialects.usage_tap import UsageTap
from router.mock import messages
from router.mock.answers import Answer, MockSettings
from tests.support.anthropic_events import block_delta, block_start, block_stop
from tests.support.translation import anthropic_events, anthropic_stream_client, read_anthropic

ANSWERS = CODEC.answers
ANSWER = Answer.of(MockSettings(name="n1", chunks=3))
THINKING = {"type": "enabled", "budget_tokens": 1024}
ASK: dict[str, Any] = {
    "model": "m",
    "max_tokens": 99,
    "messages": [{"role": "user", "content": "q" * 40}],
}


def start(usage: dict[str, int]) -> dict[str, Any]:
    return {"type": "message_start", "message": {"id": "msg_1", "usage": usage}}


def delta(usage: dict[str, Any]) -> dict[str, Any]:
    return {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": usage}


# --- usage -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "usage"),
    [
        ({"type": "message", "usage": {"input_tokens": 5, "output_tokens": 7}}, Usage(5, 7, 0)),
        (start({"input_tokens": 5, "output_tokens": 1}), Usage(5, 1, 0)),
        (delta({"output_tokens": 9}), Usage(0, 9, 0)),  # the input came at the start
        (
            delta(
                {
                    "input_tokens": 2,
                    "cache_read_input_tokens": 30,
                    "output_tokens": 9,
                    "cache_creation_input_tokens": 4,
                }
            ),
            Usage(36, 9, 0),  # cached prompt tokens are prompt tokens
        ),
        (
            {
                "usage": {
                    "input_tokens": 1,
                    "output_tokens": 20,
                    "output_tokens_details": {"thinking_tokens": 16},
                }
            },
            Usage(1, 4, 16),  # thinking is inside output_tokens
        ),
        (
            {"usage": {"output_tokens": 2, "output_tokens_details": {"thinking_tokens": 9}}},
            Usage(0, 0, 2),
        ),
        ({"type": "ping"}, None),
        ({"type": "message_start", "message": "x"}, None),
        ([1], None),
    ],
)
def test_usage_as_anthropic_reports_it(document: Any, usage: Usage | None) -> None:
    assert usage_from_anthropic(document) == usage


@pytest.mark.parametrize(
    ("earlier", "report", "total"),
    [
        (Usage(5, 1), Usage(0, 9), Usage(5, 9)),  # message_delta without the input
        (Usage(5, 1), Usage(6, 9, 2), Usage(6, 9, 2)),  # with it (newer APIs)
        (Usage(5, 9), Usage(0, 0), Usage(5, 9)),  # a report of nothing changes nothing
    ],
)
def test_a_streams_usage_adds_up_its_two_reports(earlier, report, total) -> None:
    assert later_usage(earlier, report) == total
    assert ANSWERS.later_usage(earlier, report) == total


def test_the_tap_reads_a_streams_usage_from_its_start_and_its_end() -> None:
    frames = messages.stream(ASK, ANSWER, "msg_1")
    final = orjson.loads(frames[-2].split(b"data: ", 1)[1])
    del final["usage"]["input_tokens"]  # as older APIs and gateways send message_delta
    frames[-2] = frame(final)
    tap = UsageTap(ANSWERS, is_stream=True)
    for chunk in frames:
        tap.feed(chunk)
    assert tap.finish() == Usage(messages.input_tokens(ASK), ANSWER.content_tokens, 0)


# --- the first token ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "content"),
    [
        (start({"input_tokens": 1}), False),
        ({"type": "ping"}, False),
        (block_start(0, {"type": "text", "text": ""}), False),
        (block_start(0, {"type": "thinking", "thinking": ""}), False),
        (block_start(0, {"type": "text", "text": "a"}), True),
        (block_start(1, {"type": "tool_use", "name": "f"}), True),
        (block_delta(0, {"type": "text_delta", "text": ""}), False),
        (block_delta(0, {"type": "text_delta", "text": "a"}), True),
        (block_delta(0, {"type": "thinking_delta", "thinking": "h"}), True),
        (block_delta(0, {"type": "signature_delta", "signature": "s"}), False),
        (block_delta(0, {"type": "input_json_delta", "partial_json": "{"}), True),
        (block_delta(0, {"type": "citations_delta"}), True),
        (block_stop(0), False),
        (delta({"output_tokens": 1}), True),
        ({"type": "error", "error": {"type": "overloaded_error"}}, True),
        ({"type": "something_new"}, True),  # not recognised: it commits
        ("text", True),
    ],
)
def test_the_first_token_is_the_first_text_thinking_or_call(event: Any, content: bool) -> None:
    assert has_content(event) is content


def test_the_scanner_holds_the_opening_events_of_the_mocks_stream() -> None:
    frames = messages.stream({**ASK, "thinking": THINKING}, ANSWER, "msg_1")
    scanner = FirstTokenScanner("text/event-stream", ANSWERS)
    found = [scanner.feed(chunk) for chunk in frames]
    # message_start, ping, the thinking block's start: then its first thinking delta
    assert found.index(True) == 3


# --- what a client received --------------------------------------------------------------


def test_delivered_output_counts_text_thinking_and_calls() -> None:
    stream = messages.stream({**ASK, "thinking": THINKING}, ANSWER, "msg_1")
    call = messages.tool_use_block(2, "toolu_1", "Read", {"file_path": "/x"})
    meter = DeliveredMeter(ANSWERS, is_stream=True)
    for chunk in [*stream[:-2], *call]:
        meter.feed(chunk)
    received = meter.output()
    assert received is not None
    arguments = len(orjson.dumps({"file_path": "/x"}))
    assert received.content_chars == len(ANSWER.content) + len("Read") + arguments
    assert received.reasoning_chars == len(ANSWER.reasoning)
    whole = messages.message({**ASK, "thinking": THINKING}, ANSWER, "msg_1")
    assert output_chars(whole) == (len(ANSWER.content), len(ANSWER.reasoning))
    assert has_finish_reason(whole) and has_finish_reason(delta({}))
    assert not has_finish_reason({"type": "message_delta", "delta": {"stop_reason": None}})
    assert not meter.finished  # the stream above was cut before its message_delta


# --- the continuation --------------------------------------------------------------------


def _client_stream(
    first: list[bytes], then: list[bytes], *, restart: bool
) -> tuple[bytes, Transcript]:
    """What a client receives of a stream whose node sent `first`, then failed, and whose
    answer went on with `then` from another node."""
    said = Transcript(ANSWERS, prompt_estimate=10)
    out = bytearray()
    for chunk in first:
        document = event_document(chunk)
        assert said.read(document)
        out += chunk
    said.node_failed("a")
    said.continue_on(restart=restart)
    for chunk in then:
        document = event_document(chunk)
        assert said.read(document)
        if ANSWERS.is_content_free(document):
            continue
        out += ANSWERS.frame(document)
    return bytes(out), said


def test_a_cut_text_goes_on_in_the_same_block() -> None:
    asked = {**ASK, "thinking": THINKING}
    first = messages.stream(asked, ANSWER, "msg_a")[:-4]  # cut after the second text delta
    assert b"Hello from n1." in b"".join(first) and b"Part 2" in b"".join(first)
    sent = "".join(event_document(c)["delta"].get("text", "") for c in first if b"text_delta" in c)
    rest = ANSWER.continuing(sent, ANSWER.reasoning)
    then = messages.stream(ASK, rest, "msg_b")  # asked again without thinking
    data, said = _client_stream(first, then, restart=False)
    seen = read_anthropic(data)  # one block open at a time, numbered in order
    assert seen.text == ANSWER.content and seen.reasoning == ANSWER.reasoning
    assert seen.done and seen.finish == "end_turn"
    assert [name for name, _ in anthropic_events(data)].count("message_start") == 1
    with anthropic_stream_client(data) as client, client.messages.stream(**ASK) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "text"]
    assert final.content[1].text == ANSWER.content  # type: ignore[union-attr]
    total = said.total("b")
    assert total is not None and len(total.parts) == 2
    assert total.parts[1].completion == rest.content_tokens


def test_an_answer_cut_while_thinking_goes_on_in_a_text_block_after_it() -> None:
    asked = {**ASK, "thinking": THINKING}
    first = messages.stream(asked, ANSWER, "msg_a")[:4]  # one thinking delta, no stop
    then = messages.stream(ASK, ANSWER, "msg_b")
    data, _ = _client_stream(first, then, restart=False)
    seen = read_anthropic(data)  # the thinking block was closed before the text's opened
    assert seen.text == ANSWER.content and seen.reasoning == ANSWER.reasoning_parts[0]
    with anthropic_stream_client(data) as client, client.messages.stream(**ASK) as stream:
        final = stream.get_final_message()
    assert [block.type for block in final.content] == ["thinking", "text"]


def test_a_restarted_answer_has_what_was_sent_cut_from_it() -> None:
    first = messages.stream(ASK, ANSWER, "msg_a")[:-5]
    then = messages.stream(ASK, ANSWER, "msg_b")  # the whole answer again
    data, _ = _client_stream(first, then, restart=True)
    seen = read_anthropic(data)
    assert seen.text == ANSWER.content and seen.done


def test_a_tool_call_cannot_be_handed_on() -> None:
    call = messages.tool_use_block(0, "toolu_1", "Read", {"file_path": "/x"})
    said = Transcript(ANSWERS)
    for chunk in call[:2]:
        said.read(event_document(chunk))
    assert not said.continuable


_EVENT_WORDS = [
    "type",
    "message_start",
    "message",
    "content_block_start",
    "content_block_delta",
    "message_delta",
    "index",
    "delta",
    "text",
    "thinking",
    "usage",
    "input_tokens",
    "output_tokens",
    "content_block",
    "stop_reason",
]
hostile_events = st.recursive(
    st.none() | st.booleans() | st.integers() | st.sampled_from(_EVENT_WORDS) | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(_EVENT_WORDS), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(hostile_events, max_size=6), st.booleans())
def test_hostile_events_are_read_without_raising(events: list[Any], restart: bool) -> None:
    """A node's events, however odd, are read by every engine's question without an
    exception: usage, first token, output text, finish, and a continuation's rewriting."""
    said = Transcript(ANSWERS, prompt_estimate=10)
    said.node_failed("a")
    said.continue_on(restart=restart)
    for event in events:
        ANSWERS.usage(event)
        assert ANSWERS.has_content(event) in (True, False)
        assert ANSWERS.has_finish_reason(event) in (True, False)
        if isinstance(event, dict):
            content, reasoning = ANSWERS.output_chars(event)
            assert content >= 0 and reasoning >= 0
            said.read(event)
            ANSWERS.is_content_free(event)


def test_cjk_output_counts_a_token_a_character() -> None:
    """A stopped answer in Chinese is charged a token a character, as the other dialects'
    are (estimate.text_size): not a quarter of one."""
    text = block_delta(0, {"type": "text_delta", "text": "你好"})
    thought = block_start(0, {"type": "thinking", "thinking": "思考"})
    assert ANSWERS.output_chars(text) == (8, 0)
    assert ANSWERS.output_chars(thought) == (0, 8)
    asked = {**ASK, "max_tokens": 100}
    continued = orjson.loads(CODEC.nodes.prefill(orjson.dumps(asked), "你好你好", ""))
    assert continued["max_tokens"] == 100 - 4  # four characters said: four tokens fewer
