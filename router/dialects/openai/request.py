"""OpenAI requests: `POST {prefix}/{endpoint}` with the model in the body.

`OPENAI_ENDPOINTS` is the one table of the OpenAI endpoints the router proxies (chat
completions, completions, embeddings, responses): adding one is one line. Only `model`
is ever changed (when a backend renames it), plus `stream_options.include_usage` on the
endpoints that have it when the router needs streaming usage for billing and the client
did not ask for it; otherwise the body is forwarded byte for byte.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.chat import WireRequest
from router.dialects.codec import Operation
from router.dialects.estimate import positive_cap
from router.dialects.target import encode_target
from router.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class OpenAIEndpoint:
    """One proxied OpenAI endpoint: where it is, what its body needs, what it streams."""

    suffix: str  # below each of server.prefixes
    node_path: str  # on the node, below its URL's own path
    required: str  # the field besides `model` a request cannot do without
    stream_usage: bool  # streams take `stream_options.include_usage` (chat, completions)

    @property
    def name(self) -> str:
        """The endpoint's name in logs and handlers: `chat/completions`, `embeddings`."""
        return self.suffix.lstrip("/")


OPENAI_ENDPOINTS = (
    OpenAIEndpoint("/chat/completions", "/v1/chat/completions", "messages", stream_usage=True),
    OpenAIEndpoint("/completions", "/v1/completions", "prompt", stream_usage=True),
    OpenAIEndpoint("/embeddings", "/v1/embeddings", "input", stream_usage=False),
    # The Responses API streams typed events; usage arrives in `response.completed` unasked.
    OpenAIEndpoint("/responses", "/v1/responses", "input", stream_usage=False),
)
CHAT = OPENAI_ENDPOINTS[0]
EMBEDDINGS = OPENAI_ENDPOINTS[2]
# The endpoints translation covers, and what each asks.
OPERATIONS: dict[OpenAIEndpoint, Operation] = {CHAT: Operation.CHAT, EMBEDDINGS: Operation.EMBED}
# The output caps a request may set, the first one present counting.
_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


@dataclass(frozen=True, slots=True)
class OpenAIRequest:
    """A parsed request body."""

    model: str
    document: dict[str, Any]

    def with_changes(self, changes: dict[str, Any]) -> bytes:
        """The body re-encoded with only the given top-level fields replaced."""
        return orjson.dumps({**self.document, **changes})


def parse_openai(body: bytes, endpoint: OpenAIEndpoint = CHAT) -> OpenAIRequest:
    """Validate the parts of a request to `endpoint` the router relies on."""
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
    if endpoint is CHAT:
        messages = document.get("messages")
        if not isinstance(messages, list) or not messages:
            raise InvalidRequest("'messages' is required and must be a non-empty array")
    elif document.get(endpoint.required) is None:
        raise InvalidRequest(f"{endpoint.required!r} is required")
    return OpenAIRequest(model, document)


def output_cap(document: Mapping[str, Any]) -> int | None:
    """The output cap a request body sets (the first of its cap fields present)."""
    for name in _CAPS:
        if name in document:
            return positive_cap(document[name])
    return None


def wants_injected_usage(
    parsed: OpenAIRequest, inject_usage: bool, endpoint: OpenAIEndpoint = CHAT
) -> bool:
    """A streaming request whose client did not ask for usage, on a route that injects it
    (`inject_usage`) and an endpoint that has `stream_options`."""
    document = parsed.document
    if not endpoint.stream_usage or not inject_usage or document.get("stream") is not True:
        return False
    options = document.get("stream_options")
    return not (isinstance(options, dict) and options.get("include_usage") is True)


# Nodes and endpoints are few and their paths fixed: encode each target once, not per request.
@functools.lru_cache(maxsize=1024)
def node_target(base_path: str, node_path: str) -> str:
    """The request target of `node_path` on a node whose URL has path `base_path`."""
    return encode_target(base_path + node_path)


@dataclass(slots=True)
class OpenAITarget:
    """POST {node}/v1/{endpoint} with the client's body (renamed model aside)."""

    raw: bytes
    parsed: OpenAIRequest
    strip_usage: bool = False
    endpoint: OpenAIEndpoint = CHAT

    @property
    def continuable(self) -> bool:
        return self.endpoint is CHAT

    def path(self, base_path: str, model: str | None) -> str:
        return node_target(base_path, self.endpoint.node_path)

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


@dataclass(slots=True)  # one per request: not frozen, which would cost a setattr per field
class OpenAIParsed:
    """A request to one OpenAI endpoint, body read (router.dialects.codec.Parsed)."""

    raw: bytes
    request: OpenAIRequest
    endpoint: OpenAIEndpoint
    model: str
    document: Mapping[str, Any]
    output_cap: int | None

    @property
    def is_stream(self) -> bool:
        return self.request.document.get("stream") is True

    def node_request(self, *, inject_usage: bool) -> OpenAITarget:
        strip = wants_injected_usage(self.request, inject_usage, self.endpoint)
        return OpenAITarget(self.raw, self.request, strip_usage=strip, endpoint=self.endpoint)

    def wire(self) -> tuple[Operation, WireRequest] | None:
        operation = OPERATIONS.get(self.endpoint)
        if operation is None:
            return None  # completions, responses: no other dialect has them
        return operation, WireRequest(self.request.document, self.model, stream=self.is_stream)


@dataclass(frozen=True, slots=True)
class OpenAICall:
    """A request to one OpenAI endpoint: its path names no model (router.dialects.codec.Call)."""

    endpoint: OpenAIEndpoint
    model: None = None
    is_free: bool = False

    def read(self, raw: bytes, raw_query: str) -> OpenAIParsed:
        request = parse_openai(raw, self.endpoint)
        document = request.document
        cap = output_cap(document)
        return OpenAIParsed(raw, request, self.endpoint, request.model, document, cap)
