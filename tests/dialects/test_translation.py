"""The translation driver across dialects: tables of OpenAI <-> Gemini, and hypothesis
properties (any valid request keeps its meaning there and back; any split of a streamed
answer reaches the client whole; hostile JSON only ever gets a 400)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from router.dialects import chat_answer
from router.dialects.anthropic.translate import ANTHROPIC_MAPPING
from router.dialects.chat import WireRequest
from router.dialects.gemini.translate import GEMINI_MAPPING
from router.dialects.openai.translate import OPENAI_MAPPING
from router.dialects.translation import (
    StreamTranslation,
    translate_embedding_request,
    translate_embedding_response,
    translate_error,
    translate_request,
    translate_response,
)
from router.errors import InvalidRequest, UnsupportedField, UntranslatableAnswer
from tests.support import translation_properties as props
from tests.support.openai_wire import assistant_calls, signed_tool_call
from tests.support.translation import (
    normal,
    read_gemini,
    read_openai,
    refused_field,
    requests,
    sse_documents,
)

CTX = chat_answer.AnswerContext("router-1", "model-x", 100)
MAPPINGS = {"openai": OPENAI_MAPPING, "gemini": GEMINI_MAPPING}
PAIRS = [("openai", "gemini"), ("gemini", "openai")]


def openai_body(**fields: Any) -> WireRequest:
    body = {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": "hi"}], **fields}
    return WireRequest(body, "gemini-2.5-flash")


def to_gemini(**fields: Any) -> dict[str, Any]:
    return dict(translate_request(OPENAI_MAPPING, GEMINI_MAPPING, openai_body(**fields))[1].body)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"max_tokens": 5}, {"generationConfig": {"maxOutputTokens": 5}}),
        ({"stop": ["a", "b"]}, {"generationConfig": {"stopSequences": ["a", "b"]}}),
        ({"n": 2, "seed": 4}, {"generationConfig": {"candidateCount": 2, "seed": 4}}),
        (
            {"response_format": {"type": "json_object"}},
            {"generationConfig": {"responseMimeType": "application/json"}},
        ),
        (
            {"tool_choice": "none", "tools": []},
            {"toolConfig": {"functionCallingConfig": {"mode": "NONE"}}},
        ),
        (
            {"include_thoughts": True, "reasoning_effort": "high"},
            {
                "generationConfig": {
                    "thinkingConfig": {"thinkingBudget": 24576, "includeThoughts": True}
                }
            },
        ),
    ],
)
def test_openai_request_fields_reach_gemini(
    fields: dict[str, Any], expected: dict[str, Any]
) -> None:
    body = to_gemini(**fields)
    for key, value in expected.items():
        assert body[key] == value


def test_a_renamed_backend_model_picks_gemini_3_thinking_levels() -> None:
    wire = openai_body(reasoning_effort="low")
    request, node = translate_request(
        OPENAI_MAPPING, GEMINI_MAPPING, wire, model="gemini-3-pro-preview"
    )
    assert request.model == node.model == "gemini-3-pro-preview"
    assert node.body["generationConfig"]["thinkingConfig"] == {"thinkingLevel": "low"}


@pytest.mark.parametrize(
    ("source", "target", "wire", "field"),
    [
        ("openai", "gemini", openai_body(parallel_tool_calls=False), "parallel_tool_calls"),
        (
            "openai",
            "gemini",
            openai_body(messages=[{"role": "tool", "tool_call_id": "nobody", "content": "x"}]),
            "messages[].tool_call_id",
        ),
        (
            "openai",
            "gemini",
            openai_body(
                messages=[
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "a",
                                "type": "function",
                                "function": {"name": "f", "arguments": "not json"},
                            }
                        ],
                    }
                ]
            ),
            "messages[].tool_calls[].function.arguments",
        ),
    ],
)
def test_what_the_node_cannot_express_is_a_400_naming_the_clients_field(
    source: str, target: str, wire: WireRequest, field: str
) -> None:
    assert (
        refused_field(lambda: translate_request(MAPPINGS[source], MAPPINGS[target], wire)) == field
    )


def test_gemini_request_reaches_openai() -> None:
    body = {
        "systemInstruction": {"parts": [{"text": "sys"}]},
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "hi"},
                    {"inlineData": {"mimeType": "image/png", "data": "AA=="}},
                ],
            },
            {
                "role": "model",
                "parts": [
                    {"functionCall": {"name": "f", "args": {"a": 1}}, "thoughtSignature": "S"}
                ],
            },
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "f", "response": {"ok": True}}}],
            },
        ],
        "generationConfig": {
            "maxOutputTokens": 7,
            "topK": 3,
            "thinkingConfig": {"thinkingBudget": 0},
        },
    }
    _, node = translate_request(GEMINI_MAPPING, OPENAI_MAPPING, WireRequest(body, "m", stream=True))
    assert node.body["messages"] == [
        {"role": "system", "content": "sys"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "hi"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}},
            ],
        },
        assistant_calls(signed_tool_call("call_0", "f", '{"a":1}', "S")),
        {"role": "tool", "tool_call_id": "call_0", "content": '{"ok":true}'},
    ]
    assert (node.body["max_tokens"], node.body["top_k"], node.body["reasoning_effort"]) == (
        7,
        3,
        "none",
    )
    assert node.body["stream"] is True and node.body["stream_options"] == {"include_usage": True}


def test_whole_answers_both_ways() -> None:
    gemini_answer = {
        "candidates": [
            {
                "content": {"parts": [{"text": "x", "thought": True}, {"text": "Hi"}]},
                "finishReason": "MAX_TOKENS",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 3,
            "candidatesTokenCount": 2,
            "thoughtsTokenCount": 4,
        },
    }
    _, data = translate_response(OPENAI_MAPPING, GEMINI_MAPPING, gemini_answer, CTX)
    body = orjson.loads(data)
    assert body["id"] == "router-1" and body["model"] == "model-x"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hi",
        "reasoning_content": "x",
    }
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["usage"]["completion_tokens"] == 6
    assert body["usage"]["completion_tokens_details"] == {"reasoning_tokens": 4}
    _, back = translate_response(GEMINI_MAPPING, OPENAI_MAPPING, body, CTX)
    again = orjson.loads(back)
    assert again["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert again["usageMetadata"] == {
        "promptTokenCount": 3,
        "candidatesTokenCount": 2,
        "thoughtsTokenCount": 4,
        "totalTokenCount": 9,
    }


def test_node_errors_reach_the_client_in_its_shape_with_the_status() -> None:
    google = {"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}
    error, data = translate_error(OPENAI_MAPPING, GEMINI_MAPPING, 429, google, "trace")
    assert error.kind is chat_answer.ErrorKind.RATE_LIMIT
    assert orjson.loads(data) == {
        "success": False,
        "error": {"code": "too_many_requests", "message": "quota", "type": "rate_limit_error"},
        "trace_id": "trace",
    }
    openai = {"error": {"message": "no key", "type": "authentication_error"}}
    _, data = translate_error(GEMINI_MAPPING, OPENAI_MAPPING, 401, openai, "t")
    assert orjson.loads(data)["error"]["status"] == "UNAUTHENTICATED"


def test_a_stream_is_unbuffered_each_node_event_yields_its_client_events() -> None:
    stream = StreamTranslation.between(OPENAI_MAPPING, GEMINI_MAPPING, CTX, include_usage=False)
    first = stream.feed(
        {"candidates": [{"content": {"parts": [{"text": "He"}]}}], "responseId": "r"}
    )
    assert [d["choices"][0]["delta"] for d in sse_documents(first)] == [
        {"role": "assistant", "content": ""},
        {"content": "He"},
    ]
    second = stream.feed(
        {
            "candidates": [{"content": {"parts": [{"text": "llo"}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 2},
        }
    )
    assert [d["choices"][0] for d in sse_documents(second)][1]["finish_reason"] == "stop"
    assert stream.end() == b"data: [DONE]\n\n"  # no usage chunk: the client did not ask
    assert stream.usage == chat_answer.TokenUsage(
        prompt=1, completion=2
    )  # billing has it all the same


# ---- properties ----------------------------------------------------------------------


@props.PROPERTY
@given(request=requests(), pair=st.sampled_from(PAIRS))
def test_a_request_translated_there_and_back_keeps_its_meaning(
    request: Any, pair: tuple[str, str]
) -> None:
    source, target = MAPPINGS[pair[0]], MAPPINGS[pair[1]]
    client = source.decode_request(source.encode_request(request))  # a valid client request
    try:
        _, node = translate_request(source, target, source.encode_request(client))
    except UnsupportedField as refused:  # only what the tables say the node cannot take
        assert refused.field in source.field_of_feature.values()
        return
    assert normal(target.decode_request(node)) == normal(client)


REQUEST_KEYS = ["model", "messages", "role", "content", "contents", "parts", "text", "tools"]
REQUEST_KEYS += ["type", "function", "name", "generationConfig", "tool_calls", "functionCall"]
REQUEST_KEYS += ["image_url", "url", "stop", "tool_call_id", "functionResponse", "response"]
REQUEST_KEYS += ["inlineData", "data", "mimeType", "response_format", "json_schema", "schema"]
ANSWER_KEYS = ["id", "model", "choices", "delta", "message", "content", "candidates", "parts"]
ANSWER_KEYS += ["text", "thought", "functionCall", "name", "args", "tool_calls", "index"]
ANSWER_KEYS += ["function", "arguments", "finish_reason", "finishReason", "usage", "error"]
ANSWER_KEYS += ["usageMetadata", "code", "data", "embedding", "embeddings", "values"]
ANSWER_KEYS += ["inlineData", "reasoning_content", "promptFeedback", "blockReason", "message"]


@props.PROPERTY
@given(document=props.json_values(REQUEST_KEYS), pair=st.sampled_from(PAIRS))
def test_hostile_json_gets_a_400_or_a_translation(document: Any, pair: tuple[str, str]) -> None:
    source, target = MAPPINGS[pair[0]], MAPPINGS[pair[1]]
    for translate in (translate_request, translate_embedding_request):
        try:
            translate(source, target, WireRequest(document, "m"))
        except InvalidRequest as exc:
            assert exc.status == 400


@props.PROPERTY
@given(document=props.json_values(ANSWER_KEYS), name=st.sampled_from(["openai", "gemini"]))
def test_any_node_answer_is_translated_or_a_502(document: Any, name: str) -> None:
    node = MAPPINGS[name]
    for client in MAPPINGS.values():
        props.check_any_answer(client, node, document, CTX)
        request = chat_answer.EmbeddingRequest("e", ("a",))
        try:
            translate_embedding_response(client, node, document, request)
        except UntranslatableAnswer as exc:
            assert exc.status == 502


@props.PROPERTY
@given(
    **props.STREAM_PIECES,
    pair=st.sampled_from(PAIRS),
    json_array=st.booleans(),
    include_usage=st.booleans(),
)
def test_any_stream_split_reaches_the_client_whole(
    text: list[str],
    reasoning: list[str],
    calls: list[Any],
    usage: chat_answer.TokenUsage,
    pair: tuple[str, str],
    json_array: bool,
    include_usage: bool,
) -> None:
    client, node = MAPPINGS[pair[0]], MAPPINGS[pair[1]]
    node_encoder = node.stream_encoder(include_usage=True)
    wire = b"".join(
        node_encoder.encode(e) for e in props.node_events(text, reasoning, calls, usage)
    )
    stream = StreamTranslation.between(
        client, node, CTX, include_usage=include_usage, json_array=json_array
    )
    out = props.relay(stream, wire)
    seen = read_openai(out) if client is OPENAI_MAPPING else read_gemini(out, json_array)
    assert (seen.text, seen.reasoning, seen.calls) == ("".join(text), "".join(reasoning), calls)
    assert seen.done
    assert stream.usage == usage
    if client is OPENAI_MAPPING:
        assert seen.finish == ("tool_calls" if calls else "stop")
        assert (seen.usage is not None) == include_usage
    else:
        assert seen.finish == "STOP" and seen.usage is not None
        assert seen.usage["candidatesTokenCount"] == usage.completion


MANUAL = Path(__file__).resolve().parents[2] / "docs" / "translation.md"


@pytest.mark.parametrize("name", ["openai", "gemini"])
def test_the_manual_lists_every_field_not_translated(name: str) -> None:
    manual = MANUAL.read_text()
    for rule in MAPPINGS[name].request_fields:
        fate = "dropped" if rule.fate.value == "dropped" else "400"
        assert f"| `{rule.field}` | {fate} | {rule.why}" in manual, rule


ALL_EVENTS = [
    chat_answer.StreamStart("id7", "m", 3),
    chat_answer.ReasoningDelta("think"),
    chat_answer.TextDelta("Hello"),
    chat_answer.ToolCallStart(0, "c0", "get_weather", signature="c2ln"),
    chat_answer.ToolCallDelta(0, '{"city": "Paris"}'),
    chat_answer.ToolCallEnd(0),
    chat_answer.Finish(chat_answer.FinishReason.TOOL_CALLS),
    chat_answer.UsageReport(
        chat_answer.TokenUsage(prompt=4, completion=5, reasoning=6, cached_prompt=1)
    ),
    chat_answer.StreamEnd(),
]


def test_the_sdks_read_every_chunk_we_write() -> None:
    """Each chunk validates as the official SDKs' own types (pure: no network), and every
    google-genai chunk but a thought has text (user code prints `chunk.text`; a chunk of
    thoughts alone has none from Google either)."""
    from google.genai import types
    from openai.types.chat import ChatCompletion, ChatCompletionChunk

    encoder = OPENAI_MAPPING.stream_encoder(include_usage=True)
    docs = sse_documents(b"".join(encoder.encode(e) for e in ALL_EVENTS))
    chunks = [ChatCompletionChunk.model_validate(d) for d in docs if d != "[DONE]"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 11
    call = chunks[3].choices[0].delta.tool_calls[0]
    assert call.model_extra == {"extra_content": {"google": {"thought_signature": "c2ln"}}}
    for json_array in (False, True):
        encoder = GEMINI_MAPPING.stream_encoder(include_usage=True, json_array=json_array)
        data = b"".join(encoder.encode(e) for e in ALL_EVENTS)
        docs = orjson.loads(data) if json_array else sse_documents(data)
        replies = [types.GenerateContentResponse.model_validate(d) for d in docs]
        assert replies[2].function_calls[0].args == {"city": "Paris"}
        assert replies[2].candidates[0].content.parts[0].thought_signature == b"sig"
        assert replies[-1].usage_metadata.thoughts_token_count == 6
        assert replies[0].candidates[0].content.parts[0].thought is True
        # the finish and the usage share the last chunk, as Google sends them
        assert [r.text is not None for r in replies[1:] if not r.function_calls] == [True] * 2
        assert replies[-1].candidates[0].finish_reason is not None
    whole = orjson.loads(
        OPENAI_MAPPING.encode_response(
            translate_response(OPENAI_MAPPING, GEMINI_MAPPING, ANSWER, CTX)[0]
        )
    )
    assert ChatCompletion.model_validate(whole).choices[0].message.content == "Hi"


ANSWER = {"candidates": [{"content": {"parts": [{"text": "Hi"}]}, "finishReason": "STOP"}]}


@pytest.mark.parametrize(
    "mapping",
    [OPENAI_MAPPING, GEMINI_MAPPING, ANTHROPIC_MAPPING],
    ids=["openai", "gemini", "anthropic"],
)
def test_a_stream_translation_holds_no_dict_of_attributes(mapping: Any) -> None:
    """One per translated stream, its decoder and encoder too: slotted (issue 32)."""
    context = chat_answer.AnswerContext("r", "m", 1)
    translation = StreamTranslation.between(mapping, mapping, context, include_usage=True)
    for part in (translation, translation._decoder, translation._encoder):
        assert type(part).__dictoffset__ == 0, type(part)
