"""The two error shapes the router answers in, checked the same way everywhere.

OpenAI's (every path but Gemini's): exactly `success`, `error{code, message, type}` and
`trace_id`, the trace id also in X-Request-ID. Google's (Gemini paths): `error{code,
message, status, details}`, the HTTP status as `code`, the request id in `details`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from router.dialects.gemini.replies import google_status

Json = dict[str, Any]


def openai_error(document: Json, headers: Mapping[str, str], code: str) -> Json:
    """`document` is the router's error with `code`, its trace id the X-Request-ID header."""
    assert set(document) == {"success", "error", "trace_id"}, document
    assert document["success"] is False
    assert set(document["error"]) == {"code", "message", "type"}, document
    assert document["error"]["code"] == code, document
    assert isinstance(document["error"]["message"], str) and document["error"]["message"]
    assert isinstance(document["error"]["type"], str) and document["error"]["type"]
    assert document["trace_id"] == headers.get("X-Request-ID"), document
    return document


def google_error(document: Json, headers: Mapping[str, str], status: int) -> Json:
    """`document` is Google's error for HTTP `status`; the error object is returned."""
    assert set(document) == {"error"}, document
    error: Json = document["error"]
    assert (error["code"], error["status"]) == (status, google_status(status)), document
    assert isinstance(error["message"], str) and error["message"]
    assert error["details"][0]["requestId"] == headers.get("X-Request-ID"), document
    return error
