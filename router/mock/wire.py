"""The shapes of the mock node's own answers in each dialect it speaks: errors, the
in-band error event, a hostile node's endless event.

Which dialect an answer is in follows from the path the request came on (`wire_of`): a
Messages path is Anthropic's, a `models/{model}:{action}` path Google's, the rest
OpenAI's (with the error shape of the services the router fronts, seed 002).
"""

from __future__ import annotations

import uuid

import orjson
from aiohttp import web

from router.mock.messages import error_body, error_type

OPENAI, GEMINI, ANTHROPIC = "openai", "gemini", "anthropic"


def wire_of(request: web.Request) -> str:
    """The dialect of the path a request came on."""
    if request.path.startswith("/v1/messages"):
        return ANTHROPIC
    return GEMINI if "target" in request.match_info else OPENAI


def json_response(
    data: object, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer encoded with orjson."""
    body = orjson.dumps(data)
    return web.Response(body=body, status=status, content_type="application/json", headers=headers)


def error_response(
    status: int, code: str, message: str, kind: str, headers: dict[str, str] | None = None
) -> web.Response:
    """The error shape of the services we front (seed 002), plus an OpenAI-style type."""
    body = {
        "success": False,
        "error": {"code": code, "message": message, "type": kind},
        "trace_id": str(uuid.uuid4()),
    }
    if headers is None:
        headers = {"Retry-After": "1"} if status == 429 else {}
    return json_response(body, status, headers)


def google_error_response(
    status: int, message: str, headers: dict[str, str], name: str | None = None
) -> web.Response:
    """Google's error shape, as a Gemini node answers on its own paths."""
    names = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED"}
    names |= {404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED", 503: "UNAVAILABLE"}
    name = name or names.get(status, "INTERNAL" if status >= 500 else "FAILED_PRECONDITION")
    body = {"error": {"code": status, "message": message, "status": name}}
    return json_response(body, status, headers)


def anthropic_error_response(
    status: int, message: str, headers: dict[str, str] | None = None, kind: str | None = None
) -> web.Response:
    """Anthropic's error shape, as an Anthropic node answers on its own paths."""
    return json_response(error_body(kind or error_type(status), message), status, headers)


def error_in(wire: str, status: int, message: str) -> web.Response:
    """An error answer in `wire`'s shape (a refused body, a wrong key)."""
    if wire == GEMINI:
        return google_error_response(status, message, {})
    if wire == ANTHROPIC:
        return anthropic_error_response(status, message)
    code = "invalid_token" if status == 401 else "token_mismatched"
    kind = "authentication_error" if status == 401 else "invalid_request_error"
    return error_response(status, code, message, kind)


def fault_response(
    status: int, wire: str, message: str, code: str | None, retry_after: str | None
) -> web.Response:
    """The answer to an injected `status` in `wire`'s shape: the node's `message` and
    error `code`, Retry-After (1 s on a 429 by default), an x-request-id."""
    headers = {"x-request-id": f"mock-{uuid.uuid4().hex}"}
    retry_after = retry_after or ("1" if status == 429 else None)
    if retry_after is not None:
        headers["Retry-After"] = retry_after
    if wire == ANTHROPIC:
        return anthropic_error_response(status, message, headers, code)
    if wire == GEMINI:
        return google_error_response(status, message, headers, code)
    kind = "server_error" if status >= 500 else "invalid_request_error"
    return error_response(status, code or "api_error", message, kind, headers)


def inband_error_event(wire: str) -> bytes:
    """The error a node reports inside a 200 stream (LiteLLM's shape; Google's on Gemini;
    Anthropic's `event: error` on its paths)."""
    if wire == ANTHROPIC:
        body = error_body("overloaded_error", "in-band fault")
        return b"event: error\ndata: " + orjson.dumps(body) + b"\n\n"
    if wire == GEMINI:
        error: dict[str, object] = {
            "code": 503,
            "message": "in-band fault",
            "status": "UNAVAILABLE",
        }
    else:
        error = {"message": "in-band fault", "type": "api_error", "code": "503"}
    return b"data: " + orjson.dumps({"error": error}) + b"\n\n"


def huge_event(size: int, wire: str) -> bytes:
    """One content event of about `size` bytes with no newline before its end."""
    text = b"x" * size
    if wire == ANTHROPIC:
        return (
            b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
            b'"delta":{"type":"text_delta","text":"%s"}}\n\n' % text
        )
    if wire == GEMINI:
        return (
            b'data: {"candidates":[{"content":{"role":"model","parts":[{"text":"%s"}]}}]}\r\n\r\n'
            % text
        )
    return (
        b'data: {"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}\n\n' % text
    )
