"""The dialects as tables: request parsing, node targets, and the router's own bytes.

Pure: no event loop, no sockets. The proxy tests cover the same facts end to end.
"""

from __future__ import annotations

import orjson
import pytest

from router.config.model import ModelRoute
from router.dialects import gemini as gemini_dialect
from router.dialects import openai as openai_dialect
from router.dialects import registry
from router.dialects.gemini.credentials import without_key
from router.dialects.gemini.paths import gemini_roots, is_gemini_path
from router.dialects.gemini.request import (
    GeminiCall,
    GeminiNodeTarget,
    check_gemini_body,
    parse_gemini,
)
from router.dialects.names import DialectName
from router.dialects.openai.models import model_list
from router.dialects.openai.replies import router_error_body
from router.dialects.openai.request import OpenAITarget, parse_openai, wants_injected_usage
from router.dialects.target import encode_target
from router.errors import (
    InvalidRequest,
    ModelNotFound,
    NoAvailableNode,
    NotFound,
    RouterError,
    UpstreamError,
)
from router.upstream.http11 import request_path

OPENAI = openai_dialect.CODEC
CHAT = b'{"model": "m", "messages": [{"role": "user", "content": "hi"}], "z": 0.10}'

# --- parse_openai ---------------------------------------------------------------------


def test_parse_openai_keeps_the_model_and_document():
    parsed = parse_openai(CHAT)
    assert parsed.model == "m"
    assert parsed.document == orjson.loads(CHAT)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "request body is empty; expected a JSON object"),
        (b"[1, 2]", "request body must be a JSON object"),
        (b'"text"', "request body must be a JSON object"),
        (b'{"messages": [{}]}', "'model' is required and must be a non-empty string"),
        (b'{"model": "", "messages": [{}]}', "'model' is required and must be a non-empty string"),
        (b'{"model": 3, "messages": [{}]}', "'model' is required and must be a non-empty string"),
        (b'{"model": "m"}', "'messages' is required and must be a non-empty array"),
        (b'{"model": "m", "messages": []}', "'messages' is required and must be a non-empty array"),
        (
            b'{"model": "m", "messages": "hi"}',
            "'messages' is required and must be a non-empty array",
        ),
    ],
)
def test_parse_openai_rejects(body, message):
    with pytest.raises(InvalidRequest) as caught:
        parse_openai(body)
    assert caught.value.message == message
    assert (caught.value.status, caught.value.code) == (400, "invalid_request")


def test_parse_openai_rejects_invalid_json_with_the_decoder_message():
    with pytest.raises(InvalidRequest) as caught:
        parse_openai(b'{"model": ')
    assert caught.value.message.startswith("request body is not valid JSON: ")
    assert len(caught.value.message) > len("request body is not valid JSON: ")


# --- parse_gemini ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "model_action", "expected"),
    [
        (
            "v1beta",
            "gemini-2.5-flash:generateContent",
            GeminiCall("v1beta", "gemini-2.5-flash", "generateContent"),
        ),
        ("v1", "m:streamGenerateContent", GeminiCall("v1", "m", "streamGenerateContent")),
        ("v1alpha", "m:countTokens", GeminiCall("v1alpha", "m", "countTokens")),
        ("v1beta", "tuned:v2:generateContent", GeminiCall("v1beta", "tuned:v2", "generateContent")),
    ],
)
def test_parse_gemini(version, model_action, expected):
    assert parse_gemini(version, model_action) == expected


@pytest.mark.parametrize(
    "model_action", ["a/../b:generateContent", "a\\..\\b:generateContent", "a%2Fb:generateContent"]
)
def test_parse_gemini_refuses_a_model_name_that_is_a_path(model_action):
    with pytest.raises(InvalidRequest) as caught:
        parse_gemini("v1beta", model_action)
    assert caught.value.status == 400
    assert "model name may not contain" in caught.value.message


@pytest.mark.parametrize(
    ("model_action", "message"),
    [
        ("gemini-2.5-flash", "expected /v1beta/models/{model}:{action}"),
        (":generateContent", "expected /v1beta/models/{model}:{action}"),
        (
            "m:predict",
            "unknown Gemini action 'predict' (supported: batchEmbedContents, "
            "countTokens, embedContent, generateContent, streamGenerateContent)",
        ),
        (
            "m:",
            "unknown Gemini action '' (supported: batchEmbedContents, "
            "countTokens, embedContent, generateContent, streamGenerateContent)",
        ),
    ],
)
def test_parse_gemini_rejects(model_action, message):
    with pytest.raises(NotFound) as caught:
        parse_gemini("v1beta", model_action)
    assert caught.value.message == message
    assert (caught.value.status, caught.value.code) == (404, "not_found")


@pytest.mark.parametrize(
    ("action", "body", "is_ok"),
    [
        ("generateContent", b"", True),
        ("generateContent", b'{"contents": []}', True),
        ("generateContent", b"{not json", False),
        ("streamGenerateContent", b"[", False),
        ("countTokens", b"{not json", True),  # forwarded unchecked
    ],
)
def test_check_gemini_body(action, body, is_ok):
    call = GeminiCall("v1beta", "m", action)
    if is_ok:
        check_gemini_body(call, body)
        return
    with pytest.raises(InvalidRequest) as caught:
        check_gemini_body(call, body)
    assert caught.value.message.startswith("request body is not valid JSON: ")


# --- node targets ---------------------------------------------------------------------

BASE_PATHS = ["", "/api", "/my node", "/a%2Fb", "/ünï"]


@pytest.mark.parametrize("base_path", BASE_PATHS)
def test_openai_target_path(base_path):
    target = OpenAITarget(CHAT, parse_openai(CHAT))
    expected = encode_target(base_path + "/v1/chat/completions")
    assert target.path(base_path, None) == target.path(base_path, "renamed") == expected
    # The same bytes the upstream side's own encoder writes.
    assert expected == request_path(f"{base_path}/v1/chat/completions")


def test_openai_target_paths_spelled_out():
    target = OpenAITarget(CHAT, parse_openai(CHAT))
    assert target.path("", None) == "/v1/chat/completions"
    assert target.path("/api", None) == "/api/v1/chat/completions"
    assert target.path("/my node", None) == "/my%20node/v1/chat/completions"
    assert target.path("/a%2Fb", None) == "/a%252Fb/v1/chat/completions"


def test_openai_body_is_the_clients_bytes_unless_something_changes():
    target = OpenAITarget(CHAT, parse_openai(CHAT))
    assert target.body(None) is CHAT
    assert target.body("m") is CHAT  # "renamed" to its own name: nothing changes


def test_openai_body_renames_only_the_model():
    target = OpenAITarget(CHAT, parse_openai(CHAT))
    assert orjson.loads(target.body("m-001")) == {**orjson.loads(CHAT), "model": "m-001"}


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (None, {"include_usage": True}),
        ({"include_usage": False}, {"include_usage": True}),
        ({"other": 1}, {"other": 1, "include_usage": True}),
        ("junk", {"include_usage": True}),
    ],
)
def test_openai_body_injects_stream_usage(options, expected):
    document = {"model": "m", "messages": [{}], "stream": True}
    if options is not None:
        document["stream_options"] = options
    raw = orjson.dumps(document)
    target = OpenAITarget(raw, parse_openai(raw), strip_usage=True)
    for model, name in ((None, "m"), ("m-001", "m-001")):
        assert orjson.loads(target.body(model)) == {
            **document,
            "model": name,
            "stream_options": expected,
        }


@pytest.mark.parametrize(
    ("document", "inject", "expected"),
    [
        ({"stream": True}, True, True),
        ({"stream": True, "stream_options": {"include_usage": False}}, True, True),
        ({"stream": True, "stream_options": {"other": 1}}, True, True),
        ({"stream": True, "stream_options": "junk"}, True, True),
        ({"stream": True, "stream_options": {"include_usage": True}}, True, False),
        ({"stream": True}, False, False),  # the route does not inject
        ({"stream": False}, True, False),
        ({}, True, False),
        ({"stream": "true"}, True, False),  # only a JSON true streams
    ],
)
def test_wants_injected_usage(document, inject, expected):
    raw = orjson.dumps({"model": "m", "messages": [{}], **document})
    route = ModelRoute(name="m", backends=(), inject_usage=inject)
    assert wants_injected_usage(parse_openai(raw), route.inject_usage) is expected


@pytest.mark.parametrize(
    ("base_path", "query", "model", "expected"),
    [
        ("", "", None, "/v1beta/models/m:generateContent"),
        ("", "alt=sse", None, "/v1beta/models/m:generateContent?alt=sse"),
        ("/api", "", "m-001", "/api/v1beta/models/m-001:generateContent"),
        ("/my node", "a=%20", None, "/my%20node/v1beta/models/m:generateContent?a=%20"),
    ],
)
def test_gemini_target_path(base_path, query, model, expected):
    target = GeminiNodeTarget(b"{}", GeminiCall("v1beta", "m", "generateContent"), query)
    assert target.path(base_path, model) == expected
    path = base_path + f"/v1beta/models/{model or 'm'}:generateContent"
    assert expected == request_path(path, query)


def test_gemini_body_is_untouched_even_when_renamed():
    raw = b'{"contents": [ {"parts": [{"text": "x"}]} ], "z": 0.10}'
    target = GeminiNodeTarget(raw, GeminiCall("v1beta", "m", "generateContent"), "")
    assert target.body(None) is raw
    assert target.body("m-001") is raw
    assert target.strip_usage is False


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", ""),
        ("alt=sse", "alt=sse"),
        ("key=abc", ""),
        ("alt=sse&key=abc", "alt=sse"),
        ("key=abc&alt=sse", "alt=sse"),
        ("key=a&alt=sse&key=b&x=1", "alt=sse&x=1"),
        ("monkey=1&key=a", "monkey=1"),  # only the `key` parameter is the credential
        ("a=1&&key=x", "a=1"),
        ("a=%20&key=x%26y", "a=%20"),
    ],
)
def test_without_key(query, expected):
    assert without_key(query) == expected


@pytest.mark.parametrize(
    ("prefixes", "expected"),
    [
        ((), [""]),
        (("/v1",), [""]),
        (("/v1beta", "/x/v1alpha"), [""]),
        (("/gemini",), ["", "/gemini"]),
        (("/gemini", "/gemini"), ["", "/gemini"]),
        # Google's OpenAI-compatible base URL is an OpenAI prefix, no Gemini root
        (("/v1beta/openai", "/v1alpha/x", "/v1/gemini"), ["", "/v1/gemini"]),
        (
            ("/v1", "/api/v1", "/gemini/v1", "/v1/gemini", "/gemini"),
            ["", "/v1/gemini", "/gemini"],
        ),
    ],
)
def test_gemini_roots(prefixes, expected):
    assert gemini_roots(prefixes) == expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1beta/models/m:generateContent", True),
        ("/v1alpha/models/m:countTokens", True),
        ("/v1/models/m:generateContent", True),
        ("/gemini/v1beta/models/m:generateContent", True),
        ("/v1beta", True),
        ("/v1/models", True),
        ("/v1/chat/completions", False),
        ("/api/v1/chat/completions", False),
        ("/xv1beta/models/m:generateContent", False),
        ("/v1betax/models/m", False),
        ("", False),
    ],
)
def test_is_gemini_path(path, expected):
    assert is_gemini_path(path) is expected


# --- the router's own bytes -----------------------------------------------------------

ERRORS = [
    (
        ModelNotFound("model 'x' is not served here"),
        b'{"success":false,"error":{"code":"model_not_found",'
        b'"message":"model \'x\' is not served here","type":"invalid_request_error"},'
        b'"trace_id":"rid-1"}',
    ),
    (
        NoAvailableNode("no node is available", retry_after=1),
        b'{"success":false,"error":{"code":"no_available_node",'
        b'"message":"no node is available","type":"server_error"},"trace_id":"rid-1"}',
    ),
    (
        UpstreamError('the node said "no" \u00e9'),
        b'{"success":false,"error":{"code":"upstream_error",'
        b'"message":"the node said \\"no\\" \xc3\xa9","type":"server_error"},"trace_id":"rid-1"}',
    ),
]


@pytest.mark.parametrize(("error", "expected"), ERRORS)
def test_error_body_bytes(error: RouterError, expected: bytes):
    assert OPENAI.replies.error_body(error, "rid-1") == expected
    assert router_error_body(error, "rid-1") == expected


@pytest.mark.parametrize(("error", "expected"), ERRORS)
def test_stream_error_event_bytes(error: RouterError, expected: bytes):
    assert OPENAI.replies.stream_error_event(error, "rid-1") == b"data: " + expected + b"\n\n"


def test_keepalive_bytes():
    # Gemini's bytes are pinned in tests/test_dialect_bytes.py.
    assert OPENAI.replies.keepalive == b": keep-alive\n\n"


def test_each_codec_names_its_dialect_and_the_registry_finds_it():
    openai, gemini = openai_dialect.CODEC, gemini_dialect.CODEC
    assert (openai.name, gemini.name) == (DialectName.OPENAI, DialectName.GEMINI)
    assert registry.codec(DialectName.OPENAI) is openai
    assert registry.codec(DialectName.GEMINI) is gemini
    assert set(registry.CODECS) == set(DialectName)  # every name has its package
    assert registry.DEFAULT is openai  # the router's own error shape


def test_model_list_document():
    assert orjson.dumps(model_list(["a", "b*"], 1700000000)) == (
        b'{"object":"list","data":['
        b'{"id":"a","object":"model","created":1700000000,"owned_by":"router"},'
        b'{"id":"b*","object":"model","created":1700000000,"owned_by":"router"}]}'
    )
    assert model_list([], 1) == {"object": "list", "data": []}
