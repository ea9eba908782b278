"""The Anthropic dialect's codec as tables: reading requests, its routes and key, the
router's own bytes to its clients, its model list, what its nodes are sent.

Pure: no event loop, no sockets. Where a shape is the client's to read, the anthropic
SDK's own types (or its client, over an in-process transport) read it.
"""

from __future__ import annotations

from typing import Any

import httpx2
import orjson
import pytest
from anthropic import APIStatusError, InternalServerError, OverloadedError
from anthropic.types import ModelInfo as SdkModelInfo
from anthropic.types.shared import ErrorResponse
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import TypeAdapter

from router.dialects import registry
from router.dialects.anthropic import CODEC
from router.dialects.anthropic.nodes import API_VERSION, prefilled
from router.dialects.anthropic.replies import error_type
from router.dialects.anthropic.request import (
    COUNT_TOKENS_CALL,
    MESSAGES_CALL,
    Endpoint,
    has_beta,
    read_body,
)
from router.dialects.chat import WireRequest
from router.dialects.codec import EntryKind, ModelInfo, Operation
from router.errors import (
    ApiError,
    InvalidRequest,
    InvalidToken,
    ModelNotAllowed,
    ModelNotFound,
    NoAvailableNode,
    RequestTooLarge,
    RouterError,
    TooManyRequests,
    UpstreamError,
    UpstreamTimeout,
)
from tests.support.translation import anthropic_client

ASK: dict[str, Any] = {
    "model": "m",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "q"}],
}


def body(**changes: object) -> bytes:
    return orjson.dumps({**ASK, **changes})


# --- reading a request ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "endpoint", "says"),
    [
        (b"", Endpoint.MESSAGES, "empty"),
        (b"{not json", Endpoint.MESSAGES, "not valid JSON"),
        (b"[1]", Endpoint.MESSAGES, "JSON object"),
        (orjson.dumps({"max_tokens": 5, "messages": [{}]}), Endpoint.MESSAGES, "'model'"),
        (body(model=""), Endpoint.MESSAGES, "'model'"),
        (body(messages=[]), Endpoint.MESSAGES, "'messages'"),
        (body(messages="hi"), Endpoint.COUNT_TOKENS, "'messages'"),
        (body(max_tokens=None), Endpoint.MESSAGES, "'max_tokens'"),
        (body(max_tokens=0), Endpoint.MESSAGES, "'max_tokens'"),
        (body(max_tokens=True), Endpoint.MESSAGES, "'max_tokens'"),
        (body(stream="yes"), Endpoint.MESSAGES, "'stream'"),
    ],
)
def test_a_body_the_router_cannot_use_is_a_400_naming_why(raw, endpoint, says) -> None:
    with pytest.raises(InvalidRequest) as refused:
        read_body(raw, endpoint)
    assert says in refused.value.message


def test_count_tokens_needs_no_max_tokens_and_is_free() -> None:
    parsed = COUNT_TOKENS_CALL.read(
        orjson.dumps({k: v for k, v in ASK.items() if k != "max_tokens"}), ""
    )
    assert COUNT_TOKENS_CALL.is_free and not MESSAGES_CALL.is_free
    assert parsed.output_cap is None and not parsed.is_stream
    assert parsed.node_request(inject_usage=True).path("", None) == "/v1/messages/count_tokens"


def test_a_messages_request_as_the_router_reads_it() -> None:
    parsed = MESSAGES_CALL.read(body(stream=True), "beta=true")
    assert (parsed.model, parsed.is_stream, parsed.output_cap) == ("m", True, 64)
    target = parsed.node_request(inject_usage=True)
    assert not target.strip_usage and target.continuable  # Anthropic always reports usage
    assert target.path("/base", "m") == "/base/v1/messages?beta=true"
    assert target.body("m") == body(stream=True)  # byte for byte
    assert orjson.loads(target.body("claude-renamed"))["model"] == "claude-renamed"
    plain = MESSAGES_CALL.read(body(), "").node_request(inject_usage=False)
    assert plain.path("", None) == "/v1/messages"


@pytest.mark.parametrize(
    ("query", "beta"),
    [
        ("beta=true", True),
        ("a=1&beta=true", True),
        ("beta=false", False),
        ("", False),
        ("beta=true%00", False),
        ("xbeta=true", False),
    ],
)
def test_only_the_beta_flag_goes_on_to_the_node(query: str, beta: bool) -> None:
    assert has_beta(query) is beta


# --- routes and the key ------------------------------------------------------------------


def test_its_routes_under_every_prefix() -> None:
    entries = {(e.method, e.path): e for e in CODEC.ingress.entries(("/v1", "/api/v1"))}
    assert entries[("POST", "/v1/messages")].kind is EntryKind.PROXY
    assert entries[("POST", "/api/v1/messages/count_tokens")].kind is EntryKind.PROXY
    assert entries[("GET", "/v1/models")].kind is EntryKind.MODEL_LIST
    assert entries[("GET", "/v1/models/{model:.+}")].kind is EntryKind.MODEL_GET


def headers(*pairs: tuple[str, str]) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict(pairs))


@pytest.mark.parametrize(
    ("pairs", "claims"),
    [
        ((("anthropic-version", "2023-06-01"),), True),
        ((("Anthropic-Version", "2023-06-01"), ("Authorization", "Bearer k")), True),
        ((("x-api-key", "k"),), False),  # a key's form says nothing of the client
        ((("anthropic-beta", "x"),), False),
        ((), False),
    ],
)
def test_the_models_list_is_anthropics_when_the_request_carries_its_version(pairs, claims) -> None:
    assert CODEC.ingress.claims(headers(*pairs), {}) is claims


def test_x_api_key_is_a_credential_and_never_reaches_a_node() -> None:
    assert list(CODEC.ingress.credentials(headers(("x-api-key", " k1 ")), "", "/")) == ["k1"]
    assert list(CODEC.ingress.credentials(headers(("x-api-key", " ")), "", "/")) == []
    assert "x-api-key" in registry.CREDENTIAL_HEADERS


# --- the router's own bytes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (InvalidRequest("bad"), 400, "invalid_request_error"),
        (InvalidToken("no"), 401, "authentication_error"),
        (ModelNotAllowed("no"), 403, "permission_error"),
        (ModelNotFound("no"), 404, "not_found_error"),
        (RequestTooLarge("big"), 413, "request_too_large"),
        (TooManyRequests("slow down", retry_after=1), 429, "rate_limit_error"),
        (ApiError("bug"), 500, "api_error"),
        (UpstreamError("node"), 502, "api_error"),
        (NoAvailableNode("none"), 529, "overloaded_error"),
        (UpstreamTimeout("late"), 504, "timeout_error"),
    ],
)
def test_errors_in_anthropics_shape_and_status(error: RouterError, status: int, kind: str) -> None:
    replies = CODEC.replies
    assert replies.error_status(error) == status
    document = orjson.loads(replies.error_body(error, "rid-1"))
    assert document == {
        "type": "error",
        "error": {"type": kind, "message": error.message},
        "request_id": "rid-1",
    }
    if status != 413:  # Anthropic's docs name request_too_large; the SDK's union lacks it
        parsed = TypeAdapter(ErrorResponse).validate_python(document)
        assert parsed.error.type == kind
    assert error_type(418) == "invalid_request_error" and error_type(599) == "api_error"


@pytest.mark.parametrize(
    ("error", "raised"),
    [(NoAvailableNode("none"), OverloadedError), (UpstreamError("node"), InternalServerError)],
)
def test_the_sdk_raises_its_class_for_each_status(error: RouterError, raised: type) -> None:
    replies = CODEC.replies

    def answer(request: httpx2.Request) -> httpx2.Response:
        head = {replies.request_id_header or "": "rid-2"}
        return httpx2.Response(
            replies.error_status(error), headers=head, content=replies.error_body(error, "rid-2")
        )

    with anthropic_client(answer) as client, pytest.raises(raised) as caught:
        client.messages.create(**ASK)
    assert caught.value.request_id == "rid-2" and error.message in str(caught.value)


def test_a_stream_ends_with_an_error_event_the_sdk_raises_on_and_pings_it_skips() -> None:
    replies = CODEC.replies
    events = replies.keepalive + replies.stream_error_event(UpstreamError("cut"), "rid-3")

    def answer(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=events)

    with (
        anthropic_client(answer) as client,
        pytest.raises(APIStatusError) as caught,
        client.messages.stream(**ASK) as stream,
    ):
        stream.until_done()
    assert "cut" in str(caught.value)
    assert replies.stream_end == b""  # a second message_stop would not do


# --- the model list ----------------------------------------------------------------------

LISTED = [ModelInfo("a", 1000, 100), ModelInfo("b"), ModelInfo("c")]


def test_the_catalog_pages_as_anthropic_pages() -> None:
    catalog = CODEC.models.catalog(LISTED, 1_700_000_000)
    page = orjson.loads(catalog.page({"limit": "2"}))
    assert [m["id"] for m in page["data"]] == ["a", "b"] and page["has_more"]
    assert (page["first_id"], page["last_id"]) == ("a", "b")
    rest = orjson.loads(catalog.page({"after_id": "b"}))
    assert [m["id"] for m in rest["data"]] == ["c"] and not rest["has_more"]
    before = orjson.loads(catalog.page({"before_id": "c", "limit": "1"}))
    assert [m["id"] for m in before["data"]] == ["b"] and before["has_more"]
    model = TypeAdapter(SdkModelInfo).validate_python(page["data"][0])
    assert model.id == "a" and model.created_at.year == 2023
    with pytest.raises(InvalidRequest):
        catalog.page({"limit": "0"})
    with pytest.raises(InvalidRequest):
        catalog.page({"after_id": "zz"})


def test_a_model_is_got_under_the_name_asked_for() -> None:
    catalog = CODEC.models.catalog(LISTED, 1_700_000_000)
    found = catalog.get("alias-of-a", lambda name: LISTED[0] if name == "alias-of-a" else None)
    assert found is not None
    assert orjson.loads(found)["id"] == "alias-of-a" and orjson.loads(found)["max_tokens"] == 100
    assert catalog.get("nothing", lambda name: None) is None


# --- what a node is sent -------------------------------------------------------------------


def test_a_node_gets_its_key_as_x_api_key_and_the_version_header() -> None:
    nodes = CODEC.nodes
    assert nodes.credential("sk") == ("x-api-key", "sk")
    assert nodes.headers == (("anthropic-version", API_VERSION),)
    assert nodes.key_check_path == "/v1/models"
    assert nodes.model_calling_path("/v1/messages") is not None
    assert nodes.model_calling_path("/v1/messages/count_tokens") is None  # free


def test_a_prefill_is_the_text_so_far_without_thinking_or_trailing_space() -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    continued = orjson.loads(prefilled(body(max_tokens=2000, thinking=thinking), "Hello, ", "hmm"))
    assert "thinking" not in continued  # Anthropic refuses a prefill without the signed blocks
    assert continued["messages"][-1] == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello,"}],
    }
    assert continued["max_tokens"] == 2000 - 3  # 7 + 3 characters: 3 tokens
    only_thought = orjson.loads(prefilled(body(thinking=thinking), "", "hmm"))
    assert only_thought["messages"] == ASK["messages"] and "thinking" not in only_thought


# --- translation: what the wiring asks of the codec ------------------------------------------


def test_a_request_says_what_it_asks_for_translation() -> None:
    body = {
        "model": "m",
        "max_tokens": 9,
        "stream": True,
        "messages": [{"role": "user", "content": "x"}],
    }
    raw = orjson.dumps(body)
    operation, wire = MESSAGES_CALL.read(raw, "beta=true").wire()
    assert (operation, wire.model, wire.stream, wire.body) == (Operation.CHAT, "m", True, body)
    counted = {"model": "m", "messages": body["messages"]}
    operation, wire = COUNT_TOKENS_CALL.read(orjson.dumps(counted), "").wire()
    assert (operation, wire.stream) == (Operation.COUNT, False)


def test_a_translated_request_goes_to_messages_and_a_count_is_answered_here() -> None:
    assert CODEC.translation is not None
    chat = WireRequest({}, "m")
    assert CODEC.nodes.translated_path(Operation.CHAT, chat) == ("/v1/messages", "")
    assert CODEC.nodes.translated_path(Operation.COUNT, chat) is None  # the estimate answers
    assert CODEC.nodes.translated_path(Operation.EMBED, chat) is None  # Anthropic has none
    assert orjson.loads(CODEC.translation.encode_token_count(42) or b"") == {"input_tokens": 42}
