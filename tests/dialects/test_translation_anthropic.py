"""The translation driver with Anthropic's Messages API on either side: tables of
Anthropic <-> OpenAI and Anthropic <-> Gemini (requests, answers, streams, errors),
Gemini's call signatures through an Anthropic client, and hypothesis properties (any
valid request keeps its meaning there and back; any split of a streamed answer reaches
the client whole; hostile JSON only ever gets a 400, or a 502 from a node)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter

from router.dialects import chat_answer
from router.dialects.anthropic.translate import (
    ANTHROPIC_MAPPING,
    decode_count_tokens_request,
    model_info,
    model_page,
)
from router.dialects.chat import WireRequest
from router.dialects.gemini.translate import GEMINI_MAPPING
from router.dialects.openai.translate import OPENAI_MAPPING
from router.dialects.translation import (
    StreamTranslation,
    translate_error,
    translate_request,
    translate_response,
)
from router.errors import InvalidRequest, UnsupportedField, UntranslatableAnswer
from tests.support import translation_properties as props
from tests.support.translation import (
    TEXT,
    anthropic_events,
    anthropic_requests,
    normal,
    read_anthropic,
    read_gemini,
    read_openai,
)

CTX = chat_answer.AnswerContext("router-1", "model-x", 100)
MAPPINGS = {"openai": OPENAI_MAPPING, "gemini": GEMINI_MAPPING, "anthropic": ANTHROPIC_MAPPING}
OTHERS = ["openai", "gemini"]


def anthropic_body(**fields: Any) -> WireRequest:
    body = {
        "model": "gemini-2.5-flash",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "hi"}],
        **fields,
    }
    return WireRequest(body, "gemini-2.5-flash")


def to_node(name: str, **fields: Any) -> dict[str, Any]:
    node = MAPPINGS[name]
    return dict(translate_request(ANTHROPIC_MAPPING, node, anthropic_body(**fields))[1].body)


# ---- requests ------------------------------------------------------------------------


def test_an_anthropic_request_reaches_gemini() -> None:
    body = to_node(
        "gemini",
        system=[{"type": "text", "text": "Be brief."}],
        thinking={"type": "enabled", "budget_tokens": 2048},
        stop_sequences=["END"],
        top_k=5,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"},
                    },
                    {
                        "type": "document",
                        "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                    },
                ],
            }
        ],
    )
    assert body == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "What is this?"},
                    {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
                    {"inlineData": {"mimeType": "text/plain", "data": "bm90ZXM="}},
                ],
            }
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
        "generationConfig": {
            "maxOutputTokens": 100,
            "topK": 5,
            "stopSequences": ["END"],
            "thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True},
        },
    }


def test_an_anthropic_tool_conversation_reaches_openai() -> None:
    body = to_node(
        "openai",
        tools=[{"name": "get_weather", "input_schema": {"type": "object"}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        metadata={"user_id": "u-1"},
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "call it", "signature": "c2ln"},
                    {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "no data"}],
                        "is_error": True,
                    },
                    {"type": "text", "text": "Try again"},
                ],
            },
        ],
    )
    assert body["messages"] == [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": "call it",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "Error: no data"},
        {"role": "user", "content": "Try again"},
    ]
    assert (body["tool_choice"], body["parallel_tool_calls"], body["user"]) == (
        "required",
        False,
        "u-1",
    )


@pytest.mark.parametrize(
    ("node", "fields", "field"),
    [
        ("gemini", {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}, None),
        (
            "openai",
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}],
                    },
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "tool_result",
                                "tool_use_id": "t",
                                "content": [
                                    {
                                        "type": "image",
                                        "source": {"type": "url", "url": "https://x.example/a.png"},
                                    }
                                ],
                            }
                        ],
                    },
                ]
            },
            "messages[].content[].content",
        ),
    ],
)
def test_what_the_node_cannot_express_is_a_400_naming_the_anthropic_field(
    node: str, fields: dict[str, Any], field: str | None
) -> None:
    with pytest.raises(UnsupportedField) as caught:
        to_node(node, **fields)
    assert caught.value.field == (field or "tool_choice.disable_parallel_tool_use")


@pytest.mark.parametrize(
    ("source", "wire", "field"),
    [
        (
            "openai",
            WireRequest(
                {"model": "m", "messages": [{"role": "user", "content": "x"}], "n": 2}, "m"
            ),
            "n",
        ),
        (
            "openai",
            WireRequest(
                {"model": "m", "messages": [{"role": "user", "content": "x"}], "seed": 1}, "m"
            ),
            "seed",
        ),
        (
            "openai",
            WireRequest(
                {
                    "model": "m",
                    "messages": [{"role": "user", "content": "x"}],
                    "response_format": {"type": "json_object"},
                },
                "m",
            ),
            "response_format",
        ),
        (
            "gemini",
            WireRequest(
                {
                    "contents": [
                        {"parts": [{"inlineData": {"mimeType": "audio/wav", "data": "AAAA"}}]}
                    ],
                    "generationConfig": {"presencePenalty": 0.5},
                },
                "m",
            ),
            "generationConfig.presencePenalty",
        ),
        (
            "gemini",
            WireRequest(
                {
                    "contents": [
                        {"parts": [{"inlineData": {"mimeType": "audio/wav", "data": "AA"}}]}
                    ]
                },
                "m",
            ),
            "contents[].parts[]",
        ),
    ],
)
def test_what_anthropic_cannot_express_is_a_400_naming_the_clients_field(
    source: str, wire: WireRequest, field: str
) -> None:
    with pytest.raises(UnsupportedField) as caught:
        translate_request(MAPPINGS[source], ANTHROPIC_MAPPING, wire)
    assert caught.value.field == field


def test_an_openai_request_reaches_an_anthropic_node() -> None:
    wire = WireRequest(
        {
            "model": "claude-sonnet-4-5",
            "messages": [
                {"role": "system", "content": "sys"},
                {"role": "user", "content": "hi"},
                {"role": "assistant", "content": "hello", "reasoning_content": "unsigned"},
                {"role": "user", "content": "more"},
            ],
            "max_completion_tokens": 3000,
            "reasoning_effort": "low",
            "temperature": 0.2,
            "user": "u",
            "stream": True,
        },
        "claude-sonnet-4-5",
    )
    _, node = translate_request(OPENAI_MAPPING, ANTHROPIC_MAPPING, wire)
    assert node.body == {
        "model": "claude-sonnet-4-5",
        "max_tokens": 3000,
        "system": "sys",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "hello"}]},
            {"role": "user", "content": [{"type": "text", "text": "more"}]},
        ],
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "metadata": {"user_id": "u"},
        "stream": True,
    }  # no temperature: Anthropic takes none with thinking on
    assert node.stream is True


# ---- answers, errors -----------------------------------------------------------------

GEMINI_ANSWER = {
    "candidates": [
        {
            "content": {
                "parts": [
                    {"text": "plan", "thought": True},
                    {"text": "Checking."},
                    {
                        "functionCall": {"name": "lookup", "args": {"q": 1}},
                        "thoughtSignature": "U0lH",
                    },
                ]
            },
            "finishReason": "STOP",
        }
    ],
    "usageMetadata": {
        "promptTokenCount": 10,
        "candidatesTokenCount": 3,
        "thoughtsTokenCount": 4,
        "cachedContentTokenCount": 6,
    },
    "responseId": "resp9",
    "modelVersion": "gemini-2.5-flash",
}


def test_a_gemini_answer_reaches_an_anthropic_client() -> None:
    from anthropic.types import Message

    _, data = translate_response(ANTHROPIC_MAPPING, GEMINI_MAPPING, GEMINI_ANSWER, CTX)
    message = Message.model_validate(orjson.loads(data))
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    assert message.stop_reason == "tool_use" and message.id == "resp9"
    usage = message.usage
    assert (usage.input_tokens, usage.cache_read_input_tokens, usage.output_tokens) == (4, 6, 7)
    assert usage.output_tokens_details is not None
    assert usage.output_tokens_details.thinking_tokens == 4


def test_gemini_call_signatures_survive_a_round_trip_through_an_anthropic_client() -> None:
    """The answer's tool_use id carries the signature; the client's next request (the
    call echoed, its result) reaches Gemini with the signature on the call again."""
    _, data = translate_response(ANTHROPIC_MAPPING, GEMINI_MAPPING, GEMINI_ANSWER, CTX)
    answer = orjson.loads(data)
    call = answer["content"][2]
    follow_up = anthropic_body(
        messages=[
            {"role": "user", "content": "look it up"},
            {"role": "assistant", "content": answer["content"]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": call["id"], "content": "7"}],
            },
        ]
    )
    _, node = translate_request(ANTHROPIC_MAPPING, GEMINI_MAPPING, follow_up)
    model_turn, result_turn = node.body["contents"][1:]
    assert model_turn["parts"][-1] == {
        "functionCall": {"name": "lookup", "args": {"q": 1}},
        "thoughtSignature": "U0lH",
    }
    assert result_turn["parts"] == [
        {"functionResponse": {"name": "lookup", "response": {"content": "7"}}}
    ]
    _, openai = translate_request(ANTHROPIC_MAPPING, OPENAI_MAPPING, follow_up)
    assert openai.body["messages"][1]["tool_calls"][0]["extra_content"] == {
        "google": {"thought_signature": "U0lH"}
    }
    assert (
        openai.body["messages"][2]["tool_call_id"]
        == openai.body["messages"][1]["tool_calls"][0]["id"]
    )


def test_gemini_call_signatures_survive_a_streamed_round_trip() -> None:
    stream = StreamTranslation.between(ANTHROPIC_MAPPING, GEMINI_MAPPING, CTX, include_usage=True)
    data = stream.feed(GEMINI_ANSWER) + stream.end()
    starts = [d for name, d in anthropic_events(data) if name == "content_block_start"]
    tool = next(s["content_block"] for s in starts if s["content_block"]["type"] == "tool_use")
    follow_up = anthropic_body(
        messages=[
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{**tool, "input": {"q": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool["id"]}]},
        ]
    )
    _, node = translate_request(ANTHROPIC_MAPPING, GEMINI_MAPPING, follow_up)
    assert node.body["contents"][1]["parts"][0]["thoughtSignature"] == "U0lH"


def test_an_anthropic_answer_reaches_openai_and_gemini_clients() -> None:
    answer = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5",
        "content": [
            {"type": "thinking", "thinking": "hmm", "signature": "EqoB"},
            {"type": "text", "text": "Stopped at"},
        ],
        "stop_reason": "stop_sequence",
        "stop_sequence": "END",
        "usage": {
            "input_tokens": 5,
            "output_tokens": 9,
            "cache_read_input_tokens": 20,
            "cache_creation_input_tokens": 3,
        },
    }
    _, data = translate_response(OPENAI_MAPPING, ANTHROPIC_MAPPING, answer, CTX)
    body = orjson.loads(data)
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Stopped at",
        "reasoning_content": "hmm",
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["prompt_tokens"] == 28  # Anthropic's input excludes the cache
    assert body["usage"]["prompt_tokens_details"] == {"cached_tokens": 20}
    assert body["usage"]["completion_tokens"] == 9
    _, data = translate_response(GEMINI_MAPPING, ANTHROPIC_MAPPING, answer, CTX)
    gemini = orjson.loads(data)
    assert gemini["candidates"][0]["content"]["parts"] == [
        {"text": "hmm", "thought": True, "thoughtSignature": "EqoB"},
        {"text": "Stopped at"},
    ]
    assert gemini["usageMetadata"]["promptTokenCount"] == 28


@pytest.mark.parametrize(
    ("node", "status", "body", "kind", "anthropic_type"),
    [
        (
            "gemini",
            429,
            {"error": {"code": 429, "message": "q", "status": "RESOURCE_EXHAUSTED"}},
            chat_answer.ErrorKind.RATE_LIMIT,
            "rate_limit_error",
        ),
        (
            "gemini",
            503,
            {"error": {"code": 503, "message": "busy", "status": "UNAVAILABLE"}},
            chat_answer.ErrorKind.OVERLOADED,
            "overloaded_error",
        ),
        (
            "openai",
            401,
            {"error": {"message": "key", "type": "authentication_error"}},
            chat_answer.ErrorKind.AUTHENTICATION,
            "authentication_error",
        ),
        (
            "openai",
            404,
            {
                "error": {
                    "message": "no model",
                    "type": "invalid_request_error",
                    "code": "model_not_found",
                }
            },
            chat_answer.ErrorKind.INVALID_REQUEST,
            "invalid_request_error",
        ),
        ("openai", 500, None, chat_answer.ErrorKind.SERVER, "api_error"),
    ],
)
def test_node_errors_reach_an_anthropic_client_in_its_shape(
    node: str, status: int, body: Any, kind: chat_answer.ErrorKind, anthropic_type: str
) -> None:
    error, data = translate_error(ANTHROPIC_MAPPING, MAPPINGS[node], status, body, "req_1")
    assert error.kind is kind
    decoded = orjson.loads(data)
    assert decoded["type"] == "error" and decoded["request_id"] == "req_1"
    assert decoded["error"]["type"] == anthropic_type


@pytest.mark.parametrize(
    ("client", "status", "expected"),
    [
        ("openai", 529, ("server_error", "service_unavailable")),
        ("gemini", 529, ("UNAVAILABLE", None)),
        ("gemini", 413, ("INVALID_ARGUMENT", None)),
        ("gemini", 403, ("PERMISSION_DENIED", None)),
    ],
)
def test_anthropic_node_errors_reach_other_clients(
    client: str, status: int, expected: tuple[str, str | None]
) -> None:
    types = {529: "overloaded_error", 413: "request_too_large", 403: "permission_error"}
    body = {"type": "error", "error": {"type": types[status], "message": "m"}, "request_id": "r"}
    error_ir, data = translate_error(MAPPINGS[client], ANTHROPIC_MAPPING, status, body, "t")
    assert error_ir.status == (503 if status == 529 else status)  # other SDKs know no 529
    error = orjson.loads(data)["error"]
    if client == "openai":
        assert (error["type"], error["code"]) == expected
    else:
        assert error["status"] == expected[0] and error["message"] == "m"


# ---- properties ----------------------------------------------------------------------


@props.PROPERTY
@given(request=anthropic_requests(), target=st.sampled_from(OTHERS))
def test_an_anthropic_request_translated_there_and_back_keeps_its_meaning(
    request: Any, target: str
) -> None:
    node_mapping = MAPPINGS[target]
    client = ANTHROPIC_MAPPING.decode_request(ANTHROPIC_MAPPING.encode_request(request))
    try:
        _, node = translate_request(
            ANTHROPIC_MAPPING, node_mapping, ANTHROPIC_MAPPING.encode_request(client)
        )
    except UnsupportedField as refused:  # only what the tables say the node cannot take
        assert refused.field in ANTHROPIC_MAPPING.field_of_feature.values()
        return
    assert normal(node_mapping.decode_request(node)) == normal(client)


@props.PROPERTY
@given(request=anthropic_requests(node=True), source=st.sampled_from(OTHERS))
def test_a_request_to_an_anthropic_node_keeps_its_meaning(request: Any, source: str) -> None:
    client_mapping = MAPPINGS[source]
    client = client_mapping.decode_request(client_mapping.encode_request(request))
    _, node = translate_request(
        client_mapping, ANTHROPIC_MAPPING, client_mapping.encode_request(client)
    )
    sdk_params(node.body)  # the anthropic SDK's own request types take the body
    back = ANTHROPIC_MAPPING.decode_request(node)
    assert normal(back) == normal(client, signed_reasoning_only=True)


@functools.cache
def _request_type(stream: bool) -> TypeAdapter[Any]:
    from anthropic.types.message_create_params import (
        MessageCreateParamsNonStreaming,
        MessageCreateParamsStreaming,
    )

    return TypeAdapter(MessageCreateParamsStreaming if stream else MessageCreateParamsNonStreaming)


def sdk_params(body: Any) -> Any:
    """The body read by the anthropic SDK's request type (its lists validate lazily:
    every item is read here, while the adapter lives: pydantic-core panics otherwise)."""
    return _every_item(_request_type(bool(body.get("stream"))).validate_python(body))


def _every_item(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _every_item(item) for key, item in value.items()}
    if isinstance(value, list | tuple | Iterator):
        return [_every_item(item) for item in value]
    return value


TYPES = ["text", "image", "document", "tool_use", "tool_result", "thinking", "base64", "url"]
TYPES += ["redacted_thinking", "message_start", "content_block_start", "content_block_delta"]
TYPES += ["content_block_stop", "message_delta", "message_stop", "error", "text_delta"]
TYPES += ["input_json_delta", "thinking_delta", "signature_delta", "enabled", "adaptive"]
TYPES += ["auto", "any", "tool", "none", "content", "disabled", "json_schema"]
KEYS = ["model", "max_tokens", "messages", "role", "content", "system", "type", "text"]
KEYS += ["source", "media_type", "data", "url", "id", "name", "input", "tool_use_id"]
KEYS += ["is_error", "thinking", "signature", "tools", "input_schema", "tool_choice"]
KEYS += ["budget_tokens", "output_config", "effort", "format", "schema", "stop_sequences"]
KEYS += ["message", "index", "content_block", "delta", "partial_json", "stop_reason", "usage"]
KEYS += ["input_tokens", "output_tokens", "cache_read_input_tokens", "error", "metadata"]


def anthropic_json() -> st.SearchStrategy[Any]:
    return props.json_values(KEYS) | st.dictionaries(
        st.sampled_from(KEYS), props.json_values(KEYS) | st.sampled_from(TYPES), max_size=6
    )


@props.PROPERTY
@given(document=anthropic_json(), target=st.sampled_from(OTHERS))
def test_hostile_anthropic_requests_get_a_400_or_a_translation(document: Any, target: str) -> None:
    try:
        translate_request(ANTHROPIC_MAPPING, MAPPINGS[target], WireRequest(document, "m"))
    except InvalidRequest as exc:
        assert exc.status == 400
    try:
        decode_count_tokens_request(WireRequest(document, "m"))
    except InvalidRequest as exc:
        assert exc.status == 400


@props.PROPERTY
@given(query=st.dictionaries(st.sampled_from(["limit", "after_id", "before_id"]), TEXT))
def test_hostile_model_list_queries_get_a_400_or_a_page(query: dict[str, str]) -> None:
    models = [model_info(name, 0) for name in ("a", "b", "c")]
    try:
        page = model_page(models, **query)
    except InvalidRequest as exc:
        assert exc.status == 400
    else:
        assert len(page["data"]) <= 3


@props.PROPERTY
@given(document=anthropic_json())
def test_any_anthropic_node_answer_is_translated_or_a_502(document: Any) -> None:
    for client in MAPPINGS.values():
        props.check_any_answer(client, ANTHROPIC_MAPPING, document, CTX)


@props.PROPERTY
@given(document=anthropic_json(), node=st.sampled_from(OTHERS))
def test_any_other_node_answer_reaches_an_anthropic_client_or_is_a_502(
    document: Any, node: str
) -> None:
    try:
        translate_response(ANTHROPIC_MAPPING, MAPPINGS[node], document, CTX)
    except UntranslatableAnswer as exc:
        assert exc.status == 502
    stream = StreamTranslation.between(ANTHROPIC_MAPPING, MAPPINGS[node], CTX, include_usage=True)
    out = stream.feed(document) + stream.feed(document) + stream.end()
    assert read_anthropic(out).done or b"event: error" in out


@props.PROPERTY
@given(
    **props.STREAM_PIECES,
    pair=st.sampled_from([("anthropic", n) for n in OTHERS] + [(c, "anthropic") for c in OTHERS]),
    interleave=st.booleans(),
)
def test_any_stream_split_reaches_the_client_whole(
    text: list[str],
    reasoning: list[str],
    calls: list[Any],
    usage: chat_answer.TokenUsage,
    pair: tuple[str, str],
    interleave: bool,
) -> None:
    client, node = MAPPINGS[pair[0]], MAPPINGS[pair[1]]
    node_encoder = node.stream_encoder(include_usage=True)
    events = props.node_events(
        text,
        reasoning,
        calls,
        usage,
        signature="c2lnbmVk",
        split_text=True,
        interleave=interleave and node is OPENAI_MAPPING,
    )
    wire = b"".join(node_encoder.encode(e) for e in events)
    stream = StreamTranslation.between(client, node, CTX, include_usage=True)
    out = props.relay(stream, wire)
    if client is ANTHROPIC_MAPPING:
        seen = read_anthropic(out)
        assert seen.finish == ("tool_use" if calls else "end_turn")
        assert seen.usage is not None
        assert seen.usage["output_tokens"] == usage.completion + usage.reasoning
    elif client is OPENAI_MAPPING:
        seen = read_openai(out)
        assert seen.finish == ("tool_calls" if calls else "stop")
    else:
        seen = read_gemini(out, json_array=False)
    assert (seen.text, seen.reasoning, seen.calls) == ("".join(text), "".join(reasoning), calls)
    assert seen.done
    assert stream.usage == usage


MANUAL = Path(__file__).resolve().parents[2] / "docs" / "translation.md"


def test_the_manual_lists_every_anthropic_field_not_translated() -> None:
    manual = MANUAL.read_text()
    for rule in ANTHROPIC_MAPPING.request_fields:
        fate = "dropped" if rule.fate.value == "dropped" else "400"
        assert f"| `{rule.field}` | {fate} | {rule.why}" in manual, rule
