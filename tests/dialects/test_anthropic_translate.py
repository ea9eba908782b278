"""Tables of the Anthropic Messages mapping: requests, refusals, thinking per model,
answers, stop reasons, usage, streams, errors, count_tokens and the model list. Every
answer, stream event and error body the encoders write is read by the anthropic SDK's
own types (and, through an in-process transport, by its client and stream reader)."""

from __future__ import annotations

import base64
from typing import Any

import httpx2
import orjson
import pytest
from anthropic import Anthropic
from anthropic.types import Message, MessageTokensCount, ModelInfo, RawMessageStreamEvent
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter

from router.dialects.anthropic_models import model_info, model_page
from router.dialects.anthropic_translate import ANTHROPIC_MAPPING, encode_token_count
from router.dialects.anthropic_translate_content import id_with_signature, split_signature
from router.dialects.anthropic_translate_errors import (
    PING_EVENT,
    chat_error,
    client_status,
    error_event,
    router_error_body,
)
from router.dialects.anthropic_translate_request import decode_count_tokens_request
from router.dialects.anthropic_translate_thinking import uses_adaptive_thinking
from router.dialects.chat import (
    ChatRequest,
    Generation,
    MediaKind,
    MediaPart,
    Reasoning,
    ReasoningEffort,
    ReasoningPart,
    RedactedReasoningPart,
    ResponseFormat,
    ResponseFormatKind,
    Role,
    TextPart,
    Tool,
    ToolCallPart,
    ToolChoice,
    ToolChoiceMode,
    ToolResultPart,
    WireRequest,
)
from router.dialects.chat import (
    Message as IRMessage,
)
from router.dialects.chat_answer import (
    AnswerContext,
    ChatError,
    ChatResponse,
    Choice,
    ErrorKind,
    Finish,
    FinishReason,
    MediaOutput,
    ReasoningDelta,
    RedactedReasoning,
    StreamEnd,
    StreamError,
    StreamStart,
    TextDelta,
    TokenUsage,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    UsageReport,
)
from router.dialects.chat_wire import Feature, Unexpressible
from router.errors import InvalidRequest, InvalidToken, NoAvailableNode, UnsupportedField
from tests.support.translation import anthropic_events, read_anthropic

CTX = AnswerContext("router-1", "model-x", 100)
EVENT = TypeAdapter(RawMessageStreamEvent)
USER = IRMessage(Role.USER, (TextPart("hi"),))


def decode(**fields: Any) -> ChatRequest:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    return ANTHROPIC_MAPPING.decode_request(WireRequest({**body, **fields}, "m"))


def encode(request: ChatRequest) -> dict[str, Any]:
    return dict(ANTHROPIC_MAPPING.encode_request(request).body)


def request(*messages: IRMessage, model: str = "claude-sonnet-4-5", **fields: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=messages or (USER,), **fields)


# ---- requests: wire -> IR ------------------------------------------------------------


def test_system_as_a_string_as_blocks_and_as_messages() -> None:
    blocks = [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]
    assert decode(system="s").messages[0] == IRMessage(Role.SYSTEM, (TextPart("s"),))
    assert decode(system=blocks).messages[0] == IRMessage(Role.SYSTEM, (TextPart("a"),))
    messages = [{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}]
    assert decode(messages=messages).messages[0] == IRMessage(Role.SYSTEM, (TextPart("x"),))


def test_user_blocks_media_and_tool_results_in_order() -> None:
    pdf = {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}
    messages = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "t", "signature": "S1"},
                {"type": "redacted_thinking", "data": "R"},
                {"type": "text", "text": "calling"},
                {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"b": 2, "a": 1}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_9",
                    "content": [
                        {"type": "text", "text": "out"},
                        {
                            "type": "image",
                            "source": {"type": "url", "url": "https://x.example/a.png"},
                        },
                    ],
                    "is_error": True,
                },
                {
                    "type": "document",
                    "source": pdf,
                    "title": "spec.pdf",
                    "citations": {"enabled": True},
                },
                {"type": "document", "source": {"type": "url", "url": "https://x.example/doc"}},
                {
                    "type": "document",
                    "source": {"type": "content", "content": [{"type": "text", "text": "c"}]},
                },
            ],
        },
    ]
    got = decode(messages=messages).messages
    assert got[1] == IRMessage(
        Role.ASSISTANT,
        (
            ReasoningPart("t", "S1"),
            RedactedReasoningPart("R"),
            TextPart("calling"),
            ToolCallPart("toolu_9", "f", '{"b":2,"a":1}'),
        ),
    )
    image = MediaPart(MediaKind.IMAGE, "image/png", url="https://x.example/a.png")
    assert got[2] == IRMessage(
        Role.TOOL, (ToolResultPart("toolu_9", (TextPart("out"), image), "f", True),)
    )
    assert got[3] == IRMessage(
        Role.USER,
        (
            MediaPart(MediaKind.DOCUMENT, "application/pdf", "JVBE", filename="spec.pdf"),
            MediaPart(MediaKind.DOCUMENT, "application/pdf", url="https://x.example/doc"),
            TextPart("c"),
        ),
    )


def test_generation_tools_and_choices() -> None:
    got = decode(
        temperature=0.3,
        top_p=0.9,
        top_k=7,
        stop_sequences=["x"],
        metadata={"user_id": "u"},
        stream=True,
        tools=[
            {"name": "f", "description": "d", "input_schema": {"type": "object"}, "strict": True}
        ],
        tool_choice={"type": "tool", "name": "f", "disable_parallel_tool_use": True},
        output_config={"format": {"type": "json_schema", "schema": {"type": "object"}}},
    )
    assert got.generation == Generation(
        max_output_tokens=10,
        temperature=0.3,
        top_p=0.9,
        top_k=7,
        stop=("x",),
        response_format=ResponseFormat(ResponseFormatKind.JSON_SCHEMA, schema={"type": "object"}),
    )
    assert got.tools == (Tool("f", "d", {"type": "object"}, True),)
    assert got.tool_choice == ToolChoice(ToolChoiceMode.REQUIRED, ("f",), False)
    assert (got.user, got.stream, got.stream_usage) == ("u", True, True)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, ToolChoice(ToolChoiceMode.AUTO)),
        ({"type": "any"}, ToolChoice(ToolChoiceMode.REQUIRED)),
        ({"type": "none"}, ToolChoice(ToolChoiceMode.NONE)),
        ({"type": "auto", "disable_parallel_tool_use": True}, ToolChoice(parallel=False)),
        ({"type": "any", "disable_parallel_tool_use": False}, ToolChoice(ToolChoiceMode.REQUIRED)),
    ],
)
def test_tool_choices(choice: dict[str, Any], expected: ToolChoice) -> None:
    assert decode(tool_choice=choice).tool_choice == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, Reasoning()),
        ({"thinking": {"type": "enabled", "budget_tokens": 2000}}, Reasoning(None, 2000, True)),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2000, "display": "omitted"}},
            Reasoning(None, 2000, False),
        ),
        ({"thinking": {"type": "disabled"}}, Reasoning(ReasoningEffort.NONE)),
        ({"thinking": {"type": "adaptive"}}, Reasoning(include_thoughts=True)),
        (
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}},
            Reasoning(ReasoningEffort.XHIGH, None, True),
        ),
        ({"output_config": {"effort": "low"}}, Reasoning(ReasoningEffort.LOW)),
    ],
)
def test_thinking_settings(fields: dict[str, Any], expected: Reasoning) -> None:
    assert decode(**fields).reasoning == expected


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"container": "c1"}, "container"),
        ({"mcp_servers": [{"type": "url"}]}, "mcp_servers"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "tools[0].type"),
        (
            {"tools": [{"name": "f", "input_schema": {}, "defer_loading": True}]},
            "tools[0].defer_loading",
        ),
        (
            {"tools": [{"name": "f", "allowed_callers": ["code_execution_20250825"]}]},
            "tools[0].allowed_callers",
        ),
        ({"thinking": {"type": "between_tools"}}, "thinking.type"),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "image", "source": {"type": "file", "file_id": "f"}}],
                    }
                ]
            },
            "messages[0].content[0].source.file_id",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {
                                "type": "document",
                                "context": "x",
                                "source": {"type": "text", "data": "d"},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].context",
        ),
        (
            {
                "messages": [
                    {
                        "role": "assistant",
                        "content": [
                            {
                                "type": "server_tool_use",
                                "id": "s",
                                "name": "web_search",
                                "input": {},
                            }
                        ],
                    }
                ]
            },
            "messages[0].content[0].type",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [{"type": "web_search_tool_result", "tool_use_id": "s"}],
                    }
                ]
            },
            "messages[0].content[0].type",
        ),
    ],
)
def test_what_cannot_be_translated_is_refused_by_name(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(UnsupportedField) as caught:
        decode(**fields)
    assert caught.value.field == field and caught.value.status == 400


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"model": "m", "messages": [{"role": "user", "content": "x"}]},
            "'max_tokens' is required",
        ),
        (
            {"model": "m", "max_tokens": 0, "messages": [{"role": "user", "content": "x"}]},
            "'max_tokens' must be an integer >= 1",
        ),
        ({"model": "m", "max_tokens": 5, "messages": []}, "'messages' must not be empty"),
        (
            {"model": "m", "max_tokens": 5, "messages": [{"role": "bot", "content": "x"}]},
            "'messages[0].role' must be user, assistant or system",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [
                    {"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "f"}]}
                ],
            },
            "is not a content block of a user message",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "tool_choice": {"type": "all"},
            },
            "'tool_choice.type' must be auto, any, tool or none",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": "x"}],
                "thinking": {"type": "enabled"},
            },
            "'thinking.budget_tokens' is required",
        ),
        (
            {
                "model": "m",
                "max_tokens": 5,
                "messages": [{"role": "user", "content": [{"type": "text"}]}],
            },
            "'messages[0].content[0].text' is required",
        ),
    ],
)
def test_invalid_requests_name_the_field(body: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        ANTHROPIC_MAPPING.decode_request(WireRequest(body, "m"))
    assert message in caught.value.message


def test_count_tokens_requests_need_no_max_tokens() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "system": "s"}
    got = decode_count_tokens_request(WireRequest(body, "m"))
    assert got.generation.max_output_tokens is None and len(got.messages) == 2
    assert MessageTokensCount.model_validate(encode_token_count(42)).input_tokens == 42


# ---- requests: IR -> wire ------------------------------------------------------------


def test_a_conversation_for_an_anthropic_node() -> None:
    got = encode(
        request(
            IRMessage(Role.SYSTEM, (TextPart("one"),)),
            IRMessage(Role.USER, (TextPart("q"), TextPart(""))),
            IRMessage(Role.SYSTEM, (TextPart("two"),)),
            IRMessage(
                Role.ASSISTANT,
                (
                    ReasoningPart("unsigned"),
                    ReasoningPart("signed", "S"),
                    RedactedReasoningPart("R"),
                    ToolCallPart("functions.f:0", "f", '{"a":1}', signature="gemini-sig"),
                ),
            ),
            IRMessage(Role.TOOL, (ToolResultPart("functions.f:0", (TextPart("1"),), "f", True),)),
            IRMessage(Role.USER, (TextPart("thanks"),)),
        )
    )
    assert got["system"] == [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]
    assert got["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "q"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "signed", "signature": "S"},
                {"type": "redacted_thinking", "data": "R"},
                {"type": "tool_use", "id": "functions_f_0", "name": "f", "input": {"a": 1}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "functions_f_0",
                    "content": "1",
                    "is_error": True,
                },
                {"type": "text", "text": "thanks"},
            ],
        },
    ]
    assert got["max_tokens"] == 4096  # the client set no cap; Anthropic wants one


@pytest.mark.parametrize(
    ("media", "block"),
    [
        (
            MediaPart(MediaKind.IMAGE, "image/jpg", "AA=="),
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/jpeg", "data": "AA=="},
            },
        ),
        (
            MediaPart(MediaKind.IMAGE, None, url="https://x.example/i"),
            {"type": "image", "source": {"type": "url", "url": "https://x.example/i"}},
        ),
        (
            MediaPart(MediaKind.DOCUMENT, "application/pdf", "JVBE", filename="a.pdf"),
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                "title": "a.pdf",
            },
        ),
        (
            MediaPart(MediaKind.DOCUMENT, None, url="https://x.example/d.pdf"),
            {"type": "document", "source": {"type": "url", "url": "https://x.example/d.pdf"}},
        ),
        (
            MediaPart(
                MediaKind.DOCUMENT, "text/plain", base64.b64encode("héllo".encode()).decode()
            ),
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
            },
        ),
    ],
)
def test_media_anthropic_takes(media: MediaPart, block: dict[str, Any]) -> None:
    got = encode(request(IRMessage(Role.USER, (media,))))
    assert got["messages"][0]["content"] == [block]


@pytest.mark.parametrize(
    "media",
    [
        MediaPart(MediaKind.IMAGE, "image/heic", "AA=="),
        MediaPart(MediaKind.AUDIO, "audio/wav", "AA=="),
        MediaPart(MediaKind.VIDEO, "video/mp4", url="https://x.example/v.mp4"),
        MediaPart(MediaKind.DOCUMENT, "text/csv", "AA=="),
        MediaPart(MediaKind.DOCUMENT, "text/plain", "//8="),  # not UTF-8
    ],
)
def test_media_anthropic_cannot_take_is_unexpressible(media: MediaPart) -> None:
    with pytest.raises(Unexpressible) as caught:
        encode(request(IRMessage(Role.USER, (media,))))
    assert caught.value.feature is Feature.MEDIA_TYPE


@pytest.mark.parametrize(
    ("generation", "feature"),
    [
        (Generation(candidates=2), Feature.CANDIDATES),
        (Generation(seed=3), Feature.SEED),
        (Generation(presence_penalty=0.5), Feature.PRESENCE_PENALTY),
        (Generation(frequency_penalty=-1.0), Feature.FREQUENCY_PENALTY),
        (
            Generation(response_format=ResponseFormat(ResponseFormatKind.JSON_OBJECT)),
            Feature.JSON_OBJECT,
        ),
    ],
)
def test_settings_anthropic_cannot_express(generation: Generation, feature: Feature) -> None:
    with pytest.raises(Unexpressible) as caught:
        encode(request(generation=generation))
    assert caught.value.feature is feature


def test_sampling_and_what_changes_nothing() -> None:
    got = encode(
        request(
            generation=Generation(
                max_output_tokens=50,
                temperature=1.7,
                top_p=0.5,
                top_k=3,
                stop=("a",),
                candidates=1,
                presence_penalty=0.0,
                response_format=ResponseFormat(ResponseFormatKind.TEXT),
            ),
            tool_choice=ToolChoice(ToolChoiceMode.NONE),
            tools=(Tool("f"),),
        )
    )
    assert {k: v for k, v in got.items() if k not in ("model", "messages")} == {
        "max_tokens": 50,
        "temperature": 1.0,  # Anthropic's scale ends at 1
        "top_p": 0.5,
        "top_k": 3,
        "stop_sequences": ["a"],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "none"},
    }


@pytest.mark.parametrize(
    ("choice", "names", "expected"),
    [
        (ToolChoice(ToolChoiceMode.AUTO, ("g",)), ["g"], {"type": "auto"}),
        (
            ToolChoice(ToolChoiceMode.REQUIRED, ("f",), False),
            ["f", "g", "h"],
            {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
        ),
        (ToolChoice(ToolChoiceMode.REQUIRED, ("f", "g")), ["f", "g"], {"type": "any"}),
        (
            ToolChoice(parallel=False),
            ["f", "g", "h"],
            {"type": "auto", "disable_parallel_tool_use": True},
        ),
    ],
)
def test_tool_choices_for_a_node(choice: ToolChoice, names: list[str], expected: Any) -> None:
    got = encode(request(tools=(Tool("f"), Tool("g"), Tool("h")), tool_choice=choice))
    assert [t["name"] for t in got["tools"]] == names and got["tool_choice"] == expected


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("claude-opus-4-7", True),
        ("claude-sonnet-4-6", True),
        ("claude-sonnet-5", True),
        ("anthropic/claude-opus-4-8-20260101", True),
        ("claude-sonnet-4-5-20250929", False),
        ("claude-opus-4-20250514", False),
        ("claude-3-7-sonnet-20250219", False),
        ("claude-haiku-4-5", False),
        ("MiniMax-M2", False),
        ("gemini-2.5-flash", False),
    ],
)
def test_which_models_think_adaptively(model: str, expected: bool) -> None:
    assert uses_adaptive_thinking(model) is expected


def thinking_of(model: str, reasoning: Reasoning, **fields: Any) -> dict[str, Any]:
    got = encode(request(model=model, reasoning=reasoning, **fields))
    keys = ("max_tokens", "thinking", "output_config", "temperature", "top_p", "top_k")
    return {k: got[k] for k in keys if k in got}


LEGACY, ADAPTIVE = "claude-sonnet-4-5", "claude-opus-4-7"


@pytest.mark.parametrize(
    ("model", "reasoning", "generation", "expected"),
    [
        (
            LEGACY,
            Reasoning(ReasoningEffort.HIGH),
            Generation(),
            {"max_tokens": 24576 + 4096, "thinking": {"type": "enabled", "budget_tokens": 24576}},
        ),
        (
            LEGACY,
            Reasoning(budget_tokens=100),
            Generation(max_output_tokens=5000),
            {"max_tokens": 5000, "thinking": {"type": "enabled", "budget_tokens": 1024}},
        ),
        (
            LEGACY,
            Reasoning(budget_tokens=9000),
            Generation(max_output_tokens=5000),
            {"max_tokens": 5000, "thinking": {"type": "enabled", "budget_tokens": 4999}},
        ),
        (
            LEGACY,
            Reasoning(ReasoningEffort.LOW),
            Generation(max_output_tokens=1000),
            {"max_tokens": 1000},
        ),
        (
            LEGACY,
            Reasoning(include_thoughts=True),
            Generation(max_output_tokens=20000),
            {"max_tokens": 20000, "thinking": {"type": "enabled", "budget_tokens": 8192}},
        ),
        (
            LEGACY,
            Reasoning(budget_tokens=2000, include_thoughts=False),
            Generation(max_output_tokens=9000),
            {
                "max_tokens": 9000,
                "thinking": {"type": "enabled", "budget_tokens": 2000, "display": "omitted"},
            },
        ),
        (
            LEGACY,
            Reasoning(include_thoughts=False),
            Generation(max_output_tokens=9),
            {"max_tokens": 9},
        ),
        (
            LEGACY,
            Reasoning(ReasoningEffort.NONE),
            Generation(),
            {"max_tokens": 4096, "thinking": {"type": "disabled"}},
        ),
        (
            ADAPTIVE,
            Reasoning(budget_tokens=0),
            Generation(),
            {"max_tokens": 4096, "thinking": {"type": "disabled"}},
        ),
        (
            ADAPTIVE,
            Reasoning(ReasoningEffort.XHIGH, include_thoughts=True),
            Generation(),
            {
                "max_tokens": 4096,
                "thinking": {"type": "adaptive", "display": "summarized"},
                "output_config": {"effort": "max"},
            },
        ),
        (
            ADAPTIVE,
            Reasoning(budget_tokens=3000),
            Generation(max_output_tokens=100),
            {
                "max_tokens": 100,
                "thinking": {"type": "adaptive"},
                "output_config": {"effort": "medium"},
            },
        ),
        (
            ADAPTIVE,
            Reasoning(include_thoughts=False, effort=ReasoningEffort.MINIMAL),
            Generation(),
            {
                "max_tokens": 4096,
                "thinking": {"type": "adaptive", "display": "omitted"},
                "output_config": {"effort": "low"},
            },
        ),
        (
            LEGACY,
            Reasoning(ReasoningEffort.LOW),
            Generation(max_output_tokens=9000, temperature=0.2, top_p=0.5, top_k=4),
            {
                "max_tokens": 9000,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "top_p": 0.95,
            },
        ),
    ],
)
def test_thinking_per_model(
    model: str, reasoning: Reasoning, generation: Generation, expected: dict[str, Any]
) -> None:
    assert thinking_of(model, reasoning, generation=generation) == expected


def test_no_thinking_when_a_tool_call_is_forced_or_a_tool_turn_has_no_signed_thinking() -> None:
    forced = ToolChoice(ToolChoiceMode.REQUIRED, ("f",))
    effort = Reasoning(ReasoningEffort.HIGH)
    assert "thinking" not in thinking_of(ADAPTIVE, effort, tools=(Tool("f"),), tool_choice=forced)
    call = ToolCallPart("c1", "f", "{}")
    result = IRMessage(Role.TOOL, (ToolResultPart("c1", (TextPart("r"),), "f"),))
    unsigned = (USER, IRMessage(Role.ASSISTANT, (ReasoningPart("t"), call)), result)
    signed = (USER, IRMessage(Role.ASSISTANT, (ReasoningPart("t", "S"), call)), result)
    later = (*unsigned, IRMessage(Role.ASSISTANT, (TextPart("done"),)), USER)
    for messages, thinks in ((unsigned, False), (signed, True), (later, True)):
        got = encode(ChatRequest(LEGACY, messages, reasoning=effort))
        assert ("thinking" in got) is thinks, messages


def test_tool_arguments_that_are_no_object_cannot_be_sent() -> None:
    bad = IRMessage(Role.ASSISTANT, (ToolCallPart("c", "f", "[1]"),))
    with pytest.raises(Unexpressible) as caught:
        encode(request(USER, bad))
    assert caught.value.feature is Feature.CALL_ARGUMENTS


# ---- tool ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call_id", "signature"),
    [("call_1", "c2ln+/=="), ("toolu_01", None), ("x", "a__thought__b"), ("c", "ü")],
)
def test_signatures_ride_in_tool_ids_and_come_back(call_id: str, signature: str | None) -> None:
    tool_id = id_with_signature(call_id, signature)
    assert tool_id.replace("_", "").replace("-", "").isalnum()
    assert split_signature(tool_id) == (call_id, signature)


@pytest.mark.parametrize("tool_id", ["toolu_1", "a__thought__", "__thought__YQ", "a__thought__!!"])
def test_other_ids_are_ids(tool_id: str) -> None:
    assert split_signature(tool_id) == (tool_id, None)


# ---- answers -------------------------------------------------------------------------


def response(
    *parts: Any, reason: FinishReason | None = FinishReason.STOP, **kw: Any
) -> ChatResponse:
    choice = Choice(0, IRMessage(Role.ASSISTANT, parts), reason, kw.pop("sequence", None))
    return ChatResponse("id1", "m", 5, (choice,), kw.pop("usage", None))


def to_client(answer: ChatResponse) -> Message:
    return Message.model_validate(orjson.loads(ANTHROPIC_MAPPING.encode_response(answer)))


@pytest.mark.parametrize(
    ("answer", "stop", "sequence"),
    [
        (response(TextPart("a")), "end_turn", None),
        (response(TextPart("a"), reason=None), "end_turn", None),
        (response(reason=FinishReason.LENGTH), "max_tokens", None),
        (response(reason=FinishReason.STOP_SEQUENCE, sequence="##"), "stop_sequence", "##"),
        (response(reason=FinishReason.STOP_SEQUENCE), "end_turn", None),
        (response(reason=FinishReason.CONTENT_FILTER), "refusal", None),
        (response(ToolCallPart("c", "f", "{}"), reason=FinishReason.STOP), "tool_use", None),
        (response(reason=FinishReason.ERROR), "end_turn", None),
    ],
)
def test_stop_reasons_for_a_client(answer: ChatResponse, stop: str, sequence: str | None) -> None:
    message = to_client(answer)
    assert (message.stop_reason, message.stop_sequence) == (stop, sequence)


def test_an_answer_for_a_client_reads_as_the_sdks_message() -> None:
    image = MediaPart(MediaKind.IMAGE, "image/png", data="AA==")
    message = to_client(
        response(
            ReasoningPart("thought"),
            RedactedReasoningPart("R"),
            TextPart("hello"),
            image,
            ToolCallPart("c1", "f", "not json", "sig"),
            usage=TokenUsage(
                prompt=100, completion=7, reasoning=3, cached_prompt=60, cache_creation=10
            ),
        )
    )
    kinds = [(block.type, getattr(block, "signature", None)) for block in message.content]
    assert kinds == [
        ("thinking", ""),
        ("redacted_thinking", None),
        ("text", None),
        ("text", None),
        ("tool_use", None),
    ]
    assert message.content[3].text == "![image](data:image/png;base64,AA==)"  # type: ignore[union-attr]
    call = message.content[4]
    assert call.input == {"arguments": "not json"}  # type: ignore[union-attr]
    assert split_signature(call.id) == ("c1", "sig")  # type: ignore[union-attr]
    usage = message.usage
    assert (
        usage.input_tokens,
        usage.cache_read_input_tokens,
        usage.cache_creation_input_tokens,
    ) == (30, 60, 10)
    assert usage.output_tokens == 10


@pytest.mark.parametrize(
    ("stop", "reason"),
    [
        ("end_turn", FinishReason.STOP),
        ("max_tokens", FinishReason.LENGTH),
        ("stop_sequence", FinishReason.STOP_SEQUENCE),
        ("tool_use", FinishReason.TOOL_CALLS),
        ("refusal", FinishReason.CONTENT_FILTER),
        ("pause_turn", FinishReason.OTHER),
        ("model_context_window_exceeded", FinishReason.LENGTH),
        (None, None),
    ],
)
def test_a_nodes_answer_as_ir(stop: str | None, reason: FinishReason | None) -> None:
    answer = {
        "id": "msg_1",
        "model": "claude-x",
        "content": [
            {"type": "text", "text": "hi"},
            {"type": "thinking", "thinking": "t", "signature": "S"},
            {"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}},
            {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": 1}},
        ],
        "stop_reason": stop,
        "stop_sequence": "##" if stop == "stop_sequence" else None,
        "usage": {
            "input_tokens": 3,
            "output_tokens": 9,
            "cache_read_input_tokens": 4,
            "cache_creation_input_tokens": 5,
            "output_tokens_details": {"thinking_tokens": 6},
        },
    }
    got = ANTHROPIC_MAPPING.decode_response(answer, CTX)
    assert (got.id, got.model, got.created) == ("msg_1", "claude-x", 100)
    choice = got.choices[0]
    assert choice.message.parts == (
        TextPart("hi"),
        ReasoningPart("t", "S"),
        ToolCallPart("toolu_1", "f", '{"a":1}'),
    )
    assert (choice.finish_reason, choice.stop_sequence) == (reason, answer["stop_sequence"])
    assert got.usage == TokenUsage(
        prompt=12, completion=3, reasoning=6, cached_prompt=4, cache_creation=5
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
    {
        "type": "content_block_start",
        "index": 0,
        "content_block": {"type": "thinking", "thinking": "", "signature": ""},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "thinking_delta", "thinking": "hm"},
    },
    {
        "type": "content_block_delta",
        "index": 0,
        "delta": {"type": "signature_delta", "signature": "SIG"},
    },
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}},
    {"type": "content_block_stop", "index": 1},
    {
        "type": "content_block_start",
        "index": 2,
        "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": ""},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": '{"a":'},
    },
    {
        "type": "content_block_delta",
        "index": 2,
        "delta": {"type": "input_json_delta", "partial_json": "1}"},
    },
    {"type": "content_block_stop", "index": 2},
    {
        "type": "content_block_start",
        "index": 3,
        "content_block": {"type": "tool_use", "id": "toolu_2", "name": "g", "input": {}},
    },
    {"type": "content_block_stop", "index": 3},
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
        StreamStart("msg_7", "claude-x", 100),
        UsageReport(TokenUsage(prompt=7, completion=1, cached_prompt=2)),
        ReasoningDelta("hm"),
        ReasoningDelta("", signature="SIG"),
        TextDelta("Hi"),
        ToolCallStart(0, "toolu_1", "f"),
        ToolCallDelta(0, '{"a":'),
        ToolCallDelta(0, "1}"),
        ToolCallEnd(0),
        ToolCallStart(1, "toolu_2", "g"),
        ToolCallDelta(1, "{}"),  # a call without input has the empty object for arguments
        ToolCallEnd(1),
        Finish(FinishReason.TOOL_CALLS),
        UsageReport(TokenUsage(prompt=7, completion=30, cached_prompt=2)),
        StreamEnd(),
    ]


def test_a_nodes_mid_stream_error_and_a_cut_stream() -> None:
    decoder = ANTHROPIC_MAPPING.stream_decoder(CTX)
    events = decoder.feed(NODE_STREAM[0]) + decoder.feed(NODE_STREAM[9])
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    events += decoder.feed(error)
    assert events[-1] == StreamError(
        ChatError(503, "Overloaded", ErrorKind.OVERLOADED, "overloaded_error")
    )
    assert decoder.feed(NODE_STREAM[-1]) == [] and decoder.end() == []
    cut = ANTHROPIC_MAPPING.stream_decoder(CTX)
    events = cut.feed(NODE_STREAM[9]) + cut.end()  # the node vanished inside a tool call
    assert events[-3:] == [ToolCallDelta(0, "{}"), ToolCallEnd(0), StreamEnd()]


CLIENT_EVENTS = [
    StreamStart("id7", "m", 3),
    ReasoningDelta("think"),
    ReasoningDelta(" more", signature="c2ln"),
    RedactedReasoning("R"),
    TextDelta("Hel"),
    TextDelta("lo", signature="ignored"),
    ToolCallStart(0, "c0", "get_weather", signature="gsig"),
    ToolCallDelta(0, '{"city": '),
    TextDelta(" (held)"),  # text inside a call's block waits for the call's end
    ToolCallDelta(0, '"Paris"}'),
    ToolCallEnd(0),
    MediaOutput(MediaPart(MediaKind.IMAGE, "image/png", data="AA==")),
    TextDelta("other choice", choice=1),
    Finish(FinishReason.STOP),
    UsageReport(TokenUsage(prompt=4, completion=5, reasoning=6, cached_prompt=1)),
    StreamEnd(),
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


def sdk(handler: Any) -> Anthropic:
    """The anthropic SDK's client over an in-process transport: the SDK's own HTTP,
    SSE and error handling read the router's bytes, without a socket."""
    transport = httpx2.MockTransport(handler)
    return Anthropic(
        api_key="k",
        base_url="http://router.test",
        http_client=httpx2.Client(transport=transport),
        max_retries=0,
    )


def streamed(data: bytes) -> Anthropic:
    headers = {"content-type": "text/event-stream"}
    return sdk(lambda request: httpx2.Response(200, headers=headers, content=data))


ASK: dict[str, Any] = {
    "model": "m",
    "max_tokens": 10,
    "messages": [{"role": "user", "content": "q"}],
}


def test_the_sdks_stream_reader_assembles_the_final_message() -> None:
    data = PING_EVENT + stream_bytes(CLIENT_EVENTS)
    with streamed(data).messages.stream(**ASK) as stream:
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

    error = ChatError(529, "the node is overloaded", ErrorKind.OVERLOADED)
    data = stream_bytes(
        [StreamStart("i", "m", 1), TextDelta("par"), StreamError(error), StreamEnd()]
    )
    assert data.endswith(error_event(error, "req_9"))
    assert b"content_block_stop" in data  # the open block is closed before the error
    with (
        pytest.raises(anthropic.APIStatusError) as caught,
        streamed(data).messages.stream(**ASK) as stream,
    ):
        list(stream.text_stream)
    assert "the node is overloaded" in str(caught.value)


# ---- errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "kind", "anthropic_type", "sdk_error"),
    [
        (400, ErrorKind.INVALID_REQUEST, "invalid_request_error", "BadRequestError"),
        (401, ErrorKind.AUTHENTICATION, "authentication_error", "AuthenticationError"),
        (403, ErrorKind.PERMISSION, "permission_error", "PermissionDeniedError"),
        (404, ErrorKind.NOT_FOUND, "not_found_error", "NotFoundError"),
        (413, ErrorKind.REQUEST_TOO_LARGE, "request_too_large", "RequestTooLargeError"),
        (429, ErrorKind.RATE_LIMIT, "rate_limit_error", "RateLimitError"),
        (500, ErrorKind.SERVER, "api_error", "InternalServerError"),
        (504, ErrorKind.TIMEOUT, "timeout_error", "APIStatusError"),
        (503, ErrorKind.OVERLOADED, "overloaded_error", "OverloadedError"),
    ],
)
def test_errors_both_ways_and_the_sdks_class(
    status: int, kind: ErrorKind, anthropic_type: str, sdk_error: str
) -> None:
    import anthropic

    error = ChatError(status, "why", kind)
    body = orjson.loads(ANTHROPIC_MAPPING.encode_error(error, "req_1"))
    assert body == {
        "type": "error",
        "error": {"type": anthropic_type, "message": "why"},
        "request_id": "req_1",
    }
    if anthropic_type != "request_too_large":  # in Anthropic's docs, not in the SDK's types
        assert ErrorResponse.model_validate(body).request_id == "req_1"
    back = ANTHROPIC_MAPPING.decode_error(client_status(error), body)
    assert (back.kind, back.message) == (kind, "why")
    reply = sdk(lambda request: httpx2.Response(client_status(error), json=body))
    with pytest.raises(getattr(anthropic, sdk_error)) as caught:
        reply.messages.create(**ASK)
    assert caught.value.status_code == (529 if kind is ErrorKind.OVERLOADED else status)


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            402,
            {"type": "error", "error": {"type": "billing_error", "message": "pay"}},
            ErrorKind.INVALID_REQUEST,
        ),
        (
            529,
            {"type": "error", "error": {"type": "overloaded_error", "message": "o"}},
            ErrorKind.OVERLOADED,
        ),
        (500, "<html>bad gateway</html>", ErrorKind.SERVER),
        (404, {"error": "gone"}, ErrorKind.NOT_FOUND),
    ],
)
def test_node_errors_of_any_shape(status: int, body: Any, kind: ErrorKind) -> None:
    assert ANTHROPIC_MAPPING.decode_error(status, body).kind is kind


def test_the_routers_own_errors_and_events() -> None:
    body = orjson.loads(router_error_body(InvalidToken("invalid or missing API key"), "t1"))
    assert body["error"]["type"] == "authentication_error" and body["request_id"] == "t1"
    assert chat_error(NoAvailableNode("none")).kind is ErrorKind.OVERLOADED
    assert anthropic_events(PING_EVENT) == [("ping", {"type": "ping"})]
    ping_then_end = PING_EVENT + stream_bytes([StreamStart("i", "m", 1), StreamEnd()])
    with streamed(ping_then_end).messages.stream(**ASK) as stream:
        assert stream.get_final_message().content == []


def test_embeddings_are_a_400() -> None:
    from router.dialects.chat_answer import EmbeddingRequest

    with pytest.raises(UnsupportedField):
        ANTHROPIC_MAPPING.encode_embedding_request(EmbeddingRequest("m", ("a",)))


# ---- models --------------------------------------------------------------------------

MODELS = [model_info(f"m{i}", 1_700_000_000) for i in range(5)]


def test_a_model_reads_as_the_sdks_model_info() -> None:
    info = ModelInfo.model_validate(model_info("claude-x", 0, input_tokens=1000, output_tokens=64))
    assert (info.id, info.display_name, info.created_at.year) == ("claude-x", "claude-x", 1970)
    assert (info.max_input_tokens, info.max_tokens) == (1000, 64)


@pytest.mark.parametrize(
    ("query", "ids", "has_more"),
    [
        ({}, ["m0", "m1", "m2", "m3", "m4"], False),
        ({"limit": "2"}, ["m0", "m1"], True),
        ({"limit": "2", "after_id": "m1"}, ["m2", "m3"], True),
        ({"limit": "2", "after_id": "m2"}, ["m3", "m4"], False),
        ({"limit": "2", "before_id": "m3"}, ["m1", "m2"], True),
        ({"limit": "5", "before_id": "m2"}, ["m0", "m1"], False),
        ({"after_id": "m4"}, [], False),
    ],
)
def test_model_pages(query: dict[str, str], ids: list[str], has_more: bool) -> None:
    page = model_page(MODELS, **query)
    assert [m["id"] for m in page["data"]] == ids and page["has_more"] is has_more
    assert (page["first_id"], page["last_id"]) == ((ids[0], ids[-1]) if ids else (None, None))


@pytest.mark.parametrize(
    "query",
    [{"limit": "0"}, {"limit": "1001"}, {"limit": "x"}, {"limit": "²"}, {"after_id": "nope"}],
)
def test_bad_model_pages_are_a_400(query: dict[str, str]) -> None:
    with pytest.raises(InvalidRequest):
        model_page(MODELS, **query)


def test_the_sdk_lists_models() -> None:
    body = orjson.dumps(model_page(MODELS, limit="3"))
    client = sdk(
        lambda request: httpx2.Response(
            200, content=body, headers={"content-type": "application/json"}
        )
    )
    page = client.models.list(limit=3)
    assert [m.id for m in page.data] == ["m0", "m1", "m2"] and page.has_more


def test_what_claude_code_sends_is_read() -> None:
    """The fields Claude Code adds to its requests (seen by other gateways: context
    editing, diagnostics, cache scopes, eager tool streaming, tool references in tool
    results) are dropped, not refused."""
    cache = {"type": "ephemeral", "ttl": "1h", "scope": "global"}
    got = decode(
        system=[{"type": "text", "text": "You are Claude Code.", "cache_control": cache}],
        context_management={"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        diagnostics={"previous_message_id": "msg_1"},
        metadata={"user_id": "user_abc_account__session_1"},
        thinking={"type": "adaptive"},
        output_config={"effort": "high"},
        tools=[
            {
                "name": "Read",
                "description": "Read a file",
                "input_schema": {"type": "object", "properties": {"file_path": {"type": "string"}}},
                "eager_input_streaming": True,
                "cache_control": cache,
            }
        ],
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "read a", "cache_control": cache}],
            },
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [
                            {"type": "tool_reference", "tool_name": "Grep"},
                            {"type": "text", "text": "contents"},
                        ],
                    }
                ],
            },
        ],
    )
    assert got.messages[-1] == IRMessage(
        Role.TOOL, (ToolResultPart("toolu_1", (TextPart("contents"),), "Read"),)
    )
    assert got.reasoning == Reasoning(ReasoningEffort.HIGH, None, True)
    assert got.tools[0].name == "Read" and got.user == "user_abc_account__session_1"
