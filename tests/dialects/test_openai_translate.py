"""OpenAI Chat Completions <-> IR, table by table (router.dialects.openai.translate*)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.dialects import chat, chat_answer
from router.dialects.openai.replies import router_error_body
from router.dialects.openai.translate import OPENAI_MAPPING
from router.dialects.openai.translate_request import REQUEST_FIELDS
from router.dialects.openai.usage import usage_from_openai
from router.errors import InvalidRequest, RouterError, UnsupportedField, UntranslatableAnswer
from tests.support.openai_wire import assistant_calls, signed_tool_call
from tests.support.translation import refused_field

CTX = chat_answer.AnswerContext(id="chatcmpl-router", model="m", created=1)


def decode(**fields: Any):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **fields}
    return OPENAI_MAPPING.decode_request(chat.WireRequest(body, "m"))


def user(content: Any):
    return decode(messages=[{"role": "user", "content": content}]).messages[0]


@pytest.mark.parametrize(
    ("content", "parts"),
    [
        ("hi", (chat.TextPart("hi"),)),
        (
            [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            (chat.TextPart("a"), chat.TextPart("b")),
        ),
        (
            [{"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBO"}}],
            (chat.MediaPart(chat.MediaKind.IMAGE, "image/png", data="iVBO"),),
        ),
        (
            [{"type": "image_url", "image_url": {"url": "https://x/a.jpg", "detail": "high"}}],
            (chat.MediaPart(chat.MediaKind.IMAGE, "image/jpeg", url="https://x/a.jpg"),),
        ),
        (  # the seeds send videos as image_url
            [{"type": "image_url", "image_url": {"url": "https://cdn/58yioe.mp4"}}],
            (chat.MediaPart(chat.MediaKind.VIDEO, "video/mp4", url="https://cdn/58yioe.mp4"),),
        ),
        (
            [{"type": "input_audio", "input_audio": {"data": "UklG", "format": "wav"}}],
            (chat.MediaPart(chat.MediaKind.AUDIO, "audio/wav", data="UklG"),),
        ),
        (
            [
                {
                    "type": "file",
                    "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"},
                }
            ],
            (
                chat.MediaPart(
                    chat.MediaKind.DOCUMENT, "application/pdf", data="JVBE", filename="a.pdf"
                ),
            ),
        ),
    ],
)
def test_user_content_parts(content: Any, parts: tuple[Any, ...]) -> None:
    assert user(content) == chat.Message(chat.Role.USER, parts)


def test_roles_and_tool_results_named_from_their_call() -> None:
    request = decode(
        messages=[
            {"role": "developer", "content": "rules"},
            {"role": "user", "content": "weather?"},
            assistant_calls(
                signed_tool_call("c1", "w", '{"c":1}', "SIG"), reasoning_content="let me look"
            ),
            {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
        ]
    )
    assert [m.role for m in request.messages] == [
        chat.Role.SYSTEM,
        chat.Role.USER,
        chat.Role.ASSISTANT,
        chat.Role.TOOL,
    ]
    assert request.messages[2].parts == (
        chat.ReasoningPart("let me look"),
        chat.ToolCallPart("c1", "w", '{"c":1}', "SIG"),
    )
    assert request.messages[3].parts == (
        chat.ToolResultPart("c1", (chat.TextPart("sunny"),), name="w"),
    )


def test_generation_settings() -> None:
    request = decode(
        max_completion_tokens=50,
        max_tokens=10,
        temperature=0.5,
        top_p=0.9,
        top_k=4,
        stop="END",
        n=2,
        seed=7,
        presence_penalty=0.1,
        frequency_penalty=0.2,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "r", "schema": {"type": "object"}},
        },
    )
    gen = request.generation
    assert (gen.max_output_tokens, gen.temperature, gen.top_p, gen.top_k) == (50, 0.5, 0.9, 4)
    assert (gen.stop, gen.candidates, gen.seed) == (("END",), 2, 7)
    assert (gen.presence_penalty, gen.frequency_penalty) == (0.1, 0.2)
    assert gen.response_format is not None
    assert gen.response_format.kind is chat.ResponseFormatKind.JSON_SCHEMA
    assert gen.response_format.schema == {"type": "object"}


@pytest.mark.parametrize(
    ("fields", "effort", "budget", "include"),
    [
        ({"reasoning_effort": "low"}, chat.ReasoningEffort.LOW, None, None),
        (
            {"reasoning_effort": "high", "include_thoughts": True},
            chat.ReasoningEffort.HIGH,
            None,
            True,
        ),
        (
            {
                "extra_body": {
                    "google": {
                        "thinking_config": {"thinking_budget": 800, "include_thoughts": True}
                    }
                }
            },
            None,
            800,
            True,
        ),
        (
            {"google": {"thinking_config": {"thinking_level": "low"}}},
            chat.ReasoningEffort.LOW,
            None,
            None,
        ),
    ],
)
def test_reasoning(fields: dict[str, Any], effort: Any, budget: Any, include: Any) -> None:
    reasoning = decode(**fields).reasoning
    assert (reasoning.effort, reasoning.budget_tokens, reasoning.include_thoughts) == (
        effort,
        budget,
        include,
    )


@pytest.mark.parametrize(
    ("fields", "choice"),
    [
        ({"tool_choice": "auto"}, chat.ToolChoice(chat.ToolChoiceMode.AUTO)),
        ({"tool_choice": "none"}, chat.ToolChoice(chat.ToolChoiceMode.NONE)),
        ({"tool_choice": "required"}, chat.ToolChoice(chat.ToolChoiceMode.REQUIRED)),
        (
            {"tool_choice": {"type": "function", "function": {"name": "f"}}},
            chat.ToolChoice(chat.ToolChoiceMode.REQUIRED, ("f",)),
        ),
        ({"parallel_tool_calls": False}, chat.ToolChoice(parallel=False)),
        ({"parallel_tool_calls": True}, None),
    ],
)
def test_tool_choice(fields: dict[str, Any], choice: chat.ToolChoice | None) -> None:
    assert decode(**fields).tool_choice == choice


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"logit_bias": {"1": 2}}, "logit_bias"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"messages": [{"role": "function", "content": "x", "name": "f"}]}, "messages[0].role"),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "file", "file": {"file_id": "f1"}}]}
                ]
            },
            "messages[0].content[0].file.file_id",
        ),
    ],
)
def test_refused_fields_are_named(fields: dict[str, Any], named: str) -> None:
    assert refused_field(lambda: decode(**fields)) == named


@pytest.mark.parametrize(
    "body",
    [
        {"model": "m"},
        {"model": "m", "messages": []},
        {"model": "m", "messages": [{"role": "robot", "content": "x"}]},
        {"model": "m", "messages": [{"role": "user", "content": 5}]},
        {"model": "m", "messages": [{"role": "tool", "content": "x"}]},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "temperature": "hot"},
        {"model": "m", "messages": [{"role": "user", "content": "x"}], "reasoning_effort": "max"},
    ],
)
def test_malformed_requests_are_400s(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        OPENAI_MAPPING.decode_request(chat.WireRequest(body, "m"))


def test_dropped_fields_change_nothing() -> None:
    plain = decode()
    assert decode(store=True, service_tier="flex", prediction={"type": "content"}) == plain
    assert {r.field for r in REQUEST_FIELDS} >= {"user", "metadata", "store", "logprobs"}


def test_encode_request_round_trips_and_always_asks_for_stream_usage() -> None:
    request = decode(
        stream=True,
        tools=[{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        tool_choice={"type": "function", "function": {"name": "f"}},
        reasoning_effort="medium",
    )
    wire = OPENAI_MAPPING.encode_request(request)
    assert wire.body["stream_options"] == {"include_usage": True}
    assert wire.body["reasoning_effort"] == "medium"
    assert OPENAI_MAPPING.decode_request(wire).messages == request.messages
    assert OPENAI_MAPPING.decode_request(wire).tool_choice == request.tool_choice


SEED_ANSWER = {  # seed 002's non-streaming answer, shortened
    "id": "chatcmpl-2025",
    "model": "gemini-2.5-pro",
    "object": "chat.completion",
    "created": 1763817866,
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "I am", "reasoning_content": "**Me**"},
            "finish_reason": "stop",
        }
    ],
    "usage": {
        "prompt_tokens": 8,
        "completion_tokens": 932,
        "total_tokens": 940,
        "prompt_tokens_details": {"cached_tokens": 0, "text_tokens": 8},
        "completion_tokens_details": {"text_tokens": 0, "reasoning_tokens": 921},
    },
}


def test_answer_decodes_with_disjoint_usage_and_encodes_back() -> None:
    response = OPENAI_MAPPING.decode_response(SEED_ANSWER, CTX)
    assert response.choices[0].message.parts == (
        chat.ReasoningPart("**Me**"),
        chat.TextPart("I am"),
    )
    assert response.usage == chat_answer.TokenUsage(prompt=8, completion=11, reasoning=921)
    assert response.usage.as_usage() == usage_from_openai(SEED_ANSWER)
    again = orjson.loads(OPENAI_MAPPING.encode_response(response))
    assert again["choices"][0]["message"] == SEED_ANSWER["choices"][0]["message"]
    assert again["usage"]["completion_tokens"] == 932
    assert again["usage"]["completion_tokens_details"]["reasoning_tokens"] == 921


@pytest.mark.parametrize(
    ("choice", "reason", "sequence"),
    [
        ({"finish_reason": "stop"}, chat_answer.FinishReason.STOP, None),
        ({"finish_reason": "length"}, chat_answer.FinishReason.LENGTH, None),
        ({"finish_reason": "tool_calls"}, chat_answer.FinishReason.TOOL_CALLS, None),
        ({"finish_reason": "content_filter"}, chat_answer.FinishReason.CONTENT_FILTER, None),
        (
            {"finish_reason": "stop", "stop_reason": "END"},
            chat_answer.FinishReason.STOP_SEQUENCE,
            "END",
        ),
        ({"finish_reason": "weird"}, chat_answer.FinishReason.OTHER, None),
    ],
)
def test_finish_reasons(
    choice: dict[str, Any], reason: chat_answer.FinishReason, sequence: str | None
) -> None:
    answer = {"choices": [{"index": 0, "message": {"content": "x"}, **choice}]}
    decoded = OPENAI_MAPPING.decode_response(answer, CTX).choices[0]
    assert (decoded.finish_reason, decoded.stop_sequence) == (reason, sequence)


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    return {"id": "c9", "model": "g", "created": 5, "choices": [choice], **extra}


def test_stream_decoder_events() -> None:
    decoder = OPENAI_MAPPING.stream_decoder(CTX)
    events = [
        *decoder.feed(chunk({"role": "assistant", "content": ""})),
        *decoder.feed(chunk({"reasoning_content": "hm"})),
        *decoder.feed(chunk({"content": "Hi"})),
        *decoder.feed(
            chunk(
                {
                    "tool_calls": [
                        {"index": 0, "id": "t", "function": {"name": "f", "arguments": '{"a"'}}
                    ]
                }
            )
        ),
        *decoder.feed(chunk({"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]})),
        *decoder.feed(chunk({}, "tool_calls")),
        *decoder.feed(
            {"id": "c9", "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 4}}
        ),
        *decoder.end(),
    ]
    assert events == [
        chat_answer.StreamStart("c9", "g", 5),
        chat_answer.ReasoningDelta("hm"),
        chat_answer.TextDelta("Hi"),
        chat_answer.ToolCallStart(0, "t", "f"),
        chat_answer.ToolCallDelta(0, '{"a"'),
        chat_answer.ToolCallDelta(0, ":1}"),
        chat_answer.ToolCallEnd(0),
        chat_answer.Finish(chat_answer.FinishReason.TOOL_CALLS),
        chat_answer.UsageReport(chat_answer.TokenUsage(prompt=3, completion=4)),
        chat_answer.StreamEnd(),
    ]


def test_stream_decoder_reads_an_error_event() -> None:
    decoder = OPENAI_MAPPING.stream_decoder(CTX)
    body = {"error": {"message": "boom", "type": "server_error", "code": 503}}
    assert decoder.feed(body)[-1] == chat_answer.StreamError(
        chat_answer.ChatError(503, "boom", chat_answer.ErrorKind.OVERLOADED)
    )


@pytest.mark.parametrize("include_usage", [True, False])
def test_stream_encoder_writes_usage_only_when_asked(include_usage: bool) -> None:
    encoder = OPENAI_MAPPING.stream_encoder(include_usage=include_usage)
    out = b"".join(
        encoder.encode(e)
        for e in (
            chat_answer.StreamStart("id1", "m", 9),
            chat_answer.TextDelta("Hi"),
            chat_answer.Finish(chat_answer.FinishReason.STOP),
            chat_answer.UsageReport(chat_answer.TokenUsage(prompt=1, completion=2, reasoning=3)),
            chat_answer.StreamEnd(),
        )
    )
    events = [e for e in out.split(b"\n\n") if e]
    assert events[-1] == b"data: [DONE]"
    docs = [orjson.loads(e.removeprefix(b"data: ")) for e in events[:-1]]
    assert docs[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert docs[1]["choices"][0]["delta"] == {"content": "Hi"}
    assert docs[2]["choices"][0]["finish_reason"] == "stop"
    usage_chunks = [d for d in docs if d.get("usage")]
    assert len(usage_chunks) == int(include_usage)
    if include_usage:
        assert usage_chunks[0]["choices"] == []
        assert usage_chunks[0]["usage"]["completion_tokens"] == 5


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            {"error": {"message": "bad", "type": "invalid_request_error"}},
            chat_answer.ErrorKind.INVALID_REQUEST,
        ),
        (
            401,
            {"success": False, "error": {"code": "invalid_token", "message": "no"}},
            chat_answer.ErrorKind.AUTHENTICATION,
        ),
        (
            429,
            {"error": {"message": "slow", "type": "rate_limit_error"}},
            chat_answer.ErrorKind.RATE_LIMIT,
        ),
        (503, "not json at all", chat_answer.ErrorKind.OVERLOADED),
        (500, {"error": "plain"}, chat_answer.ErrorKind.SERVER),
    ],
)
def test_errors_decode(status: int, body: Any, kind: chat_answer.ErrorKind) -> None:
    error = OPENAI_MAPPING.decode_error(status, body)
    assert (error.status, error.kind) == (status, kind) and error.message


def test_error_body_is_the_routers_own_shape() -> None:
    error = chat_answer.ChatError(429, "slow down", chat_answer.ErrorKind.RATE_LIMIT)
    mine = orjson.loads(OPENAI_MAPPING.encode_error(error, "t1"))
    routers = RouterError("slow down")
    routers.status, routers.code, routers.type = 429, "too_many_requests", "rate_limit_error"
    assert mine == orjson.loads(router_error_body(routers, "t1"))


def test_embeddings_both_ways_with_base64() -> None:
    wire = chat.WireRequest({"model": "e", "input": ["a", "b"], "encoding_format": "base64"}, "e")
    request = OPENAI_MAPPING.decode_embedding_request(wire)
    assert (request.inputs, request.base64, request.single) == (("a", "b"), True, False)
    response = chat_answer.EmbeddingResponse(
        "e", ((0.5, -1.0), (2.0, 0.25)), chat_answer.TokenUsage(prompt=3)
    )
    body = orjson.loads(OPENAI_MAPPING.encode_embedding_response(response, request))
    assert body["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert OPENAI_MAPPING.decode_embedding_response(body, "e").vectors == response.vectors
    with pytest.raises(UnsupportedField):
        OPENAI_MAPPING.decode_embedding_request(
            chat.WireRequest({"model": "e", "input": [[1, 2]]}, "e")
        )


@pytest.mark.parametrize("embedding", ["a", "!!!!", [1, "x"], {"v": 1}])
def test_a_node_embedding_that_is_no_vector_is_a_502(embedding: Any) -> None:
    with pytest.raises(UntranslatableAnswer):
        OPENAI_MAPPING.decode_embedding_response({"data": [{"embedding": embedding}]}, "e")


def test_stream_encoder_chunks_are_compact_json_in_field_order() -> None:
    """Each chunk is written from a per-stream byte prefix (issue 32): byte for byte what
    writing the whole chunk at once gives, the head's fields first."""
    encoder = OPENAI_MAPPING.stream_encoder(include_usage=False)
    events = (
        chat_answer.StreamStart("id1", "m", 9),
        chat_answer.TextDelta('He said "hi"\n'),
        chat_answer.ToolCallStart(0, "call_1", "f", 0, None),
        chat_answer.ToolCallDelta(0, '{"a": 1}', 0),
        chat_answer.Finish(chat_answer.FinishReason.TOOL_CALLS),
    )
    for event in events:
        out = encoder.encode(event)
        assert out.startswith(b"data: ") and out.endswith(b"\n\n")
        document = orjson.loads(out[6:])
        assert out[6:-2] == orjson.dumps(document)
        head = {"id": "id1", "object": "chat.completion.chunk", "created": 9, "model": "m"}
        assert list(document)[:5] == [*head, "choices"]
        assert {key: document[key] for key in head} == head
