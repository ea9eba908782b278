"""Tables of the Anthropic Messages mapping's requests: what a client's request means
in the IR, refusals, what an Anthropic node is sent (thinking per model, media,
sampling, tool choices) and the thought signatures in tool ids."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from anthropic.types import MessageTokensCount

from router.dialects import chat
from router.dialects.anthropic.translate import ANTHROPIC_MAPPING, encode_token_count
from router.dialects.anthropic.translate_content import id_with_signature, split_signature
from router.dialects.anthropic.translate_request import decode_count_tokens_request
from router.dialects.anthropic.translate_thinking import uses_adaptive_thinking
from router.dialects.chat import (
    Message as IRMessage,
)
from router.dialects.chat_wire import Feature, Unexpressible
from router.errors import InvalidRequest
from tests.support.anthropic_events import USER
from tests.support.translation import refused_field


def decode(**fields: Any) -> chat.ChatRequest:
    body = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    return ANTHROPIC_MAPPING.decode_request(chat.WireRequest({**body, **fields}, "m"))


def encode(request: chat.ChatRequest) -> dict[str, Any]:
    return dict(ANTHROPIC_MAPPING.encode_request(request).body)


def request(
    *messages: IRMessage, model: str = "claude-sonnet-4-5", **fields: Any
) -> chat.ChatRequest:
    return chat.ChatRequest(model=model, messages=messages or (USER,), **fields)


# ---- requests: wire -> IR ------------------------------------------------------------


def test_system_as_a_string_as_blocks_and_as_messages() -> None:
    blocks = [{"type": "text", "text": "a", "cache_control": {"type": "ephemeral"}}]
    assert decode(system="s").messages[0] == IRMessage(chat.Role.SYSTEM, (chat.TextPart("s"),))
    assert decode(system=blocks).messages[0] == IRMessage(chat.Role.SYSTEM, (chat.TextPart("a"),))
    messages = [{"role": "system", "content": "x"}, {"role": "user", "content": "hi"}]
    assert decode(messages=messages).messages[0] == IRMessage(
        chat.Role.SYSTEM, (chat.TextPart("x"),)
    )


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
        chat.Role.ASSISTANT,
        (
            chat.ReasoningPart("t", "S1"),
            chat.RedactedReasoningPart("R"),
            chat.TextPart("calling"),
            chat.ToolCallPart("toolu_9", "f", '{"b":2,"a":1}'),
        ),
    )
    image = chat.MediaPart(chat.MediaKind.IMAGE, "image/png", url="https://x.example/a.png")
    assert got[2] == IRMessage(
        chat.Role.TOOL, (chat.ToolResultPart("toolu_9", (chat.TextPart("out"), image), "f", True),)
    )
    assert got[3] == IRMessage(
        chat.Role.USER,
        (
            chat.MediaPart(chat.MediaKind.DOCUMENT, "application/pdf", "JVBE", filename="spec.pdf"),
            chat.MediaPart(chat.MediaKind.DOCUMENT, "application/pdf", url="https://x.example/doc"),
            chat.TextPart("c"),
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
    assert got.generation == chat.Generation(
        max_output_tokens=10,
        temperature=0.3,
        top_p=0.9,
        top_k=7,
        stop=("x",),
        response_format=chat.ResponseFormat(
            chat.ResponseFormatKind.JSON_SCHEMA, schema={"type": "object"}
        ),
    )
    assert got.tools == (chat.Tool("f", "d", {"type": "object"}, True),)
    assert got.tool_choice == chat.ToolChoice(chat.ToolChoiceMode.REQUIRED, ("f",), False)
    assert (got.user, got.stream, got.stream_usage) == ("u", True, True)


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, chat.ToolChoice(chat.ToolChoiceMode.AUTO)),
        ({"type": "any"}, chat.ToolChoice(chat.ToolChoiceMode.REQUIRED)),
        ({"type": "none"}, chat.ToolChoice(chat.ToolChoiceMode.NONE)),
        ({"type": "auto", "disable_parallel_tool_use": True}, chat.ToolChoice(parallel=False)),
        (
            {"type": "any", "disable_parallel_tool_use": False},
            chat.ToolChoice(chat.ToolChoiceMode.REQUIRED),
        ),
    ],
)
def test_tool_choices(choice: dict[str, Any], expected: chat.ToolChoice) -> None:
    assert decode(tool_choice=choice).tool_choice == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, chat.Reasoning()),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2000}},
            chat.Reasoning(None, 2000, True),
        ),
        (
            {"thinking": {"type": "enabled", "budget_tokens": 2000, "display": "omitted"}},
            chat.Reasoning(None, 2000, False),
        ),
        ({"thinking": {"type": "disabled"}}, chat.Reasoning(chat.ReasoningEffort.NONE)),
        ({"thinking": {"type": "adaptive"}}, chat.Reasoning(include_thoughts=True)),
        (
            {"thinking": {"type": "adaptive"}, "output_config": {"effort": "max"}},
            chat.Reasoning(chat.ReasoningEffort.XHIGH, None, True),
        ),
        ({"output_config": {"effort": "low"}}, chat.Reasoning(chat.ReasoningEffort.LOW)),
    ],
)
def test_thinking_settings(fields: dict[str, Any], expected: chat.Reasoning) -> None:
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
    assert refused_field(lambda: decode(**fields)) == field


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
        ANTHROPIC_MAPPING.decode_request(chat.WireRequest(body, "m"))
    assert message in caught.value.message


def test_count_tokens_requests_need_no_max_tokens() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}], "system": "s"}
    got = decode_count_tokens_request(chat.WireRequest(body, "m"))
    assert got.generation.max_output_tokens is None and len(got.messages) == 2
    assert MessageTokensCount.model_validate(encode_token_count(42)).input_tokens == 42


# ---- requests: IR -> wire ------------------------------------------------------------


def test_a_conversation_for_an_anthropic_node() -> None:
    got = encode(
        request(
            IRMessage(chat.Role.SYSTEM, (chat.TextPart("one"),)),
            IRMessage(chat.Role.USER, (chat.TextPart("q"), chat.TextPart(""))),
            IRMessage(chat.Role.SYSTEM, (chat.TextPart("two"),)),
            IRMessage(
                chat.Role.ASSISTANT,
                (
                    chat.ReasoningPart("unsigned"),
                    chat.ReasoningPart("signed", "S"),
                    chat.RedactedReasoningPart("R"),
                    chat.ToolCallPart("functions.f:0", "f", '{"a":1}', signature="gemini-sig"),
                ),
            ),
            IRMessage(
                chat.Role.TOOL,
                (chat.ToolResultPart("functions.f:0", (chat.TextPart("1"),), "f", True),),
            ),
            IRMessage(chat.Role.USER, (chat.TextPart("thanks"),)),
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
            chat.MediaPart(chat.MediaKind.IMAGE, "image/jpg", "AA=="),
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/jpeg", "data": "AA=="},
            },
        ),
        (
            chat.MediaPart(chat.MediaKind.IMAGE, None, url="https://x.example/i"),
            {"type": "image", "source": {"type": "url", "url": "https://x.example/i"}},
        ),
        (
            chat.MediaPart(chat.MediaKind.DOCUMENT, "application/pdf", "JVBE", filename="a.pdf"),
            {
                "type": "document",
                "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                "title": "a.pdf",
            },
        ),
        (
            chat.MediaPart(chat.MediaKind.DOCUMENT, None, url="https://x.example/d.pdf"),
            {"type": "document", "source": {"type": "url", "url": "https://x.example/d.pdf"}},
        ),
        (
            chat.MediaPart(
                chat.MediaKind.DOCUMENT, "text/plain", base64.b64encode("héllo".encode()).decode()
            ),
            {
                "type": "document",
                "source": {"type": "text", "media_type": "text/plain", "data": "héllo"},
            },
        ),
    ],
)
def test_media_anthropic_takes(media: chat.MediaPart, block: dict[str, Any]) -> None:
    got = encode(request(IRMessage(chat.Role.USER, (media,))))
    assert got["messages"][0]["content"] == [block]


@pytest.mark.parametrize(
    "media",
    [
        chat.MediaPart(chat.MediaKind.IMAGE, "image/heic", "AA=="),
        chat.MediaPart(chat.MediaKind.AUDIO, "audio/wav", "AA=="),
        chat.MediaPart(chat.MediaKind.VIDEO, "video/mp4", url="https://x.example/v.mp4"),
        chat.MediaPart(chat.MediaKind.DOCUMENT, "text/csv", "AA=="),
        chat.MediaPart(chat.MediaKind.DOCUMENT, "text/plain", "//8="),  # not UTF-8
    ],
)
def test_media_anthropic_cannot_take_is_unexpressible(media: chat.MediaPart) -> None:
    with pytest.raises(Unexpressible) as caught:
        encode(request(IRMessage(chat.Role.USER, (media,))))
    assert caught.value.feature is Feature.MEDIA_TYPE


@pytest.mark.parametrize(
    ("generation", "feature"),
    [
        (chat.Generation(candidates=2), Feature.CANDIDATES),
        (chat.Generation(seed=3), Feature.SEED),
        (chat.Generation(presence_penalty=0.5), Feature.PRESENCE_PENALTY),
        (chat.Generation(frequency_penalty=-1.0), Feature.FREQUENCY_PENALTY),
        (
            chat.Generation(
                response_format=chat.ResponseFormat(chat.ResponseFormatKind.JSON_OBJECT)
            ),
            Feature.JSON_OBJECT,
        ),
    ],
)
def test_settings_anthropic_cannot_express(generation: chat.Generation, feature: Feature) -> None:
    with pytest.raises(Unexpressible) as caught:
        encode(request(generation=generation))
    assert caught.value.feature is feature


def test_sampling_and_what_changes_nothing() -> None:
    got = encode(
        request(
            generation=chat.Generation(
                max_output_tokens=50,
                temperature=1.7,
                top_p=0.5,
                top_k=3,
                stop=("a",),
                candidates=1,
                presence_penalty=0.0,
                response_format=chat.ResponseFormat(chat.ResponseFormatKind.TEXT),
            ),
            tool_choice=chat.ToolChoice(chat.ToolChoiceMode.NONE),
            tools=(chat.Tool("f"),),
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
        (chat.ToolChoice(chat.ToolChoiceMode.AUTO, ("g",)), ["g"], {"type": "auto"}),
        (
            chat.ToolChoice(chat.ToolChoiceMode.REQUIRED, ("f",), False),
            ["f", "g", "h"],
            {"type": "tool", "name": "f", "disable_parallel_tool_use": True},
        ),
        (chat.ToolChoice(chat.ToolChoiceMode.REQUIRED, ("f", "g")), ["f", "g"], {"type": "any"}),
        (
            chat.ToolChoice(parallel=False),
            ["f", "g", "h"],
            {"type": "auto", "disable_parallel_tool_use": True},
        ),
    ],
)
def test_tool_choices_for_a_node(choice: chat.ToolChoice, names: list[str], expected: Any) -> None:
    got = encode(
        request(tools=(chat.Tool("f"), chat.Tool("g"), chat.Tool("h")), tool_choice=choice)
    )
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


def thinking_of(model: str, reasoning: chat.Reasoning, **fields: Any) -> dict[str, Any]:
    got = encode(request(model=model, reasoning=reasoning, **fields))
    keys = ("max_tokens", "thinking", "output_config", "temperature", "top_p", "top_k")
    return {k: got[k] for k in keys if k in got}


LEGACY, ADAPTIVE = "claude-sonnet-4-5", "claude-opus-4-7"


@pytest.mark.parametrize(
    ("model", "reasoning", "generation", "expected"),
    [
        (
            LEGACY,
            chat.Reasoning(chat.ReasoningEffort.HIGH),
            chat.Generation(),
            {"max_tokens": 24576 + 4096, "thinking": {"type": "enabled", "budget_tokens": 24576}},
        ),
        (
            LEGACY,
            chat.Reasoning(budget_tokens=100),
            chat.Generation(max_output_tokens=5000),
            {"max_tokens": 5000, "thinking": {"type": "enabled", "budget_tokens": 1024}},
        ),
        (
            LEGACY,
            chat.Reasoning(budget_tokens=9000),
            chat.Generation(max_output_tokens=5000),
            {"max_tokens": 5000, "thinking": {"type": "enabled", "budget_tokens": 4999}},
        ),
        (
            LEGACY,
            chat.Reasoning(chat.ReasoningEffort.LOW),
            chat.Generation(max_output_tokens=1000),
            {"max_tokens": 1000},
        ),
        (
            LEGACY,
            chat.Reasoning(include_thoughts=True),
            chat.Generation(max_output_tokens=20000),
            {"max_tokens": 20000, "thinking": {"type": "enabled", "budget_tokens": 8192}},
        ),
        (
            LEGACY,
            chat.Reasoning(budget_tokens=2000, include_thoughts=False),
            chat.Generation(max_output_tokens=9000),
            {
                "max_tokens": 9000,
                "thinking": {"type": "enabled", "budget_tokens": 2000, "display": "omitted"},
            },
        ),
        (
            LEGACY,
            chat.Reasoning(include_thoughts=False),
            chat.Generation(max_output_tokens=9),
            {"max_tokens": 9},
        ),
        (
            LEGACY,
            chat.Reasoning(chat.ReasoningEffort.NONE),
            chat.Generation(),
            {"max_tokens": 4096, "thinking": {"type": "disabled"}},
        ),
        (
            ADAPTIVE,
            chat.Reasoning(budget_tokens=0),
            chat.Generation(),
            {"max_tokens": 4096, "thinking": {"type": "disabled"}},
        ),
        (
            ADAPTIVE,
            chat.Reasoning(chat.ReasoningEffort.XHIGH, include_thoughts=True),
            chat.Generation(),
            {
                "max_tokens": 4096,
                "thinking": {"type": "adaptive", "display": "summarized"},
                "output_config": {"effort": "max"},
            },
        ),
        (
            ADAPTIVE,
            chat.Reasoning(budget_tokens=3000),
            chat.Generation(max_output_tokens=100),
            {
                "max_tokens": 100,
                "thinking": {"type": "adaptive"},
                "output_config": {"effort": "medium"},
            },
        ),
        (
            ADAPTIVE,
            chat.Reasoning(include_thoughts=False, effort=chat.ReasoningEffort.MINIMAL),
            chat.Generation(),
            {
                "max_tokens": 4096,
                "thinking": {"type": "adaptive", "display": "omitted"},
                "output_config": {"effort": "low"},
            },
        ),
        (
            LEGACY,
            chat.Reasoning(chat.ReasoningEffort.LOW),
            chat.Generation(max_output_tokens=9000, temperature=0.2, top_p=0.5, top_k=4),
            {
                "max_tokens": 9000,
                "thinking": {"type": "enabled", "budget_tokens": 1024},
                "top_p": 0.95,
            },
        ),
    ],
)
def test_thinking_per_model(
    model: str, reasoning: chat.Reasoning, generation: chat.Generation, expected: dict[str, Any]
) -> None:
    assert thinking_of(model, reasoning, generation=generation) == expected


def test_no_thinking_when_a_tool_call_is_forced_or_a_tool_turn_has_no_signed_thinking() -> None:
    forced = chat.ToolChoice(chat.ToolChoiceMode.REQUIRED, ("f",))
    effort = chat.Reasoning(chat.ReasoningEffort.HIGH)
    assert "thinking" not in thinking_of(
        ADAPTIVE, effort, tools=(chat.Tool("f"),), tool_choice=forced
    )
    call = chat.ToolCallPart("c1", "f", "{}")
    result = IRMessage(chat.Role.TOOL, (chat.ToolResultPart("c1", (chat.TextPart("r"),), "f"),))
    unsigned = (USER, IRMessage(chat.Role.ASSISTANT, (chat.ReasoningPart("t"), call)), result)
    signed = (USER, IRMessage(chat.Role.ASSISTANT, (chat.ReasoningPart("t", "S"), call)), result)
    later = (*unsigned, IRMessage(chat.Role.ASSISTANT, (chat.TextPart("done"),)), USER)
    for messages, thinks in ((unsigned, False), (signed, True), (later, True)):
        got = encode(chat.ChatRequest(LEGACY, messages, reasoning=effort))
        assert ("thinking" in got) is thinks, messages


def test_tool_arguments_that_are_no_object_cannot_be_sent() -> None:
    bad = IRMessage(chat.Role.ASSISTANT, (chat.ToolCallPart("c", "f", "[1]"),))
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
        chat.Role.TOOL, (chat.ToolResultPart("toolu_1", (chat.TextPart("contents"),), "Read"),)
    )
    assert got.reasoning == chat.Reasoning(chat.ReasoningEffort.HIGH, None, True)
    assert got.tools[0].name == "Read" and got.user == "user_abc_account__session_1"
