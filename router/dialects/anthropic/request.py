"""Anthropic requests: `POST {prefix}/messages` and `POST {prefix}/messages/count_tokens`,
the model in the body.

The body is forwarded byte for byte; only `model` changes, when a backend renames it.
The router reads what it relies on and refuses, as Anthropic does, a body without it:
a JSON object with a `model` and `messages` (and `max_tokens`, on `/messages`: it is
the output cap tpm and credit reservations count). `?beta=true` (what the SDKs' beta
clients and Claude Code add) goes on to the node; no other query parameter does.
`count_tokens` is free: authorised, never counted, reserved or charged, as Gemini's
countTokens. For translation a call says what it asks (`OPERATIONS`): a conversation's
next turn, or a prompt's tokens counted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.chat import WireRequest
from router.dialects.codec import Operation
from router.dialects.estimate import positive_cap
from router.dialects.target import encode_target
from router.errors import InvalidRequest

BETA_QUERY = "beta=true"


class Endpoint(enum.StrEnum):
    """What a proxied Anthropic path does: its suffix below a prefix, and on a node."""

    MESSAGES = "/messages"
    COUNT_TOKENS = "/messages/count_tokens"

    @property
    def node_path(self) -> str:
        return "/v1" + self.value


# What each endpoint asks, in the words translation shares.
OPERATIONS: dict[Endpoint, Operation] = {
    Endpoint.MESSAGES: Operation.CHAT,
    Endpoint.COUNT_TOKENS: Operation.COUNT,
}


def read_body(raw: bytes, endpoint: Endpoint) -> dict[str, Any]:
    """The parts of a Messages (or count_tokens) body the router relies on, checked."""
    if not raw:
        raise InvalidRequest("request body is empty; expected a JSON object")
    try:
        document = orjson.loads(raw)
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
    if endpoint is Endpoint.MESSAGES and positive_cap(document.get("max_tokens")) is None:
        raise InvalidRequest("'max_tokens' is required and must be a positive integer")
    stream = document.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be a boolean")
    return document


def has_beta(raw_query: str) -> bool:
    """Whether the client asked for the beta API (`?beta=true`), which the node gets too."""
    return any(part == BETA_QUERY for part in raw_query.split("&")) if raw_query else False


@dataclass(slots=True)
class AnthropicNodeTarget:
    """POST {node}/v1/messages[/count_tokens][?beta=true] with the client's body."""

    raw: bytes
    document: dict[str, Any]
    endpoint: Endpoint
    beta: bool
    strip_usage: bool = False  # Anthropic always reports usage: never asked for it

    @property
    def continuable(self) -> bool:
        return self.endpoint is Endpoint.MESSAGES

    def path(self, base_path: str, model: str | None) -> str:
        return encode_target(base_path + self.endpoint.node_path, BETA_QUERY if self.beta else "")

    def body(self, model: str | None) -> bytes:
        if model is None or model == self.document["model"]:
            return self.raw
        return orjson.dumps({**self.document, "model": model})


@dataclass(slots=True)  # one per request: not frozen, which would cost a setattr per field
class AnthropicParsed:
    """A Messages or count_tokens request, body read (router.dialects.codec.Parsed)."""

    raw: bytes
    document: dict[str, Any]
    endpoint: Endpoint
    beta: bool

    @property
    def model(self) -> str:
        model: str = self.document["model"]
        return model

    @property
    def is_stream(self) -> bool:
        return self.endpoint is Endpoint.MESSAGES and self.document.get("stream") is True

    @property
    def output_cap(self) -> int | None:
        if self.endpoint is Endpoint.COUNT_TOKENS:
            return None
        return positive_cap(self.document.get("max_tokens"))

    def node_request(self, *, inject_usage: bool) -> AnthropicNodeTarget:
        return AnthropicNodeTarget(self.raw, self.document, self.endpoint, self.beta)

    def wire(self) -> tuple[Operation, WireRequest]:
        wire = WireRequest(self.document, self.model, stream=self.is_stream)
        return OPERATIONS[self.endpoint], wire


@dataclass(frozen=True, slots=True)
class AnthropicCall:
    """A request to one Anthropic endpoint: its path names no model (codec.Call)."""

    endpoint: Endpoint
    model: None = None

    @property
    def is_free(self) -> bool:
        return self.endpoint is Endpoint.COUNT_TOKENS

    def read(self, raw: bytes, raw_query: str) -> AnthropicParsed:
        document = read_body(raw, self.endpoint)
        return AnthropicParsed(raw, document, self.endpoint, has_beta(raw_query))


MESSAGES_CALL = AnthropicCall(Endpoint.MESSAGES)
COUNT_TOKENS_CALL = AnthropicCall(Endpoint.COUNT_TOKENS)
