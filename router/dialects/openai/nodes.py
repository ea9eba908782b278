"""What an OpenAI-compatible node is sent: its key as a Bearer token, a prefilled answer.

A continuation (router.dialects.continuation) asks the next node for the answer so far as
a last assistant turn, its reasoning in `reasoning_content`, with the output cap lowered
by what was already produced.
"""

from __future__ import annotations

from typing import Any

import orjson

from router.dialects.chat import WireRequest
from router.dialects.codec import Operation
from router.dialects.estimate import lower_caps, output_tokens, text_size
from router.dialects.openai.request import OPENAI_ENDPOINTS, OPERATIONS

_CAPS = ("max_completion_tokens", "max_tokens")
# Node paths where a health probe would be a paid call.
_CALLS_MODEL = {
    endpoint.node_path: (
        "a probe here is a real embedding"
        if endpoint.node_path.endswith("embeddings")
        else "a probe here is a real completion"
    )
    for endpoint in OPENAI_ENDPOINTS
}
# Where a request translated from another dialect goes.
_TRANSLATED_PATHS = {operation: endpoint.node_path for endpoint, operation in OPERATIONS.items()}


def prefilled(body: bytes, content: str, reasoning: str) -> bytes:
    """`body` with the answer so far as its last (assistant) turn, its cap lowered."""
    document = orjson.loads(body)
    turn: dict[str, Any] = {"role": "assistant", "content": content}
    if reasoning:
        turn["reasoning_content"] = reasoning
    document["messages"] = [*document["messages"], turn]
    lower_caps(document, _CAPS, output_tokens(text_size(content) + text_size(reasoning)))
    return orjson.dumps(document)


class OpenAINodes:
    """router.dialects.codec.NodeSide for OpenAI-compatible nodes."""

    __slots__ = ()
    key_check_path = "/v1/models"
    headers: tuple[tuple[str, str], ...] = ()

    def credential(self, api_key: str) -> tuple[str, str]:
        return "Authorization", f"Bearer {api_key}"

    def prefill(self, body: bytes, content: str, reasoning: str) -> bytes:
        return prefilled(body, content, reasoning)

    def model_calling_path(self, path: str) -> str | None:
        return _CALLS_MODEL.get(path)

    def translated_path(self, operation: Operation, wire: WireRequest) -> tuple[str, str] | None:
        path = _TRANSLATED_PATHS.get(operation)
        return None if path is None else (path, "")
