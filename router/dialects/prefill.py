"""The request that continues an answer cut mid-stream on another node (see
router.dialects.continuation): the original messages plus an assistant (Gemini: model)
turn holding what was said, reasoning in its own field (OpenAI `reasoning_content`,
Gemini a `thought: true` part)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from router.dialects.dialect import Dialect
from router.dialects.target import Target


def prefilled_body(body: bytes, content: str, reasoning: str, gemini: bool) -> bytes:
    """`body` (the request as sent to a node) with the answer so far as its last turn."""
    document = orjson.loads(body)
    if gemini:
        parts: list[dict[str, Any]] = []
        if reasoning:
            parts.append({"text": reasoning, "thought": True})
        if content:
            parts.append({"text": content})
        contents = document.get("contents")
        turns = list(contents) if isinstance(contents, list) else []
        document["contents"] = [*turns, {"role": "model", "parts": parts}]
    else:
        turn: dict[str, Any] = {"role": "assistant", "content": content}
        if reasoning:
            turn["reasoning_content"] = reasoning
        document["messages"] = [*document["messages"], turn]
    return orjson.dumps(document)


@dataclass(frozen=True, slots=True)
class ContinuedTarget:
    """The request that continues an answer: `base`'s, with the answer so far as its last
    turn (`prefill`), or `base`'s unchanged for a model that cannot take one."""

    base: Target
    content: str
    reasoning: str
    prefill: bool

    @property
    def dialect(self) -> Dialect:
        return self.base.dialect

    @property
    def strip_usage(self) -> bool:
        return self.base.strip_usage

    @property
    def continuable(self) -> bool:
        return self.base.continuable

    def path(self, base_path: str, model: str | None) -> str:
        return self.base.path(base_path, model)

    def body(self, model: str | None) -> bytes:
        body = self.base.body(model)
        if not self.prefill or not (self.content or self.reasoning):
            return body  # nothing said yet: the question as it was
        return prefilled_body(body, self.content, self.reasoning, self.dialect.gemini_usage)
