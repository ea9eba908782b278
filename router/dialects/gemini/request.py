"""Gemini requests: `POST /{version}/models/{model}:{action}`, the model in the path.

The body is forwarded untouched; only the path changes when a backend renames the model,
and the client's `?key=` (a credential) never reaches a node. For translation a call says
what it asks (`OPERATIONS`): generating (a stream with `alt=sse` is SSE, without it a
JSON array), embedding, counting tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from router.dialects.chat import WireRequest
from router.dialects.codec import Operation
from router.dialects.estimate import positive_cap
from router.dialects.gemini.credentials import without_key
from router.dialects.gemini.paths import (
    BATCH_EMBED,
    COUNT_TOKENS,
    EMBED,
    GEMINI_ACTIONS,
    GENERATE,
    STREAM,
)
from router.dialects.target import encode_target
from router.errors import InvalidRequest, NotFound, echo

_PATH_CHARACTERS = frozenset("/\\%")  # never in a model id; each could change the node's path
OPERATIONS: dict[str, Operation] = {
    GENERATE: Operation.CHAT,
    STREAM: Operation.CHAT,
    EMBED: Operation.EMBED,
    BATCH_EMBED: Operation.EMBED,
    COUNT_TOKENS: Operation.COUNT,
}


@dataclass(slots=True)
class GeminiNodeTarget:
    """POST {node}/{version}/models/{model}:{action}?{query} with the body untouched.

    `query` is the client's raw query string minus its `key` (already encoded for the wire).
    """

    raw: bytes
    call: GeminiCall
    query: str
    strip_usage: bool = False

    @property
    def continuable(self) -> bool:
        return self.call.action == STREAM

    def path(self, base_path: str, model: str | None) -> str:
        return encode_target(base_path + self.call.path(model), self.query)

    def body(self, model: str | None) -> bytes:
        return self.raw


def check_gemini_body(call: GeminiCall, raw: bytes) -> dict[str, Any] | None:
    """A non-empty body must be JSON (countTokens bodies go to the node unchecked); the
    parsed body when it is a JSON object."""
    if raw and call.action != COUNT_TOKENS:
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"request body is not valid JSON: {exc}") from exc
        return document if isinstance(document, dict) else None
    return None


def output_cap(document: Mapping[str, Any]) -> int | None:
    """`generationConfig.maxOutputTokens`, when the request sets it."""
    config = document.get("generationConfig")
    return positive_cap(config.get("maxOutputTokens")) if isinstance(config, Mapping) else None


@dataclass(slots=True)  # one per request: not frozen, which would cost a setattr per field
class GeminiParsed:
    """A Gemini call with its body (router.dialects.codec.Parsed)."""

    raw: bytes
    call: GeminiCall
    document: dict[str, Any] | None
    query: str  # the client's raw query without its key

    @property
    def model(self) -> str:
        return self.call.model

    @property
    def is_stream(self) -> bool:
        return self.call.action == STREAM

    @property
    def output_cap(self) -> int | None:
        return None if self.document is None else output_cap(self.document)

    def node_request(self, *, inject_usage: bool) -> GeminiNodeTarget:
        return GeminiNodeTarget(self.raw, self.call, self.query)

    def wire(self) -> tuple[Operation, WireRequest] | None:
        action = self.call.action
        stream = action == STREAM
        wire = WireRequest(
            self.document if self.document is not None else {},
            self.model,
            stream=stream,
            json_array=stream and ("alt", "sse") not in parse_qsl(self.query),
            batch=action == BATCH_EMBED,
        )
        return OPERATIONS[action], wire


@dataclass(frozen=True, slots=True)
class GeminiCall:
    """`{version}/models/{model}:{action}` taken apart (router.dialects.codec.Call)."""

    version: str
    model: str
    action: str

    @property
    def is_free(self) -> bool:
        # Google does not bill countTokens: it is authorised but never counted or charged.
        return self.action == COUNT_TOKENS

    def path(self, model: str | None = None) -> str:
        """The node-side path, optionally for a renamed model."""
        return f"/{self.version}/models/{model or self.model}:{self.action}"

    def read(self, raw: bytes, raw_query: str) -> GeminiParsed:
        return GeminiParsed(raw, self, check_gemini_body(self, raw), without_key(raw_query))


def parse_gemini(version: str, model_action: str) -> GeminiCall:
    """Split `gemini-2.5-flash:generateContent` and check the action."""
    model, sep, action = model_action.rpartition(":")
    if not sep or not model:
        raise NotFound(f"expected /{version}/models/{{model}}:{{action}}")
    if action not in GEMINI_ACTIONS:
        known = ", ".join(sorted(GEMINI_ACTIONS))
        raise NotFound(f"unknown Gemini action {echo(action)} (supported: {known})")
    return GeminiCall(version, check_model_name(model), action)


def check_model_name(model: str) -> str:
    """`model`, when it can go into a node's path; InvalidRequest otherwise.

    aiohttp hands over the decoded path: `a%2F..%2Fb` is `a/../b`, which a node (or a
    normalising proxy before it) would serve as `b` while we routed and priced `a*`; a
    request translated from a dialect that names the model in its body must not reach
    another path either."""
    if _PATH_CHARACTERS.intersection(model):
        raise InvalidRequest("a model name may not contain '/', '\\' or '%' (encoded or not)")
    return model


def read_call(params: Mapping[str, str]) -> GeminiCall:
    """The call a request's path parameters (`version`, `model_action`) name."""
    return parse_gemini(params["version"], params["model_action"])
