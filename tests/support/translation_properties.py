"""What the hypothesis properties of the translation tests (OpenAI <-> Gemini, and
Anthropic on either side) share: their settings, any JSON keyed by the names a dialect
reads, a node's streamed answer as IR events built from drawn pieces, and the relay of
its wire bytes through a StreamTranslation."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from router.dialects import chat_answer
from router.dialects.translation import (
    ChatMapping,
    StreamTranslation,
    translate_error,
    translate_response,
)
from router.errors import UntranslatableAnswer
from tests.support.translation import ARGS, TEXT, sse_documents

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The pieces of a node's streamed answer (node_events' arguments), for `@given(**...)`.
STREAM_PIECES: dict[str, st.SearchStrategy[Any]] = {
    "text": st.lists(TEXT.filter(bool), max_size=5),
    "reasoning": st.lists(TEXT.filter(bool), max_size=3),
    "calls": st.lists(st.tuples(st.sampled_from(["f", "g"]), ARGS), max_size=2),
    "usage": st.builds(
        chat_answer.TokenUsage, st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)
    ),
}


def json_values(keys: list[str]) -> st.SearchStrategy[Any]:
    """Any JSON, its objects keyed by names a dialect reads (so the readers go deep)."""
    scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT
    return st.recursive(
        scalars,
        lambda kids: (
            st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(keys), kids, max_size=5)
        ),
        max_leaves=25,
    )


def node_events(
    text: list[str],
    reasoning: list[str],
    calls: list[tuple[str, dict[str, Any]]],
    usage: chat_answer.TokenUsage,
    *,
    signature: str | None = None,
    split_text: bool = False,
    interleave: bool = False,
) -> list[Any]:
    """A node's streamed answer as IR events: reasoning (signed with `signature` when
    given), text and calls, the text split as given. `split_text` sends the second half
    of the text after the calls; `interleave` then puts a piece of it between each call's
    start and end."""
    events: list[Any] = [chat_answer.StreamStart("n1", "node-model", 5)]
    events += [chat_answer.ReasoningDelta(piece) for piece in reasoning]
    if reasoning and signature is not None:
        events.append(chat_answer.ReasoningDelta("", signature=signature))
    half = len(text) // 2 if split_text else len(text)
    events += [chat_answer.TextDelta(piece) for piece in text[:half]]
    later = text[half:]
    for i, (name, args) in enumerate(calls):
        raw = orjson.dumps(args).decode()
        cut = len(raw) // 2
        events += [
            chat_answer.ToolCallStart(i, f"c{i}", name),
            chat_answer.ToolCallDelta(i, raw[:cut]),
        ]
        if interleave and later:
            events.append(chat_answer.TextDelta(later.pop(0)))
        events += [chat_answer.ToolCallDelta(i, raw[cut:]), chat_answer.ToolCallEnd(i)]
    events += [chat_answer.TextDelta(piece) for piece in later]
    reason = chat_answer.FinishReason.TOOL_CALLS if calls else chat_answer.FinishReason.STOP
    return [
        *events,
        chat_answer.Finish(reason),
        chat_answer.UsageReport(usage),
        chat_answer.StreamEnd(),
    ]


def relay(stream: StreamTranslation, wire: bytes) -> bytes:
    """What the client gets when the node's `wire` bytes pass through `stream`, the
    node's `[DONE]` included; the stream is ended again after (a second end is
    harmless)."""
    out = b""
    for document in sse_documents(wire):
        out += stream.end() if document == "[DONE]" else stream.feed(document)
    return out + stream.end()


def check_any_answer(
    client: ChatMapping, node: ChatMapping, document: Any, ctx: chat_answer.AnswerContext
) -> None:
    """A node's answer `document`, whatever it is, reaches `client` translated or as a
    502, as an error body, and (fed twice) as stream bytes."""
    try:
        translate_response(client, node, document, ctx)
    except UntranslatableAnswer as exc:
        assert exc.status == 502
    assert isinstance(translate_error(client, node, 500, document, "t")[1], bytes)
    stream = StreamTranslation.between(client, node, ctx, include_usage=True)
    assert isinstance(stream.feed(document) + stream.feed(document) + stream.end(), bytes)
