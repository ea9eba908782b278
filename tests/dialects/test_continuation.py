"""The pure part of continuing a stream on another node (router.dialects.continuation),
and the mock node's continuation of a prefill. No event loop, no sockets."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st

from router.dialects.continuation import (
    DONE,
    MAX_HELD,
    EventSplitter,
    Transcript,
    event_bytes,
    event_document,
    is_content_free,
)
from router.dialects.prefill import prefilled_body
from router.dialects.usage import Usage
from router.mock.answers import Answer, MockSettings, prefill_of


def _chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "chatcmpl-b", "created": 2, "model": "b", "choices": [choice], **extra}


def _sse(document: Any) -> bytes:
    return b"data: " + (DONE if document is DONE else orjson.dumps(document)) + b"\n\n"


EVENTS = [
    _sse({"id": "chatcmpl-a", "created": 1, "model": "a", "choices": []}),
    b": keep-alive\n\n",
    _sse(_chunk({"content": "Hello"})),
    b'data: {"x": 1}\r\n\r\n',
    b'data: {"x": 2}\n\r\n',  # LF, then a CRLF blank line
    b'data: {"x": 3}\r\n\n',
    b'data: {"x": 4}\r\r',
    _sse(DONE),
]


@given(st.lists(st.integers(min_value=0, max_value=sum(map(len, EVENTS))), max_size=12))
def test_the_splitter_gives_whole_events_whatever_the_chunking(cuts: list[int]) -> None:
    data = b"".join(EVENTS)
    points = sorted({0, len(data), *cuts})
    splitter = EventSplitter()
    out: list[bytes] = []
    for start, end in itertools.pairwise(points):
        out += splitter.feed(data[start:end])
    assert out == EVENTS
    assert splitter.pending == b""


def test_an_event_ended_by_a_cr_last_is_held_until_the_stream_ends() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b"data: 1\r\r") == []  # a CRLF may still come
    assert splitter.finish() == [b"data: 1\r\r"]
    assert splitter.pending == b""
    assert splitter.feed(b"data: 2") == [] and splitter.finish() == []  # cut mid-event


def test_the_splitter_holds_an_unfinished_event_and_passes_a_huge_one() -> None:
    splitter = EventSplitter()
    assert splitter.feed(b'data: {"a":') == []
    assert splitter.pending == b'data: {"a":'
    huge = b"data: " + b"x" * MAX_HELD
    assert splitter.feed(huge) == [b'data: {"a":' + huge]


@given(st.binary(max_size=200))
def test_event_document_never_raises(event: bytes) -> None:
    event_document(event)


def test_event_document_reads_data_lines() -> None:
    assert event_document(b"data: [DONE]\n\n") is DONE
    assert event_document(b": ping\n\n") is None
    assert event_document(b'data: {"a":\ndata: 1}\n\n') == {"a": 1}
    assert event_document(b"data: nope\n\n") is None


def _first_stream(said: Transcript) -> None:
    for document in (
        {"id": "chatcmpl-a", "created": 1, "model": "a", "choices": [{"index": 0,
         "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]},
        {"id": "chatcmpl-a", "created": 1, "model": "a", "choices": [{"index": 0,
         "delta": {"reasoning_content": "Think."}, "finish_reason": None}]},
        {"id": "chatcmpl-a", "created": 1, "model": "a", "choices": [{"index": 0,
         "delta": {"content": "Hello there."}, "finish_reason": None}]},
    ):  # fmt: skip
        assert said.read(document)


def test_a_continuation_is_made_part_of_the_first_stream() -> None:
    said = Transcript(gemini=False, prompt_estimate=7)
    _first_stream(said)
    assert (said.content_text, said.reasoning_text) == ("Hello there.", "Think.")
    said.node_failed("node62")
    said.continue_on(restart=False)
    role = _chunk({"role": "assistant", "content": ""})
    assert said.read(role) and is_content_free(role, gemini=False)
    more = _chunk({"content": " More."})
    assert said.read(more) and not is_content_free(more, gemini=False)
    assert (more["id"], more["created"], more["model"]) == ("chatcmpl-a", 1, "a")
    usage = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}
    last = _chunk({}, "stop", usage=usage)
    assert said.read(last)
    # node62's estimate: 7 prompt, 12 characters -> 3 tokens, 6 characters -> 2 tokens.
    assert last["usage"] == {
        "prompt_tokens": 17,
        "completion_tokens": 10,
        "total_tokens": 27,
        "completion_tokens_details": {"reasoning_tokens": 2},
    }
    total = said.total("node63")
    assert total is not None and (total.prompt, total.completion, total.reasoning) == (17, 8, 2)
    assert [(p.node, p.estimated) for p in total.parts] == [("node62", True), ("node63", False)]
    assert said.content_text == "Hello there. More."


@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=8), st.data())
def test_a_restart_never_repeats_what_was_sent(pieces: list[str], data: st.DataObject) -> None:
    answer = "".join(pieces)
    sent_len = data.draw(st.integers(min_value=0, max_value=len(answer)))
    said = Transcript(gemini=False)
    said.read(_chunk({"role": "assistant", "content": answer[:sent_len]}))
    said.node_failed("node62")
    said.continue_on(restart=True)
    seen = ""
    for piece in pieces:  # the restarted node says the whole answer again
        event = _chunk({"content": piece})
        said.read(event)
        seen += event["choices"][0]["delta"].get("content", "")
    assert answer[:sent_len] + seen == answer
    assert said.content_text == answer


def test_one_node_alone_keeps_its_usage_untouched() -> None:
    said = Transcript(gemini=False)
    _first_stream(said)
    said.read(_chunk({}, "stop", usage={"prompt_tokens": 3, "completion_tokens": 4}))
    assert said.total("node62") == Usage(3, 4, 0)


def test_what_a_hostile_or_unusual_node_sends_is_read_safely() -> None:
    nulls = Transcript(gemini=False)  # LiteLLM: null tool calls in every delta
    nulls.read(_chunk({"content": "a", "tool_calls": None, "function_call": None}))
    both = Transcript(gemini=False)  # both spellings of the reasoning: read once
    both.read(_chunk({"reasoning_content": "think", "reasoning": "think"}))
    signed = Transcript(gemini=True)  # a text part with its thought signature
    signed.read({"candidates": [{"content": {"parts": [{"text": "Hi", "thoughtSignature": "s"}]}}]})
    assert nulls.continuable and both.continuable and signed.continuable
    assert both.reasoning_text == "think" and signed.content_text == "Hi"
    said = Transcript(gemini=False)
    _first_stream(said)
    said.node_failed("node62")
    said.continue_on(restart=False)
    odd = {"usage": None, "response": {"usage": {"prompt_tokens": 1, "completion_tokens": 1}}}
    said.read(odd)  # usage found elsewhere than `usage`: nothing to add it to, no raise
    huge = _chunk({}, "stop", usage={"prompt_tokens": 2**64 - 1, "completion_tokens": 1})
    said.read(huge)
    event_bytes(huge, gemini=False)  # writable: a count past 64 bits is not summed
    assert not is_content_free({"candidates": [{"content": "oops", "finishReason": "STOP"}]}, True)
    assert is_content_free({"candidates": [{"content": "oops"}]}, True)


def test_a_cut_node_that_reported_part_of_its_usage_is_charged_what_was_received() -> None:
    """Gemini's usageMetadata fields are optional: a node that reported its prompt but no
    candidatesTokenCount, then was cut after 4000 characters, is not charged 0 for them."""
    said = Transcript(gemini=True, prompt_estimate=9)
    said.read(
        {
            "candidates": [{"content": {"parts": [{"text": "x" * 4000}]}}],
            "usageMetadata": {"promptTokenCount": 7},
        }
    )
    said.node_failed("node62")
    (part,) = said.parts
    assert (part.prompt, part.completion, part.estimated) == (7, 1000, True)
    whole = Transcript(gemini=False)  # a report covering what was sent is kept as is
    whole.read(_chunk({"content": "abcd"}, usage={"prompt_tokens": 3, "completion_tokens": 5}))
    whole.node_failed("node62")
    assert (whole.parts[0].completion, whole.parts[0].estimated) == (5, False)


def test_the_identity_is_the_first_non_empty_value() -> None:
    said = Transcript(gemini=False)
    said.read({"id": "", "created": 0, "model": "", "choices": []})
    _first_stream(said)
    said.node_failed("node62")
    said.continue_on(restart=False)
    more = _chunk({"content": " More."})
    said.read(more)
    assert (more["id"], more["created"], more["model"]) == ("chatcmpl-a", 1, "a")


def test_what_cannot_be_continued() -> None:
    tool = Transcript(gemini=False)
    tool.read(_chunk({"tool_calls": [{"index": 0}]}))
    second = Transcript(gemini=False)
    second.read({"choices": [{"index": 1, "delta": {"content": "x"}}]})
    function = Transcript(gemini=True)
    function.read({"candidates": [{"content": {"parts": [{"functionCall": {}}]}}]})
    assert not (tool.continuable or second.continuable or function.continuable)
    errored = Transcript(gemini=False)
    assert not errored.read({"error": {"message": "boom"}})


def test_a_gemini_continuation_is_rewritten() -> None:
    said = Transcript(gemini=True, prompt_estimate=4)
    said.read({"candidates": [{"content": {"parts": [{"text": "Hi."}]}}], "responseId": "r1"})
    said.node_failed("node62")
    said.continue_on(restart=True)
    again = {
        "candidates": [{"content": {"parts": [{"text": "Hi."}], "role": "model"}}],
        "responseId": "r2",
    }
    said.read(again)
    assert is_content_free(again, gemini=True)
    last = {
        "candidates": [{"content": {"parts": [{"text": " Bye."}]}, "finishReason": "STOP"}],
        "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 2, "totalTokenCount": 7},
        "responseId": "r2",
    }
    said.read(last)
    assert last["responseId"] == "r1"
    assert last["usageMetadata"] == {
        "promptTokenCount": 9,
        "candidatesTokenCount": 3,
        "totalTokenCount": 12,
    }
    assert event_bytes(last, gemini=True).endswith(b"\r\n\r\n")


def test_the_prefilled_body_holds_the_answer_so_far() -> None:
    chat = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "q"}]})
    assert orjson.loads(prefilled_body(chat, "Hel", "Think", gemini=False))["messages"] == [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "Hel", "reasoning_content": "Think"},
    ]
    gemini = orjson.dumps({"contents": [{"role": "user", "parts": [{"text": "q"}]}]})
    assert orjson.loads(prefilled_body(gemini, "Hel", "", gemini=True))["contents"][-1] == {
        "role": "model",
        "parts": [{"text": "Hel"}],
    }


def test_the_prefill_lowers_the_output_cap_by_what_was_produced() -> None:
    chat = orjson.dumps(
        {"model": "m", "messages": [], "max_tokens": 100, "max_completion_tokens": 3}
    )
    sent = orjson.loads(prefilled_body(chat, "x" * 40, "y" * 40, gemini=False))
    assert (sent["max_tokens"], sent["max_completion_tokens"]) == (80, 1)
    gemini = orjson.dumps({"contents": [], "generationConfig": {"maxOutputTokens": 50}})
    sent = orjson.loads(prefilled_body(gemini, "x" * 41, "", gemini=True))
    assert sent["generationConfig"]["maxOutputTokens"] == 39
    plain = orjson.loads(prefilled_body(orjson.dumps({"messages": []}), "x", "", gemini=False))
    assert "max_tokens" not in plain


def test_nothing_said_yet_asks_the_question_again_without_a_prefill() -> None:
    from router.dialects.dialect import OPENAI
    from router.dialects.prefill import ContinuedTarget

    chat = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "q"}]})

    class Base:
        dialect, strip_usage, continuable = OPENAI, False, True

        def path(self, base_path: str, model: str | None) -> str:
            return "/v1/chat/completions"

        def body(self, model: str | None) -> bytes:
            return chat

    assert ContinuedTarget(Base(), "", "", prefill=True).body(None) == chat
    assert ContinuedTarget(Base(), "H", "", prefill=True).body(None) != chat


def test_the_mock_continues_any_nodes_answer() -> None:
    answer = Answer.of(MockSettings(name="node63", chunks=5))
    body = {"messages": [{"role": "user", "content": "q"},
            {"role": "assistant", "content": "Hello from node62. Part 2 of 5."}]}  # fmt: skip
    prefill = prefill_of(body, is_chat=True)
    assert prefill == ("Hello from node62. Part 2 of 5.", "")
    rest = answer.continuing(*prefill)
    assert rest.content == " Part 3 of 5. Part 4 of 5. Part 5 of 5."
    assert (rest.reasoning, rest.content_tokens, rest.reasoning_tokens) == ("", 12, 0)
    thinking = answer.continuing("", "Thinking about the question. ")
    assert thinking.reasoning == "Answering as node63." and thinking.reasoning_tokens == 8
    assert prefill_of({"messages": [{"role": "user", "content": "q"}]}, is_chat=True) is None
    turn = {"role": "model", "parts": [{"text": "T", "thought": True}, {"text": "C"}]}
    assert prefill_of({"contents": [turn]}, is_chat=False) == ("C", "T")


_JSON = st.recursive(
    # Integers in orjson's range (it reads larger ones as floats), floats, strings.
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
_KEYS = st.sampled_from(
    ["choices", "delta", "content", "reasoning_content", "reasoning", "usage", "index",
     "finish_reason", "tool_calls", "candidates", "parts", "text", "thought",
     "usageMetadata", "promptTokenCount", "prompt_tokens", "id", "responseId", "error"]
)  # fmt: skip
# Documents shaped like the dialects' events, with any value in any place.
_EVENTS = st.recursive(
    _JSON,
    lambda inner: st.dictionaries(_KEYS, inner, max_size=4) | st.lists(inner, max_size=3),
    max_leaves=20,
)


@given(st.booleans(), st.lists(_EVENTS, max_size=6), st.lists(_EVENTS, max_size=6))
def test_any_node_output_is_read_and_rewritten_without_raising(
    gemini: bool, first: list[Any], second: list[Any]
) -> None:
    """Whatever a node streams (hostile shapes, wrong types, huge numbers), reading it,
    continuing it on another node and writing the rewritten events never raises."""
    said = Transcript(gemini=gemini, prompt_estimate=3)
    for document in first:
        said.read(document)
    said.node_failed("node62")
    said.continue_on(restart=bool(len(first) % 2))
    for document in second:
        said.read(document)
        if isinstance(document, dict) and not is_content_free(document, gemini):
            event_bytes(document, gemini)
    said.total("node63")
