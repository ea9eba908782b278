"""The two request dialects: what model a request asks for, and how to rename it.

OpenAI-compatible requests name the model in the JSON body; Gemini-native requests name
it in the path (`/v1beta/models/{model}:{action}`). Only `model` is ever changed, and
only when a backend renames it; otherwise the body is forwarded byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from router.errors import InvalidRequest, NotFound

GEMINI_ACTIONS = frozenset({"generateContent", "streamGenerateContent", "countTokens"})
GEMINI_VERSIONS = ("v1beta", "v1", "v1alpha")


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


@dataclass(frozen=True, slots=True)
class GeminiTarget:
    """`{version}/models/{model}:{action}` taken apart."""

    version: str
    model: str
    action: str

    def path(self, model: str | None = None) -> str:
        """The node-side path, optionally for a renamed model."""
        return f"/{self.version}/models/{model or self.model}:{self.action}"


def parse_gemini(version: str, model_action: str) -> GeminiTarget:
    """Split `gemini-2.5-flash:generateContent` and check the action."""
    model, sep, action = model_action.rpartition(":")
    if not sep or not model:
        raise NotFound(f"expected /{version}/models/{{model}}:{{action}}")
    if action not in GEMINI_ACTIONS:
        known = ", ".join(sorted(GEMINI_ACTIONS))
        raise NotFound(f"unknown Gemini action {action!r} (supported: {known})")
    return GeminiTarget(version, model, action)
