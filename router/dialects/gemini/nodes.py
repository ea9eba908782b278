"""What a Gemini node is sent: its key as `x-goog-api-key`, a prefilled answer.

Google's API takes an API key in `x-goog-api-key` (an `Authorization: Bearer` there is an
OAuth token, refused for a key). A continuation (router.dialects.continuation) asks the
next node for the answer so far as a last `model` turn, its reasoning as a
`thought: true` part, with `maxOutputTokens` lowered by what was already produced.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from router.dialects.chat import WireRequest
from router.dialects.codec import Operation
from router.dialects.estimate import lower_caps, output_tokens, text_size
from router.dialects.gemini.credentials import GOOGLE_KEY_HEADER
from router.dialects.gemini.paths import BATCH_EMBED, EMBED, GENERATE, STREAM
from router.dialects.gemini.request import check_model_name

_GENERATES = re.compile(r"/models/[^/]+:(?:generateContent|streamGenerateContent)$")
_EMBEDS = re.compile(r"/models/[^/]+:(?:embedContent|batchEmbedContents)$")
TRANSLATED_VERSION = "v1beta"  # every generation and embedding feature is there


def prefilled(body: bytes, content: str, reasoning: str) -> bytes:
    """`body` with the answer so far as its last (model) turn, its cap lowered."""
    document = orjson.loads(body)
    config = document.get("generationConfig")
    if isinstance(config, dict):
        lower_caps(
            config, ("maxOutputTokens",), output_tokens(text_size(content) + text_size(reasoning))
        )
    parts: list[dict[str, Any]] = []
    if reasoning:
        parts.append({"text": reasoning, "thought": True})
    if content:
        parts.append({"text": content})
    contents = document.get("contents")
    turns = list(contents) if isinstance(contents, list) else []
    document["contents"] = [*turns, {"role": "model", "parts": parts}]
    return orjson.dumps(document)


class GeminiNodes:
    """router.dialects.codec.NodeSide for Gemini nodes."""

    __slots__ = ()
    key_check_path = "/v1beta/models"
    headers: tuple[tuple[str, str], ...] = ()

    def credential(self, api_key: str) -> tuple[str, str]:
        return GOOGLE_KEY_HEADER, api_key

    def prefill(self, body: bytes, content: str, reasoning: str) -> bytes:
        return prefilled(body, content, reasoning)

    def model_calling_path(self, path: str) -> str | None:
        if _GENERATES.search(path):
            return "a probe here is a real completion"
        if _EMBEDS.search(path):
            return "a probe here is a real embedding"
        return None

    def translated_path(self, operation: Operation, wire: WireRequest) -> tuple[str, str] | None:
        if operation is Operation.CHAT:
            action, query = (STREAM, "alt=sse") if wire.stream else (GENERATE, "")
        elif operation is Operation.EMBED:
            action, query = (BATCH_EMBED if wire.batch else EMBED), ""
        else:
            return None
        return f"/{TRANSLATED_VERSION}/models/{check_model_name(wire.model)}:{action}", query
