"""An error is rendered by the dialect of the endpoint it happened on.

In-process through pytest-aiohttp's client, with each dialect's renderer replaced by one
that names it: today both dialects answer with the same bytes, so only a marked renderer
shows which one the error middleware asked.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import orjson
import pytest
from aiohttp.test_utils import make_mocked_request

import router.web.context as handlers
from router.config.loader import parse_config
from router.dialects.codec import Codec
from router.dialects.gemini import CODEC as GEMINI
from router.dialects.gemini.replies import GeminiReplies
from router.dialects.openai import CODEC as OPENAI
from router.dialects.openai.replies import OpenAIReplies
from router.errors import NoAvailableNode, RouterError
from router.server.app import Options, create_app, error_response
from tests.support import chat_body, closed_port_url, node_entry, routes_yaml

Dialect = Codec


def _renderer(name: str) -> Any:
    def render(self: object, error: RouterError, trace_id: str) -> bytes:
        return orjson.dumps({"dialect": name, "code": error.code, "id": trace_id})

    return render


class _Marked:
    request_id_header = None

    def __init__(self, name: str) -> None:
        self.error_body = _renderer(name).__get__(self)

    def error_status(self, error: RouterError) -> int:
        return error.status


def marked(dialect: Dialect) -> Dialect:
    return dataclasses.replace(dialect, replies=_Marked(dialect.name.value))  # type: ignore[arg-type]


def test_error_response_uses_the_dialect_it_is_given() -> None:
    error = NoAvailableNode("none left", retry_after=2)
    response = error_response(error, "rid-7", marked(GEMINI))
    assert response.body == b'{"dialect":"gemini","code":"no_available_node","id":"rid-7"}'
    assert response.status == 503
    assert response.headers["Retry-After"] == "2"
    assert response.headers["X-Request-ID"] == "rid-7"
    assert response.content_type == "application/json"
    default = error_response(error, "rid-7")
    assert default.body == OPENAI.replies.error_body(error, "rid-7")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1beta/models/m:generateContent", GEMINI),
        ("/gemini/v1alpha/models/m:countTokens", GEMINI),
        ("/v1/models/m:embedContent", GEMINI),
        ("/v1beta/nothing", GEMINI),
        ("/v1beta", GEMINI),
        ("/v1beta/openai/chat/completions", OPENAI),
        ("/v1/models", OPENAI),
        ("/v1/models/gpt-4o", OPENAI),
        ("/v1/chat/completions", OPENAI),
        ("/xv1beta/models/m", OPENAI),
        ("/admin/nodes", OPENAI),
    ],
)
def test_dialect_of_a_request_no_endpoint_claimed_follows_its_path(
    path: str, expected: Dialect
) -> None:
    request = make_mocked_request("POST", path)
    assert handlers.codec_of(request) is expected


async def test_errors_are_rendered_in_the_endpoints_dialect(
    aiohttp_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(OpenAIReplies, "error_body", _renderer("openai"))
    monkeypatch.setattr(GeminiReplies, "error_body", _renderer("gemini"))
    config = parse_config(
        routes_yaml(
            {"node62": node_entry(closed_port_url())}, {"m": {"backends": [{"node": "node62"}]}}
        )
    )
    client = await aiohttp_client(create_app(config, Options(metrics=False, access_log=False)))
    cases = [
        ("/v1/chat/completions", orjson.dumps(chat_body("gone")), "openai", "model_not_found"),
        ("/v1/chat/completions", b"{", "openai", "invalid_request"),
        ("/v1beta/models/gone:generateContent", b"{}", "gemini", "model_not_found"),
        ("/v1beta/models/m:predict", b"{}", "gemini", "not_found"),
        ("/v1/models/m:generateContent", b"{", "gemini", "invalid_request"),
        ("/no/such/endpoint", b"{}", "openai", "not_found"),
    ]
    for path, body, dialect, code in cases:
        response = await client.post(path, data=body, headers={"X-Request-ID": "rid-1"})
        assert await response.json() == {"dialect": dialect, "code": code, "id": "rid-1"}, path
