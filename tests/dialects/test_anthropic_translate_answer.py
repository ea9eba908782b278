"""Tables of the Anthropic Messages mapping's answers, stop reasons, usage, errors and
model list; every body the encoders write is read by the anthropic SDK's own types and,
through an in-process transport, by its client (which raises its error classes)."""

from __future__ import annotations

from typing import Any

import httpx2
import orjson
import pytest
from anthropic.types import Message, ModelInfo
from anthropic.types.shared import ErrorResponse

from router.dialects.anthropic.models import model_info, model_page
from router.dialects.anthropic.translate import ANTHROPIC_MAPPING
from router.dialects.anthropic.translate_content import split_signature
from router.dialects.anthropic.translate_errors import (
    chat_error,
    client_status,
    router_error_body,
)
from router.dialects.chat import (
    MediaKind,
    MediaPart,
    ReasoningPart,
    RedactedReasoningPart,
    Role,
    TextPart,
    ToolCallPart,
)
from router.dialects.chat import (
    Message as IRMessage,
)
from router.dialects.chat_answer import (
    ChatError,
    ChatResponse,
    Choice,
    ErrorKind,
    FinishReason,
    TokenUsage,
)
from router.errors import InvalidRequest, InvalidToken, NoAvailableNode, UnsupportedField
from tests.support.anthropic_events import CTX
from tests.support.translation import (
    ANTHROPIC_ASK,
    anthropic_client,
)

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
    reply = anthropic_client(lambda request: httpx2.Response(client_status(error), json=body))
    with pytest.raises(getattr(anthropic, sdk_error)) as caught:
        reply.messages.create(**ANTHROPIC_ASK)
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
    client = anthropic_client(
        lambda request: httpx2.Response(
            200, content=body, headers={"content-type": "application/json"}
        )
    )
    page = client.models.list(limit=3)
    assert [m.id for m in page.data] == ["m0", "m1", "m2"] and page.has_more
