"""The OpenAI-compatible dialect: `POST {prefix}/chat/completions` with the model in the body.

Only `model` is ever changed (when a backend renames it), plus
`stream_options.include_usage` when the router needs streaming usage for billing and the
client did not ask for it; otherwise the body is forwarded byte for byte.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from router.config.model import ModelRoute
from router.dialects.dialect import OPENAI, Dialect
from router.dialects.target import encode_target
from router.errors import InvalidRequest

CHAT_PATH = "/v1/chat/completions"  # on the node, below its URL's own path


@dataclass(frozen=True, slots=True)
class OpenAIRequest:
    """A parsed chat completion request body."""

    model: str
    document: dict[str, Any]

    def with_changes(self, changes: dict[str, Any]) -> bytes:
        """The body re-encoded with only the given top-level fields replaced."""
        return orjson.dumps({**self.document, **changes})


def parse_openai(body: bytes) -> OpenAIRequest:
    """Validate the parts of a chat completion request the router relies on."""
    if not body:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise InvalidRequest("request body must be a JSON object")
    model = document.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required and must be a non-empty string")
    messages = document.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' is required and must be a non-empty array")
    return OpenAIRequest(model, document)


def wants_injected_usage(parsed: OpenAIRequest, route: ModelRoute) -> bool:
    """A streaming request whose client did not ask for usage, on a route that injects it."""
    document = parsed.document
    if not route.inject_usage or document.get("stream") is not True:
        return False
    options = document.get("stream_options")
    return not (isinstance(options, dict) and options.get("include_usage") is True)


def model_list(names: Iterable[str], created: int) -> dict[str, Any]:
    """The `GET /models` answer: every name as a model the router owns."""
    data = [
        {"id": name, "object": "model", "created": created, "owned_by": "router"} for name in names
    ]
    return {"object": "list", "data": data}


# Nodes are few and their paths fixed: encode each node's chat target once, not per request.
@functools.lru_cache(maxsize=256)
def chat_target(base_path: str) -> str:
    """The chat completions request target on a node whose URL has path `base_path`."""
    return encode_target(base_path + CHAT_PATH)


@dataclass(slots=True)
class OpenAITarget:
    """POST {node}/v1/chat/completions with the client's body (renamed model aside)."""

    raw: bytes
    parsed: OpenAIRequest
    strip_usage: bool = False

    @property
    def dialect(self) -> Dialect:
        return OPENAI

    def path(self, base_path: str, model: str | None) -> str:
        return chat_target(base_path)

    def body(self, model: str | None) -> bytes:
        renamed = model is not None and model != self.parsed.model
        if not renamed and not self.strip_usage:
            return self.raw
        changes: dict[str, object] = {}
        if renamed:
            changes["model"] = model
        if self.strip_usage:
            options = self.parsed.document.get("stream_options")
            options = dict(options) if isinstance(options, dict) else {}
            changes["stream_options"] = {**options, "include_usage": True}
        return self.parsed.with_changes(changes)
