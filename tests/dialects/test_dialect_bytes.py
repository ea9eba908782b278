"""The bytes the router writes itself, per dialect, and what it reads in a node's answer
(tables, no event loop): Google's error shape and status names, keep-alives, in-band
error events, usage-only chunks by content, and a node's reason made safe to show."""

from __future__ import annotations

import orjson
import pytest

from router.config.model import NodeConfig
from router.dialects.dialect import GEMINI, GOOGLE_STATUS, OPENAI, google_status
from router.dialects.usage_tap import UsageFilter, UsageTap, is_error_event, is_usage_only
from router.errors import (
    AuthRejected,
    InvalidRequest,
    ModelNotFound,
    NoAvailableNode,
    RequestTooLarge,
    RouterError,
    TooManyRequests,
    UpstreamError,
    UpstreamTimeout,
)
from router.upstream.reasons import MAX_MESSAGE, Redactor, node_message, node_request_id

# --- Google's error shape ---------------------------------------------------------------


def test_gemini_error_body_is_googles_shape_with_an_int_code_and_the_trace_id() -> None:
    body = orjson.loads(GEMINI.error_body(ModelNotFound("model 'x' is not served here"), "rid-1"))
    assert body == {
        "error": {
            "code": 404,
            "message": "model 'x' is not served here",
            "status": "NOT_FOUND",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.RequestInfo", "requestId": "rid-1"}
            ],
        }
    }


def test_gemini_stream_error_event_is_a_bare_json_line_of_googles_shape() -> None:
    event = GEMINI.stream_error_event(UpstreamError("the node failed mid-answer"), "rid-2")
    # Bare, not `data: `: @google/genai raises only on a read that parses whole as JSON,
    # or on a stream ending in no complete event (one newline ends none); google-genai
    # Python raises on a line that starts with `{"error":` (no space).
    assert event.startswith(b'{"error":{') and event.endswith(b"}\n")
    assert b"\n" not in event[:-1]
    error = orjson.loads(event)["error"]
    assert (error["code"], error["status"]) == (502, "UNAVAILABLE")
    assert isinstance(error["code"], int)  # a str code crashes google-genai Python


def test_openai_error_body_is_unchanged() -> None:
    body = orjson.loads(OPENAI.error_body(UpstreamTimeout("slow"), "rid-3"))
    assert body == {
        "success": False,
        "error": {"code": "upstream_timeout", "message": "slow", "type": "timeout_error"},
        "trace_id": "rid-3",
    }


@pytest.mark.parametrize(
    ("error", "status", "name"),
    [
        (InvalidRequest("bad"), 400, "INVALID_ARGUMENT"),
        (AuthRejected("invalid_token"), 401, "UNAUTHENTICATED"),
        (AuthRejected("key_disabled"), 401, "UNAUTHENTICATED"),
        (AuthRejected("model_not_allowed"), 403, "PERMISSION_DENIED"),
        (ModelNotFound("x"), 404, "NOT_FOUND"),
        (RequestTooLarge("big"), 413, "INVALID_ARGUMENT"),
        (TooManyRequests("slow down"), 429, "RESOURCE_EXHAUSTED"),
        (AuthRejected("insufficient_quota"), 429, "RESOURCE_EXHAUSTED"),
        (RouterError("bug"), 500, "INTERNAL"),
        (UpstreamError("x"), 502, "UNAVAILABLE"),
        (NoAvailableNode("x"), 503, "UNAVAILABLE"),
        (UpstreamTimeout("x"), 504, "DEADLINE_EXCEEDED"),
    ],
)
def test_every_router_error_gets_its_google_status(
    error: RouterError, status: int, name: str
) -> None:
    body = orjson.loads(GEMINI.error_body(error, "rid"))["error"]
    assert (body["code"], body["status"]) == (status, name)


@pytest.mark.parametrize(
    ("status", "name"), [(418, "FAILED_PRECONDITION"), (599, "INTERNAL"), (405, "UNIMPLEMENTED")]
)
def test_statuses_outside_the_table_still_get_a_canonical_name(status: int, name: str) -> None:
    assert google_status(status) == name
    assert set(GOOGLE_STATUS.values()) <= {
        "INVALID_ARGUMENT",
        "UNAUTHENTICATED",
        "PERMISSION_DENIED",
        "NOT_FOUND",
        "UNIMPLEMENTED",
        "ABORTED",
        "RESOURCE_EXHAUSTED",
        "CANCELLED",
        "INTERNAL",
        "UNAVAILABLE",
        "DEADLINE_EXCEEDED",
    }


# --- keep-alives ------------------------------------------------------------------------


def test_keepalives_per_dialect() -> None:
    assert GEMINI.keepalive == b"\n"  # an SSE comment breaks google-genai (issue 13)
    assert OPENAI.keepalive == b": keep-alive\n\n"


# --- in-band errors ---------------------------------------------------------------------

OPENAI_CONTENT = b'data: {"choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
GEMINI_CONTENT = b'data: {"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}\r\n\r\n'


@pytest.mark.parametrize(
    ("gemini", "chunks", "expected"),
    [
        (False, [OPENAI_CONTENT, b'data: {"error": {"message": "boom"}}\n\n'], True),
        (False, [OPENAI_CONTENT, b'data: {"err', b'or": {"message": "split"}}\n\n'], True),
        (False, [OPENAI_CONTENT, b'data: {"error": {"message": "no end"}}'], True),
        (
            True,
            [GEMINI_CONTENT, b'data: {"error": {"code": 503, "status": "UNAVAILABLE"}}\r\n\r\n'],
            True,
        ),
        (False, [OPENAI_CONTENT, b'data: {"choices":[{"finish_reason":"error"}]}\n\n'], False),
        (False, [b'data: {"choices":[{"delta":{"content":"\\"error\\": no"}}]}\n\n'], False),
        (False, [OPENAI_CONTENT, b'data: {"error": null}\n\n'], False),
        (True, [GEMINI_CONTENT, GEMINI_CONTENT], False),
    ],
)
def test_usage_tap_notices_an_in_band_error(
    gemini: bool, chunks: list[bytes], expected: bool
) -> None:
    tap = UsageTap(gemini=gemini, is_stream=True)
    for chunk in chunks:
        tap.feed(chunk)
    tap.finish()
    assert tap.inband_error is expected


def test_in_band_error_detection_and_usage_live_side_by_side() -> None:
    tap = UsageTap(gemini=False, is_stream=True)
    tap.feed(b'data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n')
    tap.feed(b'data: {"error": {"message": "late"}}\n\n')
    usage = tap.finish()
    assert tap.inband_error and usage is not None and usage.prompt == 3


def test_is_error_event_wants_a_top_level_error() -> None:
    assert is_error_event({"error": {"message": "x"}})
    assert is_error_event({"error": "x"})
    assert not is_error_event({"choices": [{"error": "x"}]})
    assert not is_error_event([{"error": "x"}])


# --- usage-only chunks ------------------------------------------------------------------

USAGE = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


def _event(document: object) -> bytes:
    return b"data: " + orjson.dumps(document) + b"\n\n"


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"choices": [], "usage": USAGE}, True),
        ({"choices": [{"index": 0, "delta": {}}], "usage": USAGE}, True),  # LiteLLM
        (
            {
                "choices": [
                    {"index": 0, "delta": {"content": None, "role": None}, "finish_reason": None}
                ],
                "usage": USAGE,
            },
            True,
        ),
        ({"usage": USAGE}, True),
        ({"choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": USAGE}, False),
        ({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": USAGE}, False),
        (
            {"choices": [{"index": 0, "delta": {"tool_calls": [{"id": "t"}]}}], "usage": USAGE},
            False,
        ),
        ({"choices": [{"index": 0, "delta": {}}], "usage": None}, False),
        ({"choices": [], "usage": {}}, True),
        # Legacy completions chunks: `text`, no delta.
        ({"choices": [{"index": 0, "text": "", "finish_reason": None}], "usage": USAGE}, True),
        ({"choices": [{"index": 0, "text": "hi"}], "usage": USAGE}, False),
    ],
)
def test_usage_only_is_recognised_by_content(document: object, expected: bool) -> None:
    assert is_usage_only(_event(document)) is expected


def test_usage_filter_drops_a_litellm_usage_chunk() -> None:
    usage = _event({"choices": [{"index": 0, "delta": {}}], "usage": USAGE})
    content = _event({"choices": [{"index": 0, "delta": {"content": "hi"}}], "usage": None})
    done = b"data: [DONE]\n\n"
    usage_filter = UsageFilter()
    seen = usage_filter.pass_through(content + usage[:10]) + usage_filter.pass_through(
        usage[10:] + done
    )
    assert seen + usage_filter.flush() == content + done


# --- a node's reason ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"error": {"message": "slow down", "type": "rate_limit"}}', "slow down"),
        (b'{"error": {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}}', "quota"),
        (
            b'{"success": false, "error": {"code": "x", "message": "seed"}, "trace_id": "t"}',
            "seed",
        ),
        (b'{"error": "plain words"}', "plain words"),
        (b'{"message": "top level"}', "top level"),
        (b'{"error": {"message": "   "}}', None),
        (b'{"error": {"code": 500}}', None),
        (b"<html>Bad Gateway</html>", None),
        (b"", None),
        (b"[1, 2]", None),
    ],
)
def test_node_message(body: bytes, expected: str | None) -> None:
    assert node_message(body) == expected


def test_node_message_is_bounded() -> None:
    message = node_message(orjson.dumps({"error": {"message": "x" * 5000}}))
    assert message is not None and len(message) == MAX_MESSAGE and message.endswith("...")


def test_redactor_removes_every_nodes_url_host_and_key() -> None:
    redactor = Redactor(
        [
            NodeConfig("a", "http://node-a.internal:8000/v1/", api_key="sk-aaa"),
            NodeConfig("b", "https://10.1.2.3"),
        ]
    )
    message = (
        "POST http://node-a.internal:8000/v1/chat failed; NODE-A.internal:8000 said key sk-aaa "
        "is bad; also https://10.1.2.3 and 10.1.2.3; see https://ai.google.dev/docs"
    )
    cleaned = redactor.clean(message)
    for secret in ("node-a.internal", "sk-aaa", "10.1.2.3", "8000"):
        assert secret not in cleaned.lower()
    assert cleaned.endswith("see https://ai.google.dev/docs")
    assert Redactor([]).clean("untouched") == "untouched"


# --- when a keep-alive may be written ------------------------------------------------------


def test_a_keepalive_waits_for_silence_and_the_end_of_a_line() -> None:
    from router.proxy.keepalive import OpenStream

    stream = OpenStream(object(), object(), 10.0, b"\n")  # type: ignore[arg-type]
    assert not stream.wants_keepalive(10.4, 0.5)  # not silent long enough
    assert stream.wants_keepalive(10.5, 0.5)
    stream.at_line_end = False  # the node's last chunk ended inside a line
    assert not stream.wants_keepalive(99.0, 0.5)


def test_node_request_id_is_passed_back_only_when_sane() -> None:
    assert node_request_id("req_0123-abc") == "req_0123-abc"
    assert node_request_id(None) is None
    assert node_request_id("") is None
    assert node_request_id("x" * 201) is None
    assert node_request_id("caf\u00e9") is None
    assert node_request_id("a\x01b") is None
