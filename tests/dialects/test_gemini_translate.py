"""Gemini generateContent <-> IR, table by table (router.dialects.gemini.translate*)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from router.dialects import chat_answer
from router.dialects.chat import (
    ChatRequest,
    Generation,
    MediaKind,
    MediaPart,
    Message,
    Reasoning,
    ReasoningEffort,
    ReasoningPart,
    ResponseFormatKind,
    Role,
    TextPart,
    ToolCallPart,
    ToolChoice,
    ToolChoiceMode,
    ToolResultPart,
    WireRequest,
)
from router.dialects.gemini.answers import usage_from_gemini
from router.dialects.gemini.replies import google_error_body
from router.dialects.gemini.schema import to_gemini, to_json_schema
from router.dialects.gemini.translate import GEMINI_MAPPING
from router.dialects.gemini.translate_content import PLACEHOLDER_SIGNATURE
from router.errors import InvalidRequest, RouterError, UnsupportedField

CTX = chat_answer.AnswerContext(id="router-id", model="gemini-x", created=7)


def decode(body: dict[str, Any], *, stream: bool = False):
    return GEMINI_MAPPING.decode_request(WireRequest(body, "gemini-2.5-flash", stream=stream))


def hello(**fields: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "hi"}]}], **fields}


def test_contents_roles_media_and_snake_case() -> None:
    request = decode(
        {
            "system_instruction": {"parts": [{"text": "rules"}]},
            "contents": [
                {
                    "parts": [
                        {"text": "look"},
                        {"inline_data": {"mime_type": "audio/mp3", "data": "SUQz"}},
                        {"fileData": {"mimeType": "video/mp4", "fileUri": "https://v/x.mp4"}},
                    ]
                },
                {"role": "model", "parts": [{"text": "plan", "thought": True}, {"text": "ok"}]},
            ],
        }
    )
    assert request.messages == (
        Message(Role.SYSTEM, (TextPart("rules"),)),
        Message(
            Role.USER,
            (
                TextPart("look"),
                MediaPart(MediaKind.AUDIO, "audio/mp3", data="SUQz"),
                MediaPart(MediaKind.VIDEO, "video/mp4", url="https://v/x.mp4"),
            ),
        ),
        Message(Role.ASSISTANT, (ReasoningPart("plan"), TextPart("ok"))),
    )
    assert request.stream_usage is True


def test_function_calls_get_ids_and_responses_pair_by_name() -> None:
    request = decode(
        {
            "contents": [
                {"role": "user", "parts": [{"text": "go"}]},
                {
                    "role": "model",
                    "parts": [
                        {"functionCall": {"name": "a", "args": {"x": 1}}, "thoughtSignature": "S"},
                        {"functionCall": {"name": "b", "args": {}}},
                    ],
                },
                {
                    "role": "user",
                    "parts": [
                        {"functionResponse": {"name": "b", "response": {"v": 2}}},
                        {"functionResponse": {"name": "a", "response": {"content": "one"}}},
                        {"text": "and?"},
                    ],
                },
            ]
        }
    )
    assert request.messages[1].parts == (
        ToolCallPart("call_0", "a", '{"x":1}', "S"),
        ToolCallPart("call_1", "b", "{}"),
    )
    assert request.messages[2] == Message(
        Role.TOOL,
        (
            ToolResultPart("call_1", (TextPart('{"v":2}'),), name="b"),
            ToolResultPart("call_0", (TextPart("one"),), name="a"),
        ),
    )
    assert request.messages[3] == Message(Role.USER, (TextPart("and?"),))


def test_generation_and_thinking() -> None:
    config = {
        "maxOutputTokens": 64,
        "temperature": 0.3,
        "topP": 0.8,
        "topK": 20,
        "stopSequences": ["X"],
        "candidateCount": 2,
        "seed": 3,
        "presencePenalty": 0.5,
        "frequencyPenalty": 0.25,
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {"a": {"type": "STRING", "nullable": True}},
        },
        "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True},
    }
    request = decode(hello(generationConfig=config))
    gen = request.generation
    assert (gen.max_output_tokens, gen.temperature, gen.top_p, gen.top_k) == (64, 0.3, 0.8, 20)
    assert (gen.stop, gen.candidates, gen.seed) == (("X",), 2, 3)
    assert gen.response_format is not None
    assert gen.response_format.kind is ResponseFormatKind.JSON_SCHEMA
    assert gen.response_format.schema == {
        "type": "object",
        "properties": {"a": {"type": ["string", "null"]}},
    }
    assert request.reasoning == Reasoning(budget_tokens=2048, include_thoughts=True)
    level = decode(hello(generationConfig={"thinkingConfig": {"thinkingLevel": "HIGH"}}))
    assert level.reasoning.effort is ReasoningEffort.HIGH


@pytest.mark.parametrize(
    ("config", "choice"),
    [
        ({"mode": "AUTO"}, ToolChoice(ToolChoiceMode.AUTO)),
        ({"mode": "NONE"}, ToolChoice(ToolChoiceMode.NONE)),
        ({"mode": "ANY"}, ToolChoice(ToolChoiceMode.REQUIRED)),
        (
            {"mode": "ANY", "allowedFunctionNames": ["f"]},
            ToolChoice(ToolChoiceMode.REQUIRED, ("f",)),
        ),
    ],
)
def test_tool_config(config: dict[str, Any], choice: ToolChoice) -> None:
    body = hello(toolConfig={"functionCallingConfig": config})
    assert decode(body).tool_choice == choice


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"cachedContent": "cachedContents/1"}, "cachedContent"),
        ({"tools": [{"googleSearch": {}}]}, "tools[0].googleSearch"),
        ({"generationConfig": {"responseLogprobs": True}}, "generationConfig.responseLogprobs"),
        (
            {"generationConfig": {"responseModalities": ["IMAGE"]}},
            "generationConfig.responseModalities",
        ),
        (
            {"generationConfig": {"responseMimeType": "text/x.enum"}},
            "generationConfig.responseMimeType",
        ),
        (
            {"toolConfig": {"functionCallingConfig": {"mode": "VALIDATED"}}},
            "toolConfig.functionCallingConfig.mode",
        ),
    ],
)
def test_refused_fields_are_named(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(UnsupportedField) as caught:
        decode(hello(**fields))
    assert caught.value.field == named


@pytest.mark.parametrize(
    "body",
    [{}, {"contents": []}, {"contents": [{"role": "robot", "parts": []}]}, {"contents": "hi"}],
)
def test_malformed_requests_are_400s(body: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest):
        decode(body)


def ir(**fields: Any) -> ChatRequest:
    return ChatRequest(
        model=fields.pop("model", "gemini-2.5-flash"),
        messages=(Message(Role.USER, (TextPart("hi"),)),),
        **fields,
    )


@pytest.mark.parametrize(
    ("model", "reasoning", "thinking"),
    [
        ("gemini-2.5-flash", Reasoning(effort=ReasoningEffort.LOW), {"thinkingBudget": 1024}),
        ("gemini-2.5-flash", Reasoning(effort=ReasoningEffort.MEDIUM), {"thinkingBudget": 8192}),
        ("gemini-2.5-pro", Reasoning(effort=ReasoningEffort.HIGH), {"thinkingBudget": 24576}),
        ("gemini-2.5-flash", Reasoning(effort=ReasoningEffort.NONE), {"thinkingBudget": 0}),
        ("gemini-3-pro-preview", Reasoning(effort=ReasoningEffort.HIGH), {"thinkingLevel": "high"}),
        ("gemini-3-flash", Reasoning(effort=ReasoningEffort.NONE), {"thinkingLevel": "minimal"}),
        (
            "gemini",
            Reasoning(budget_tokens=500, include_thoughts=True),
            {"thinkingBudget": 500, "includeThoughts": True},
        ),
    ],
)
def test_thinking_for_the_node(model: str, reasoning: Reasoning, thinking: dict[str, Any]) -> None:
    body = GEMINI_MAPPING.encode_request(ir(model=model, reasoning=reasoning)).body
    assert body["generationConfig"]["thinkingConfig"] == thinking


def test_encoded_turns_merge_and_a_placeholder_signature_signs_the_first_call() -> None:
    messages = (
        Message(Role.SYSTEM, (TextPart("a"),)),
        Message(Role.USER, (TextPart("q1"),)),
        Message(Role.USER, (TextPart("q2"),)),
        Message(Role.ASSISTANT, (ToolCallPart("c1", "f", "{}"), ToolCallPart("c2", "f", "{}"))),
        Message(Role.TOOL, (ToolResultPart("c1", (TextPart("r"),), "f"),)),
        Message(Role.USER, (TextPart("next"),)),
    )
    body = GEMINI_MAPPING.encode_request(ChatRequest("gemini-3-pro", messages)).body
    assert body["systemInstruction"] == {"parts": [{"text": "a"}]}
    assert [c["role"] for c in body["contents"]] == ["user", "model", "user"]
    calls = body["contents"][1]["parts"]
    assert calls[0]["thoughtSignature"] == PLACEHOLDER_SIGNATURE
    assert "thoughtSignature" not in calls[1]
    assert body["contents"][2]["parts"] == [
        {"functionResponse": {"name": "f", "response": {"content": "r"}}},
        {"text": "next"},
    ]
    # the placeholder is Google's, not the conversation's: it is not read back as one
    assert (
        GEMINI_MAPPING.decode_request(WireRequest(body, "g")).messages[2].parts[0].signature is None
    )


def test_generation_for_the_node() -> None:
    gen = Generation(max_output_tokens=9, stop=("s",), candidates=2, top_k=3, seed=1)
    config = GEMINI_MAPPING.encode_request(ir(generation=gen)).body["generationConfig"]
    assert config == {
        "maxOutputTokens": 9,
        "stopSequences": ["s"],
        "candidateCount": 2,
        "topK": 3,
        "seed": 1,
    }


@pytest.mark.parametrize(
    ("schema", "gemini"),
    [
        (
            {
                "$schema": "x",
                "type": "object",
                "additionalProperties": False,
                "properties": {"a": {"type": "string"}},
                "required": ["a", "ghost"],
            },
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
        ),
        (
            {
                "type": "object",
                "properties": {"p": {"$ref": "#/$defs/P"}},
                "$defs": {"P": {"type": "integer", "minimum": 1}},
            },
            {"type": "object", "properties": {"p": {"type": "integer", "minimum": 1}}},
        ),
        ({"type": ["string", "null"], "format": "email"}, {"type": "string", "nullable": True}),
        ({"anyOf": [{"type": "number"}, {"type": "null"}]}, {"type": "number", "nullable": True}),
        (
            {"oneOf": [{"type": "number"}, {"type": "string"}]},
            {"anyOf": [{"type": "number"}, {"type": "string"}]},
        ),
        ({"const": "on"}, {"type": "string", "enum": ["on"]}),
        ({"type": "integer", "enum": [1, 2]}, {"type": "integer"}),
        ({"type": "array"}, {"type": "array", "items": {"type": "object"}}),
        ({"type": "object", "properties": {}}, {"type": "object"}),
        (
            {"allOf": [{"type": "object", "properties": {"a": {"type": "string"}}}]},
            {"type": "object", "properties": {"a": {"type": "string"}}},
        ),
        (  # a schema that refers to itself: the recursion becomes a free-form object
            {
                "type": "object",
                "properties": {"kid": {"$ref": "#/$defs/N"}},
                "$defs": {"N": {"type": "object", "properties": {"kid": {"$ref": "#/$defs/N"}}}},
            },
            {
                "type": "object",
                "properties": {
                    "kid": {"type": "object", "properties": {"kid": {"type": "object"}}}
                },
            },
        ),
    ],
)
def test_json_schema_to_gemini_subset(schema: dict[str, Any], gemini: dict[str, Any]) -> None:
    assert to_gemini(schema) == gemini
    assert to_gemini(to_json_schema(to_gemini(schema))) == gemini  # stable once in the subset


ANSWER = {
    "candidates": [
        {
            "content": {
                "role": "model",
                "parts": [
                    {"text": "hmm", "thought": True},
                    {"text": "Hello"},
                    {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "SIG"},
                ],
            },
            "finishReason": "STOP",
            "index": 0,
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 10,
        "candidatesTokenCount": 5,
        "thoughtsTokenCount": 20,
        "cachedContentTokenCount": 4,
        "totalTokenCount": 35,
    },
    "modelVersion": "gemini-2.5-flash",
    "responseId": "resp1",
}


def test_answer_decodes_and_encodes() -> None:
    response = GEMINI_MAPPING.decode_response(ANSWER, CTX)
    assert (response.id, response.model, response.created) == ("resp1", "gemini-2.5-flash", 7)
    choice = response.choices[0]
    assert (
        choice.finish_reason is chat_answer.FinishReason.TOOL_CALLS
    )  # Gemini says STOP after calls
    assert choice.message.parts[2] == ToolCallPart("call_resp1_0", "f", '{"a":1}', "SIG")
    assert response.usage == chat_answer.TokenUsage(
        prompt=10, completion=5, reasoning=20, cached_prompt=4
    )
    assert response.usage.as_usage() == usage_from_gemini(ANSWER)
    again = orjson.loads(GEMINI_MAPPING.encode_response(response))
    assert again["usageMetadata"] == ANSWER["usageMetadata"]
    assert again["candidates"][0]["content"]["parts"][2]["functionCall"]["id"] == "call_resp1_0"


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("STOP", chat_answer.FinishReason.STOP),
        ("MAX_TOKENS", chat_answer.FinishReason.LENGTH),
        ("SAFETY", chat_answer.FinishReason.CONTENT_FILTER),
        ("RECITATION", chat_answer.FinishReason.CONTENT_FILTER),
        ("BLOCKLIST", chat_answer.FinishReason.CONTENT_FILTER),
        ("PROHIBITED_CONTENT", chat_answer.FinishReason.CONTENT_FILTER),
        ("SPII", chat_answer.FinishReason.CONTENT_FILTER),
        ("MALFORMED_FUNCTION_CALL", chat_answer.FinishReason.ERROR),
        ("OTHER", chat_answer.FinishReason.OTHER),
    ],
)
def test_finish_reasons(name: str, reason: chat_answer.FinishReason) -> None:
    answer = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": name}]}
    assert GEMINI_MAPPING.decode_response(answer, CTX).choices[0].finish_reason is reason


def test_blocked_prompt_is_a_content_filter_finish() -> None:
    answer = {"promptFeedback": {"blockReason": "SAFETY"}}
    assert (
        GEMINI_MAPPING.decode_response(answer, CTX).choices[0].finish_reason
        is chat_answer.FinishReason.CONTENT_FILTER
    )


def test_stream_decoder_events() -> None:
    decoder = GEMINI_MAPPING.stream_decoder(CTX)
    chunks = [
        {
            "candidates": [{"content": {"parts": [{"text": "t", "thought": True}]}}],
            "responseId": "r",
        },
        {"candidates": [{"content": {"parts": [{"text": "Hi"}]}}]},
        {
            "candidates": [
                {"content": {"parts": [{"inlineData": {"mimeType": "image/png", "data": "AA=="}}]}}
            ]
        },
        {
            "candidates": [
                {
                    "content": {"parts": [{"functionCall": {"name": "f", "args": {"k": "v"}}}]},
                    "finishReason": "STOP",
                }
            ],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2},
        },
    ]
    events = [e for c in chunks for e in decoder.feed(c)] + decoder.end()
    assert events == [
        chat_answer.StreamStart("r", "gemini-x", 7),
        chat_answer.ReasoningDelta("t"),
        chat_answer.TextDelta("Hi"),
        chat_answer.MediaOutput(MediaPart(MediaKind.IMAGE, "image/png", data="AA==")),
        chat_answer.ToolCallStart(0, "call_r_0", "f"),
        chat_answer.ToolCallDelta(0, '{"k":"v"}'),
        chat_answer.ToolCallEnd(0),
        chat_answer.Finish(chat_answer.FinishReason.TOOL_CALLS),
        chat_answer.UsageReport(chat_answer.TokenUsage(prompt=1, completion=2)),
        chat_answer.StreamEnd(),
    ]


@pytest.mark.parametrize("json_array", [False, True])
def test_stream_encoder_frames(json_array: bool) -> None:
    encoder = GEMINI_MAPPING.stream_encoder(include_usage=True, json_array=json_array)
    pieces = [
        encoder.encode(e)
        for e in (
            chat_answer.StreamStart("id", "m", 1),
            chat_answer.TextDelta("Hel"),
            chat_answer.ToolCallStart(0, "c", "f", signature="S"),
            chat_answer.ToolCallDelta(0, '{"a":'),
            chat_answer.ToolCallDelta(0, "2}"),
            chat_answer.ToolCallEnd(0),
            chat_answer.Finish(chat_answer.FinishReason.TOOL_CALLS),
            chat_answer.UsageReport(chat_answer.TokenUsage(prompt=1, completion=2, reasoning=3)),
            chat_answer.StreamEnd(),
        )
    ]
    assert pieces[0] == b"" and pieces[2] == pieces[3] == pieces[4] == b""  # a call is sent whole
    assert pieces[6] == b""  # the finish waits for the usage: Gemini's last chunk has both
    if json_array:
        docs = orjson.loads(b"".join(pieces))
    else:
        assert all(p.startswith(b"data: ") and p.endswith(b"\r\n\r\n") for p in pieces if p)
        docs = [orjson.loads(p[6:]) for p in pieces if p]
    assert docs[0]["candidates"][0]["content"]["parts"] == [{"text": "Hel"}]
    call = docs[1]["candidates"][0]["content"]["parts"][0]
    assert call == {
        "functionCall": {"name": "f", "args": {"a": 2}, "id": "c"},
        "thoughtSignature": "S",
    }
    assert len(docs) == 3
    assert docs[2]["candidates"][0]["finishReason"] == "STOP"
    assert docs[2]["usageMetadata"]["thoughtsTokenCount"] == 3
    assert all(d["responseId"] == "id" and d["modelVersion"] == "m" for d in docs)


def test_a_finish_with_no_usage_after_it_is_written_at_the_end() -> None:
    encoder = GEMINI_MAPPING.stream_encoder(include_usage=True)
    assert encoder.encode(chat_answer.StreamStart("id", "m", 1)) == b""
    assert encoder.encode(chat_answer.Finish(chat_answer.FinishReason.LENGTH)) == b""
    (doc,) = [
        orjson.loads(p[6:]) for p in encoder.encode(chat_answer.StreamEnd()).split(b"\r\n\r\n") if p
    ]
    assert doc["candidates"][0]["finishReason"] == "MAX_TOKENS" and "usageMetadata" not in doc


def test_stream_error_is_a_bare_json_line_with_sse() -> None:
    encoder = GEMINI_MAPPING.stream_encoder(include_usage=True)
    out = encoder.encode(
        chat_answer.StreamError(
            chat_answer.ChatError(503, "down", chat_answer.ErrorKind.OVERLOADED)
        )
    )
    assert out.endswith(b"}\n") and not out.startswith(b"data:")
    assert orjson.loads(out)["error"]["status"] == "UNAVAILABLE"


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            {"error": {"code": 400, "message": "m", "status": "INVALID_ARGUMENT"}},
            chat_answer.ErrorKind.INVALID_REQUEST,
        ),
        (
            400,
            [{"error": {"code": 400, "message": "m", "status": "FAILED_PRECONDITION"}}],
            chat_answer.ErrorKind.INVALID_REQUEST,
        ),
        (
            429,
            {"error": {"code": 429, "message": "m", "status": "RESOURCE_EXHAUSTED"}},
            chat_answer.ErrorKind.RATE_LIMIT,
        ),
        (
            403,
            {"error": {"code": 403, "message": "m", "status": "PERMISSION_DENIED"}},
            chat_answer.ErrorKind.PERMISSION,
        ),
        (502, b"<html>", chat_answer.ErrorKind.SERVER),
    ],
)
def test_errors_decode(status: int, body: Any, kind: chat_answer.ErrorKind) -> None:
    assert GEMINI_MAPPING.decode_error(status, body).kind is kind


def test_error_body_is_googles_shape_as_the_router_writes_it() -> None:
    error = chat_answer.ChatError(404, "no model", chat_answer.ErrorKind.NOT_FOUND)
    routers = RouterError("no model")
    routers.status = 404
    assert orjson.loads(GEMINI_MAPPING.encode_error(error, "t")) == orjson.loads(
        google_error_body(routers, "t")
    )


def test_embeddings_both_ways() -> None:
    single = GEMINI_MAPPING.decode_embedding_request(
        WireRequest({"content": {"parts": [{"text": "a"}]}, "taskType": "RETRIEVAL_QUERY"}, "e")
    )
    assert (single.inputs, single.single, single.task) == (("a",), True, "RETRIEVAL_QUERY")
    batch = GEMINI_MAPPING.decode_embedding_request(
        WireRequest(
            {
                "requests": [
                    {"content": {"parts": [{"text": t}]}, "outputDimensionality": 8} for t in "ab"
                ]
            },
            "e",
            batch=True,
        )
    )
    assert (batch.inputs, batch.dimensions, batch.single) == (("a", "b"), 8, False)
    wire = GEMINI_MAPPING.encode_embedding_request(batch)
    assert wire.batch and wire.body["requests"][1] == {
        "model": "models/e",
        "content": {"parts": [{"text": "b"}]},
        "outputDimensionality": 8,
    }
    vectors = chat_answer.EmbeddingResponse("e", ((1.0, 2.0),))
    assert orjson.loads(GEMINI_MAPPING.encode_embedding_response(vectors, single)) == {
        "embedding": {"values": [1.0, 2.0]}
    }
    answer = {"embeddings": [{"values": [1, 2]}, {"values": [3, 4]}]}
    assert GEMINI_MAPPING.decode_embedding_response(answer, "e").vectors == ((1.0, 2.0), (3.0, 4.0))
